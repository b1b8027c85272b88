"""300W-LP and AFLW2000-3D: still images labelled by the 3DDFA fits (Zhu et al., CVPR 2016).

Layout (users bring the data; nothing is downloaded):

    300W_LP/AFW/AFW_134212_1_0.jpg + .mat        (also HELEN, IBUG, LFPW and *_Flip)
    300W_LP/landmarks/AFW/AFW_134212_1_0_pts.mat  pts_2d, pts_3d: [68, 2]
    AFLW2000/image00002.jpg + image00002.mat      pt3d_68: [3, 68]

Each .mat holds `Pose_Para` = [pitch, yaw, roll, tx, ty, tz, scale] with the angles in
radians (the comment in HopeNet's utils.get_pose_params_from_mat and 6DRepNet's, the
argument order of 3DDFA's ParaMap_Pose).

The angle convention, and how it maps to dms-head-v1
-----------------------------------------------------
3DDFA's RotationMatrix.m (shipped with the 300W-LP fitting code; the same matrix is
face3d's `angle2matrix_3ddfa`, YadiraF/face3d mesh/transform.py) is

    R = Rx'(pitch) Ry'(yaw) Rz'(roll),  Rx'(a) = [[1,0,0],[0,c,s],[0,-s,c]], ...

(each factor the *transpose* of the textbook rotation) and projects a model point X as
`f * R * X + t`, then flips the image row (`height + 1 - y`). So the camera frame C has
x to the image right, y up, z towards the viewer, and the Basel face model looks along
+z with x to the subject's left. Worked out per axis (and cross-checked against
HopeNet's draw_axis, which renders 300W-LP labels with yaw negated, and against the
3DDFA issue #192 remark that 300W-LP's positive pitch is "up" and positive yaw the
opposite of face3d's "looking left"):

    pitch > 0: nose up                        = dms-head-v1 pitch > 0
    yaw   > 0: nose to the image left, i.e. the subject's right = dms-head-v1 yaw > 0
    roll  > 0: crown to the image right, i.e. towards the LEFT shoulder = dms-head-v1 roll < 0

The single-axis signs are not the whole story: 3DDFA composes pitch outermost
(Rx Ry Rz) while dms-head-v1 composes yaw outermost (Rz Ry Rx), so for a head both
turned and tilted the angles differ by more than signs. The conversion therefore goes
through the rotation matrix: with P the change of basis from dms-head-v1's frame F
(x towards the camera, y subject's right, z down) to C, R_F = P^T R P, then
dms.angles.matrix_to_euler.

Landmarks are in the MATLAB convention of the fits and of the 300-W annotations they
were fitted to (top-left pixel centre = (1, 1), stated in the 300-W release notes, and the
`height + 1 - y` flip above); the readers return OpenCV pixels (subtract 1).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import scipy.io
from numpy.typing import ArrayLike, NDArray

from dms.angles import matrix_to_euler
from dms.landmarks import MIRROR_PERMUTATION
from train.readers.common import MATLAB_ORIGIN, ReaderError, Sample, check_landmarks, image_size, require_file

# Columns: dms-head-v1's axes written in 3DDFA's camera/model frame C (x image right =
# subject's left, y up, z towards the viewer): F.x = +z_C, F.y = -x_C, F.z = -y_C.
F_TO_3DDFA: NDArray[np.float64] = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])

SUBSETS_300WLP = ("AFW", "AFW_Flip", "HELEN", "HELEN_Flip", "IBUG", "IBUG_Flip", "LFPW", "LFPW_Flip")

LandmarkSource = Literal["pts_3d", "pts_2d"]


def rotation_3ddfa(pitch: float, yaw: float, roll: float) -> NDArray[np.float64]:
    """3DDFA's RotationMatrix.m (radians): model -> camera frame C."""
    cx, sx = np.cos(pitch), np.sin(pitch)
    cy, sy = np.cos(yaw), np.sin(yaw)
    cz, sz = np.cos(roll), np.sin(roll)
    rx = np.array([[1.0, 0.0, 0.0], [0.0, cx, sx], [0.0, -sx, cx]])
    ry = np.array([[cy, 0.0, -sy], [0.0, 1.0, 0.0], [sy, 0.0, cy]])
    rz = np.array([[cz, sz, 0.0], [-sz, cz, 0.0], [0.0, 0.0, 1.0]])
    return rx @ ry @ rz


def pose_from_3ddfa(angles_rad: ArrayLike) -> NDArray[np.float64]:
    """Pose_Para's first three values (pitch, yaw, roll; radians, 3DDFA) -> dms-head-v1 degrees."""
    p, y, r = (float(v) for v in np.asarray(angles_rad, dtype=np.float64).reshape(-1)[:3])
    r_c = rotation_3ddfa(p, y, r)
    return matrix_to_euler(F_TO_3DDFA.T @ r_c @ F_TO_3DDFA)


def load_mat(path: Path) -> dict[str, Any]:
    require_file(path, "annotation file")
    try:
        return dict(scipy.io.loadmat(str(path)))
    except Exception as exc:  # scipy raises several types for corrupt files
        raise ReaderError(path, "", f"not a readable MATLAB file ({exc})") from None


