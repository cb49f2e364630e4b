"""``trials.tsv`` on disk: written per session and for the dataset with JSON sidecars, and read back.

The sidecar (``trials.json``) describes every column and keeps where the table came from
(:data:`TRIAL_ATTRS`: the protocol's sha256, the reference levels, the simultaneity
threshold), so a refit in R or Python records the same provenance.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from coaffect.formats.checks import check_type
from coaffect.formats.errors import AnalysisError
from coaffect.formats.tables import derivatives_dir, write_tsv

from ..faces.pose_size import POSE_SIZE_COLUMNS

__all__ = ["SIDECAR_KEY", "TRIAL_ATTRS", "read_trials", "write_trials"]

#: Where a trial table came from (its ``attrs``), kept in the sidecar under :data:`SIDECAR_KEY`.
TRIAL_ATTRS = ("protocol_sha256", "reference_levels", "simultaneity_threshold")
SIDECAR_KEY = "coaffect"


def write_trials(table: pd.DataFrame, dataset_dir: str | Path) -> Path:
    """Write ``trials.tsv`` per session and for the whole dataset, with JSON sidecars.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`~analysis.measures.trials.trial_table`.
    dataset_dir : str or Path
        The dataset; files go to ``derivatives/coaffect/``.

    Returns
    -------
    Path
        ``derivatives/coaffect/trials.tsv`` (all sessions).

    Examples
    --------
    >>> from analysis.measures.trials import trial_table
    >>> from analysis.study.load import load_study
    >>> write_trials(trial_table(load_study(sim)), sim).relative_to(sim).as_posix()
    'derivatives/coaffect/trials.tsv'
    """
    check_type("table", table, pd.DataFrame, "a trial table (pandas DataFrame)")
    deriv = derivatives_dir(dataset_dir)
    deriv.mkdir(parents=True, exist_ok=True)
    side: dict = {c: {"Description": _describe(c)} for c in table.columns}
    side[SIDECAR_KEY] = {k: table.attrs.get(k) for k in TRIAL_ATTRS}
    for sid, part in table.groupby("session_id"):
        d = deriv / f"ses-{sid}"
        d.mkdir(exist_ok=True)
        write_tsv(part, d / "trials.tsv")
        (d / "trials.json").write_text(json.dumps(side, indent=2))
    path = deriv / "trials.tsv"
    write_tsv(table, path)
    (deriv / "trials.json").write_text(json.dumps(side, indent=2))
    return path


def read_trials(path: str | Path) -> pd.DataFrame:
    """Read a ``trials.tsv`` back: types as :func:`~analysis.measures.trials.trial_table` made them, provenance from its sidecar.

    Parameters
    ----------
    path : str or Path
        A ``trials.tsv`` (dataset-wide or one session's), or the dataset folder.

    Returns
    -------
    pandas.DataFrame
        Ids as text, ``TRUE``/``FALSE`` as booleans, ``n/a`` as missing; ``attrs`` hold
        the protocol's sha256 and reference levels (so a refit records them again).

    Examples
    --------
    >>> from analysis.measures.trials import trial_table
    >>> from analysis.study.load import load_study
    >>> t = read_trials(write_trials(trial_table(load_study(sim)), tmp / "copy"))
    >>> t["excluded"].dtype, t["in_group"].dtype, t.attrs["reference_levels"]
    (dtype('bool'), dtype('int64'), {'condition': 'alone'})
    """
    path = Path(path)
    if path.is_dir():
        path = derivatives_dir(path) / "trials.tsv"
    if not path.exists():
        raise AnalysisError(
            f"{path}: no such trial table", hint="build it with trial_table() and write_trials()"
        )
    ids = {c: str for c in ("participant_id", "session_id", "condition", "seat", "stimulus_id", "valence")}
    table = pd.read_csv(path, sep="\t", na_values=["n/a"], keep_default_na=False, dtype=ids)
    for c in ("exclusion_reason", "face_exclusion_reason"):
        if c in table.columns:
            table[c] = table[c].fillna("")
    side = path.with_suffix(".json")
    meta = json.loads(side.read_text(encoding="utf-8")).get(SIDECAR_KEY, {}) if side.exists() else {}
    table.attrs = {k: meta.get(k) for k in TRIAL_ATTRS}
    return table


def _describe(col: str) -> str:
    fixed = {
        "t_happy": "Seconds the happy button was held during the clip.",
        "t_sad": "Seconds the sad button was held during the clip.",
        "t_both": "Seconds both buttons were held at once (mixed feelings).",
        "p_both": "t_both / clip duration.",
        "min_index": "min(t_happy, t_sad), s: mixed feelings over the clip, simultaneous or sequential "
        "(t_both is the simultaneous part; Larsen & McGraw 2011).",
        "t_both_expected": "Overlap expected if both buttons were held independently: t_happy * t_sad / duration, s.",
        "t_both_excess": "t_both - t_both_expected, s (overlap beyond chance).",
        "n_switches": "Changes between the exclusive states happy-only and sad-only.",
        "never_pressed": "Participant pressed no button in any clip of the session (compliance flag).",
        "rating_min": "min(rating_happy, rating_sad): MIN index on ratings (Schimmack 2001).",
        "n_frames": "Camera frames during the clip.",
        **POSE_SIZE_COLUMNS,
        "face_fraction": "Share of the clip's camera frames with this participant's face (frames "
        "missing from the faces table at the clip's start or end count as frames without a face).",
        "face_source": "Which tool scored this participant's faces in this session: coaffect, "
        "openface or pyfeat (coaffect import-faces); facial outcomes of different sources are "
        "in different units.",
        "excluded": "Trial unusable for every outcome (see exclusion_reason).",
        "face_excluded": "Facial measures unusable (see face_exclusion_reason).",
        "in_group": "1 in a group session, 0 alone: the slope of the (0 + in_group | session_id) random term.",
        "quality_excluded": "Share of the clip's face frames left out of the facial means "
        "(face_quality flags listed in analysis.exclude_quality).",
    }
    if col in fixed:
        return fixed[col]
    if col.startswith("quality_"):
        return f"Share of the clip's face frames flagged '{col[8:]}' in face_quality (docs/faces-table.md)."
    if col.endswith("_peak"):
        return (
            f"Peak of {col[:-5]} over the clip, minus the baseline mean: 90th percentile of the 1 s moving "
            "average less the level noise alone reaches in a window of that many usable frames "
            "(analysis/expression/peak.py)."
        )
    if col.startswith("rating_"):
        return f"Post-clip rating '{col[7:]}' (scale points)."
    return col.replace("_", " ")
