"""Pose normalisation: 68 image landmarks -> the same face seen from the front.

Every facial unit is measured on a frontal view of the face, so that turning,
nodding or tilting the head and the size of the face in the image do not
change it. The steps, per frame:

1. **A rigid 3-D face** (:data:`TEMPLATE_3D`): the 68 points of a real face in
   millimetres (x to the face's left = image right, y up, z towards the
   camera), taken from OpenFace 2.x's 3-D landmarks of
   ``interop/OpenFace_Test.csv`` rotated back by OpenFace's own pose,
   averaged over its 100 frames and made left-right symmetric
   (:func:`template_from_openface` rebuilds it; a test checks the stored copy).
2. **Head pose** (:func:`fit_pose`): a scaled-orthographic camera (rotation,
   scale, image offset) fitted by least squares to the points expressions do
   not move (:data:`RIGID`: eye corners, nose ridge and nose base; the face
   outline is left out because its visible edge slides round the head when
   it turns). The fit alternates a depth estimate with a 3-D Procrustes step
   (Kabsch 1976) until it settles; it gives yaw, pitch and roll.
3. **Pose over time** (:func:`smooth_pose`): each frame's rotation and scale
   averaged with its neighbours' over :data:`POSE_SMOOTH_S` (one participant's
   rows, centred). A head turns slowly against a frame interval; the fit's
   own noise does not (at 2.4 px landmark jitter it is 5-10 deg SD per frame).
   Frontal distances grow by 1/cos of a pitch or yaw error whatever its
   sign, so per-frame pose noise skews every long vertical unit and shifts its
   mean with the noise (measured on a still face at 1.5x that jitter: AU26
   mean - median 0.35 z per frame, 0.05 z with the 0.3 s average, whose unit
   SDs are also 30-45% smaller). A 3-frame running median first drops
   one-frame glitches of the landmark fit.
4. **Frontal landmarks** (:func:`frontal_landmarks`): each point's offset
   from where the rigid template predicts it, taken back through the fitted
   camera on the assumption that expressions move points within the face's
   own front plane (x, y of the face), not towards the camera. The result is
   the face's 68 points in template millimetres, seen from the front, at the
   template's size: head pose and face size are gone.

Units are then plain distances on these points (:mod:`.geometry`). Their
remaining sensitivity (the template's depth is not the participant's; the
landmark fit itself changes with pose and size) is measured by
``bench/invariance.py`` and published in ``docs/faces-table.md``.

References: Kabsch W (1976) Acta Cryst A32:922-923 (rotation by SVD);
Baltrusaitis T et al. (2018) OpenFace 2.0, FG 2018 (the 3-D landmarks).
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import pandas as pd

#: Landmarks that expressions do not move (68-point numbering): eye corners,
#: nose ridge and nose base. The pose fit uses only these.
RIGID = np.array([27, 28, 29, 30, 31, 33, 35, 36, 39, 42, 45])

#: Centred window (s) over which :func:`smooth_pose` averages a participant's pose.
POSE_SMOOTH_S = 0.3

#: Left-right mirror partner of each of the 68 landmarks (iBUG 300-W order).
MIRROR = np.array(
    [*range(16, -1, -1)]  # outline
    + [26, 25, 24, 23, 22, 21, 20, 19, 18, 17]  # brows
    + [27, 28, 29, 30]  # nose ridge
    + [35, 34, 33, 32, 31]  # nose base
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]  # eyes
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]  # outer lips
    + [64, 63, 62, 61, 60, 67, 66, 65]  # inner lips
)


def _openface_rotation(rx, ry, rz) -> np.ndarray:
    """OpenFace's Euler2RotationMatrix (R = Rx Ry Rz), vectorised: (n, 3, 3)."""
    s1, s2, s3 = np.sin(rx), np.sin(ry), np.sin(rz)
    c1, c2, c3 = np.cos(rx), np.cos(ry), np.cos(rz)
    return np.stack(
        [
            np.stack([c2 * c3, -c2 * s3, s2], -1),
            np.stack([c1 * s3 + c3 * s1 * s2, c1 * c3 - s1 * s2 * s3, -c2 * s1], -1),
            np.stack([s1 * s3 - c1 * c3 * s2, c3 * s1 + c1 * s2 * s3, c1 * c2], -1),
        ],
        -2,
    )