def _field(mat: dict[str, Any], path: Path, name: str) -> NDArray[np.float64]:
    if name not in mat:
        raise ReaderError(path, f"field '{name}'", "missing")
    try:
        return np.asarray(mat[name], dtype=np.float64)
    except (TypeError, ValueError):
        raise ReaderError(path, f"field '{name}'", "not numeric") from None


def read_pose_para(mat: dict[str, Any], path: Path) -> NDArray[np.float64]:
    """dms-head-v1 pose from the `Pose_Para` field of a 3DDFA .mat."""
    para = _field(mat, path, "Pose_Para").reshape(-1)
    if para.size < 3:
        raise ReaderError(path, "field 'Pose_Para'", f"expected at least 3 values (pitch, yaw, roll), got {para.size}")
    if not np.all(np.isfinite(para[:3])):
        raise ReaderError(path, "field 'Pose_Para'", f"non-finite angle in {para[:3].tolist()}")
    return pose_from_3ddfa(para[:3])


def read_points(mat: dict[str, Any], path: Path, name: str) -> NDArray[np.float64]:
    """A [68, 2] (or [2, 68], [3, 68]) landmark field -> [68, 2] OpenCV pixels."""
    arr = _field(mat, path, name)
    if arr.ndim == 2 and arr.shape[0] in (2, 3) and arr.shape[1] == 68:
        arr = arr[:2].T
    elif arr.ndim == 2 and arr.shape[0] == 68 and arr.shape[1] in (2, 3):
        arr = arr[:, :2]
    else:
        raise ReaderError(path, f"field '{name}'", f"expected 68 points, got shape {arr.shape}")
    return check_landmarks(path, f"field '{name}'", arr - MATLAB_ORIGIN)


def mirror_pixels(pts: NDArray[np.float64], width: int) -> NDArray[np.float64]:
    """Landmarks of the horizontally flipped image: x -> width - 1 - x, left/right swapped."""
    out = np.empty_like(pts)
    out[MIRROR_PERMUTATION] = np.column_stack([width - 1.0 - pts[:, 0], pts[:, 1]])
    return out


def read_aflw2000(root: Path | str) -> Iterator[Sample]:
    """AFLW2000-3D: every image*.mat in root with its .jpg; landmarks from pt3d_68 (the
    3D fit's 68 points projected; `pt2d` there is AFLW's own 21-point set)."""
    root = Path(root)
    mats = sorted(root.glob("*.mat"))
    if not mats:
        raise ReaderError(root, "", "no .mat annotation files (expected AFLW2000-3D's image*.mat)")
    for mat_path in mats:
        mat = load_mat(mat_path)
        image = require_file(mat_path.with_suffix(".jpg"), f"image for {mat_path.name}")
        yield Sample(image, None, read_pose_para(mat, mat_path), read_points(mat, mat_path, "pt3d_68"), mat_path)


def read_300wlp(root: Path | str, subsets: Sequence[str] = SUBSETS_300WLP,
                landmarks: LandmarkSource | None = "pts_3d") -> Iterator[Sample]:
    """300W-LP, subset by subset, files sorted.

    landmarks: which points of landmarks/<subset>/<name>_pts.mat to return:
      "pts_3d" (default): the 3D fit's 68 points projected, occluded ones included. This is
          what AFLW2000-3D's pt3d_68 and the synthetic data (projected 3D surface points)
          label too, so the three sources agree on what a jaw point means at large yaw.
      "pts_2d": the points snapped to the visible contour (3DDFA_V2 issue #118).
      None: no landmarks.
    The main .mat's own `pt2d` is not used: for the synthesised views it repeats the
    original photo's points (3DDFA issue #192). Flipped subsets have no landmark files of
    their own; their points are the unflipped image's, mirrored (the *_Flip images are the
    same-named images flipped left-right).
    """
    root = Path(root)
    for subset in subsets:
        folder = root / subset
        if not folder.is_dir():
            raise ReaderError(folder, "", "300W-LP subset folder missing (pass subsets=... to read a part of the dataset)")
        mats = sorted(folder.glob("*.mat"))
        if not mats:
            raise ReaderError(folder, "", "no .mat annotation files in this subset")
        for mat_path in mats:
            mat = load_mat(mat_path)
            image = require_file(mat_path.with_suffix(".jpg"), f"image for {mat_path.name}")
            pose = read_pose_para(mat, mat_path)
            pts = None
            source = mat_path
            if landmarks is not None:
                pts, source = _300wlp_landmarks(root, subset, mat_path.stem, image, landmarks)
            yield Sample(image, None, pose, pts, source)


def _300wlp_landmarks(root: Path, subset: str, stem: str, image: Path,
                      kind: LandmarkSource) -> tuple[NDArray[np.float64], Path]:
    own = root / "landmarks" / subset / f"{stem}_pts.mat"
    if own.is_file() or not subset.endswith("_Flip"):
        return read_points(load_mat(own), own, kind), own
    unflipped = root / "landmarks" / subset[: -len("_Flip")] / f"{stem}_pts.mat"
    if not unflipped.is_file():
        raise ReaderError(own, "", f"landmark file missing, and so is the unflipped image's {unflipped}")
    pts = read_points(load_mat(unflipped), unflipped, kind)
    width, _ = image_size(image)
    return mirror_pixels(pts, width), unflipped
