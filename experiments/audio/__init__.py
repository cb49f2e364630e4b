"""Clip sound: protocol settings, output checks, and a software sink to measure A/V sync.

:mod:`.output` checks the audio output before the window opens and sets up SDL's
PulseAudio driver for ffpyplayer; :mod:`.sink` runs a private PulseAudio daemon
with a null sink, records it with ``parec`` and finds a known sound in the
recording by cross-correlation (tests, ``bench/av_sync.py`` and ``rig-check``).
"""
