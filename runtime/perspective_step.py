"""dms.perspective for one pose at a time, in plain floats: the per-frame hot path.

dms.perspective is vectorised for whole datasets; on one frame its numpy overhead is
~0.15 ms, a tenth of the frame budget. This is the same mathematics (ray frame of the
crop centre, R_camera = R_ray @ R(pose), z-y'-x'' Euler angles of dms.angles) written
out for a single 3x3 case; tests/runtime/test_perspective_step.py checks it against
dms.perspective to 1e-9 degrees.
"""

from __future__ import annotations

import math
from typing import Tuple

from dms.perspective import Intrinsics

# typing.Tuple, not tuple[...]: evaluated at import, and JetPack 5.1 runs Python 3.8.
Mat = Tuple[Tuple[float, float, float], Tuple[float, float, float], Tuple[float, float, float]]


def ray_frame(u: float, v: float, k: Intrinsics) -> Mat:
    """Rows of the ray rotation (columns = ray axes x, y, z in the camera's F frame)."""
    a, b = (u - k.cx) / k.fx, (v - k.cy) / k.fy
    # x: F coordinates of the unit vector from the crop centre towards the camera
    # (F.x = -z_cv, F.y = -x_cv, F.z = y_cv; the ray direction in OpenCV is (a, b, 1)).
    n = math.sqrt(1.0 + a * a + b * b)
    x0, x1, x2 = 1.0 / n, a / n, -b / n
    # z: the camera's down (0, 0, 1) made orthogonal to x
    z0, z1, z2 = -x2 * x0, -x2 * x1, 1.0 - x2 * x2
    m = math.sqrt(z0 * z0 + z1 * z1 + z2 * z2)
    z0, z1, z2 = z0 / m, z1 / m, z2 / m
    # y = z cross x
    y0, y1, y2 = z1 * x2 - z2 * x1, z2 * x0 - z0 * x2, z0 * x1 - z1 * x0
    return ((x0, y0, z0), (x1, y1, z1), (x2, y2, z2))


def euler_matrix(pitch: float, yaw: float, roll: float) -> Mat:
    """dms.angles.euler_to_matrix for one pose: Rz(yaw) @ Ry(pitch) @ Rx(roll)."""
    p, y, r = math.radians(pitch), math.radians(yaw), math.radians(roll)
    cp, sp, cy, sy, cr, sr = math.cos(p), math.sin(p), math.cos(y), math.sin(y), math.cos(r), math.sin(r)
    return ((cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr),
            (sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr),
            (-sp, cp * sr, cp * cr))


def matrix_euler(m: Mat) -> tuple[float, float, float]:
    """dms.angles.matrix_to_euler for one matrix (same singularity rule)."""
    pitch = math.asin(max(-1.0, min(1.0, -m[2][0])))
    if math.hypot(m[2][1], m[2][2]) > 1e-9:
        yaw, roll = math.atan2(m[1][0], m[0][0]), math.atan2(m[2][1], m[2][2])
    else:
        yaw, roll = math.atan2(-m[0][1], m[1][1]), 0.0
    return math.degrees(pitch), math.degrees(yaw), math.degrees(roll)


def _mul(a: Mat, b: Mat) -> Mat:
    def row(r: tuple[float, float, float]) -> tuple[float, float, float]:
        return (r[0] * b[0][0] + r[1] * b[1][0] + r[2] * b[2][0],
                r[0] * b[0][1] + r[1] * b[1][1] + r[2] * b[2][1],
                r[0] * b[0][2] + r[1] * b[1][2] + r[2] * b[2][2])

    return row(a[0]), row(a[1]), row(a[2])


def ray_to_camera(pose: tuple[float, float, float], u: float, v: float, k: Intrinsics) -> tuple[float, float, float]:
    """Ray-relative (pitch, yaw, roll) of a crop centred at pixel (u, v) -> camera-relative."""
    return matrix_euler(_mul(ray_frame(u, v, k), euler_matrix(*pose)))
