"""Real faces re-rendered at new yaw: real appearance where no teacher can label.

The teacher labels real faces only up to about |yaw| 60 and is trusted to 30 (realdata
README), and the pool's faces are mostly within +-35, so real appearance never reaches the
large angles where the synthetic-trained network fails most (AFLW2000 |yaw| 60-99: 37 deg
of yaw error with label crops). 300W-LP (Zhu et al., "Face Alignment Across Large Poses: A
3D Solution", CVPR 2016) closed that gap by fitting a 3D face to real photos and rotating
it; this is the same idea at the crop's scale:

1. a depth for every crop pixel: a mean head (an ellipsoid with a nose) turned by the
   teacher's pose and placed on the fitted head centre (the crop is cut around it), and a
   plane behind the head for everything else (hair edge, neck, background);
2. the crop becomes a 2.5D mesh, one vertex per pixel centre with its grey level;
3. the mesh turns about the camera's vertical axis through the head centre by delta and is
   rasterised again (synth.raster, orthographic), hidden parts behind nearer ones.

The label is exact given the teacher's: dms-head-v1 composes R = Rz(yaw) Ry(pitch)
Rx(roll) in the camera frame F, yaw outermost, so a turn by delta about F.z adds exactly
delta to the yaw and leaves pitch and roll alone. The crop's centre (the head centre)
does not move, so its ray frame is unchanged. Artefacts are those of 300W-LP: the side of
the face turned away is lost, the side turned towards the camera is stretched from the
few pixels that showed it; that is why rotated faces are a switchable kind of their own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from dms.angles import euler_to_matrix

# The mean head in its own frame H (x out of the nose, y to the right ear, z down; metres),
# from the mean synthetic head's landmarks (train.real_eval.mean_head_landmarks): the eyes
# sit 0.095 m in front of the head centre, the nose tip 0.111 m, the ears ~0.078 m to the
# side; the head radius of the crop is 0.12 m (synth.video.CropSpec.head_radius_m).
HEAD_AXES_M = (0.095, 0.078, 0.115)
NOSE_AT_M = (0.0, 0.028)             # (y, z) of the nose tip in H
NOSE_HEIGHT_M = 0.018                # how far it stands out of the ellipsoid
NOSE_SIGMA_M = 0.011
HEAD_RADIUS_M = 0.12
CONTEXT = 1.6                        # stored crop = 1.6 head heights (train.real_pool.CONTEXT)
FILL_ITERATIONS = 150                # Jacobi sweeps of the background depth fill (80 px crop: converged)


@dataclass(frozen=True)
class RotateConfig:
    """per_face: re-rendered copies of each trusted face (|teacher yaw| <= trust_yaw_deg).
    target_abs_yaw: the new |yaw| is drawn uniformly from this range, on the side the face
        already looks to (a random side when it looks within 5 deg of straight on): the
        large angles real faces are missing.
    max_delta_deg: the largest turn. Looked at on pool crops: at 20 deg the re-rendered
        face is hard to tell from a real one, at 40-45 the far side is visibly smeared,
        at 60 the disoccluded side fans out over a third of the crop.
    background_depth: the plane behind the head, in head radii behind its centre."""

    per_face: int = 1
    target_abs_yaw: tuple[float, float] = (30.0, 75.0)
    max_delta_deg: float = 45.0
    trust_yaw_deg: float = 30.0
    background_depth: float = 1.0
    seed: int = 0


def ellipsoid_head_mesh(n_lat: int = 48, n_lon: int = 64) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """A closed mean-head mesh in frame H (metres): ellipsoid plus a Gaussian nose."""
    lat = np.linspace(0.0, np.pi, n_lat)
    lon = np.linspace(0.0, 2 * np.pi, n_lon, endpoint=False)
    th, ph = np.meshgrid(lat, lon, indexing="ij")
    a, b, c = HEAD_AXES_M
    v = np.stack([a * np.sin(th) * np.cos(ph), b * np.sin(th) * np.sin(ph), c * np.cos(th)], -1).reshape(-1, 3)
    bump = NOSE_HEIGHT_M * np.exp(-((v[:, 1] - NOSE_AT_M[0]) ** 2 + (v[:, 2] - NOSE_AT_M[1]) ** 2) / (2 * NOSE_SIGMA_M ** 2))
    v[:, 0] += np.where(v[:, 0] > 0, bump, 0.0)
    tris = []
    for i in range(n_lat - 1):
        for j in range(n_lon):
            p, q = i * n_lon + j, i * n_lon + (j + 1) % n_lon
            tris += [(p, p + n_lon, q), (q, p + n_lon, q + n_lon)]
    return v, np.asarray(tris, np.int64)


def _to_pixels(points_f: NDArray[np.float64], size: int, px_per_m: float, far: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """F-frame points (metres, head centre at the origin) -> crop pixels and camera depth
    (orthographic: F.y is image left, F.z image down, F.x towards the camera)."""
    c = size / 2.0
    xy = np.column_stack([c - px_per_m * points_f[:, 1], c + px_per_m * points_f[:, 2]])
    return xy, far - points_f[:, 0]


def crop_depth(size: int, pose: NDArray[np.float64], background_depth: float) -> NDArray[np.float64]:
    """Camera depth (metres, larger = farther, 0 at the head centre plus `far`) of every
    pixel of a crop cut around a head with this pose."""
    from synth.raster import rasterise

    px_per_m = size / (2 * HEAD_RADIUS_M * CONTEXT)
    far = 10.0
    verts, tris = ellipsoid_head_mesh()
    xy, z = _to_pixels(verts @ euler_to_matrix(pose).T, size, px_per_m, far)
    _, _, depth = rasterise(xy, z, tris, (size, size))
    head = np.isfinite(depth)
    plane = far + background_depth * HEAD_RADIUS_M
    # Outside the head the depth is a smooth (harmonic) fill between the head's outline and
    # the plane at the crop's border: a depth step at the outline would turn into fans of
    # stretched triangles once rotated, a smooth ramp into a gentle warp of the background
    # (300W-LP's profiling likewise fills the background's depth smoothly).
    import cv2

    d = np.where(head, depth, plane)
    border = np.zeros_like(head)
    border[[0, -1], :] = border[:, [0, -1]] = True
    for _ in range(FILL_ITERATIONS):
        d = cv2.blur(d, (5, 5), borderType=cv2.BORDER_REPLICATE)
        d[head] = depth[head]
        d[border] = plane
    return d


def rotate_crop(crop: NDArray[np.uint8], pose: NDArray[np.float64], delta_yaw_deg: float,
                cfg: RotateConfig = RotateConfig()) -> tuple[NDArray[np.uint8], NDArray[np.float64]]:
    """The crop re-rendered with the head turned by delta_yaw_deg about the camera's
    vertical axis, and its pose (yaw + delta; pitch and roll unchanged)."""
    from synth.raster import rasterise

    size = crop.shape[0]
    far = 10.0
    px_per_m = size / (2 * HEAD_RADIUS_M * CONTEXT)
    depth = crop_depth(size, pose, cfg.background_depth)
    jj, ii = np.meshgrid(np.arange(size), np.arange(size))
    c = size / 2.0
    # pixel centres back to F (metres about the head centre)
    pts = np.column_stack([(far - depth).ravel(), -((jj + 0.5 - c) / px_per_m).ravel(),
                           ((ii + 0.5 - c) / px_per_m).ravel()])
    t = np.deg2rad(delta_yaw_deg)
    rz = np.array([[np.cos(t), -np.sin(t), 0.0], [np.sin(t), np.cos(t), 0.0], [0.0, 0.0, 1.0]])
    xy, z = _to_pixels(pts @ rz.T, size, px_per_m, far)   # at delta 0: the pixel centres again
    idx = np.arange(size * size).reshape(size, size)
    a, b, d, e = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel(), idx[1:, :-1].ravel(), idx[1:, 1:].ravel()
    tris = np.concatenate([np.stack([a, d, b], 1), np.stack([b, d, e], 1)])
    tri_id, bary, _ = rasterise(xy, z, tris, (size, size))
    grey = crop.astype(np.float64).ravel()
    hit = tri_id >= 0
    corners = tris[tri_id[hit]]                                    # [n, 3]
    w = bary[hit]
    w = w / np.maximum(w.sum(-1, keepdims=True), 1e-12)
    out = np.empty((size, size))
    out[hit] = (grey[corners] * w).sum(-1)
    if not hit.all():                                              # the border the mesh left
        import cv2

        mask = (~hit).astype(np.uint8)
        out = cv2.inpaint(np.clip(np.where(hit, out, 0), 0, 255).astype(np.uint8), mask, 3, cv2.INPAINT_TELEA).astype(np.float64)
    new_pose = np.asarray(pose, np.float64).copy()
    new_pose[1] += delta_yaw_deg
    return np.clip(out + 0.5, 0, 255).astype(np.uint8), new_pose


def draw_delta(yaw_deg: float, rng: np.random.Generator, cfg: RotateConfig) -> float:
    """The turn that takes a face at yaw_deg to a new |yaw| in cfg.target_abs_yaw, on its side."""
    side = np.sign(yaw_deg) if abs(yaw_deg) > 5.0 else (1.0 if rng.random() < 0.5 else -1.0)
    delta = float(side * rng.uniform(*cfg.target_abs_yaw) - yaw_deg)
    return float(np.clip(delta, -cfg.max_delta_deg, cfg.max_delta_deg))
