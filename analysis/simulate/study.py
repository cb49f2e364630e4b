"""Write a simulated group-vs-alone study with known effects (``coaffect simulate-study``).

The dataset looks like one recorded by the runner: ``ses-<id>/`` folders
written with :class:`coaffect.formats.session_writer.SessionWriter` (session.json,
frozen protocol.yaml, events.tsv with baseline and clip rows, raw down/up rows
in buttons.tsv, ratings.tsv), a dataset-level participants.tsv, and, instead
of video, frame-level facial measures in
``derivatives/coaffect/ses-<id>/faces.parquet`` with the columns of
:mod:`coaffect.formats.faces_schema`. A ``stimuli/manifest.yaml`` inside the dataset
gives every simulated clip its valence (the frozen protocols point at it), and
``derivatives/coaffect/simulation.json`` keeps the true parameters.

The figures are a :class:`~analysis.simulate.spec.SimulationSpec`; the generative model
is described in :mod:`analysis.simulate.sessions`, which draws the sessions written here.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

from coaffect.formats.errors import AnalysisError
from coaffect.formats.session_writer import SessionWriter, write_json_atomic
from coaffect.formats.tables import derivatives_dir

from .sessions import SimulatedSession, simulate_sessions
from .spec import SimulationSpec

__all__ = ["SimulationSpec", "SimulatedSession", "simulate_sessions", "simulate_study", "simulated_protocol"]


def simulated_protocol(spec: SimulationSpec, video: Any = None) -> dict:
    """The protocol (as a dict) that the simulated sessions ran (with its camera when ``video`` is given)."""
    seats = [{"id": seat, "buttons": {"happy": h, "sad": s}} for seat, h, s in spec.seat_keys()]
    cameras = {}
    if video is not None:
        from .camera_feed import CAMERA

        # one camera: a wide shot of the seats left to right; alone people sit in seat A, centred
        cameras = {
            "cameras": [
                {
                    "name": CAMERA,
                    "device": 0,
                    "resolution": list(video.group_frame),
                    "fps": spec.fps,
                    "seats": [seat["id"] for seat in seats],
                    "condition_seats": {"alone": [seats[0]["id"]]},
                    "required": False,
                }
            ]
        }
    return {
        "format_version": 1,
        "id": "simulated-study",
        "version": "1.0.0",
        "title": "Simulated group-vs-alone study",
        "authors": ["coaffect simulate-study"],
        "texts": {"consent": "Simulated.", "instructions": "Hold happy / sad."},
        "stimuli": {"manifest": "../stimuli/manifest.yaml", "clips": [c for c, _ in spec.clips()]},
        "trial_order": {"mode": "random", "seed": spec.seed},
        "baseline": {"duration": spec.baseline_duration, "kind": "fixation"},
        "iti": 1.0,
        "conditions": {"alone": {"participants": 1}, "group": {"participants": spec.group_size}},
        "seats": seats,
        "ratings": {
            "items": [
                {"id": "happy", "prompt": "How happy did you feel?"},
                {"id": "sad", "prompt": "How sad did you feel?"},
            ]
        },
        **cameras,
        "analysis": {
            "baseline_window": [0.0, None],
            "simultaneity_threshold": 0.5,
            "min_face_fraction": 0.5,
            "models": [
                "AU12 ~ condition * valence",
                "inner_brow_lip_down ~ condition * valence",
                "t_both ~ condition * valence",
            ],
        },
    }


def _manifest(spec: SimulationSpec) -> dict:
    clips = []
    for cid, valence in spec.clips():
        clips.append(
            {
                "id": cid,
                "file": f"{cid}.mp4",
                "sha256": hashlib.sha256(cid.encode()).hexdigest(),
                "duration": spec.clip_duration,
                "fps": 25.0,
                "frame_count": int(spec.clip_duration * 25),
                "width": 640,
                "height": 360,
                "audio": False,
                "tags": {"valence": valence},
                "licence": "CC0-1.0",
                "source": "simulated by coaffect simulate-study (no file)",
            }
        )
    return {"format_version": 1, "clips": clips}


def simulate_study(
    out_dir: str | Path, spec: SimulationSpec | None = None, progress: bool = False, video: Any = None
) -> Path:
    """Write a simulated dataset with known effects.

    Parameters
    ----------
    out_dir : str or Path
        New dataset folder (must not contain sessions yet).
    spec : SimulationSpec, optional
        Sizes and effects; defaults as documented on :class:`SimulationSpec`.
    progress : bool
        Show a tqdm progress bar over sessions.
    video : analysis.simulate.camera_feed.VideoSpec, optional
        Film every session instead of writing its faces table: camera videos whose
        faces show the planted states, for the real scoring pipeline to measure
        (the planted truth goes beside them:
        :func:`analysis.simulate.truth.write_planted_truth`). Without it, the faces table is written directly.

    Returns
    -------
    Path
        The dataset folder.

    Examples
    --------
    >>> spec = SimulationSpec(n_alone=2, n_group_sessions=1, n_clips=2, clip_duration=4.0, fps=5.0)
    >>> path = simulate_study(tmp / "sim", spec)
    >>> sorted(p.name for p in path.glob("ses-*"))
    ['ses-a01', 'ses-a02', 'ses-g01']
    """
    spec = spec or SimulationSpec()
    out = Path(out_dir)
    if any(out.glob("ses-*")):
        raise AnalysisError(
            f"{out}: already holds ses-* folders",
            hint="choose a new `out_dir` folder for the simulated study",
        )
    if spec.n_alone < 0 or spec.n_group_sessions < 0 or spec.n_alone + spec.n_group_sessions == 0:
        raise AnalysisError(
            f"n_alone={spec.n_alone}, n_group_sessions={spec.n_group_sessions}: need at least one session"
        )
    if spec.n_group_sessions and spec.group_size < 2:
        raise AnalysisError(f"group_size: a group has at least 2 participants (got {spec.group_size})")
    out.mkdir(parents=True, exist_ok=True)
    (out / "stimuli").mkdir(exist_ok=True)
    (out / "stimuli" / "manifest.yaml").write_text(yaml.safe_dump(_manifest(spec), sort_keys=False))
    protocol_text = yaml.safe_dump(simulated_protocol(spec, video), sort_keys=False, allow_unicode=True)
    protocol_sha = hashlib.sha256(protocol_text.encode()).hexdigest()
    filmed = []
    for session in simulate_sessions(spec, progress):
        truth = _write_session(out, spec, session, protocol_text, protocol_sha, video)
        if truth is not None:
            filmed.append((session, truth))
    truth = {
        "spec": asdict(spec),
        "truth": {
            "AU12": {"condition[group-alone]": spec.smile_group_effect},
            "inner_brow_lip_down": {"condition[group-alone]": spec.sad_group_effect},
            "variances": {
                "participant_id": spec.sd_participant**2,
                "stimulus_id": spec.sd_stimulus**2,
                "session_id": spec.sd_session**2,
                "stimulus_condition": spec.sd_stimulus_condition**2,
                "participant_valence": spec.sd_participant_valence**2,
                "session_stimulus": spec.sd_session_stimulus**2,
            },
        },
    }
    if video is not None:  # the truth stays out of the pipeline's folder: derivatives/planted/
        from .truth import write_planted_truth

        write_planted_truth(out, spec, video, filmed)
        return out
    deriv = derivatives_dir(out)
    deriv.mkdir(parents=True, exist_ok=True)
    write_json_atomic(deriv / "simulation.json", truth)
    return out


def _write_session(
    out: Path, spec: SimulationSpec, s: SimulatedSession, protocol_text: str, protocol_sha: str, video=None
):
    """Write one simulated session as the runner would (session folder and faces.parquet, or its video)."""
    proto = simulated_protocol(spec)
    seats = [seat for _, seat in s.participants]
    keys = {seat: {"happy": h, "sad": d} for seat, h, d in spec.seat_keys()}
    writer = SessionWriter.create(
        out,
        s.session_id,
        {
            "condition": s.condition,
            "participants": [{"participant_id": p, "seat": seat} for p, seat in s.participants],
            "protocol": {
                "id": proto["id"],
                "version": proto["version"],
                "sha256": protocol_sha,
                "file": "protocol.yaml",
            },
            "versions": {"coaffect": "simulate-study"},
            "simulated": True,
            "cameras": (
                [{"name": "sim", "fps": spec.fps, "seats": seats, "simulated": True}]
                if video is None
                else None
            ),
            "seats": seats,
        },
    )
    (writer.dir / "protocol.yaml").write_text(protocol_text, encoding="utf-8")
    writer.add_participants(
        [
            {"participant_id": p, "condition": s.condition, "session_id": s.session_id, "seat": seat}
            for p, seat in s.participants
        ]
    )
    writer.append("events.tsv", {"onset": 0.0, "duration": 5.0, "trial_type": "instructions"})
    writer.append("events.tsv", {"onset": 5.0, "duration": spec.baseline_duration, "trial_type": "baseline"})
    trials = s.clips
    for k, cid, valence, onset in trials:
        writer.append(
            "events.tsv",
            {
                "onset": onset,
                "duration": spec.clip_duration,
                "trial_type": "clip",
                "trial": k,
                "stimulus_id": cid,
                "detail": f"simulated valence={valence}",
            },
        )
        writer.append(
            "events.tsv",
            {
                "onset": onset + spec.clip_duration + 0.5,
                "duration": 4.5,
                "trial_type": "rating",
                "trial": k,
                "stimulus_id": cid,
            },
        )
    for row in sorted(s.buttons):
        writer.append(
            "buttons.tsv",
            {
                "t": row[0],
                "action": row[1],
                "participant_id": row[2],
                "seat": row[3],
                "button": row[4],
                "key": keys[row[3]][row[4]],
            },
        )
    for row in s.ratings:
        writer.append("ratings.tsv", row)
    writer.append("events.tsv", {"onset": s.end, "duration": 0.0, "trial_type": "end"})
    if video is None:
        deriv = derivatives_dir(out, s.session_id)
        deriv.mkdir(parents=True, exist_ok=True)
        s.faces.to_parquet(deriv / "faces.parquet", index=False)
        writer.finish("complete")
        return None
    from .camera_feed import CAMERA, render_session_feed

    truth = render_session_feed(s, video, writer.dir)
    frames = int(truth["frame"].nunique())
    writer.finish(
        "complete",
        cameras={CAMERA: {"fps": spec.fps, "frames_written": frames, "seats": seats, "simulated": True}},
    )
    return truth
