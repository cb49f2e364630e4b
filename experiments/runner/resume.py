"""Where to continue an interrupted session (``coaffect run --resume``).

A trial is finished when its ``iti`` row is in ``events.tsv`` (the last row a
trial writes). A resumed session runs the button check again, the baseline
only if none was recorded, and then every unfinished trial; the rows of a
trial that was cut short stay in the folder (nothing recorded is deleted) and
the ``resume`` event says which trial restarted.
"""

from __future__ import annotations

import bisect
import csv
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ResumePoint:
    """What an interrupted session already did."""

    finished_trials: frozenset
    baseline_done: bool
    last_time: float  # latest session time recorded anywhere
    attempts: dict  # trial -> times its clip was started before

    def next_trial(self, n_trials: int) -> int | None:
        """1-based number of the first unfinished trial (None if all are done)."""
        for i in range(1, n_trials + 1):
            if i not in self.finished_trials:
                return i
        return None


def _rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):  # cut by a crash: not a row
        text = text[: text.rfind("\n") + 1]
    return list(csv.DictReader(text.splitlines(), delimiter="\t"))


def _num(x) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return 0.0


def find_resume_point(session_dir: Path) -> ResumePoint:
    r"""Read ``events.tsv`` and ``buttons.tsv`` of an interrupted session.

    Examples
    --------
    A session killed during its second clip:

    >>> folder = tmp / "ses-S01"; folder.mkdir()
    >>> _ = (folder / "events.tsv").write_text(
    ...     "onset\tduration\ttrial_type\ttrial\n"
    ...     "4.0\t5.0\tbaseline\tn/a\n9.1\t8.0\tclip\t1\n17.2\t6.5\trating\t1\n"
    ...     "23.8\t1.0\titi\t1\n24.9\t8.0\tclip\t2\n")
    >>> rp = find_resume_point(folder)
    >>> rp.next_trial(3), sorted(rp.finished_trials), rp.baseline_done, rp.last_time
    (2, [1], True, 32.9)
    """
    events = _rows(session_dir / "events.tsv")
    buttons = _rows(session_dir / "buttons.tsv")
    flips = _rows(session_dir / "flips.tsv")
    finished = frozenset(
        int(r["trial"])
        for r in events
        if r.get("trial_type") == "iti" and r.get("trial") not in (None, "n/a")
    )
    # a trial was started once per run (segment between resumes) that flipped its clip
    resumes = sorted(_num(r["onset"]) for r in events if r.get("trial_type") == "resume")
    runs: dict[int, set] = {}
    for r in flips:
        if r.get("trial") not in (None, "n/a", ""):
            runs.setdefault(int(r["trial"]), set()).add(bisect.bisect(resumes, _num(r["t"])))
    attempts = {trial: len(segments) for trial, segments in runs.items()}
    baseline = any(r.get("trial_type") == "baseline" for r in events)
    times = [_num(r["onset"]) + _num(r["duration"]) for r in events]
    times += [_num(r["t"]) for r in buttons] + [_num(r["t"]) for r in flips[-1:]]
    return ResumePoint(finished, baseline, max(times, default=0.0), attempts)


def resumed_clock_zero(saved_zero: float | None, last_time: float) -> tuple[float, bool]:
    """Keep the session clock going across a resume.

    ``perf_counter`` is system-wide on Linux, so the saved zero still holds
    after a crash; after a reboot it does not (now would be before the last
    recorded time), and the clock is re-based to continue one second after the
    last recorded time. Returns (zero, rebased).

    Examples
    --------
    >>> z, rebased = resumed_clock_zero(time.perf_counter() - 100, 50.0)
    >>> rebased
    False
    """
    now = time.perf_counter()
    if saved_zero is not None and now - saved_zero > last_time:
        return saved_zero, False
    return now - (last_time + 1.0), True


def merge_camera_summaries(earlier: dict | None, now: dict) -> dict:
    """Camera summaries of a resumed session: earlier runs' gaps and counts are kept.

    ``frames_written`` and the times come from the frame table (the whole
    session) already; gaps, restarts and the delivered/dropped counters are per
    run and are added up here.

    Examples
    --------
    >>> old = {"wide": {"gaps": [[1.0, 2.0]], "restarts": 1, "frames_delivered": 10,
    ...                 "frames_dropped": 0, "status": "gaps"}}
    >>> new = {"wide": {"gaps": [[5.0, 9.0]], "restarts": 0, "frames_delivered": 20,
    ...                 "frames_dropped": 1, "status": "gaps"}}
    >>> m = merge_camera_summaries(old, new)["wide"]
    >>> m["gaps"], m["restarts"], m["frames_delivered"], m["frames_dropped"]
    ([[1.0, 2.0], [5.0, 9.0]], 1, 30, 1)
    """
    out = {}
    for name, cur in now.items():
        prev = (earlier or {}).get(name)
        if not isinstance(prev, dict) or "gaps" not in prev:
            out[name] = cur
            continue
        merged = dict(cur)
        gaps = {tuple(g) for g in prev.get("gaps", [])} | {tuple(g) for g in cur.get("gaps", [])}
        merged["gaps"] = [list(g) for g in sorted(gaps)]
        for key in ("restarts", "frames_delivered", "frames_dropped"):
            merged[key] = (prev.get(key) or 0) + (cur.get(key) or 0)
        if merged.get("status") == "ok" and merged["gaps"]:
            merged["status"] = "gaps"
        out[name] = merged
    return out
