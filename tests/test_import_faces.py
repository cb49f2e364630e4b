"""Another tool's faces as a session's source (issue 24): OpenFace 2.x and py-feat CSVs imported
into a simulated session recorded with a real file-backed camera, then trials, a model and the report.

One session (``coaffect run --simulate``, 3 participants, 2 clips, camera ``wide`` replaying a real
GIF) is recorded once for the module; each test imports into its own copy. The tool files are the
shared real outputs (``../shared/data/interop/``), renumbered onto the camera's frames: the
OpenFace file's 100 rows as they are (a partial file), cycled for full files; py-feat's two real
detection rows blended frame by frame.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from analysis.interop.readers import read_tool_csv
from analysis.interop.session_import import import_faces
from analysis.measures.trials import trial_table
from analysis.report import build_report
from analysis.stats.run import run_stats
from analysis.study.load import load_study
from coaffect.cli import main
from coaffect.formats.errors import AnalysisError

GIF3 = "group/face-demographics-walking-and-pause.gif"
PEOPLE = ("P01", "P02", "P03")


@pytest.fixture(scope="module")
def recorded(root, shared_data, display, tmp_path_factory):
    """A simulated group session with a real file-backed camera (recorded once, ~30 s)."""
    tmp = tmp_path_factory.mktemp("importsrc")
    data = yaml.safe_load((root / "protocols" / "bittersweet-demo.yaml").read_text())
    data["stimuli"] = {
        "manifest": str(root / "stimuli" / "manifest.yaml"),
        "clips": ["demo-positive", "demo-negative"],
    }
    data["baseline"] = {"duration": 1.5, "kind": "fixation"}
    data["analysis"]["baseline_window"] = [0.5, 1.5]
    data["iti"] = 0.2
    data["ratings"]["items"] = data["ratings"]["items"][:1]
    data["cameras"] = [{"name": "wide", "file": "unused.avi", "loop": True, "seats": ["A", "B", "C"]}]
    proto = tmp / "small.yaml"
    proto.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    res = subprocess.run(
        [sys.executable, "-m", "coaffect.cli", "run", str(proto), "--condition", "group"]
        + ["--participants", ",".join(PEOPLE), "--simulate", "--session-id", "G1"]
        + ["--output", str(tmp / "data"), "--camera-file", f"wide={shared_data / GIF3}"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    return tmp / "data"


@pytest.fixture
def dataset(recorded, tmp_path):
    out = tmp_path / "data"
    shutil.copytree(recorded, out)
    return out


def _camera(ses):
    frames = pd.read_csv(ses / "cam-wide_frames.tsv", sep="\t")
    fps = (len(frames) - 1) / (frames["t"].iloc[-1] - frames["t"].iloc[0])
    return frames, fps


def _events(ses):
    ev = pd.read_csv(ses / "events.tsv", sep="\t")
    base = ev[ev["trial_type"] == "baseline"].iloc[0]
    clips = ev[ev["trial_type"] == "clip"].reset_index(drop=True)
    return float(base["onset"]), clips


def _openface(shared_data, ses, first: int, n: int, rate=None, shift=0) -> pd.DataFrame:
    """The real OpenFace rows (cycled from row ``shift``) on camera frames first..first+n-1 (0-based).

    OpenFace numbers frames from 1 and writes ``timestamp`` = (frame - 1) / fps of the video it read.
    """
    real = read_tool_csv(shared_data / "interop" / "OpenFace_Test.csv")
    _, fps = _camera(ses)
    rows = real.iloc[(np.arange(n) + shift) % len(real)].reset_index(drop=True)
    rows["frame"] = np.arange(first, first + n) + 1
    rows["timestamp"] = (rows["frame"] - 1) / (rate or fps)
    return rows


def _pyfeat(shared_data, ses, first: int, n: int, rate=None) -> pd.DataFrame:
    """py-feat's two real detection rows blended frame by frame, on camera frames first.. (0-based)."""
    a = read_tool_csv(shared_data / "interop" / "Feat_Test.csv").iloc[0]
    b = read_tool_csv(shared_data / "interop" / "pyfeat_single_face_jpg_detections.csv").iloc[0]
    cols = [
        c for c in a.index if c in b.index and pd.api.types.is_number(a[c]) and pd.api.types.is_number(b[c])
    ]
    _, fps = _camera(ses)
    w = 0.5 + 0.5 * np.sin(np.arange(n) / 7.0)
    rows = {c: w * float(a[c]) + (1 - w) * float(b[c]) for c in cols}
    rows["frame"] = np.arange(first, first + n)  # py-feat counts from 0
    rows["approx_time"] = rows["frame"] / (rate or fps)
    return pd.DataFrame(rows)


