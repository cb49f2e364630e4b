"""The PsychoPy display adapter under Xvfb: non-Latin text really shows, flips are timed."""

from __future__ import annotations

import time

import numpy as np
import pytest

from experiments.runner.clock import SessionClock
from experiments.runner.display import frame_audit


@pytest.fixture(scope="module")
def screen(display):
    from experiments.runner.display import Display

    d = Display((640, 480), SessionClock(time.perf_counter()), text_height=40)
    yield d
    d.close()


def _render(d, text, font):
    d.font = font
    d.text(text)
    img = d.grab("back").astype(int)  # exactly what the next flip shows
    d.flip()
    return img


def _ink(img) -> np.ndarray:
    return img.max(axis=2) > 128  # white text on black


@pytest.mark.parametrize(
    "font,a,b",
    [
        ("Noto Sans CJK JP", "日本語の文章", "感情の研究所"),  # Japanese, same length
        ("DejaVu Sans", "Привет мир", "Спасибо за"),  # Russian
    ],
)
def test_non_latin_text_is_drawn_not_tofu(screen, font, a, b):
    """Text pixels appear, and two different strings differ (missing glyphs would be identical boxes)."""
    img_a, img_b = _render(screen, a, font), _render(screen, b, font)
    ink_a, ink_b = _ink(img_a), _ink(img_b)
    assert ink_a.sum() > 300 and ink_b.sum() > 300  # not blank
    rows = np.flatnonzero(ink_a.any(axis=1))
    assert 180 < rows.mean() < 300  # centred in the 480 px window
    assert (ink_a != ink_b).sum() > 0.3 * max(ink_a.sum(), ink_b.sum())  # different glyphs


def test_tofu_would_be_caught(screen):
    """Control: characters the font lacks render as identical boxes, so the check above can fail."""
    img_a = _render(screen, "\U000f0000\U000f0001\U000f0002", "DejaVu Sans")
    img_b = _render(screen, "\U000f0003\U000f0004\U000f0005", "DejaVu Sans")
    assert (_ink(img_a) != _ink(img_b)).sum() <= 0.3 * max(_ink(img_a).sum(), 1)


@pytest.mark.serial  # a flip stamped within 50 ms: run alone (make test)
def test_flip_times_are_on_the_session_clock(screen):
    times = []
    for _ in range(10):
        screen.fixation()
        times.append(screen.flip())
    assert all(b > a for a, b in zip(times, times[1:]))
    assert abs(screen.clock.now() - times[-1]) < 0.05  # stamped on flip, not before


def test_frame_audit_counts():
    # frames 0,1,3 shown at 30 fps, frame 1 on screen for 0.1 s: 1 dropped (2) + 1 missing at end
    flips = [(0.0, None, None), (0.01, 0, 0.0), (0.033, 1, 0.033), (0.133, 3, 0.1)]
    a = frame_audit(flips, 30.0, 5)
    assert a == {"flips": 4, "frames_shown": 3, "dropped": 2, "repeated": 1, "max_frame_s": 0.1}
