"""Camera feeds of simulated sessions: faces that show what each participant's planted state says.

:func:`render_session_feed` films one :class:`~analysis.simulate.sessions.SimulatedSession`
as the runner would have recorded it (``cam-<name>.mjpg`` and its frame table on
the session clock). Every face is the 3-D head of :mod:`analysis.simulate.mesh_head`
and its expression follows that participant's planted latent states, the very
series that drove the simulated button presses (coupling and lag), the group's
shared session signal and the group effect (:mod:`analysis.simulate.sessions`):

* ``AU12`` (lip-corner pull) = ``smile_rest + smile_gain * smile`` and the
  oblique "sad" brow (``AU01``, half as much ``AU04``) = ``sad_rest + sad_gain * sad``:
  linear, so the scorer's units are a fixed multiple of the planted ones
  (negative values move the same points the other way). The lip-corner
  depressor (AU15) is not rendered: it moves the very landmarks AU12 moves, so
  the scorer's AU12 falls with it as much as it rises with AU12 (measured on
  these renderings), which would mix the sad state into the smile measure;
* blinks (``AU45``) at ``blink_rate`` per second, one to two frames long;
* head movement: yaw, pitch and roll drift as AR(1) processes (``head_sd_deg``,
  about 1 s memory) and the head sways in the image plane (``sway_px``), all
  rendered in 3-D (the mesh turns, its triangles are warped onto the frame);
* in groups, ``turn_yaw_deg`` > 0 makes members turn towards their neighbours
  in episodes of a few seconds (up to that yaw, with ``turn_pitch_deg`` of pitch):
  the confound a pose-sensitive unit would mistake for an expression;
* sensor noise (``noise_grey`` grey levels, Gaussian) and JPEG compression.

Alone sessions are a close-up of one face (``alone_frame``, ``alone_face_px``),
group sessions a wide shot of all members left to right (``group_frame``,
``group_face_px``): people in groups sit smaller in the frame, as in a real
room. A frame where the simulated face was lost (``face_found`` false in the
session's planted table) shows no face (the participant is out of view).
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from coaffect.formats import session_format as fmt
from coaffect.formats.errors import AnalysisError
from coaffect.formats.tables import write_tsv

from .sessions import ar1

#: Name of the simulated camera (protocol, session.json and file names).
CAMERA = "wide"
#: Background grey level of the simulated room.
BACKGROUND = 60
#: Independent sensor-noise frames per session (one drawn at random for each frame).
NOISE_FRAMES = 16


@dataclass(frozen=True)
class VideoSpec:
    """How simulated sessions are filmed (:func:`render_session_feed`).

    Attributes
    ----------
    alone_frame, group_frame : (int, int)
        Frame width and height (px) of the alone close-up and the group wide shot.
    alone_face_px, group_face_px : float
        Width of a frontal face in each (px).
    smile_rest, smile_gain : float
        AU12 intensity at a planted smile state of 0, and per planted unit.
    sad_rest, sad_gain : float
        AU01 intensity (AU04 half of it) at a planted sad state of 0, and per unit.
    blink_rate : float
        Blinks per second.
    head_sd_deg : (float, float, float)
        SD of the yaw, pitch and roll drift (degrees).
    sway_px : float
        SD of the head's drift in the image plane, in face widths x 100.
    turn_yaw_deg, turn_pitch_deg : float
        In groups, the yaw towards a neighbour (and pitch) during a turn episode; 0: no turning.
    turn_share : float
        Share of the time a group member spends turned (when ``turn_yaw_deg`` > 0).
    noise_grey : float
        SD of the sensor noise (grey levels).
    jpeg_quality : int
        JPEG quality of the recorded frames (OpenCV's 0-100 scale).
    seed : int
        Seed of the filming draws (blinks, head movement, noise), apart from the study's.
    """

    alone_frame: tuple[int, int] = (224, 176)
    group_frame: tuple[int, int] = (384, 176)
    alone_face_px: float = 104.0
    group_face_px: float = 84.0
    smile_rest: float = 0.4
    smile_gain: float = 0.6
    sad_rest: float = 0.2
    sad_gain: float = 0.6
    blink_rate: float = 0.3
    head_sd_deg: tuple[float, float, float] = (3.0, 2.0, 1.5)
    sway_px: float = 3.0
    turn_yaw_deg: float = 0.0
    turn_pitch_deg: float = 0.0
    turn_share: float = 0.4
    noise_grey: float = 3.0
    jpeg_quality: int = 85
    seed: int = 1

    def __post_init__(self) -> None:
        """Check the figures once (errors name the field)."""
        for name in ("alone_face_px", "group_face_px", "smile_gain"):
            if not getattr(self, name) > 0:
                raise AnalysisError(f"{name}: must be > 0 (got {getattr(self, name)!r})", field=name)
        if not 0 <= self.turn_yaw_deg <= 45:
            raise AnalysisError(
                f"turn_yaw_deg: within 0..45 degrees (got {self.turn_yaw_deg!r})",
                hint="beyond 45 deg the 68-point landmark fit itself fails",
                field="turn_yaw_deg",
            )
        if not 0 < self.turn_share < 1:
            raise AnalysisError(f"turn_share: within (0, 1) (got {self.turn_share!r})", field="turn_share")
        if not 1 <= int(self.jpeg_quality) <= 100:
            raise AnalysisError(f"jpeg_quality: 1..100 (got {self.jpeg_quality!r})", field="jpeg_quality")

    def as_dict(self) -> dict:
        return asdict(self)

    def intensities(self, smile: np.ndarray, sad: np.ndarray) -> dict:
        """Action-unit intensities (arrays) of planted smile and sad states.

        Examples
        --------
        >>> VideoSpec().intensities(np.array([0.0, 1.0]), np.array([0.0, 0.0]))["AU12"].tolist()
        [0.4, 1.0]
        """
        brow = self.sad_rest + self.sad_gain * sad
        # no AU15: it moves the lip corners AU12 moves, and a geometric AU12 cannot tell the
        # two apart (measured: AU12_raw falls with AU15 as much as it rises with AU12)
        return {"AU12": self.smile_rest + self.smile_gain * smile, "AU01": brow, "AU04": 0.5 * brow}


def _episodes(rng: np.random.Generator, t: np.ndarray, share: float, mean_s: float = 3.0) -> np.ndarray:
    """0..1: turned (1) or not (0) in alternating episodes, with 0.5 s ramps between them."""
    state = np.zeros(len(t))
    if len(t) == 0:
        return state
    now, on = float(t[0]), bool(rng.random() < share)
    while now <= t[-1]:
        length = rng.exponential(mean_s if on else mean_s * (1 - share) / share)
        state[(t >= now) & (t < now + length)] = float(on)
        now, on = now + max(length, 0.2), not on
    dt = float(np.median(np.diff(t))) if len(t) > 1 else 1.0
    k = max(1, int(round(0.5 / dt)))
    return np.convolve(np.pad(state, (k, k), mode="edge"), np.ones(2 * k + 1) / (2 * k + 1), "valid")


def face_motion(
    video: VideoSpec, t: np.ndarray, seat_index: int, n_seats: int, rng: np.random.Generator
) -> pd.DataFrame:
    """One face's planted blinks and head movement over the frame times ``t``.

    Returns
    -------
    pandas.DataFrame
        AU45 (0/1), yaw, pitch, roll (degrees, OpenFace's signs), dx, dy (face widths), turned (0..1).

    Examples
    --------
    >>> t = np.arange(0, 60, 0.2)
    >>> m = face_motion(VideoSpec(turn_yaw_deg=25), t, 0, 3, np.random.default_rng(1))
    >>> bool(m["yaw"].min() < -15), bool(0.1 < m["AU45"].mean() * 5 / 0.3 < 3)  # turns right; ~0.3 blinks/s
    (True, True)
    >>> mid = face_motion(VideoSpec(turn_yaw_deg=25), t, 1, 3, np.random.default_rng(1))
    >>> bool(mid["yaw"].max() > 15 and mid["yaw"].min() < -15), bool(mid["yaw"].diff().abs().max() < 15)
    (True, True)
    """
    n = len(t)
    fps = 1.0 / float(np.median(np.diff(t))) if n > 1 else 1.0
    phi = float(np.exp(-1.0 / fps))  # about 1 s memory
    yaw, pitch, roll = (ar1(rng, n, sd, phi) for sd in video.head_sd_deg)
    dx, dy = (ar1(rng, n, video.sway_px / 100.0, phi) for _ in range(2))
    blinks = (rng.random(n) < video.blink_rate / fps).astype(float)
    turned = np.zeros(n)
    if video.turn_yaw_deg > 0 and n_seats > 1:
        turned = _episodes(rng, t, video.turn_share)
        # towards the neighbours: the leftmost turns to the image right (yaw < 0), the rightmost
        # to the left; members in between look either way, switching only while facing front
        # (an episode starts where the turn rises from exactly 0), so a turn never jumps sides
        if seat_index == 0:
            direction = -np.ones(n)
        elif seat_index == n_seats - 1:
            direction = np.ones(n)
        else:
            starts = np.r_[turned[0] > 0, (turned[1:] > 0) & (turned[:-1] == 0)]
            direction = np.where(np.cumsum(starts) % 2 == 0, 1.0, -1.0)
        yaw = yaw + direction * video.turn_yaw_deg * turned
        pitch = pitch + video.turn_pitch_deg * turned
    return pd.DataFrame(
        {"AU45": blinks, "yaw": yaw, "pitch": pitch, "roll": roll, "dx": dx, "dy": dy, "turned": turned}
    )


def render_session_feed(session, video: VideoSpec, session_dir, camera: str = CAMERA) -> pd.DataFrame:
    """Film one simulated session: write ``cam-<camera>.mjpg`` and its frame table; return the truth.

    Parameters
    ----------
    session : analysis.simulate.sessions.SimulatedSession
        Its ``faces`` table holds each participant's planted states per frame
        (``AU12``: the smile state, ``inner_brow_lip_down``: the sad state,
        ``face_found``); the frames are filmed at those times.
    video : VideoSpec
    session_dir : str or Path
        The session folder (``ses-<id>``).
    camera : str
        Camera name.

    Returns
    -------
    pandas.DataFrame
        The planted truth per frame x participant: session_id, participant_id,
        frame, t, smile, sad (planted states), the rendered intensities AU12,
        AU01, AU04, AU45, yaw, pitch, roll (degrees), face_px (frontal
        face width in the frame), visible.

    Examples
    --------
    >>> from analysis.simulate.study import SimulationSpec, simulate_sessions
    >>> spec = SimulationSpec(n_alone=1, n_group_sessions=0, n_clips=1, clip_duration=2.0, baseline_duration=1.0)
    >>> truth = render_session_feed(next(simulate_sessions(spec)), VideoSpec(), tmp)
    >>> sorted(p.name for p in tmp.iterdir()), len(truth)
    (['cam-wide.mjpg', 'cam-wide_frames.tsv'], 75)
    """
    from .mesh_head import mesh_head, render_head

    out = Path(session_dir)
    out.mkdir(parents=True, exist_ok=True)
    people = [pid for pid, _seat in session.participants]
    group = len(people) > 1
    width, height = video.group_frame if group else video.alone_frame
    face_px = video.group_face_px if group else video.alone_face_px
    rng = np.random.default_rng([video.seed, zlib.crc32(session.session_id.encode())])
    head = mesh_head()
    faces = session.faces.sort_values(["participant_id", "frame"])
    t = faces.loc[faces["participant_id"] == people[0], "t"].to_numpy(float)
    tracks = []
    for k, pid in enumerate(people):
        f = faces[faces["participant_id"] == pid]
        smile, sad = f["AU12"].to_numpy(float), f["inner_brow_lip_down"].to_numpy(float)
        motion = face_motion(video, t, k, len(people), rng)
        units = video.intensities(np.nan_to_num(smile), np.nan_to_num(sad))
        tracks.append(
            pd.DataFrame(
                {
                    "session_id": session.session_id,
                    "participant_id": pid,
                    "frame": np.arange(len(t)),
                    "t": t,
                    "smile": smile,
                    "sad": sad,
                    **units,
                    **motion.drop(columns=["dx", "dy", "turned"]),
                    "face_px": face_px,
                    "visible": f["face_found"].to_numpy(bool),
                }
            ).assign(_dx=motion["dx"].to_numpy(), _dy=motion["dy"].to_numpy())
        )
    video_path, table_path = (out / name for name in fmt.camera_files(camera, fmt.CAMERA_EXT))
    rows = []
    units = ["AU12", "AU01", "AU04", "AU45"]
    # sensor noise: a bank of independent noise frames, one drawn per frame (a fresh draw of
    # every pixel per frame cost a third of the rendering; which frame repeats is random)
    noise = rng.normal(0.0, video.noise_grey, (NOISE_FRAMES, height, width, 3)).astype(np.float32)
    with open(video_path, "wb") as fh:
        offset = 0
        for i, ti in enumerate(t):
            canvas = np.full((height, width, 3), BACKGROUND, np.uint8)
            for k, tr in enumerate(tracks):
                r = tr.iloc[i]
                if not r["visible"]:
                    continue
                centre = (
                    width * (k + 0.5) / len(tracks) + r["_dx"] * face_px,
                    height * 0.52 + r["_dy"] * face_px,
                )
                render_head(
                    canvas, head, {u: r[u] for u in units}, centre=centre, face_px=face_px,
                    yaw=r["yaw"], pitch=r["pitch"], roll=r["roll"],
                )  # fmt: skip
            noisy = canvas + noise[rng.integers(len(noise))]
            ok, jpeg = cv2.imencode(
                ".jpg",
                np.clip(noisy, 0, 255).astype(np.uint8),
                [cv2.IMWRITE_JPEG_QUALITY, int(video.jpeg_quality)],
            )
            if not ok:  # pragma: no cover - OpenCV without JPEG
                raise AnalysisError(f"{video_path}: OpenCV cannot encode JPEG frames")
            data = jpeg.tobytes()
            fh.write(data)
            rows.append(
                {
                    "frame": i,
                    "t": round(float(ti), 6),
                    "byte_offset": offset,
                    "byte_length": len(data),
                    "source_frame": i,
                }
            )
            offset += len(data)
    write_tsv(pd.DataFrame(rows), table_path)
    return pd.concat(tracks, ignore_index=True).drop(columns=["_dx", "_dy"])
