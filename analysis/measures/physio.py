"""Physiology recorded from LSL streams (``physio-<name>.tsv``), aligned to clip onsets.

The runner records each LSL stream named in the protocol on the session clock
(see docs/session-format.md); this module cuts every channel into clips and
averages it per bin of seconds since clip onset, the same grid as the button
and face time courses of :mod:`analysis.measures.timecourse`, so they can be plotted
together. Values keep the stream's own unit (the sidecar says which stream and
channels); nothing is normalised here. A stream is one device: it belongs to
the session, not to a participant, unless its name says otherwise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

COLUMNS = ["session_id", "stream", "channel", "trial", "stimulus_id", "second", "value", "samples"]


def physio_timecourse(
    events: pd.DataFrame, physio: dict, session_id: str = "", bin_width: float = 1.0
) -> pd.DataFrame:
    """Per-bin means of every physio channel in every clip of one session.

    Parameters
    ----------
    events : pandas.DataFrame
        ``events.tsv`` (rows with ``trial_type == 'clip'`` are used).
    physio : dict of str to pandas.DataFrame
        Stream name -> ``physio-<name>.tsv`` (``t`` on the session clock, one
        column per channel), as in ``Session.physio``.
    session_id : str
    bin_width : float
        Seconds per bin.

    Returns
    -------
    pandas.DataFrame
        session_id, stream, channel, trial, stimulus_id, second (bin start, s
        since clip onset), value (mean of the samples in the bin), samples.

    Examples
    --------
    >>> ev = pd.DataFrame({"onset": [10.0], "duration": [2.0], "trial_type": ["clip"],
    ...                    "trial": [1], "stimulus_id": ["c1"]})
    >>> t = np.arange(0, 20, 0.01)
    >>> tc = physio_timecourse(ev, {"ppg": pd.DataFrame({"t": t, "lsl_time": t, "ppg": t})})
    >>> tc[["second", "value", "samples"]].round(3).values.tolist()
    [[0.0, 10.495, 100.0], [1.0, 11.495, 100.0]]
    """
    clips = events[events["trial_type"] == "clip"]
    parts = []
    for name, table in physio.items():
        channels = [c for c in table.columns if c not in ("t", "lsl_time")]
        t = table["t"].to_numpy()
        for clip in clips.itertuples(index=False):
            sel = (t >= clip.onset) & (t < clip.onset + clip.duration)
            if not sel.any():
                continue
            rel = t[sel] - clip.onset
            second = np.floor(rel / bin_width + 1e-9) * bin_width
            for ch in channels:
                df = pd.DataFrame({"second": second, "value": table[ch].to_numpy()[sel]})
                g = df.groupby("second")["value"].agg(["mean", "size"]).reset_index()
                parts.append(
                    pd.DataFrame(
                        {
                            "session_id": session_id,
                            "stream": name,
                            "channel": ch,
                            "trial": int(clip.trial),
                            "stimulus_id": str(clip.stimulus_id),
                            "second": g["second"],
                            "value": g["mean"],
                            "samples": g["size"],
                        }
                    )
                )
    if not parts:
        return pd.DataFrame(columns=COLUMNS)
    return pd.concat(parts, ignore_index=True)[COLUMNS]


def dataset_physio(dataset, bin_width: float = 1.0) -> pd.DataFrame:
    """:func:`physio_timecourse` of every session of a dataset folder that recorded physiology."""
    from coaffect.formats.session_reader import read_dataset

    parts = [
        physio_timecourse(s.events, s.physio, s.session_id, bin_width)
        for s in read_dataset(dataset)
        if s.physio
    ]
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)


def plot_physio(tc: pd.DataFrame, path: Path) -> Path:
    """One panel per stream and channel: mean over trials per clip, by second since onset (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = tc[["stream", "channel"]].drop_duplicates().values.tolist()
    fig, axes = plt.subplots(len(keys), 1, figsize=(7, 2.6 * max(1, len(keys))), squeeze=False)
    for ax, (stream, channel) in zip(axes[:, 0], keys):
        part = tc[(tc.stream == stream) & (tc.channel == channel)]
        for clip, g in part.groupby("stimulus_id"):
            m = g.groupby("second")["value"].mean()
            ax.plot(m.index, m.values, label=str(clip))
        ax.set_title(f"{stream}: {channel}")
        ax.set_xlabel("seconds since clip onset")
        ax.set_ylabel("mean (stream's unit)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
