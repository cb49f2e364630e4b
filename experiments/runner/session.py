"""One session, start to end: :func:`run_session`.

Flow: checks (no window) -> session folder -> cameras -> window -> consent and
instructions -> button check -> face enrollment -> baseline -> trials (clip,
ratings, inter-trial interval) -> end screen. Every row is written as it
happens; escape + ``y`` aborts and keeps everything; any exit runs the
cleanup (cameras stopped, keys released, window closed, session.json final).
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

from coaffect.formats.checks import check_option
from coaffect.formats.errors import HardwareError, SessionSetupError
from coaffect.formats.session_format import SessionStatus
from coaffect.formats.session_meta import ProtocolRef, SeatedParticipant, SessionMeta
from coaffect.formats.session_writer import SessionWriter

from ..signal_hold import stop_signals_held
from .clock import SessionClock
from .preflight import SessionPlan, prepare_session
from .resume import find_resume_point, merge_camera_summaries, resumed_clock_zero
from .simulated import SIMULATE_MODES
from .stops import (
    DiskReserve,
    DisplayClosed,
    SessionStopped,
    SignalGuard,
    is_clean_stop,
    is_disk_full,
    stop_reason,
    stopped_lines,
    watch_display,
)

log = logging.getLogger(__name__)


@dataclass
class SessionOptions:
    """How a session runs, beyond who and what (the keyword arguments of :func:`run_session`).

    Attributes
    ----------
    simulate : {None, 'inprocess', 'xdotool'}
        Simulated participants: key events made in-process, or real X key events (xdotool).
    seed : int
        Seed of the simulated participants.
    cameras : bool
        Record the protocol's cameras.
    camera_files : dict
        Camera name -> video file replayed instead of the device.
    skip_button_check : bool
        Skip the button check (logged).
    scripted : list of Scripted, optional
        Extra simulated key actions (tests: holds across trials, escape).
    progress : bool
        Show a progress bar of trials.
    experimenter_view : dict, optional
        Open the experimenter's live view (``experiments.runner.experimenter_view``):
        ``{'screen': 1}``, optionally ``size``, ``interval``, ``snapshot_dir``.
    audio_latency_ms : float
        Output latency of this computer's sound (``coaffect rig-check`` measures
        it): each clip's sound starts that much before its first frame.
    """

    simulate: Optional[str] = None
    seed: int = 0
    cameras: bool = True
    camera_files: dict = field(default_factory=dict)
    skip_button_check: bool = False
    scripted: Optional[list] = None
    progress: bool = True
    experimenter_view: Optional[dict] = None
    audio_latency_ms: float = 0.0


@dataclass
class SessionResult:
    """What :func:`run_session` did."""

    session_dir: Path
    status: SessionStatus
    trials_done: list = field(default_factory=list)
    injected: list = field(default_factory=list)  # (Action, t_before, t_after)
    #: why a session stopped early without a traceback (signal, full disk), else None
    abort_reason: Optional[str] = None
    #: the signal that stopped it (SIGINT, SIGTERM), else None
    stop_signal: Optional[int] = None
    #: why it stopped and the command that continues it (for the experimenter), else []
    stop_lines: list = field(default_factory=list)


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("coaffect", "psychopy", "psychtoolbox", "ffpyplayer", "pyglet"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def _check_environment(simulate: Optional[str]) -> None:
    """Fail before anything is written if there is no screen to open a window on."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        raise HardwareError(
            "no display: DISPLAY is not set, so no window can open",
            hint="run on the lab computer's desktop, or rehearse headless with "
            "xvfb-run -a coaffect run ... --simulate",
        )
    if simulate is None:
        return
    check_option("simulate", simulate, SIMULATE_MODES, noun="mode", error=SessionSetupError)
    if simulate == "xdotool":
        from .xdotool_input import require_xdotool

        require_xdotool()


