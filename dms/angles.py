"""The one head-pose angle convention used by synth, train, runtime and the alerts.

Written down here once; the README repeats it in words. Everything is numpy so that the
Jetson runtime can use it without torch.

Convention ``dms-head-v1`` (the aerospace Tait-Bryan convention applied to the head):

* Reference frame F, fixed to the camera. When all three angles are zero the driver looks
  straight into the camera. F's axes are those of the head in that neutral position:
  x points out of the nose towards the camera, y points to the driver's right ear,
  z points down (towards the chin). Right-handed.
* Rotation order: intrinsic z-y'-x'' (yaw, then pitch, then roll), so
  ``R = Rz(yaw) @ Ry(pitch) @ Rx(roll)``; R maps head coordinates to F coordinates.
  Yaw keeps its meaning of "heading" at any pitch, which is what gaze zones in a car need.
  The representation is singular only at pitch = +-90 degrees, beyond the +-60 degrees a
  driver's head reaches.
* Signs (right-hand rule about those axes):
    - pitch > 0: nose up (looking up);        pitch < 0: looking down (phone in the lap)
    - yaw   > 0: head turns to the driver's right (towards the right mirror in a
                 left-hand-drive car)
    - roll  > 0: head tilts towards the driver's right shoulder
* Units: degrees, always ordered (pitch, yaw, roll).
* Mirroring the image horizontally reflects F's y axis: yaw and roll change sign, pitch
  does not (and the landmark order is permuted, see dms.landmarks).

OpenCV's camera frame (x right in the image, y down, z along the optical axis) is related
to F by a fixed rotation, ``F_TO_OPENCV``; synth renders and the runtime's overlay use it.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

CONVENTION = "dms-head-v1"
ANGLE_ORDER = ("pitch", "yaw", "roll")

# Columns are F's axes written in OpenCV camera coordinates: F.x (towards the camera)
# = -z_cv, F.y (driver's right = image left, the driver faces the camera) = -x_cv,
# F.z (down) = +y_cv.
F_TO_OPENCV: NDArray[np.float64] = np.array(
    [[0.0, -1.0, 0.0], [0.0, 0.0, 1.0], [-1.0, 0.0, 0.0]]
)


def _rx(a: NDArray[np.float64]) -> NDArray[np.float64]:
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def _ry(a: NDArray[np.float64]) -> NDArray[np.float64]:
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def _rz(a: NDArray[np.float64]) -> NDArray[np.float64]:
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def _as_pose(pose: ArrayLike) -> NDArray[np.float64]:
    arr = np.asarray(pose, dtype=np.float64)
    if arr.shape[-1:] != (3,):
        raise ValueError(f"pose must end in 3 values (pitch, yaw, roll), got shape {arr.shape}")
    return arr


def euler_to_matrix(pose: ArrayLike) -> NDArray[np.float64]:
    """(pitch, yaw, roll) in degrees, shape [..., 3] -> rotation matrices [..., 3, 3] in F."""
    p, y, r = np.moveaxis(np.deg2rad(_as_pose(pose)), -1, 0)
    return _rz(y) @ _ry(p) @ _rx(r)


def matrix_to_euler(rotation: ArrayLike) -> NDArray[np.float64]:
    """Rotation matrices [..., 3, 3] in F -> (pitch, yaw, roll) in degrees, [..., 3].

    Pitch is returned in [-90, 90], yaw and roll in (-180, 180]. At the singularity
    (|pitch| = 90) roll is set to 0 and the whole rotation about z goes to yaw.
    """
    m = np.asarray(rotation, dtype=np.float64)
    if m.shape[-2:] != (3, 3):
        raise ValueError(f"rotation must have shape [..., 3, 3], got {m.shape}")
    sin_p = np.clip(-m[..., 2, 0], -1.0, 1.0)
    pitch = np.arcsin(sin_p)
    cos_p = np.sqrt(m[..., 2, 1] ** 2 + m[..., 2, 2] ** 2)
    regular = cos_p > 1e-9
    yaw = np.where(regular, np.arctan2(m[..., 1, 0], m[..., 0, 0]), np.arctan2(-m[..., 0, 1], m[..., 1, 1]))
    roll = np.where(regular, np.arctan2(m[..., 2, 1], m[..., 2, 2]), 0.0)
    return np.rad2deg(np.stack([pitch, yaw, roll], -1))


def mirror_pose(pose: ArrayLike) -> NDArray[np.float64]:
    """The pose seen in a horizontally mirrored image: yaw and roll negated."""
    out = _as_pose(pose).copy()
    out[..., 1:] *= -1.0
    return out


def mirror_side(name: str) -> str:
    """The name of the mirrored place: "left_mirror" <-> "right_mirror" (right-hand drive is
    the mirror image of left-hand drive, as a mirrored image is of the original)."""
    if name.startswith("left_"):
        return "right_" + name[5:]
    if name.startswith("right_"):
        return "left_" + name[6:]
    return name


def to_opencv(rotation: ArrayLike) -> NDArray[np.float64]:
    """Head rotation expressed in OpenCV camera coordinates (for projection and overlay).

    The head model's own axes are F's axes at the neutral pose, so a head point X_h
    (in F-aligned head coordinates) lands at ``F_TO_OPENCV @ R @ X_h`` in the camera.
    """
    return F_TO_OPENCV @ np.asarray(rotation, dtype=np.float64)


def angular_distance(a: ArrayLike, b: ArrayLike) -> NDArray[np.float64]:
    """Geodesic angle in degrees between two poses (independent of the Euler convention)."""
    ra, rb = euler_to_matrix(a), euler_to_matrix(b)
    rel = np.swapaxes(ra, -1, -2) @ rb
    cos = (np.trace(rel, axis1=-2, axis2=-1) - 1.0) / 2.0
    return np.rad2deg(np.arccos(np.clip(cos, -1.0, 1.0)))


def nose_direction(pose: ArrayLike) -> NDArray[np.float64]:
    """Unit vector along the nose (head x axis) in F: where the head points."""
    return euler_to_matrix(pose)[..., :, 0]