def _import(ses, csv, tool: str, participant: str, *more: str) -> int:
    """``coaffect import-faces`` of one participant's file from camera ``wide``; its exit status."""
    args = [str(ses), str(csv), "--tool", tool, "--camera", "wide", "--participant", participant, *more]
    return main(["import-faces", *args])


def _first_frame_at(ses, t) -> int:
    frames, _ = _camera(ses)
    return int(frames.loc[frames["t"] >= t, "frame"].iloc[0])


def _share_covered(ses, clip, first, n) -> float:
    """Share of the camera's frames in the clip that the file covers (frames first..first+n-1)."""
    frames, _ = _camera(ses)
    inside = frames[(frames["t"] >= clip.onset) & (frames["t"] < clip.onset + clip.duration)]
    return float(inside["frame"].between(first, first + n - 1).mean())


def test_openface_into_a_session(dataset, shared_data, tmp_path, capsys):
    ses = dataset / "ses-G1"
    frames, fps = _camera(ses)
    base_onset, clips = _events(ses)
    # P01: the real 100-frame file from 0.2 s before the baseline window: clip 1 in part, clip 2 not
    first = _first_frame_at(ses, base_onset + 0.5 - 0.2)
    p01 = _openface(shared_data, ses, first, 100)
    p01.to_csv(tmp_path / "P01.csv", index=False)
    assert _import(ses, tmp_path / "P01.csv", "openface", "P01", "--tool-version", "2.2.0") == 0
    out = capsys.readouterr().out
    lo, hi = (
        frames.loc[frames["frame"] == first, "t"].item(),
        frames.loc[frames["frame"] == first + 99, "t"].item(),
    )
    # the warning names the covered span on the session clock
    assert f"WARNING P01.csv: P01's file covers frames {first + 1}-{first + 100}, {lo:.1f}-{hi:.1f} s" in out
    for pid, shift in (("P02", 0), ("P03", 37)):  # whole recordings
        _openface(shared_data, ses, 0, len(frames), shift=shift).to_csv(tmp_path / f"{pid}.csv", index=False)
        assert _import(ses, tmp_path / f"{pid}.csv", "openface", pid) == 0
    deriv = dataset / "derivatives" / "coaffect" / "ses-G1"
    faces = pd.read_parquet(deriv / "faces.parquet")
    summary = json.loads((deriv / "score_summary.json").read_text())

    # clock: OpenFace frame k is camera frame k - 1, and takes that frame's session time
    mine = faces[faces["participant_id"] == "P01"].set_index("frame")
    assert len(mine) == len(frames)  # one row per camera frame, covered or not
    for k in (0, 50, 99):
        cam = int(p01["frame"].iloc[k]) - 1
        assert mine.loc[cam, "t"] == frames.set_index("frame").loc[cam, "t"]
        assert mine.loc[cam, "AU45_raw"] == p01["AU45_r"].iloc[k]  # OpenFace's own 0-5 value
    assert not mine.loc[: first - 1, "face_found"].any() and mine.loc[first : first + 99, "face_found"].all()
    # the baseline rule of coaffect's own units: z against the baseline window only
    in_base = (mine["t"] >= base_onset + 0.5) & (mine["t"] <= base_onset + 1.5) & mine["face_found"]
    assert in_base.sum() >= 10 and abs(mine.loc[in_base, "AU45"].median()) < 1e-9
    src = summary["sources"]["P01"]
    assert src["source"] == "openface" and src["tool_version"] == "2.2.0" and src["first_frame_number"] == 1
    assert src["coverage"]["file_frames"] == [first + 1, first + 100]
    assert src["coverage"]["covered_fraction"] == round(100 / len(frames), 4)
    assert set(faces["source"]) == {"openface"}
    sidecar = json.loads((deriv / "faces.json").read_text())
    assert "OpenFace 2.x" in sidecar["columns"]["source"]["Description"]

    # trials: coverage counted against the clip's frames; the 50% rule
    trials = trial_table(load_study(dataset)).set_index(["participant_id", "trial"])
    c1 = trials.loc[("P01", 1)]
    share = _share_covered(ses, clips.iloc[0], first, 100)
    assert 0.5 < share < 1 and c1["face_fraction"] == pytest.approx(share, abs=1e-9)
    assert not c1["face_excluded"] and c1["face_source"] == "openface"
    c2 = trials.loc[("P01", 2)]
    assert c2["face_fraction"] == 0 and c2["face_exclusion_reason"] == "face visible in 0% of frames (< 50%)"
    assert trials.loc[("P02", 2), "face_fraction"] == 1.0

    # a table cut to the file's rows by hand (what the analyst did): still counted over the clip
    cut = tmp_path / "cut"
    shutil.copytree(dataset, cut)
    cut_faces = cut / "derivatives" / "coaffect" / "ses-G1" / "faces.parquet"
    whole = pd.read_parquet(cut_faces)
    whole[(whole["participant_id"] != "P01") | whole["face_found"]].to_parquet(cut_faces)
    by_hand = trial_table(load_study(cut)).set_index(["participant_id", "trial"]).loc[("P01", 1)]
    assert by_hand["n_frames"] < c1["n_frames"] and by_hand["face_fraction"] == pytest.approx(share, abs=0.02)

    # a model and the report on it, each naming the source
    fit = run_stats(trials.reset_index(), ["AU45 ~ valence"], engine="lme4", anova=False)
    assert not fit.skipped, fit.skipped
    assert fit.models[0].face_sources == {"openface": 5} and fit.models[0].n["observations"] == 5
    rep = build_report(dataset, formulas=["AU45 ~ valence"], engine="lme4", n_boot=0)
    html = rep.report_path.read_text()
    assert "Facial measures scored by: openface (5 trials)." in html

    # a file from another video is refused: frame count, then duration (the real file's own times)
    big = _openface(shared_data, ses, len(frames) - 50, 100)
    big.to_csv(tmp_path / "long.csv", index=False)
    assert _import(ses, tmp_path / "long.csv", "openface", "P02") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == (
        f"{tmp_path / 'long.csv'}: frame count does not match cam-wide: the file has frames "
        f"{len(frames) - 49}-{len(frames) + 50} (openface counts from 1), cam-wide recorded "
        f"{len(frames)} frames (1-{len(frames)})"
    )
    real = shared_data / "interop" / "OpenFace_Test.csv"  # timestamps 1 ms apart: not this camera's video
    assert _import(ses, real, "openface", "P02") == 2
    err = capsys.readouterr().err.strip().splitlines()[0]
    span = frames["t"].iloc[99] - frames["t"].iloc[0]
    assert err.startswith(
        f"{real}: duration does not match cam-wide: frames 1-100 span 0.10 s in the file "
        f"but {span:.2f} s in cam-wide_frames.tsv"
    )
    # nothing already written was lost
    assert pd.read_parquet(deriv / "faces.parquet").equals(faces)

    # several faces in one OpenFace file (face_id from 0): a map to participants
    two = pd.concat(
        [
            _openface(shared_data, ses, 0, len(frames)).assign(face_id=0),
            _openface(shared_data, ses, 0, len(frames), shift=37).assign(face_id=1),
        ]
    )
    two.to_csv(tmp_path / "multi.csv", index=False)
    imp = import_faces(ses, "openface", tmp_path / "multi.csv", "wide", faces={0: "P03", 1: "P02"})
    rows = imp.faces.set_index(["participant_id", "frame"])
    assert rows.loc[("P03", 5), "AU45_raw"] == two["AU45_r"].iloc[5]
    assert rows.loc[("P02", 5), "AU45_raw"] == two["AU45_r"].iloc[len(frames) + 5]
    assert rows.loc[("P01", first), "face_found"]  # the participant not in the map keeps its rows


