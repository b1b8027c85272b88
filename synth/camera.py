"""The in-car camera: mount positions, intrinsics, projection and pixel rays.

Frames (all right-handed, metres):
* vehicle frame V: x forward down the road, y to the driver's right, z down; origin at the
  driver's neutral head centre. A head pose "relative to the vehicle" (synth.track) is the
  dms-head-v1 convention with V as reference: all zero = looking down the road.
* camera F-frame Fc: the dms-head-v1 reference frame of this camera: x from the head
  towards the camera, y to the driver's right (orthogonalised), z down. The network's
  label is the head rotation in Fc: ``R_head_Fc = R_Fc_V^T @ R_head_V``.
* OpenCV camera frame: x right in the image, y down, z along the optical axis,
  ``p_cv = F_TO_OPENCV @ R_Fc_V^T @ (p_V - position)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dms.angles import F_TO_OPENCV, euler_to_matrix, matrix_to_euler

# Mount positions relative to the driver's neutral head centre (V frame, metres), for a
# left-hand-drive car, with the point each one aims at. Sources: production DMS placements
# (steering column: Subaru DriverFocus, GM Super Cruise; A-pillar: BMW, Volvo; rear-view
# mirror: Cadillac/Tesla interior cameras), distances from typical cabin geometry
# (driver eye to steering wheel ~0.6-0.7 m, to mirror ~0.6 m).
MOUNTS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    # (position, aim point)
    "steering_column": ((0.62, 0.0, 0.22), (0.0, 0.0, 0.0)),
    "a_pillar": ((0.52, -0.42, -0.05), (0.0, 0.0, 0.0)),
    "rear_view_mirror": ((0.58, 0.42, -0.22), (0.0, 0.05, 0.0)),
}
# Horizontal field of view per mount (degrees): DMS cameras use 40-60 degree lenses so
# that the head fills a useful part of a VGA frame wherever the seat is adjusted.
MOUNT_HFOV_DEG: dict[str, float] = {"steering_column": 50.0, "a_pillar": 50.0, "rear_view_mirror": 56.0}


@dataclass
class Camera:
    """A pinhole camera in the vehicle. ``size`` is the full frame (width, height)."""

    position: np.ndarray          # [3] in V
    r_fc_v: np.ndarray            # [3, 3], columns = Fc axes in V
    fx: float
    fy: float
    cx: float
    cy: float
    size: tuple[int, int] = (640, 480)
    mount: str = "steering_column"

    @classmethod
    def looking_at(cls, position: np.ndarray, target: np.ndarray, hfov_deg: float,
                   size: tuple[int, int] = (640, 480), roll_deg: float = 0.0,
                   mount: str = "custom") -> Camera:
        position = np.asarray(position, float)
        x = position - np.asarray(target, float)
        x /= np.linalg.norm(x)
        down = np.array([0.0, 0.0, 1.0])
        z = down - (down @ x) * x
        z /= np.linalg.norm(z)
        y = np.cross(z, x)
        r = np.column_stack([x, y, z])
        if roll_deg:
            r = r @ euler_to_matrix([0.0, 0.0, roll_deg])  # camera rolled about its own axis
        w, h = size
        f = (w / 2) / np.tan(np.deg2rad(hfov_deg) / 2)
        return cls(position, r, f, f, w / 2, h / 2, size, mount)

    @classmethod
    def mount_preset(cls, mount: str, size: tuple[int, int] = (640, 480),
                     rng: np.random.Generator | None = None) -> Camera:
        """A named mount; with rng, jittered by a few cm and degrees as installations vary."""
        if mount not in MOUNTS:
            raise ValueError(f"camera mount '{mount}' is not one of {sorted(MOUNTS)}")
        pos, aim = (np.array(v, float) for v in MOUNTS[mount])
        hfov, roll = MOUNT_HFOV_DEG[mount], 0.0
        if rng is not None:
            pos = pos + rng.normal(0, 0.03, 3)
            aim = aim + rng.normal(0, 0.03, 3)
            hfov += rng.uniform(-4, 4)
            roll = rng.normal(0, 2.0)
        return cls.looking_at(pos, aim, hfov, size, roll, mount)

    @property
    def r_w2c(self) -> np.ndarray:
        """V -> OpenCV camera coordinates."""
        return F_TO_OPENCV @ self.r_fc_v.T

    def head_pose_in_camera(self, r_head_v: np.ndarray) -> np.ndarray:
        """Vehicle-frame head rotations [..., 3, 3] -> camera-relative (pitch, yaw, roll)."""
        return matrix_to_euler(self.r_fc_v.T @ r_head_v)

    def project(self, points_v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Points [..., 3] in V -> pixels [..., 2] (full frame) and depth [...] along the axis."""
        p = (np.asarray(points_v) - self.position) @ self.r_w2c.T
        z = p[..., 2]
        uv = np.stack([self.fx * p[..., 0] / z + self.cx, self.fy * p[..., 1] / z + self.cy], -1)
        return uv, z

    def rays(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Unit ray directions in V through full-frame pixel coordinates u, v (any shape)."""
        d = np.stack([(u - self.cx) / self.fx, (v - self.cy) / self.fy, np.ones_like(u)], -1)
        d = d @ self.r_w2c  # c -> V is the transpose: row-vector form
        return d / np.linalg.norm(d, axis=-1, keepdims=True)

    def window_pixels(self, box: tuple[float, float, float, float], out: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Pixel-centre coordinates (u, v) of an out=(w, h) grid sampling the full-frame box
        (x0, y0, x1, y1): rendering these rays IS the crop, resampled without aliasing steps."""
        x0, y0, x1, y1 = box
        w, h = out
        u = x0 + (np.arange(w) + 0.5) * (x1 - x0) / w
        v = y0 + (np.arange(h) + 0.5) * (y1 - y0) / h
        return np.meshgrid(u, v)