def _new_folder(plan: SessionPlan, simulate, seed, clock_zero) -> SessionWriter:
    p = plan.loaded.protocol
    seats = {s.id: s for s in p.seats}
    meta = SessionMeta(
        plan.session_id,
        plan.condition,
        [SeatedParticipant(pid, s) for pid, s in zip(plan.participants, plan.seats)],
        ProtocolRef(p.id, p.version, plan.loaded.sha256, str(plan.loaded.path), "protocol.yaml"),
        _versions(),
        session_index=plan.session_index,
        trial_order=plan.order,
        trial_order_mode=p.trial_order.mode,
        seats=[
            {"id": s, "label": seats[s].label, "happy": seats[s].buttons.happy, "sad": seats[s].buttons.sad}
            for s in plan.seats
        ],
        clock_zero_perf=clock_zero,
        simulate=simulate,
        seed=seed,
        resumes=[],
    )
    writer = SessionWriter.create(plan.dataset_dir, plan.session_id, meta)
    shutil.copyfile(plan.loaded.path, writer.dir / "protocol.yaml")
    return writer


def _open_cameras(plan, writer, clock_zero, overrides):
    from ..cameras import open_cameras  # local: camera processes only when a session records

    return open_cameras(
        plan.loaded,
        writer.dir,
        clock_zero,
        overrides=dict(overrides or {}),
        allow_missing=False,
        condition=plan.condition,
    )


def run_session(
    protocol,
    condition: Optional[str] = None,
    participants: Optional[list] = None,
    *,
    session_id: Optional[str] = None,
    output="data",
    simulate: Optional[str] = None,
    seed: int = 0,
    resume=None,
    cameras: bool = True,
    camera_files: Optional[dict] = None,
    skip_button_check: bool = False,
    scripted: Optional[list] = None,
    progress: bool = True,
    experimenter_view: Optional[dict] = None,
    audio_latency_ms: float = 0.0,
    options: Optional[SessionOptions] = None,
) -> SessionResult:
    """Run one session and write its folder.

    Parameters
    ----------
    protocol : path
        Protocol YAML (``coaffect protocol check`` must pass).
    condition : {'alone', 'group'}
    participants : list of str
        Pseudonyms; seats are assigned in protocol order.
    session_id : str, optional
        Default: local date and time.
    output : path
        Dataset folder (``ses-<id>`` is created inside).
    resume : path, optional
        ``ses-<id>`` folder of an interrupted session to continue.
    simulate, seed, cameras, camera_files, skip_button_check, scripted, progress, experimenter_view, audio_latency_ms
        How the session runs: the fields of :class:`SessionOptions` (simulated participants
        and their seed, cameras or replayed camera files, the button check, extra scripted
        key actions, the progress bar, the experimenter's view, the sound's output latency).
    options : SessionOptions, optional
        All of ``simulate`` ... ``audio_latency_ms`` as one object (it wins over them).

    Returns
    -------
    SessionResult

    Raises
    ------
    CoaffectError
        Bad input, before the window opens (nothing written or overwritten).

    Examples
    --------
    Not run as a doctest: a whole session in a PsychoPy window (tens of seconds;
    tests/test_runner_session.py).

    >>> res = run_session("protocols/bittersweet-demo.yaml", "group", ["P01", "P02", "P03"],
    ...                   simulate="inprocess", cameras=False, output="/tmp/x")  # doctest: +SKIP
    >>> res.status                                                                # doctest: +SKIP
    'complete'
    """
    opts = options or SessionOptions(
        simulate,
        seed,
        cameras,
        dict(camera_files or {}),
        skip_button_check,
        scripted,
        progress,
        experimenter_view,
        audio_latency_ms,
    )
    plan = prepare_session(
        protocol, condition, participants, session_id=session_id, output=output, resume=resume
    )
    _check_environment(opts.simulate)
    if opts.experimenter_view is not None:
        from .screens import check_view_screen

        view = opts.experimenter_view
        mon = check_view_screen(view.get("screen", 1), plan.loaded.protocol.display.screen)
        opts = replace(opts, experimenter_view={**view, "x_screen": mon.x_screen, "monitor": str(mon)})
    from .lab import LabHardware  # sound, response devices, LSL

    lab = LabHardware(plan, opts.audio_latency_ms)
    lab.check()
    with SignalGuard() as guard:
        return _run(plan, guard, lab, opts)


