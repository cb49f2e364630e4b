"""Trial table, time courses, coherence and synchrony on simulated session folders."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.measures.coherence import coherence_table
from analysis.measures.synchrony import synchrony_summary, synchrony_table
from analysis.measures.timecourse import condition_timecourse, timecourses
from analysis.measures.trial_file import write_trials
from analysis.measures.trials import trial_table
from analysis.study.load import load_study
from coaffect.formats import faces_schema as fs
from tests.sim_helpers import SMALL, copy_dataset, sim_dataset


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return sim_dataset(tmp_path_factory, "small", **SMALL)


@pytest.fixture(scope="module")
def study_trials(small):
    study = load_study(small)
    return study, trial_table(study)


def test_one_row_per_participant_and_clip_with_design_columns(study_trials):
    study, trials = study_trials
    # 3 alone + 2 groups of 2 = 7 participants x 3 clips
    assert len(trials) == 21
    assert trials.groupby(["participant_id", "stimulus_id"]).size().max() == 1
    assert set(trials["condition"]) == {"alone", "group"}
    assert trials.groupby("condition")["participant_id"].nunique().to_dict() == {"alone": 3, "group": 4}
    # valence comes from the manifest the frozen protocol points at (clips cycle pos/neg/bitter)
    assert trials.drop_duplicates("stimulus_id").set_index("stimulus_id")["valence"].to_dict() == {
        "clip01": "positive",
        "clip02": "negative",
        "clip03": "bittersweet",
    }
    for col in (
        "seat",
        "t_happy",
        "t_both",
        "p_both",
        "min_index",
        "n_switches",
        "rating_happy",
        "rating_sad",
        "AU12",
        "AU12_peak",
        "emo_happy",
        "face_fraction",
        "excluded",
        "exclusion_reason",
        "face_excluded",
        "face_exclusion_reason",
    ):
        assert col in trials.columns, col
    assert not trials["excluded"].any()


def test_facial_means_are_baseline_corrected(small, study_trials):
    study, trials = study_trials
    sd = next(s for s in study.sessions if s.condition == "group")
    faces = pd.read_parquet(small / "derivatives" / "coaffect" / f"ses-{sd.session_id}" / "faces.parquet")
    pid = sd.participants["participant_id"].iloc[1]
    clip = sd.clips.iloc[1]
    base_ev = sd.session.events.query("trial_type == 'baseline'").iloc[0]
    me = faces[(faces["participant_id"] == pid) & faces["face_found"]]
    # protocol baseline_window [0, null]: the whole baseline
    base = me[(me["t"] >= base_ev["onset"]) & (me["t"] < base_ev["onset"] + base_ev["duration"])]
    win = me[(me["t"] >= clip["onset"]) & (me["t"] < clip["onset"] + clip["duration"])]
    row = trials[(trials["participant_id"] == pid) & (trials["trial"] == clip["trial"])].iloc[0]
    assert row["AU12"] == pytest.approx(win["AU12"].mean() - base["AU12"].mean(), rel=1e-9)
    # M_peak: 90th percentile over the 1 s (5-frame) centred windows holding at least half
    # their frames of (window mean - 1.2816 x noise SD / sqrt(frames in the window)), the
    # noise SD from consecutive differences (1.4826 MAD / sqrt 2); baseline-corrected
    every = faces[
        (faces["participant_id"] == pid)
        & (faces["t"] >= clip["onset"])
        & (faces["t"] < clip["onset"] + clip["duration"])
    ].sort_values("t")
    v = every["AU12"].where(every["face_found"]).to_numpy(float)
    d = np.diff(v)
    d = d[np.isfinite(d)]
    noise = 1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2)
    means, counts = [], []
    for i in range(len(v)):
        w = v[max(0, i - 2) : i + 3]
        if np.isfinite(w).sum() >= 2.5:
            means.append(np.nanmean(w))
            counts.append(np.isfinite(w).sum())
    corrected = np.array(means) - 1.2816 * noise / np.sqrt(counts)
    assert row["AU12_peak"] == pytest.approx(np.quantile(corrected, 0.9) - base["AU12"].mean(), rel=1e-9)
    assert row["AU12_peak"] < win["AU12"].max() - base["AU12"].mean()
    all_frames = faces[
        (faces["participant_id"] == pid)
        & (faces["t"] >= clip["onset"])
        & (faces["t"] < clip["onset"] + clip["duration"])
    ]
    assert row["face_fraction"] == pytest.approx(all_frames["face_found"].mean())


def test_exclusions_keep_rows_and_say_why(small, tmp_path):
    ds = copy_dataset(small, tmp_path / "ds")
    study = load_study(ds)
    sd_abort, sd_noface, sd_hidden = study.sessions[0], study.sessions[1], study.sessions[3]
    clip = sd_abort.clips.sort_values("trial").iloc[1]
    with open(ds / f"ses-{sd_abort.session_id}" / "events.tsv", "a") as fh:
        fh.write(f"{clip['onset'] + 2.0}\t0.0\tabort\tn/a\tn/a\texperimenter pressed escape\n")
    (ds / "derivatives" / "coaffect" / f"ses-{sd_noface.session_id}" / "faces.parquet").unlink()
    fpath = ds / "derivatives" / "coaffect" / f"ses-{sd_hidden.session_id}" / "faces.parquet"
    faces = pd.read_parquet(fpath)
    hidden_clip = sd_hidden.clips.iloc[0]
    hidden_pid = sd_hidden.participants["participant_id"].iloc[0]
    sel = (
        (faces["participant_id"] == hidden_pid)
        & (faces["t"] >= hidden_clip["onset"])
        & (faces["t"] < hidden_clip["onset"] + 7.0)
    )  # 7 of 10 s without a face
    faces.loc[sel, "face_found"] = False
    faces.loc[sel, list(fs.MEASURES)] = np.nan
    faces.to_parquet(fpath)
    trials = trial_table(load_study(ds))
    assert len(trials) == 21  # nothing deleted
    ab = trials[(trials["session_id"] == sd_abort.session_id) & (trials["trial"] == clip["trial"])]
    assert ab["excluded"].all()
    assert ab["exclusion_reason"].iloc[0] == "session aborted during the clip"
    nf = trials[trials["session_id"] == sd_noface.session_id]
    assert nf["face_excluded"].all() and nf["AU12"].isna().all()
    assert nf["face_exclusion_reason"].iloc[0] == "no faces table (session not scored)"
    assert not nf["excluded"].any() and nf["t_happy"].notna().all()  # buttons still usable
    hid = trials[(trials["participant_id"] == hidden_pid) & (trials["trial"] == hidden_clip["trial"])]
    assert hid["face_excluded"].iloc[0]
    # 7 s of 10 s hidden at 5 fps: 15 of 50 frames visible (a few more were missing already)
    assert hid["face_exclusion_reason"].iloc[0].startswith("face visible in ")
    assert hid["face_fraction"].iloc[0] <= 0.30
    out = write_trials(trials, ds)
    back = pd.read_csv(out, sep="\t", na_values="n/a", keep_default_na=False)
    assert (
        len(back) == 21
        and (ds / "derivatives/coaffect" / f"ses-{sd_abort.session_id}" / "trials.tsv").exists()
    )


def test_timecourses_coherence_and_synchrony(study_trials):
    study, trials = study_trials
    tc = timecourses(study, trials)
    # 21 trials x 10 one-second bins
    assert len(tc) == 210 and sorted(tc["second"].unique()) == list(np.arange(10.0))
    assert tc["happy"].between(0, 1).all()
    band = condition_timecourse(tc, "AU12")
    assert {"mean", "ci_low", "ci_high", "n"} <= set(band.columns)
    # group members are one unit per session: SMALL has 2 groups of 2 and 3 alone participants
    assert band.loc[band["condition"] == "group", "n"].max() == 2
    assert condition_timecourse(tc, "AU12", cluster=False).query("condition == 'group'")["n"].max() == 4
    # a band over a single unit has no width (NaN), never a wrong one
    assert ((band["ci_low"] <= band["mean"]) | (band["n"] < 2)).all()
    res = coherence_table(study, trials)
    coh, curve = res.table, res.lag_curve
    # the simulation makes AU12 follow the happy button 1.0 s later (SimulationSpec.coupling_lag);
    # each session's lag is chosen per button pair on the other sessions' data
    assert res.lag_source == "leave-one-session-out"
    assert res.lags["happy"] == pytest.approx(1.0, abs=0.5)
    assert coh.groupby(["session_id", "button"])["lag"].nunique().max() == 1
    assert len(curve) == 2 * 41 and set(curve["button"]) == {"happy", "sad"}  # -5..5 s in 0.25 s steps
    assert coh.loc[coh["button"] == "happy", "r"].mean() > 0.2
    # chance level: the buttons of every participant of another session on the same clip
    happy = coh[coh["button"] == "happy"]
    assert happy["z_surrogate"].notna().sum() > 10
    assert happy["z_above_chance"].mean() > 0.15
    assert res.n_no_value == int(coh["r"].isna().sum())
    # SMALL: 7 participants in 5 sessions; a group member's partners are the 5 outside its session
    sizes = trials.groupby("session_id")["participant_id"].nunique()
    mate = coh[(coh["condition"] == "group") & coh["r"].notna()]
    assert mate["n_surrogates"].max() <= 7 - sizes[mate["session_id"]].min()
    coh_fixed, _, lag_fixed, source, *_ = coherence_table(study, trials, lag=2.0)
    assert source == "protocol"
    assert lag_fixed == 2.0 and (coh_fixed["lag"] == 2.0).all()
    syn = synchrony_table(tc)
    # 2 group sessions of 2: per clip 2 real and 4 pseudo pairs among usable faces
    ok = trials[(trials["condition"] == "group") & ~trials["face_excluded"]]
    want = {"real": 0, "pseudo": 0}
    for _, part in ok.groupby("stimulus_id"):
        s = part["session_id"].tolist()
        for i in range(len(s)):
            for j in range(i + 1, len(s)):
                want["real" if s[i] == s[j] else "pseudo"] += 1
    assert syn.groupby("pair").size().to_dict() == want
    assert want["real"] >= 4 and want["pseudo"] >= 8
    per, test = synchrony_summary(syn)
    assert len(per) == 2 and test["n_sessions"] == 2
    assert test["mean_real_r"] > test["mean_pseudo_r"]  # shared session signal in the simulation


def test_frames_skipped_by_score_step_do_not_count_as_missing_faces(small, tmp_path):
    ds = copy_dataset(small, tmp_path / "ds")
    sid = "a01"
    fpath = ds / "derivatives" / "coaffect" / f"ses-{sid}" / "faces.parquet"
    faces = pd.read_parquet(fpath)
    skipped = faces["frame"] % 2 == 1  # what 'coaffect score --step 2' writes
    faces.loc[skipped, "face_found"] = False
    faces.loc[skipped, list(fs.MEASURES)] = np.nan
    faces.to_parquet(fpath)
    before = trial_table(load_study(ds)).query("session_id == @sid")
    assert before["face_fraction"].max() <= 0.5  # without the summary: half the frames "lost"
    (fpath.parent / "score_summary.json").write_text(
        '{"settings": {"pipeline": {"step": 2}}, "cameras": {"sim": {"step": 2}}}'
    )
    after = trial_table(load_study(ds)).query("session_id == @sid")
    assert after["face_fraction"].min() > 0.8 and not after["face_excluded"].any()
    assert (after["n_frames"] == 25).all()  # 10 s at 5 fps, every 2nd frame scored


def test_planned_clips_never_shown_get_excluded_rows(small, tmp_path):
    import json

    ds = copy_dataset(small, tmp_path / "ds")
    ses = ds / "ses-g02"
    meta = json.loads((ses / "session.json").read_text())
    events = (ses / "events.tsv").read_text().splitlines()
    clips = [line.split("\t")[4] for line in events[1:] if line.split("\t")[2] == "clip"]
    last = clips[-1]
    # the session was aborted before its last clip: no clip row, but the plan lists it
    kept = [
        line
        for line in events
        if not (line.split("\t")[2] in ("clip", "rating") and line.split("\t")[4] == last)
    ]
    (ses / "events.tsv").write_text("\n".join(kept) + "\n")
    meta.update(status="aborted", trial_order=clips)
    (ses / "session.json").write_text(json.dumps(meta))
    trials = trial_table(load_study(ds))
    assert len(trials) == 21  # still every participant x clip
    gone = trials[(trials["session_id"] == "g02") & (trials["stimulus_id"] == last)]
    assert len(gone) == 2 and gone["excluded"].all() and (gone["trial"] == 3).all()
    assert gone["exclusion_reason"].iloc[0] == "not shown: the session ended (aborted) before this clip"
    assert gone["valence"].notna().all() and gone["t_happy"].isna().all()


def test_quality_flags_are_counted_and_excluded_by_the_protocol(small, tmp_path):
    ds = copy_dataset(small, tmp_path / "ds")
    sid = "a01"
    fpath = ds / "derivatives" / "coaffect" / f"ses-{sid}" / "faces.parquet"
    faces = pd.read_parquet(fpath)
    turned = (faces["frame"] % 4 == 0) & faces["face_found"]
    faces.loc[turned, "face_quality"] = "pose"
    faces.loc[turned, "AU12"] = 50.0  # what a turned head might do to a landmark measure
    faces.to_parquet(fpath)
    study = load_study(ds)
    counted = trial_table(study).query("session_id == @sid")
    assert counted["quality_pose"].between(0.2, 0.3).all() and (counted["quality_occlusion"] == 0).all()
    # flagged frames in the baseline too: clip means shift with them, by about 50/4 either way
    assert (counted["quality_excluded"] == 0).all()
    study.settings = study.settings.model_copy(update={"exclude_quality": ["pose"]})
    for s in study.sessions:
        s.cache.clear()
    kept = trial_table(study).query("session_id == @sid")
    assert kept["quality_excluded"].equals(kept["quality_pose"]) and (kept["AU12"].abs() < 5).all()
    # AU12_peak (noise-corrected 90th percentile of the 1 s moving average): a quarter of the
    # frames at 50 make the series look like large noise and move the peak by many z
    # (measured about -19 with the flagged frames, -0.1-3.3 without)
    gap = counted["AU12_peak"].to_numpy() - kept["AU12_peak"].to_numpy()
    assert (np.abs(gap) > 4).all() and (kept["AU12_peak"] < 5).all(), (
        counted["AU12_peak"],
        kept["AU12_peak"],
    )
    clean = trial_table(load_study(small)).query("session_id == @sid")
    np.testing.assert_allclose(kept["AU12"], clean["AU12"], atol=1.0)


def test_flow_counts_flagged_frames_coherence_gaps_and_each_models_participants(study_trials):
    from analysis.report.flow import exclusion_flow, flow_wide
    from analysis.stats import fit_mixed

    study, trials = study_trials
    t = trials.copy()
    t["quality_excluded"] = np.where(t["condition"] == "group", 0.5, 0.0)  # half the group frames flagged
    coh = coherence_table(study, trials).table
    res = fit_mixed(trials, "t_both ~ condition + valence", engine="statsmodels")
    flow = exclusion_flow(t, coh, [res]).set_index(["step", "unit", "condition"])["n"]
    frames = (t["n_frames"] * t["face_fraction"]).groupby(t["condition"]).sum()
    flagged = flow[("frames left out: face_quality flags (analysis.exclude_quality)", "frames", "group")]
    assert flagged == round(0.5 * frames["group"]) > 0
    assert flow[("frames left out: face_quality flags (analysis.exclude_quality)", "frames", "alone")] == 0
    for cond in ("alone", "group"):
        c = coh[coh["condition"] == cond]
        step = "coherence: no value (button never/always held, too few frames)"
        assert flow[(step, "trial x button", cond)] == c["r"].isna().sum()
        used = res.n_by_condition[cond]
        assert flow[("in model: t_both ~ condition + valence", "participants", cond)] == used[0]
        assert flow[("in model: t_both ~ condition + valence", "trials", cond)] == used[1]
    # SMALL: 3 alone and 2 x 2 group participants, all 21 trials in the model
    assert res.n_by_condition == {"alone": (3, 9), "group": (4, 12)}
    wide = flow_wide(exclusion_flow(t, coh, [res]))
    assert list(wide["step"])[-1] == "in model: t_both ~ condition + valence"
