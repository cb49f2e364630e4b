"""Frames that cannot be decoded are counted once, also across parallel chunks."""

from __future__ import annotations

import numpy as np

from analysis.faces.chunks import stitch_chunks
from analysis.faces.pipeline import RangeObservations


def _part(first: int, stop: int, unreadable: list[int]) -> RangeObservations:
    frames = [(i, i / 10, i not in unreadable) for i in range(first, stop)]
    info = {"detections_run": 1, "width": 64, "height": 48, "unreadable_frames": unreadable}
    return RangeObservations(frames, [], np.zeros((0, 68, 2)), set(), {}, {}, info)


def test_unreadable_frames_of_overlapping_chunks_are_counted_once():
    # chunk 1 warms up on frames 4-7, which chunk 0 already scored; both saw 6 and 7 cut
    parts = [_part(0, 8, [6, 7]), _part(4, 12, [6, 7, 8, 11])]
    raw = stitch_chunks(parts, [0, 8])
    assert raw.info["unreadable_frames"] == [6, 7, 8, 11]
    assert [f[0] for f in raw.frames] == list(range(12))
