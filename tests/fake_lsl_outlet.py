"""A local LSL outlet with a known 100 Hz signal (run as a process by the tests).

Stream ``--name`` (type PPG, source_id ``--source-id``, 1 channel labelled
``ppg``): sample ``k`` has the
value ``k`` and the timestamp ``t_start + k / 100`` on LSL's clock, pushed when
that time comes. Prints ``t_start`` (LSL local clock, s) on stdout first.
"""

from __future__ import annotations

import argparse
import sys
import time


def main() -> int:
    import pylsl

    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="ppg-test")
    ap.add_argument("--source-id", default="")
    ap.add_argument("--seconds", type=float, default=60.0)
    a = ap.parse_args()
    info = pylsl.StreamInfo(a.name, "PPG", 1, 100.0, "float32", a.source_id or f"fake-{a.name}")
    info.desc().append_child("channels").append_child("channel").append_child_value("label", "ppg")
    outlet = pylsl.StreamOutlet(info)
    t_start = pylsl.local_clock() + 0.2
    print(f"{t_start:.9f}", flush=True)
    k = 0
    while k < a.seconds * 100:
        due = t_start + k / 100.0
        while pylsl.local_clock() < due:
            time.sleep(0.002)
        outlet.push_sample([float(k)], due)
        k += 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