def test_pyfeat_into_a_session_and_mixing_sources(dataset, shared_data, tmp_path, capsys):
    ses = dataset / "ses-G1"
    frames, fps = _camera(ses)
    base_onset, clips = _events(ses)
    # P01 by OpenFace (whole recording); P02 by py-feat (whole); P03 by py-feat up to 40% of clip 1
    _openface(shared_data, ses, 0, len(frames)).to_csv(tmp_path / "P01.csv", index=False)
    imp = import_faces(ses, "openface", tmp_path / "P01.csv", "wide", participant="P01")
    deriv = dataset / "derivatives" / "coaffect" / "ses-G1"
    imp.write(deriv)
    p02 = _pyfeat(shared_data, ses, 0, len(frames))
    p02.to_csv(tmp_path / "P02.csv", index=False)
    c1 = clips.iloc[0]
    stop = _first_frame_at(ses, c1.onset + 0.4 * c1.duration)
    _pyfeat(shared_data, ses, 0, stop).to_csv(tmp_path / "P03.csv", index=False)
    for pid in ("P02", "P03"):
        assert _import(ses, tmp_path / f"{pid}.csv", "pyfeat", pid) == 0
    out = capsys.readouterr().out
    assert "WARNING P03.csv: P03's file covers frames 0-" in out and "WARNING P02" not in out

    faces = pd.read_parquet(deriv / "faces.parquet")
    # clock: py-feat frame k is camera frame k (counted from 0)
    p = faces[faces["participant_id"] == "P02"].set_index("frame")
    ft = frames.set_index("frame")
    for k in (0, 120, len(frames) - 1):
        assert p.loc[k, "t"] == ft.loc[k, "t"] and p.loc[k, "AU12_raw"] == pytest.approx(p02["AU12"].iloc[k])
        assert p.loc[k, "emo_happy"] == pytest.approx(p02["happiness"].iloc[k])
    assert faces.groupby("participant_id")["source"].first().to_dict() == {
        "P01": "openface",
        "P02": "pyfeat",
        "P03": "pyfeat",
    }
    trials = trial_table(load_study(dataset)).set_index(["participant_id", "trial"])
    share = _share_covered(ses, c1, 0, stop)
    assert 0 < share < 0.5
    row = trials.loc[("P03", 1)]
    assert row["face_fraction"] == pytest.approx(share, abs=1e-9) and row["face_excluded"]
    assert row["face_exclusion_reason"] == f"face visible in {100 * share:.0f}% of frames (< 50%)"

    # importing again replaces the participant's rows: P03's whole recording
    _pyfeat(shared_data, ses, 0, len(frames)).to_csv(tmp_path / "P03.csv", index=False)
    import_faces(ses, "pyfeat", tmp_path / "P03.csv", "wide", participant="P03").write(deriv)
    faces = pd.read_parquet(deriv / "faces.parquet")
    assert len(faces) == 3 * len(frames) and faces["face_found"].all()

    # one outcome from two tools: refused unless asked, and the report names both
    trials = trial_table(load_study(dataset))
    with pytest.raises(
        AnalysisError, match=r"AU12 ~ valence.*2 tools \(openface 2 trials, pyfeat 4 trials\)"
    ):
        run_stats(trials, ["AU12 ~ valence"], engine="lme4", anova=False, strict=True)
    both = run_stats(trials, ["AU12 ~ valence"], engine="lme4", anova=False, mixed_sources=True)
    assert both.models[0].face_sources == {"openface": 2, "pyfeat": 4}
    assert any("different tools in one model" in n for n in both.models[0].notes)
    rep = build_report(dataset, formulas=["AU12 ~ valence"], engine="lme4", n_boot=0)
    assert "Not fitted: formula &#x27;AU12 ~ valence&#x27;: its facial measures come from 2 tools" in (
        rep.report_path.read_text()
    )
    rep = build_report(dataset, formulas=["AU12 ~ valence"], engine="lme4", n_boot=0, mixed_sources=True)
    assert "Facial measures scored by: openface (2 trials), pyfeat (4 trials)." in rep.report_path.read_text()

    # a py-feat file computed at another frame rate is refused with both figures
    _pyfeat(shared_data, ses, 0, 60, rate=30.0).to_csv(tmp_path / "fast.csv", index=False)
    with pytest.raises(AnalysisError, match=r"duration does not match cam-wide: frames 0-59 span 1.97 s"):
        import_faces(ses, "pyfeat", tmp_path / "fast.csv", "wide", participant="P02")