def openface_3d_landmarks(csv) -> np.ndarray:
    """OpenFace's 3-D landmarks of every frame, rotated back to a frontal face.

    Parameters
    ----------
    csv : str or Path
        An OpenFace 2.x FeatureExtraction CSV with ``X_0..Z_67`` and ``pose_*``.

    Returns
    -------
    numpy.ndarray
        (n, 68, 3) millimetres, x to the image right, y up, z towards the
        camera, centred on the rigid points' mean.

    Examples
    --------
    >>> pts = openface_3d_landmarks("../shared/data/interop/OpenFace_Test.csv")
    >>> pts.shape
    (100, 68, 3)
    """
    df = pd.read_csv(csv, skipinitialspace=True)
    cam = np.stack([df[[f"{c}_{i}" for i in range(68)]].to_numpy(float) for c in "XYZ"], -1)
    t = df[["pose_Tx", "pose_Ty", "pose_Tz"]].to_numpy(float)
    r = _openface_rotation(*(df[f"pose_R{a}"].to_numpy(float) for a in "xyz"))
    model = np.einsum("nji,nkj->nki", r, cam - t[:, None, :])  # R^T (X - T)
    model = model * [1.0, -1.0, -1.0]  # OpenFace: y down, z away -> y up, z towards the camera
    return model - model[:, RIGID].mean(axis=1, keepdims=True)


def template_from_openface(csv) -> np.ndarray:
    """The rigid 3-D face of :data:`TEMPLATE_3D`, rebuilt from an OpenFace CSV.

    The frames' frontal 3-D landmarks (:func:`openface_3d_landmarks`) are
    averaged and made left-right symmetric (each point averaged with its
    mirror partner, x negated).

    Examples
    --------
    >>> t = template_from_openface("../shared/data/interop/OpenFace_Test.csv")
    >>> bool(np.abs(t - TEMPLATE_3D).max() < 0.06)
    True
    """
    mean = openface_3d_landmarks(csv).mean(axis=0)
    mirrored = mean[MIRROR] * [-1.0, 1.0, 1.0]
    sym = (mean + mirrored) / 2
    return sym - sym[RIGID].mean(axis=0)


# fmt: off
#: The rigid 3-D face (68 x 3, mm; x image right, y up, z towards the camera;
#: origin at the rigid points' mean): :func:`template_from_openface` of
#: ``interop/OpenFace_Test.csv``, rounded to 0.1 mm.
TEMPLATE_3D = np.array([
    [-75.3, 8.7, -61.0], [-74.9, -10.4, -58.3], [-73.0, -29.7, -56.6], [-69.7, -48.7, -54.2],
    [-63.3, -66.5, -49.9], [-51.9, -80.8, -42.0], [-36.4, -90.6, -29.9], [-19.2, -97.0, -16.8],
    [0.0, -98.4, -11.4], [19.2, -97.0, -16.8], [36.4, -90.6, -29.9], [51.9, -80.8, -42.0],
    [63.3, -66.5, -49.9], [69.7, -48.7, -54.2], [73.0, -29.7, -56.6], [74.9, -10.4, -58.3],
    [75.3, 8.7, -61.0], [-59.7, 29.4, -27.6], [-50.8, 39.7, -20.8], [-37.5, 44.2, -13.2],
    [-23.7, 43.7, -5.5], [-11.0, 39.5, -0.3], [11.0, 39.5, -0.3], [23.7, 43.7, -5.5],
    [37.5, 44.2, -13.2], [50.8, 39.7, -20.8], [59.7, 29.4, -27.6], [0.0, 20.2, -0.8],
    [0.0, 10.3, 6.8], [0.0, 0.9, 14.9], [0.0, -8.9, 22.6], [-13.6, -24.9, 6.4],
    [-6.9, -26.5, 8.3], [0.0, -27.6, 10.0], [6.9, -26.5, 8.3], [13.6, -24.9, 6.4],
    [-45.4, 13.8, -20.6], [-37.3, 19.3, -15.8], [-27.4, 19.6, -13.7], [-19.3, 13.6, -12.5],
    [-28.0, 10.9, -13.0], [-37.9, 10.6, -14.9], [19.3, 13.6, -12.5], [27.4, 19.6, -13.7],
    [37.3, 19.3, -15.8], [45.4, 13.8, -20.6], [37.9, 10.6, -14.9], [28.0, 10.9, -13.0],
    [-24.5, -56.6, -4.7], [-14.5, -49.1, 5.7], [-5.9, -44.5, 10.6], [0.0, -46.2, 11.1],
    [5.9, -44.5, 10.6], [14.5, -49.1, 5.7], [24.5, -56.6, -4.7], [14.8, -58.7, 6.0],
    [6.3, -58.9, 11.3], [0.0, -59.1, 12.2], [-6.3, -58.9, 11.3], [-14.8, -58.7, 6.0],
    [-19.9, -55.7, -1.5], [-6.0, -52.1, 8.9], [0.0, -52.4, 9.7], [6.0, -52.1, 8.9],
    [19.9, -55.7, -1.5], [6.0, -50.1, 10.1], [0.0, -50.4, 11.1], [-6.0, -50.1, 10.1],
])
# fmt: on


