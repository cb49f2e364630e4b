"""The public names of ``analysis`` and its subpackages, each imported on first use (PEP 562).

One table says where every public name lives. Each subpackage exports the
names of its own modules; the names marked ``*`` are also the front door's
(``import analysis as ca; ca.fit_mixed``). A subpackage never exports a name
that is also one of its modules (once imported, the module would shadow it):
``score`` is ``analysis.score`` only, as ``analysis.scoring.score`` is a module.

``import analysis`` (or a subpackage) stays cheap: Dask workers and the
import-boundary test import single modules, and nothing here imports pandas,
OpenCV, R bridges or Dask until a name is used.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: module (under ``analysis``) -> its public names; ``*``: also on the front door.
TABLE = """
study.load              load_study* Study* SessionData as_study read_faces measure_columns
scoring.run             score* ScoreRun*
scoring.score           score_dataset* score_session* ScoreSettings* Scored
scoring.video           score_video* score_image*
scoring.files           write_scores is_scored
measures.self_report    self_report_measures* ratings_wide SELF_REPORT_COLUMNS
measures.trials         trial_table* ID_COLUMNS excluded_flags
measures.trial_file     write_trials* read_trials*
measures.frames         clip_frames button_state
measures.video_trial    video_trial_means* video_study baseline_split
measures.timecourse     timecourses* condition_timecourse
measures.coherence      coherence_table* CoherenceResult coherence_from_frames
measures.synchrony      synchrony_test* synchrony_table synchrony_summary SynchronyTest synchrony_bin
measures.physio         dataset_physio* physio_timecourse plot_physio
stats.fit               fit_mixed* fit_hurdle* HurdleResult* default_engine ENGINES
stats.run               run_stats* stats_for_study* stats_for_dataset* StatsResult*
stats.anova             mixed_anova_table* MixedAnova* participant_means
stats.model_data        model_data ModelData
stats.result            MixedModelResult* FIXED_COLUMNS
stats.batch             group_effect_batch nominal_bounds
stats.face_loss         face_loss_test lee_bounds FaceLoss
report                  build_report*
report.analyse          analyse_study* StudyAnalysis* pose_size_sensitivity*
report.quality          quality_table
report.flow             exclusion_flow
report.pose_size        doubtful_identity_warnings sensitivity_table
report.summary          answer_table
faces.pose_size         condition_balance* trial_pose_size POSE_SIZE_COLUMNS
simulate.spec           SimulationSpec*
simulate.sessions       simulate_sessions SimulatedSession
simulate.study          simulate_study*
simulate.trials         simulate_trials*
simulate.power          power_analysis* PowerResult* power_table power_figure power_verdict
simulate.faces          write_synthetic_video write_group_video
simulate.planted        simulate_planted_study* planted_comparison measure_gain framing_bias
simulate.truth          write_planted_truth planted_values planted_dir
simulate.camera_feed    VideoSpec* render_session_feed face_motion
simulate.mesh_head      mesh_head render_head MeshHead
interop.readers         read_openface* read_pyfeat* read_tool_csv
interop.agreement       validate_faces* FaceValidation formulas_on_openface_landmarks compare_to_openface compare_sources
interop.alignment       check_frame_alignment* FrameAlignment video_frames
interop.session_import  import_faces* Imported face_sources
parallel.executor       open_executor* machine_cores
parallel.in_process     Executor ClusterLostError
parallel.dask_cluster   probe_scheduler DaskExecutor
parallel.dask_processes ProcessCluster
"""

_ROOT = Path(__file__).resolve().parent


def _rows() -> list[tuple[str, str, bool]]:
    """(module under ``analysis``, name, on the front door) for every public name."""
    out = []
    for line in TABLE.strip().splitlines():
        module, *names = line.split()
        out += [(module, n.rstrip("*"), n.endswith("*")) for n in names]
    return out


def public_names(package: str) -> dict[str, str]:
    """Public name -> absolute module defining it, for ``analysis`` or one of its subpackages.

    Examples
    --------
    >>> public_names("analysis.stats")["fit_mixed"]
    'analysis.stats.fit'
    >>> "score" in public_names("analysis.scoring"), public_names("analysis")["score"]
    (False, 'analysis.scoring.run')
    """
    sub = package.removeprefix("analysis").lstrip(".")
    out = {}
    for module, name, front in _rows():
        if not sub and not front:
            continue
        if sub and not module.startswith(sub + "."):
            continue
        if sub and (_ROOT / sub / f"{name}.py").exists():
            continue  # the module of that name would shadow it
        out[name] = f"analysis.{module}"
    return out


def exports(package: str) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """``__all__``, ``__getattr__`` and ``__dir__`` for ``package`` (see :data:`TABLE`).

    Examples
    --------
    >>> all_, getattr_, dir_ = exports("analysis.stats")
    >>> "fit_mixed" in all_, getattr_("fit_mixed").__name__
    (True, 'fit_mixed')
    >>> getattr_("fit_mixd")
    Traceback (most recent call last):
    ...
    AttributeError: module 'analysis.stats' has no attribute 'fit_mixd'; did you mean 'fit_mixed'?
    """
    names = public_names(package)

    def __getattr__(name: str) -> Any:
        where = names.get(name)
        if where is None:
            from coaffect.formats.errors import did_you_mean

            raise AttributeError(f"module {package!r} has no attribute {name!r}{did_you_mean(name, names)}")
        value = getattr(importlib.import_module(where), name)
        setattr(sys.modules[package], name, value)  # later look-ups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(names) | set(vars(sys.modules[package])))

    return sorted(names), __getattr__, __dir__
