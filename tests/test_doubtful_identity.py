"""Doubtful identities end to end: left out of the facial measures, counted, warned about, opt-out kept.

A simulated group session's faces table is edited as scoring would have written it had
the identity step doubted a face: ``face_quality`` gets the ``identity`` flag and
``identity_confidence`` drops below the documented 0.3. The first participant (by id)
is doubtful on 90% of their face frames (a stranger on the seat), the other on every
third face frame of the clips only, and there the flagged frames carry someone else's broad smile (AU12 +40 z),
so whether they enter the trial means is plain to see.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import yaml

from analysis.measures.trials import excluded_flags, trial_table
from analysis.report import build_report
from analysis.report.flow import exclusion_flow
from analysis.report.pose_size import doubtful_identity_warnings
from analysis.report.quality import quality_table
from analysis.study.load import load_study
from coaffect.formats.faces_schema import QUALITY_LIMITS
from tests.sim_helpers import SMALL, copy_dataset, sim_dataset

SESSION = "g01"
SMILE = 40.0


def _flag(faces: pd.DataFrame, rows: np.ndarray) -> None:
    q = faces.loc[rows, "face_quality"].astype(str)
    faces.loc[rows, "face_quality"] = np.where(q == "ok", "identity", q + "|identity")
    faces.loc[rows, "identity_confidence"] = 0.1


@pytest.fixture(scope="module")
def doubtful(tmp_path_factory):
    """A copy of the small simulated study with doubtful identities in ses-g01, and what was flagged."""
    clean = sim_dataset(tmp_path_factory, "small", **SMALL)
    ds = copy_dataset(clean, tmp_path_factory.mktemp("doubtful") / "ds")
    path = ds / "derivatives" / "coaffect" / f"ses-{SESSION}" / "faces.parquet"
    faces = pd.read_parquet(path)
    (sd,) = [s for s in load_study(ds).sessions if s.session_id == SESSION]
    stranger_id, shared_id = sorted(sd.participants["participant_id"])
    clips = sd.clips
    t = faces["t"].to_numpy()
    in_clip = np.zeros(len(faces), bool)
    for c in clips.itertuples(index=False):
        in_clip |= (t >= c.onset) & (t < c.onset + c.duration)
    found = faces["face_found"].to_numpy(bool)
    stranger = np.flatnonzero(found & (faces["participant_id"] == stranger_id).to_numpy())
    stranger = stranger[np.arange(len(stranger)) % 10 != 0]  # 90% of their face frames
    shared = np.flatnonzero(found & in_clip & (faces["participant_id"] == shared_id).to_numpy())[::3]
    assert QUALITY_LIMITS["min_identity_confidence"] > 0.1
    _flag(faces, stranger)
    _flag(faces, shared)
    faces.loc[shared, "AU12"] += SMILE
    faces.to_parquet(path)
    flagged = {stranger_id: int(in_clip[stranger].sum()), shared_id: len(shared)}
    assert min(flagged.values()) > 10
    return clean, ds, flagged


def _rows(trials, pid):
    return trials[(trials["session_id"] == SESSION) & (trials["participant_id"] == pid)].set_index("trial")


def test_doubtful_frames_are_left_out_counted_and_warned_about(doubtful):
    clean, ds, flagged = doubtful
    stranger, shared = flagged
    before, trials = trial_table(load_study(clean)), trial_table(load_study(ds))
    # the stranger: 90% doubtful; every trial that had usable facial measures loses them,
    # with the reason (one trial lost them already in the clean study: face seen too rarely)
    me, me_before = _rows(trials, stranger), _rows(before, stranger)
    usable = ~me_before["face_excluded"]
    assert usable.sum() >= 2 and me["face_excluded"].all()
    share = me.loc[usable, "face_exclusion_reason"].str.extract(
        r"^identity doubtful in (\d+)% of face frames \(left out\)$"
    )[0]
    assert share.astype(float).between(80, 100).all(), me["face_exclusion_reason"]
    assert (me.loc[~usable, "face_exclusion_reason"] == me_before.loc[~usable, "face_exclusion_reason"]).all()
    assert me["identity_doubtful_frames"].sum() == flagged[stranger]
    assert (me["n_face_frames"] < 0.2 * me["n_frames"]).all()
    # the other: a third of the clip frames doubtful and smiling someone else's smile; they are left
    # out, so the trial means stay near the clean ones (fewer frames: within 1 z), not ~13 z up
    other, other_before = _rows(trials, shared), _rows(before, shared)
    ok = ~other_before["face_excluded"]
    assert ok.sum() >= 2 and (other["face_excluded"] == other_before["face_excluded"]).all()
    assert other["identity_doubtful_frames"].sum() == flagged[shared]
    assert (other["n_face_frames"] < other_before["n_face_frames"]).all()
    change = (other["AU12"] - other_before["AU12"])[ok]
    assert change.abs().max() < 1.0, change
    # the flow table counts the doubtful frames and names the trials' reason
    flow = exclusion_flow(trials)
    group = flow[flow["condition"] == "group"].set_index("step")["n"]
    assert group["frames with a doubtful identity"] == sum(flagged.values())
    reason = "no facial measures: identity doubtful in most face frames (left out)"
    assert group[reason] == usable.sum()
    assert (flow.loc[flow["condition"] == "alone", "step"] != reason).all()
    # the report: a red warning at the top, naming the stranger only, saying the frames are left out
    analysed = build_report(ds)
    assert len(analysed.warnings) == 1 and analysed.warnings[0].startswith(f"ses-{SESSION} {stranger}:")
    html = analysed.report_path.read_text(encoding="utf-8")
    top = html[: html.index("<ul id='toc'>")]
    warnings = re.findall(r"<p class='missing'><b>(.*?)</b></p>", top)
    assert len(warnings) == 1, warnings
    assert (
        warnings[0].startswith(f"ses-{SESSION} {stranger}: 9")
        and "left out of the facial measures" in warnings[0]
    )
    assert "frames with a doubtful identity" in html


def test_the_protocol_can_keep_doubtful_frames(doubtful, tmp_path):
    clean, ds, flagged = doubtful
    stranger, shared = flagged
    ds = copy_dataset(ds, tmp_path / "ds")
    for proto in ds.glob("ses-*/protocol.yaml"):
        doc = yaml.safe_load(proto.read_text())
        doc["analysis"]["exclude_doubtful_identity"] = False
        proto.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    study = load_study(ds)
    assert study.settings.exclude_doubtful_identity is False
    before, trials = trial_table(load_study(clean)), trial_table(study)
    me, me_before = _rows(trials, stranger), _rows(before, stranger)
    assert (me["face_excluded"] == me_before["face_excluded"]).all() and (~me["face_excluded"]).sum() >= 2
    assert me["identity_doubtful_frames"].sum() == flagged[stranger]
    assert (me["n_face_frames"] == me_before["n_face_frames"]).all()
    # the other's doubtful frames are in the means now: a third of them smile by +40 z
    other, other_before = _rows(trials, shared), _rows(before, shared)
    lift = (other["AU12"] - other_before["AU12"])[~other_before["face_excluded"]].to_numpy()
    assert np.all((lift > SMILE / 3 - 3) & (lift < SMILE / 3 + 3)), lift
    assert exclusion_flow(trials).query("condition == 'group'").set_index("step").loc[
        "frames with a doubtful identity", "n"
    ] == sum(flagged.values())
    # the report's red warning still names the stranger, and says their frames are kept
    left_out = "identity" in excluded_flags(study.settings)  # as analyse_study decides
    (warning,) = doubtful_identity_warnings(quality_table(study, trials), left_out=left_out)
    assert warning.startswith(f"ses-{SESSION} {stranger}:") and "kept in the facial measures" in warning