class _Made:
    """What a new session makes before it begins, so that a stop then leaves no trace."""

    def __init__(self, plan):
        self.plan = plan
        new = not plan.resume
        self.session_dir = new and not plan.session_dir.exists()
        self.dataset_description = new and not (plan.dataset_dir / "dataset_description.json").exists()
        self.dataset_dir = new and not plan.dataset_dir.exists()

    def undo(self, writer, cams, lab) -> None:
        """End the cameras and LSL started so far; remove the folders this run made."""
        if cams is not None:
            cams.stop()
        if writer is not None:
            if lab.publisher is not None or lab.recorder is not None:
                lab.stop(writer)
            writer.close()
        plan = self.plan
        if self.session_dir:
            shutil.rmtree(plan.session_dir, ignore_errors=True)
        if self.dataset_description:
            (plan.dataset_dir / "dataset_description.json").unlink(missing_ok=True)
        if self.dataset_dir and plan.dataset_dir.exists() and not any(plan.dataset_dir.iterdir()):
            plan.dataset_dir.rmdir()


def _run(plan, guard, lab, opts: SessionOptions):
    p = plan.loaded.protocol
    made = _Made(plan)
    writer = cams = None
    if plan.resume:
        rp = find_resume_point(plan.session_dir)
        clock_zero, rebased = resumed_clock_zero(plan.meta.clock_zero_perf, rp.last_time)
        writer = SessionWriter(plan.dataset_dir, plan.session_id, resume=True)
    else:
        rp, rebased = None, False
        clock_zero = time.perf_counter()
    clock = SessionClock(clock_zero)
    try:  # until the session begins, a stop or failure ends what started and a new folder goes
        if writer is None:
            writer = _new_folder(plan, opts.simulate, opts.seed, clock_zero)
        if p.cameras and opts.cameras:
            cams = _open_cameras(plan, writer, clock_zero, opts.camera_files)
        writer = lab.start(writer, clock_zero)
        from .flow import SessionFlow

        flow = SessionFlow(plan, writer, clock, cams, opts, audio=lab.audio)
    except BaseException:
        guard.quiet()
        made.undo(writer, cams, lab)
        raise
    result = SessionResult(writer.dir, "running")
    reserve = DiskReserve(writer.dir)

    def display_lost() -> None:  # Xlib ends the process after this returns
        guard.quiet()
        if cams is not None:
            writer.update(cameras=merge_camera_summaries(writer.meta.get("cameras"), cams.stop()))
        reserve.release()
        flow.crashed(DisplayClosed())
        for line in stopped_lines(plan.loaded.path, writer.dir, DisplayClosed.reason, opts):
            log.error(line)

    watch_display(display_lost)
    try:
        if not plan.resume:
            with stop_signals_held():  # whole: a --resume after this stop finds every participant
                writer.add_participants(
                    [
                        {
                            "participant_id": pid,
                            "condition": plan.condition,
                            "session_id": plan.session_id,
                            "seat": s,
                        }
                        for pid, s in zip(plan.participants, plan.seats)
                    ]
                )
        result.status = flow.run(opts.skip_button_check, rp, rebased)
    except BaseException as exc:
        guard.quiet()
        result.status = "aborted"
        if is_disk_full(exc) and cams is not None:
            cams.stop()  # first: they would eat the reserve
        reserve.release()
        flow.crashed(exc)
        if not is_clean_stop(exc):
            raise
        result.abort_reason = stop_reason(exc)
        result.stop_signal = exc.signum if isinstance(exc, SessionStopped) else None
        result.stop_lines = stopped_lines(plan.loaded.path, writer.dir, result.abort_reason, opts)
    finally:
        guard.quiet()
        lab.stop(writer)
        flow.cleanup()
        reserve.release()
        result.trials_done = flow.trials_done
        result.injected = flow.injected
    return result
