"""Perspective: the pose a face crop shows is relative to the ray through the crop, not the
camera axis.

A head that keeps one camera-relative pose looks different in a crop taken at the image
centre and in one taken near the edge: the camera sees it along another ray. A network
that only sees the crop therefore cannot know the camera-relative pose of an off-axis
head; on our synthetic set the per-frame CNN trained on camera-relative labels was off by
a constant 2-8 degrees per drive (the offset of the head from the optical axis and of the
camera's aim), which was most of its error. So the network learns the pose relative to
the viewing ray through the crop centre (``ray`` pose) and the runtime, which knows the
crop centre and the camera intrinsics, turns it back into the camera-relative pose.

Ray frame of a pixel (u, v): x points from the crop centre towards the camera along the
ray, z is the camera's down (the F frame's z) made orthogonal to x, y = z cross x. At the
principal point it is the camera's F frame (dms.angles), so ray pose = camera pose there.

Kept free of torch: the runtime on a Jetson uses it every frame.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dms.angles import F_TO_OPENCV, euler_to_matrix, matrix_to_euler

POSE_FRAMES = ("camera", "ray")


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in full-frame pixels (OpenCV convention, no distortion)."""

    fx: float
    fy: float
    cx: float
    cy: float

    @classmethod
    def from_hfov(cls, size: tuple[int, int], hfov_deg: float) -> Intrinsics:
        """Square pixels, principal point at the centre: what a lens's datasheet gives."""
        w, h = size
        f = (w / 2) / np.tan(np.deg2rad(hfov_deg) / 2)
        return cls(float(f), float(f), w / 2, h / 2)

    def scaled(self, sx: float, sy: float) -> Intrinsics:
        """The same camera at another resolution (a frame resized by sx, sy)."""
        return Intrinsics(self.fx * sx, self.fy * sy, self.cx * sx, self.cy * sy)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Intrinsics:
        return cls(float(d["fx"]), float(d["fy"]), float(d["cx"]), float(d["cy"]))


def ray_rotation(u: ArrayLike, v: ArrayLike, k: Intrinsics) -> NDArray[np.float64]:
    """Rotation [..., 3, 3] whose columns are the ray frame's axes in the camera F frame,
    for pixel coordinates u, v (any matching shapes)."""
    u = np.asarray(u, np.float64)
    v = np.asarray(v, np.float64)
    d_cv = np.stack([(u - k.cx) / k.fx, (v - k.cy) / k.fy, np.ones_like(u)], -1)
    x = -d_cv @ F_TO_OPENCV            # F coordinates of -d (row form of F^T @ -d)
    x /= np.linalg.norm(x, axis=-1, keepdims=True)
    down = np.array([0.0, 0.0, 1.0])
    z = down - (x @ down)[..., None] * x
    z /= np.linalg.norm(z, axis=-1, keepdims=True)
    y = np.cross(z, x)
    return np.stack([x, y, z], -1)


def camera_to_ray_pose(pose: ArrayLike, rays: NDArray[np.float64]) -> NDArray[np.float64]:
    """Camera-relative (pitch, yaw, roll) [..., 3] -> relative to the ray frames [..., 3, 3]."""
    r = euler_to_matrix(pose)
    return matrix_to_euler(np.swapaxes(rays, -1, -2) @ r)


def ray_to_camera_pose(pose: ArrayLike, rays: NDArray[np.float64]) -> NDArray[np.float64]:
    """Ray-relative pose [..., 3] -> camera-relative: what the runtime reports."""
    return matrix_to_euler(rays @ euler_to_matrix(pose))


def box_centre(box: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Centre (u, v) of boxes [..., 4] = x0, y0, x1, y1."""
    b = np.asarray(box, np.float64)
    return (b[..., 0] + b[..., 2]) / 2, (b[..., 1] + b[..., 3]) / 2
