"""What scoring a camera tells the analyst: faces outside the assigned seats, a turned camera.

Both come back as one message each (in the score summary's ``seat_warnings`` and
``orientation_warnings``, shown by ``coaffect score`` and the report) saying
what was seen and what to do.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..faces.identity import UNKNOWN


def _unassigned_by_seat(obs, identity, layout) -> dict:
    """Seat slot -> frames in which a face nobody was given (``unknown``) sat in it."""
    lost = set(identity.loc[identity["participant_id"] == UNKNOWN, "track_id"])
    if not lost or not len(layout):
        return {}
    n = len(layout)
    x = obs.tracks.set_index("track_id")["x_center"] if "x_center" in obs.tracks else pd.Series(dtype=float)
    out: dict = {}
    for tid, frames in obs.faces[obs.faces["track_id"].isin(lost)].groupby("track_id")["frame"]:
        pos = float(x.get(tid, np.nan))
        seat = layout[min(n - 1, max(0, int(pos * n)))] if np.isfinite(pos) else "?"
        out.setdefault(seat, set()).update(frames.tolist())
    return out


def orientation_note(camera: str, video, obs, frame_table=None, rotate: int = 0) -> str | None:
    """When a camera's faces are found only in a turned frame, the message saying so (else None).

    Checked only when no face was found in the camera's first seconds: the
    first 5 s (one frame every 0.5 s) are tried turned by 90, 180 and 270
    deg (:func:`analysis.faces.orientation.check_orientation`).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> obs = SimpleNamespace(faces=pd.DataFrame({"frame": [0]}), info={"fps": 25.0})
    >>> orientation_note("wide", "clip.mp4", obs) is None      # a face early on: nothing to check
    True
    """
    from ..faces.orientation import check_orientation, first_seconds, orientation_advice, rotate_image

    fps = float(obs.info.get("fps") or 25.0)
    if len(obs.faces) and float(obs.faces["frame"].min()) < ORIENTATION_CHECK_S * fps:
        return None
    images = [
        rotate_image(img, rotate) for img in first_seconds(video, ORIENTATION_CHECK_S, 0.5, frame_table)
    ]
    return orientation_advice(camera, check_orientation(images), rotate) if images else None


#: Seconds at a camera's start in which a face must be found, else the orientation is checked.
ORIENTATION_CHECK_S = 5.0


def outside_seats_warning(camera, obs, identity, cam_notes, layout, condition, seated=None) -> str | None:
    """A message saying where faces nobody was given were seen and what to do, else None.

    Faces that are in no participant's rows (``unknown``) in at least 10% of the
    scored frames are reported by the seat slot they sat in (the camera's seats
    left to right): on a seat nobody took in this session, or beside the
    participant of a taken seat. What to do depends on the condition: in an
    alone session a face on an empty seat is somebody (or a picture) who should
    not be in view, or the participant sat elsewhere; in a group session the
    seat plan or the seating may not match the room.

    Parameters
    ----------
    camera : str
    obs : observations with ``faces`` (track_id, frame) and ``tracks`` (track_id, x_center)
    identity : pandas.DataFrame
        track_id, participant_id.
    cam_notes : dict
        ``by_participant``: participant -> [frames with a face, frames].
    layout : list of str
        Seats in view, left to right.
    condition : str
    seated : dict, optional
        Seat -> participant of this session (default: none known).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> obs = SimpleNamespace(faces=pd.DataFrame({"track_id": [2] * 10 + [3] * 10, "frame": [*range(10)] * 2}),
    ...                       tracks=pd.DataFrame({"track_id": [1, 2, 3], "x_center": [0.15, 0.5, 0.85]}))
    >>> ident = pd.DataFrame({"track_id": [1, 2, 3], "participant_id": ["P09", "unknown", "unknown"]})
    >>> notes = {"scored_rows": 10, "by_participant": {"P09": [10, 10]}}
    >>> print(outside_seats_warning("wide", obs, ident, notes, ["A", "B", "C"], "alone", {"A": "P09"}))
    ... # doctest: +NORMALIZE_WHITESPACE
    cam-wide: faces seen on seats nobody took in this alone session: B in 10 of 10 frames (100%),
    C in 10 of 10 frames (100%); they are in no participant's rows (P09 on seat A: face in 100% of
    frames). In an alone session only the participant should be in view: if other people or pictures
    of faces were filmed, they are left out, as they should be, and nothing needs doing; if P09 sat on
    another seat than A, give camera wide 'condition_seats: {alone: [SEAT]}' in the session's
    protocol.yaml and run 'coaffect score --force'
    """
    per = cam_notes.get("by_participant", {})
    n = max((tot for _f, tot in per.values()), default=cam_notes.get("scored_rows", 0))
    by_seat = _unassigned_by_seat(obs, identity, layout)
    frames = len(set().union(*by_seat.values())) if by_seat else 0
    if not n or frames < 0.1 * n:
        return None
    seated = dict(seated or {})
    pct = {seat: len(f) / n for seat, f in by_seat.items()}
    empty = [s for s in layout if s in by_seat and s not in seated and pct[s] >= 0.01]
    beside = [s for s in layout if s in by_seat and s in seated and pct[s] >= 0.01]
    where = []
    if empty:
        where.append(
            f"on seats nobody took in this {condition} session: "
            + ", ".join(f"{s} in {len(by_seat[s])} of {n} frames ({100 * pct[s]:.0f}%)" for s in empty)
        )
    if beside:
        where.append(
            "beside the participant of seat "
            + ", ".join(
                f"{s} ({seated[s]}) in {len(by_seat[s])} of {n} frames ({100 * pct[s]:.0f}%)" for s in beside
            )
        )
    if "?" in by_seat:
        where.append(f"at no known place in {len(by_seat['?'])} of {n} frames")
    who = "; ".join(
        f"{pid} on seat {seat}: face in {100 * per[pid][0] / per[pid][1]:.0f}% of frames"
        for seat, pid in sorted(seated.items())
        if pid in per and per[pid][1]
    )
    seen = f"cam-{camera}: faces seen {'; '.join(where)}; they are in no participant's rows" + (
        f" ({who})" if who else ""
    )
    redo = "in the session's protocol.yaml and run 'coaffect score --force'"
    if condition == "alone":
        pid, seat = next(((p, s) for s, p in seated.items()), ("the participant", "their seat"))
        todo = (
            "In an alone session only the participant should be in view: if other people or pictures of "
            "faces were filmed, they are left out, as they should be, and nothing needs doing; if "
            f"{pid} sat on another seat than {seat}, give camera {camera} 'condition_seats: "
            f"{{alone: [SEAT]}}' {redo}"
        )
    else:
        todo = (
            f"In a group session: check that camera {camera}'s 'seats' lists the seats left to right as "
            "the camera sees them and that everyone sat where participants.tsv says; fix the seats "
            f"{redo}. A face on an empty seat (a late-comer, an experimenter) or a second face at a "
            "seat (someone leaning over) is left out, as it should be"
        )
    return f"{seen}. {todo}"