class PoseFit(NamedTuple):
    """A scaled-orthographic camera per frame (result of :func:`fit_pose`).

    Attributes
    ----------
    rotation : numpy.ndarray
        (n, 3, 3): template -> camera (x image right, y image up, z towards the camera).
    scale : numpy.ndarray
        (n,) pixels per template millimetre (face size in the image).
    offset : numpy.ndarray
        (n, 2) image position (px, y up) of the template's origin.
    depth : numpy.ndarray
        (n,) the template's depth (z) factor the frame was fitted with
        (:func:`fit_depth`; 1 = :data:`TEMPLATE_3D` as it is).
    """

    rotation: np.ndarray
    scale: np.ndarray
    offset: np.ndarray
    depth: np.ndarray


def template(depth: float = 1.0) -> np.ndarray:
    """:data:`TEMPLATE_3D` with its depth (z) scaled by ``depth`` (a flatter or deeper face).

    Examples
    --------
    >>> float(template(0.8)[30, 2] / TEMPLATE_3D[30, 2])
    0.8
    """
    return TEMPLATE_3D * [1.0, 1.0, float(depth)]


def _kabsch(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Rotations (n, 3, 3) that best map centred ``src`` (k, 3) onto centred ``dst`` (n, k, 3)."""
    h = np.einsum("ki,nkj->nij", src, dst)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(np.einsum("nij,njk->nik", u, vt)))
    fix = np.ones((len(h), 3))
    fix[:, 2] = d
    return np.einsum("nji,nj,nkj->nik", vt, fix, u)


def fit_pose(landmarks: np.ndarray, iterations: int = 8, depth: float = 1.0) -> PoseFit:
    """Fit the rigid template's pose, size and position to 68 image landmarks.

    Parameters
    ----------
    landmarks : numpy.ndarray
        (n, 68, 2) or (68, 2) pixel landmarks (image y down); NaN rows give NaN.
    iterations : int
        Depth / rotation alternations (the fit moves by under 0.01 deg after 6).
    depth : float
        The template's depth factor (:func:`template`; :func:`fit_depth` finds a face's own).

    Returns
    -------
    PoseFit

    Examples
    --------
    >>> rot = np.radians(20)
    >>> r = np.array([[np.cos(rot), 0, np.sin(rot)], [0, 1, 0]])   # yaw 20 deg
    >>> img = 3.0 * TEMPLATE_3D @ r.T * [1, -1] + [320, 240]        # 3 px per mm
    >>> fit = fit_pose(img)
    >>> round(float(fit.scale[0]), 3), pose_angles(fit).round(1).iloc[0].tolist()
    (3.0, [-20.0, 0.0, 0.0])
    """
    pts = np.asarray(landmarks, dtype=float).reshape(-1, 68, 2)
    n = len(pts)
    uv = pts[:, RIGID] * [1.0, -1.0]  # image y down -> y up
    centre = uv.mean(axis=1, keepdims=True)
    uv = uv - centre
    face = template(depth)
    model = face[RIGID] - face[RIGID].mean(axis=0)
    ok = np.isfinite(uv).all(axis=(1, 2))
    rot = np.tile(np.eye(3), (n, 1, 1))
    scale = np.full(n, np.nan)
    if ok.any():
        u = uv[ok]
        # start from the best affine camera, made a scaled rotation
        m = np.einsum("nkc,dk->ncd", u, np.linalg.pinv(model))  # (n, 2, 3)
        s2 = np.linalg.norm(m, axis=2).mean(axis=1)
        r1 = m[:, 0] / np.linalg.norm(m[:, 0], axis=1, keepdims=True)
        r2 = m[:, 1] - np.sum(m[:, 1] * r1, axis=1, keepdims=True) * r1
        r2 = r2 / np.linalg.norm(r2, axis=1, keepdims=True)
        r = np.stack([r1, r2, np.cross(r1, r2)], axis=1)
        s = s2
        for _ in range(iterations):
            # depth of each point as the current pose predicts it, then a full 3-D fit
            z = s[:, None] * np.einsum("kc,nc->nk", model, r[:, 2])
            target = np.concatenate([u, z[..., None]], axis=2)
            r = _kabsch(model, target)
            proj = np.einsum("nij,kj->nki", r[:, :2], model)  # (n, k, 2) at unit scale
            s = np.einsum("nkc,nkc->n", proj, u) / np.einsum("nkc,nkc->n", proj, proj)
        rot[ok], scale[ok] = r, s
    offset = centre[:, 0] - scale[:, None] * np.einsum("nij,j->ni", rot[:, :2], face[RIGID].mean(axis=0))
    offset[~ok] = np.nan
    return PoseFit(rot, scale, offset, np.full(n, float(depth)))


#: Depth factors :func:`fit_depth` tries (the template's depth x 0.7 ... 1.3).
DEPTHS = np.round(np.arange(0.7, 1.301, 0.05), 2)
#: How much steadier (relative spread of the frontal rigid points) another depth
#: must make a participant's face than the template's own before :func:`fit_depth` takes it.
DEPTH_MARGIN = 0.05
#: Head-pose spread (10-90% range of yaw or pitch, deg) below which a participant's
#: depth is not estimated: it cannot be told from the face's shape or expressions then.
DEPTH_MIN_SPREAD_DEG = 15.0


def frontal_spread_mm2(landmarks: np.ndarray, fit: PoseFit) -> float:
    """How much the frontal rigid points move over a participant's frames (mean variance, mm^2).

    With the right template depth a turning head leaves its frontal rigid
    points where they are (a face shaped unlike the template only shifts them
    by a constant); with a wrong one they move with the turn.

    Examples
    --------
    >>> img = np.stack([2.0 * TEMPLATE_3D[:, :2] * [1, -1]] * 3)
    >>> round(frontal_spread_mm2(img, fit_pose(img)), 6)
    0.0
    """
    front = frontal_landmarks(landmarks, fit)[:, RIGID]
    return float(np.nanmean(np.nanvar(front, axis=0).sum(axis=-1)))


def fit_depth(landmarks: np.ndarray, max_frames: int = 600) -> float:
    """The template depth factor of one participant's face (1 unless their turning head tells).

    A face flatter or deeper than the template is told apart only when the
    head turns, so the depth is estimated only when the participant's yaw or
    pitch spreads by :data:`DEPTH_MIN_SPREAD_DEG` or more (10-90% range, with
    the template's depth). Each depth in :data:`DEPTHS` is then fitted to the
    participant's frames (at most ``max_frames``, evenly spread) and the one
    whose frontal rigid points move least over the frames
    (:func:`frontal_spread_mm2`) is taken if it beats the template's own depth
    by :data:`DEPTH_MARGIN`. On rotated copies of OpenFace's real 3-D face made
    0.8x and 1.2x as deep, the depth comes back exactly over yaw +-30 deg;
    with 1 px landmark jitter at 3 px/mm it still does over +-30 deg and stays
    at 1 over +-10 deg. On the shared real clips it stays 1 (single-face clips
    at every size from 240 to 60 px; the turning woman of the group clip 1.3).

    Parameters
    ----------
    landmarks : numpy.ndarray
        (n, 68, 2) one participant's pixel landmarks (NaN rows skipped).

    Examples
    --------
    >>> from analysis.expression.invariance import project
    >>> deep = template(1.2)
    >>> img = np.stack([project(deep, yaw=y, pitch=p) for y in (-20, -10, 0, 10, 20) for p in (-10, 10)])
    >>> fit_depth(img), fit_depth(img[4:6])     # turning 40 deg; still
    (1.2, 1.0)
    """
    pts = np.asarray(landmarks, dtype=float).reshape(-1, 68, 2)
    pts = pts[np.isfinite(pts[:, RIGID]).all(axis=(1, 2))]
    if len(pts) < 3:
        return 1.0
    pts = pts[np.linspace(0, len(pts) - 1, min(len(pts), max_frames)).astype(int)]
    angles = pose_angles(fit_pose(pts))[["yaw", "pitch"]]
    spread = float((angles.quantile(0.9) - angles.quantile(0.1)).max())
    if not spread >= DEPTH_MIN_SPREAD_DEG:
        return 1.0
    moving = {float(d): frontal_spread_mm2(pts, fit_pose(pts, depth=d)) for d in DEPTHS}
    best = min(moving, key=moving.get)
    return best if moving[best] < (1 - DEPTH_MARGIN) * moving[1.0] else 1.0


def pose_angles(fit: PoseFit) -> pd.DataFrame:
    """Yaw, pitch and roll (degrees) of a :class:`PoseFit`, with OpenFace's signs.

    yaw > 0 when the face turns to the image left (OpenFace ``pose_Ry``),
    pitch as OpenFace ``pose_Rx``, roll > 0 when the face tilts clockwise in
    the image (OpenFace ``pose_Rz``).

    Examples
    --------
    >>> img = 2.0 * TEMPLATE_3D[:, :2] * [1, -1]
    >>> pose_angles(fit_pose(img)).round(1).abs().iloc[0].tolist()
    [0.0, 0.0, 0.0]
    """
    r = fit.rotation
    yaw = -np.degrees(np.arcsin(np.clip(r[:, 0, 2], -1, 1)))
    pitch = np.degrees(np.arctan2(-r[:, 1, 2], r[:, 2, 2]))
    roll = np.degrees(np.arctan2(r[:, 0, 1], r[:, 0, 0]))
    out = pd.DataFrame({"yaw": yaw, "pitch": pitch, "roll": roll})
    out[~np.isfinite(fit.scale)] = np.nan
    return out


def participant_runs(participant) -> list[tuple[int, int]]:
    """(start, stop) of each participant's run of rows (rows sorted by participant).

    Examples
    --------
    >>> participant_runs(["A", "A", "B"])
    [(0, 2), (2, 3)]
    """
    who = np.asarray(participant)
    if not len(who):
        return []
    starts = np.r_[0, np.flatnonzero(who[1:] != who[:-1]) + 1, len(who)]
    return [(int(a), int(b)) for a, b in zip(starts[:-1], starts[1:])]


def _running(values: np.ndarray, half: int, stat) -> np.ndarray:
    """``stat`` (nanmedian, nanmean) over a centred window of 2 * half + 1 rows, NaN-padded at the ends."""
    padded = np.pad(values, ((half, half), (0, 0)), constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1, axis=0)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows give NaN
        return stat(windows, axis=-1)


def smooth_pose(fit: PoseFit, landmarks: np.ndarray, participant, window: int) -> PoseFit:
    """Average each frame's rotation and scale over a centred window of one participant's rows.

    The rotation matrices' elements and the scale first go through a 3-frame
    running median (a one-frame landmark glitch, e.g. where a detection
    re-anchors the landmarks, is dropped rather than spread over its
    neighbours), then are averaged over the window's frames with a face, and
    the mean matrix is taken back to the nearest rotation (SVD; the chordal L2
    mean, Hartley et al. 2013, Int J Comput Vis 103:267-305);
    the image offset is refitted to each frame's own rigid points, so the face
    stays where it is in that frame. Frames without a face stay NaN.

    Parameters
    ----------
    fit : PoseFit
        Per-frame fit (:func:`fit_pose`).
    landmarks : numpy.ndarray
        (n, 68, 2) the landmarks it was fitted to.
    participant : array-like
        (n,) participant of each row; rows sorted by participant, then time
        (one row per frame, NaN rows where the face was not seen).
    window : int
        Window in rows (odd; 1 leaves the fit as it is).

    Returns
    -------
    PoseFit

    Examples
    --------
    A still face whose fit jumps by 25 deg of yaw in one frame comes out still:

    >>> yaws = np.radians([0.0, 0.0, 25.0, 0.0, 0.0, 0.0])
    >>> img = np.stack([2 * TEMPLATE_3D @ np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0]]).T * [1, -1]
    ...                 for a in yaws])
    >>> fit = smooth_pose(fit_pose(img), img, ["P"] * 6, 3)
    >>> pose_angles(fit)["yaw"].abs().round(1).tolist()
    [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]

    A participant seen in one frame only keeps that frame's pose:

    >>> one = smooth_pose(fit_pose(img[2:3]), img[2:3], ["P"], 9)
    >>> pose_angles(one)["yaw"].round(1).tolist()
    [-25.0]
    """
    pts = np.asarray(landmarks, dtype=float).reshape(-1, 68, 2)
    window = int(window)
    if window <= 1 or not len(pts):
        return fit
    rot, scale = fit.rotation.copy(), fit.scale.copy()
    ok = np.isfinite(scale)
    half = window // 2
    for a, b in participant_runs(participant):
        seen = ok[a:b]
        if not seen.any():
            continue
        # rotation elements and scale of each frame's window, NaN where no face
        # (padding the participant's run, however short)
        values = np.concatenate([rot[a:b].reshape(-1, 9), scale[a:b, None]], axis=1)
        values[~seen] = np.nan
        values = _running(values, 1, np.nanmedian)  # a one-frame glitch goes
        values[~seen] = np.nan
        mean = _running(values, half, np.nanmean)[seen]  # (seen frames, 10)
        u, _, vt = np.linalg.svd(mean[:, :9].reshape(-1, 3, 3))
        vt[:, 2] *= np.sign(np.linalg.det(u @ vt))[:, None]
        rot[a:b][seen], scale[a:b][seen] = u @ vt, mean[:, 9]
    centre = (pts[:, RIGID] * [1.0, -1.0]).mean(axis=1)
    origin = TEMPLATE_3D[None, RIGID].mean(axis=1) * np.stack([np.ones_like(fit.depth)] * 2 + [fit.depth], -1)
    offset = centre - scale[:, None] * np.einsum("nij,nj->ni", rot[:, :2], origin)
    return PoseFit(rot, scale, offset, fit.depth)


def frontal_landmarks(landmarks: np.ndarray, fit: PoseFit | None = None) -> np.ndarray:
    """The 68 landmarks seen from the front, in template millimetres (image y down).

    Each point's offset from the posed template is taken back through the
    fitted camera within the face's front plane (x, y of the face): with
    ``A`` the top-left 2 x 2 of the scaled rotation, the frontal position is
    ``template_xy + A^-1 (observed - predicted)``. Exact for a rigid face and
    for expressions that move points within the face's plane; a turned face
    keeps its shape, a small face its size.

    Parameters
    ----------
    landmarks : numpy.ndarray
        (n, 68, 2) or (68, 2) pixel landmarks (image y down).
    fit : PoseFit, optional
        From :func:`fit_pose` (computed here if not given).

    Returns
    -------
    numpy.ndarray
        (n, 68, 2): x to the image right, y down, millimetres of the template
        face (origin at the rigid points' mean).

    Examples
    --------
    A template face turned 25 deg, nodded 10 deg and drawn at 1.7 px per mm
    comes back frontal:

    >>> a, b = np.radians(25), np.radians(10)
    >>> ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    >>> rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    >>> img = 1.7 * (TEMPLATE_3D @ (rx @ ry).T)[:, :2] * [1, -1] + [100, 80]
    >>> front = frontal_landmarks(img)
    >>> bool(np.abs(front[0] - TEMPLATE_3D[:, :2] * [1, -1]).max() < 1e-6)
    True
    """
    pts = np.asarray(landmarks, dtype=float).reshape(-1, 68, 2)
    fit = fit if fit is not None else fit_pose(pts)
    uv = pts * [1.0, -1.0]
    sr = fit.scale[:, None, None] * fit.rotation[:, :2]  # (n, 2, 3)
    faces = TEMPLATE_3D[None] * np.stack([np.ones_like(fit.depth)] * 2 + [fit.depth], -1)[:, None, :]
    predicted = np.einsum("nij,nkj->nki", sr, faces) + fit.offset[:, None, :]
    a = sr[:, :, :2]
    det = a[:, 0, 0] * a[:, 1, 1] - a[:, 0, 1] * a[:, 1, 0]
    det = np.where(np.abs(det) > 1e-12, det, np.nan)
    inv = np.stack([np.stack([a[:, 1, 1], -a[:, 0, 1]], -1), np.stack([-a[:, 1, 0], a[:, 0, 0]], -1)], -2)
    inv = inv / det[:, None, None]
    delta = np.einsum("nij,nkj->nki", inv, uv - predicted)
    return (TEMPLATE_3D[None, :, :2] + delta) * [1.0, -1.0]
