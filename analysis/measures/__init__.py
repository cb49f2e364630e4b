"""Per-trial and per-second measures: self-report, the trial table, time courses, coherence, synchrony, physiology."""
