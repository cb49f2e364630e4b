"""A fake serial button box on a pseudo-terminal (run as a process by the tests).

Opens a pty pair, prints the slave's path on stdout, then emits press and
release lines at known times: per cycle happy down, sad down, happy up, sad up
(``--step`` s apart), until ``--seconds`` pass. Every line written is logged to
``--log`` as ``perf_counter`` before and after the write (the system-wide
monotonic clock, the same the session clock counts from). With ``--box-clock``
each line carries the box's own time in ms (its clock starts at an arbitrary
zero, as a real box's would).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tty


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--log", required=True)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--step", type=float, default=0.1)
    ap.add_argument("--delay", type=float, default=0.5)
    ap.add_argument("--box-clock", action="store_true")
    ap.add_argument("--codes", default="H,h,S,s", help="happy down, happy up, sad down, sad up")
    a = ap.parse_args()
    hd, hu, sd, su = a.codes.split(",")
    master, slave = os.openpty()
    tty.setraw(slave)
    print(os.ttyname(slave), flush=True)
    box_zero = time.perf_counter() - 1000.0  # the box's clock: arbitrary zero
    cycle = [(hd, "happy", "down"), (sd, "sad", "down"), (hu, "happy", "up"), (su, "sad", "up")]
    with open(a.log, "w", encoding="utf-8") as log:
        log.write("perf_before\tperf_after\tbutton\taction\n")
        t = time.perf_counter() + a.delay
        end = t + a.seconds
        i = 0
        while t < end:
            while time.perf_counter() < t:
                time.sleep(min(0.002, max(0.0, t - time.perf_counter())))
            code, button, action = cycle[i % 4]
            before = time.perf_counter()
            line = code + (f" {1000 * (before - box_zero):.3f}" if a.box_clock else "") + "\n"
            os.write(master, line.encode())
            after = time.perf_counter()
            log.write(f"{before:.6f}\t{after:.6f}\t{button}\t{action}\n")
            log.flush()
            i += 1
            t += a.step
    time.sleep(0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
