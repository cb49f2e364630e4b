"""The phases of a session, in order (used by :func:`~experiments.runner.run_session`)."""

from __future__ import annotations

import os
import sys
from datetime import datetime, timezone
from typing import Optional

from coaffect.formats.session_format import SIMULATED_KEYS, SessionStatus, event_row
from coaffect.formats.session_writer import TableWriter

from ..signal_hold import stop_signals_held
from .button_check import SIMULATED_TIMEOUT_S, ButtonCheckFailed, run_button_check
from .ratings import run_ratings
from .resume import merge_camera_summaries
from .runtime import Runtime, SessionAborted
from .stops import SimulationStalled, stop_reason

#: Seconds the baseline instruction text stays up before the fixation period.
BASELINE_TEXT_SECONDS = 2.0


class SessionFlow:
    """Runs the phases of one session on an open session folder."""

    def __init__(self, plan, writer, clock, cams, options, audio=None):
        self.plan = plan
        self.p = plan.loaded.protocol
        self.writer = writer
        self.clock = clock
        self.cams = cams
        #: the session's SessionOptions: simulate, seed, scripted, progress, experimenter_view
        self.options = options
        self.trials_done: list[int] = []
        self.injected: list = []
        # after --resume the earlier runs' per-trial summaries stay (merged, not replaced)
        self.clip_audit: dict = dict(writer.meta.get("clips") or {})
        self.rt: Optional[Runtime] = None
        #: the clip on screen: trial, clip_id, attempt, movie, rows (flips written), or None
        self._playing: Optional[dict] = None
        #: the session's AudioPlan (volume, lead for the output latency), or None: silent
        self.audio = audio
        self.display = None
        self.keyboard = None
        self.source = None
        self._closed = False
        seats = {s.id: s for s in self.p.seats}
        self.seat_rows = [(s, seats[s].label or "", pid) for pid, s in zip(plan.participants, plan.seats)]
        from ..responses import response_key_map  # issue 13: a response device per seat

        self.key_map = response_key_map(self.p, plan.participants, plan.seats)

    # ---------------------------------------------------------------- setup
    def _open(self) -> None:
        from ..responses import device_names, open_responses
        from .display import Display

        d = self.p.display
        self.display = Display.for_protocol(self.p, self.clock)
        planner = None
        if self.options.simulate:  # first: a serial seat's simulated box gives the port its reader opens
            from .simulated_input import open_simulation

            planner, self.source = open_simulation(
                self.p,
                self.plan.seats,
                self.clock,
                self.options.simulate,
                self.options.seed,
                self.options.scripted,
            )
        self.keyboard = open_responses(
            self.p, self.plan.seats, self.clock, ports=self.source.ports if self.source else None
        )
        self.rt = Runtime(
            self.display,
            self.writer,
            self.clock,
            self.keyboard,
            self.key_map,
            simulated=self.source,
            planner=planner,
            cams=self.cams,
            devices=device_names(self.p, self.plan.seats),
        )
        if self.options.experimenter_view is not None:
            from .experimenter_view import open_view

            open_view(self)
        self.writer.update(
            display={
                "size": list(d.size),
                "fullscreen": d.fullscreen,
                "screen": d.screen,
                "refresh_hz": self.display.refresh_rate(),
                "x_display": os.environ.get("DISPLAY"),
            },
            keyboard={
                "backend": "ptb",
                "devices": self.keyboard.devices,
                "ptb_getsecs_minus_perf_counter": self.keyboard.ptb_offset,
                "offset_uncertainty_s": self.keyboard.offset_error,
            },
            responses=self.keyboard.describe(),
        )

    def _poll_cameras(self) -> None:
        if self.cams is not None:
            for ev in self.cams.poll():
                self.writer.append("events.tsv", ev)

    # ---------------------------------------------------------------- phases
    def run(self, skip_button_check: bool, rp, rebased: bool) -> SessionStatus:
        self._open()
        rt, t = self.rt, self.p.texts
        try:
            if rp is None:
                rt.text_screen(t.consent, "consent")
                rt.text_screen(t.instructions, "instructions")
            else:
                nxt = rp.next_trial(len(self.plan.order))
                now = self.clock.now()
                detail = (
                    f"continuing at trial {nxt}; finished trials "
                    f"{sorted(rp.finished_trials) or 'none'}; rows of unfinished trials kept"
                )
                if rebased:
                    detail += "; clock re-based (perf_counter restarted, e.g. reboot)"
                self.writer.append(
                    "events.tsv",
                    event_row(now, 0.0, "resume", trial=nxt, detail=detail),
                )
                self.writer.update(
                    status="running",
                    resumes=self.writer.meta.get("resumes", [])
                    + [
                        {
                            "at": now,
                            "next_trial": nxt,
                            "clock_rebased": rebased,
                            "utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                        }
                    ],
                )
                rt.text_screen("The session continues.\n\n" + t.instructions, "instructions")
            passed = self._button_check(skip_button_check)
            self.writer.update(button_check="passed" if passed else "skipped")
            self._poll_cameras()
            if self.cams is not None:
                t0 = self.clock.now()
                self.cams.enroll({s: pid for s, _, pid in self.seat_rows}, self.writer.dir / "enroll")
                self.writer.append("events.tsv", event_row(t0, self.clock.now() - t0, "enrollment"))
            if rp is None or not rp.baseline_done:
                self._baseline()
            self._trials(rp)
            rt.wait_sources()
            rt.text_screen(t.end, "end", seconds=None if not self.options.simulate else 0.3)
        except SessionAborted:
            self._clip_interrupted("aborted by the experimenter")
            now = self.clock.now()
            self.writer.append(
                "events.tsv",
                event_row(now, 0.0, "abort", detail="aborted by the experimenter"),
            )
            self._finish("aborted", abort_reason="experimenter")
            return "aborted"
        self._finish("complete")
        return "complete"

    def _button_check(self, skip: bool) -> bool:
        """The button check; a simulated one that stalls stops the session instead of waiting for ever."""
        t = self.p.texts
        timeout = SIMULATED_TIMEOUT_S if self.options.simulate else None
        try:
            return run_button_check(
                self.rt, self.seat_rows, t.button_check, skip=skip, timeout=timeout, texts=t
            )
        except ButtonCheckFailed as exc:
            seats = {s: label for s, label, _ in self.seat_rows}
            what = "; ".join(
                f"seat {s}{f' ({seats[s]})' if seats[s] else ''} {b} ({self.rt.devices.get((s, b), '?')})"
                for s, b in exc.missing
            )
            raise SimulationStalled(
                f"button check: {what} not pressed and released within {timeout:g} s in a simulated rehearsal"
            ) from None

    def _baseline(self) -> None:
        rt, b = self.rt, self.p.baseline
        rt.text_screen(
            self.p.texts.baseline, None, seconds=0.3 if self.options.simulate else BASELINE_TEXT_SECONDS
        )
        if b.kind == "clip":
            path = self.plan.manifest.clip_path(b.clip)
            onset, offset, _ = self._play(path, None, b.clip, "neutral", plan=False)
            detail = f"clip {b.clip}"
        else:
            self.display.fixation()
            onset = self.display.flip()
            rt.plan("baseline", onset)
            while self.clock.now() - onset < b.duration:
                self.display.fixation()
                self.display.flip()
                rt.tick()
            offset = self.display.flip()
            detail = "fixation"
        self.writer.append(
            "events.tsv",
            event_row(onset, offset - onset, "baseline", detail=detail),
        )

    def _trials(self, rp) -> None:
        order = self.plan.order
        todo = [i for i in range(1, len(order) + 1) if rp is None or i not in rp.finished_trials]
        bar = None
        if self.options.progress:
            from tqdm import tqdm

            bar = tqdm(
                total=len(order),
                initial=len(order) - len(todo),
                desc="trials",
                unit="clip",
                file=sys.stderr,
                leave=False,
            )
        for i in todo:
            self._trial(i, order[i - 1], rp)
            self.trials_done.append(i)
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()

    def _trial(self, i: int, clip_id: str, rp) -> None:
        clip = self.plan.manifest.clip(clip_id)
        valence = clip.tags.get("valence", "neutral")
        attempt = 1 + (rp.attempts.get(i, 0) if rp is not None else 0)
        self._play(
            self.plan.manifest.clip_path(clip_id),
            i,
            clip_id,
            valence,
            plan=True,
            attempt=attempt,
            ended=lambda onset, offset, movie: self._clip_done(i, clip_id, attempt, onset, offset, movie),
        )
        self._poll_cameras()
        run_ratings(
            self.rt,
            self.p.ratings,
            i,
            clip_id,
            valence,
            self.p.texts.rating_intro,
            self.seat_rows,
            self.p.texts.rating_help,
            self.p.texts.rating_done,
        )
        self._poll_cameras()
        onset = self.display.flip()
        self.rt.plan("iti", onset, trial=i)
        while self.clock.now() - onset < self.p.iti:
            self.display.flip()
            self.rt.tick()
        self.writer.append(
            "events.tsv",
            event_row(onset, self.clock.now() - onset, "iti", trial=i, stimulus_id=clip_id),
        )

    def _clip_done(self, trial: int, clip_id: str, attempt: int, onset, offset, movie) -> None:
        """A clip shown to its end: its ``clip`` row and its audit in ``session.json``."""
        audit = self._audit(clip_id, movie.frames)
        detail = (
            f"flips={audit['flips']} frames_shown={audit['frames_shown']} "
            f"dropped={audit['dropped']} repeated={audit['repeated']} attempt={attempt}"
        )
        self.writer.append(
            "events.tsv",
            event_row(onset, offset - onset, "clip", trial=trial, stimulus_id=clip_id, detail=detail),
        )
        self._record_attempt(trial, {**audit, "duration_s": round(offset - onset, 4), "attempt": attempt})

    def _audit(self, clip_id: str, frames: list) -> dict:
        from .display import frame_audit

        clip = self.plan.manifest.clip(clip_id)
        return {"stimulus_id": clip_id, **frame_audit(frames, clip.fps, clip.frame_count)}

    def _record_attempt(self, trial: int, audit: dict) -> None:
        """session.json["clips"][trial]: the latest attempt, earlier (interrupted) ones under ``earlier_attempts``."""
        prev = self.clip_audit.get(str(trial))
        if prev:
            earlier = list(prev.get("earlier_attempts", []))
            earlier.append({k: v for k, v in prev.items() if k != "earlier_attempts"})
            audit = {**audit, "earlier_attempts": earlier}
        self.clip_audit[str(trial)] = audit
        self.writer.update(clips=self.clip_audit)

    def _play(self, path, trial, clip_id, valence, plan: bool, attempt: int = 1, ended=None):
        """Play one clip; return (onset, offset, movie). Flips go to flips.tsv.

        A trial's clip writes a ``clip_start`` row at the flip that showed its first
        frame; if the session stops before the clip ends, :meth:`_clip_interrupted`
        writes its ``clip_interrupted`` row. ``ended(onset, offset, movie)`` runs
        right after the clip's last flip. A stop signal is held over each flip's
        row and its count, and over the clip's end (the offset flip, its row and
        ``ended``), so ``session.json`` counts every row of ``flips.tsv`` whatever
        moment a SIGTERM comes (a CI run met one between a row and its count).
        """
        rt, disp = self.rt, self.display
        lead = self.audio.lead_s if self.audio is not None else 0.0
        movie = disp.movie(path, volume=self.audio.movie_volume if self.audio else 0.0, lead=lead)
        rt.on_abort_check = lambda paused: movie.pause(paused)
        self._playing = {"trial": trial, "clip_id": clip_id, "attempt": attempt, "movie": movie, "rows": 0}
        started = False
        try:
            while True:
                movie.draw()
                t = disp.flip()
                movie.after_flip(t)
                frame, pts = movie.frames[-1][1], movie.frames[-1][2]
                with stop_signals_held():  # a flip's row, its count and the clip_start row
                    if trial is not None:
                        self.writer.append(
                            "flips.tsv",
                            {"t": t, "trial": trial, "stimulus_id": clip_id, "frame": frame, "pts": pts},
                        )
                        self._playing["rows"] += 1
                    if not started and movie.onset is not None:
                        started = True
                        self._clip_started(trial, clip_id, attempt, movie)
                        if plan:
                            rt.plan(
                                "clip",
                                movie.onset,
                                trial=trial,
                                duration=movie.stim.duration,
                                valence=valence,
                            )
                rt.tick()
                if movie.finished:
                    break
            with stop_signals_held():
                offset = disp.flip()  # the flip after the last frame: the clip is gone
                self._playing = None
                onset = movie.onset if movie.onset is not None else offset
                if trial is not None:
                    self.writer.append("flips.tsv", {"t": offset, "trial": trial, "stimulus_id": clip_id})
                if ended is not None:
                    ended(onset, offset, movie)
        finally:
            rt.on_abort_check = None
            movie.unload()
        return onset, offset, movie

    def _clip_started(self, trial, clip_id: str, attempt: int, movie) -> None:
        """Rows written as the first frame shows: ``clip_start`` (trials) and ``clip_audio``."""
        if trial is not None:
            self.writer.append(
                "events.tsv",
                event_row(
                    movie.onset,
                    0.0,
                    "clip_start",
                    trial=trial,
                    stimulus_id=clip_id,
                    detail=f"attempt={attempt}",
                ),
            )
        if movie.volume > 0 and movie.play_t is not None and self.plan.manifest.clip(clip_id).audio:
            lead = (
                f"; started {1000 * movie.lead:.1f} ms before the picture (output latency)"
                if movie.lead
                else ""
            )
            self.writer.append(
                "events.tsv",
                event_row(
                    movie.play_t,
                    0.0,
                    "clip_audio",
                    trial=trial,
                    stimulus_id=clip_id,
                    detail=f"audio stream started; video onset {movie.onset}; volume {movie.volume:g}{lead}",
                ),
            )

    def _clip_interrupted(self, reason: str) -> None:
        """The clip playing when the session stopped: its ``clip_interrupted`` row and audit."""
        playing, self._playing = self._playing, None
        if not playing or playing["trial"] is None:
            return
        movie, trial, clip_id = playing["movie"], playing["trial"], playing["clip_id"]
        now = self.clock.now()
        onset = movie.onset if movie.onset is not None else now
        audit = self._audit(clip_id, movie.frames[: playing["rows"]])  # the flips written to flips.tsv
        detail = (
            f"flips={audit['flips']} frames_shown={audit['frames_shown']} attempt={playing['attempt']}; "
            f"interrupted: {reason[:120]}"
        )
        self.writer.append(
            "events.tsv",
            event_row(
                onset, now - onset, "clip_interrupted", trial=trial, stimulus_id=clip_id, detail=detail
            ),
        )
        self._record_attempt(
            trial,
            {
                **audit,
                "duration_s": round(now - onset, 4),
                "attempt": playing["attempt"],
                "interrupted": reason,
            },
        )

    # ---------------------------------------------------------------- end
    def _finish(self, status: SessionStatus, **fields) -> None:
        fields["clips"] = self.clip_audit
        self.writer.finish(status, **fields)

    def crashed(self, exc: BaseException) -> None:
        """Mark the session aborted after an unexpected error (the data stay)."""
        try:
            reason = stop_reason(exc)
            self._clip_interrupted(reason)
            now = self.clock.now()
            self.writer.append("events.tsv", event_row(now, 0.0, "abort", detail=reason[:200]))
            self._finish("aborted", abort_reason=reason[:500])
        except Exception:  # pragma: no cover - best effort while failing
            pass

    def cleanup(self) -> None:
        """Stop cameras, release injected keys, close the window (always runs)."""
        if self._closed:
            return
        self._closed = True
        if self.source is not None:
            self.source.close()
            self.injected = list(self.source.sent)
            self._write_simulated()
        if self.cams is not None:
            try:
                summary = merge_camera_summaries(self.writer.meta.get("cameras"), self.cams.stop())
                self.writer.update(cameras=summary)
                self._poll_cameras()  # gaps still open at the end close only at stop()
            except Exception as exc:  # keep the session data even if cameras fail to stop
                self.writer.update(cameras={"error": f"{type(exc).__name__}: {exc}"})
        if self.keyboard is not None:
            try:  # the lines each box sent, counted to the end (not as they were at the start)
                self.writer.update(responses=self.keyboard.describe())
            except Exception:  # pragma: no cover - the folder may already be gone (disk full)
                pass
            self.keyboard.close()
        if self.rt is not None and self.rt.view is not None:
            self.rt.view.close()
        if self.display is not None:
            self.display.close()
        self.writer.close()

    def _write_simulated(self) -> None:
        if not self.injected:
            return
        table = TableWriter(self.writer.dir / SIMULATED_KEYS.filename, SIMULATED_KEYS.names)
        try:
            for a, before, after in sorted(self.injected, key=lambda x: x[1]):
                table.append(
                    {
                        "t_planned": a.t,
                        "t_sent": round(before, 6),
                        "t_sent_end": round(after, 6),
                        "action": a.action,
                        "key": a.key,
                        "seat": a.seat,
                        "button": a.button,
                    }
                )
        finally:
            table.close()
