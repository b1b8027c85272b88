"""Rendering a scanned (mesh) head into a window of the camera: rasterised, then shaded by
the same light model as the ray-cast ellipsoid head.

A crop window of a pinhole camera is itself a pinhole image (a scaled, shifted principal
point), so the mesh is projected straight into the window's pixel grid and rasterised
there, at the crop's own resolution; no full frame is ever made. The accessories (cap,
hand, phone) stay ray-cast ellipsoids and are composited by distance along each pixel's
ray, and the sun casts real shadows of the head on itself through a shadow map.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from synth.geometry import normals as ellipsoid_normals
from synth.head import FACE_MATERIALS
from synth.mesh_head import MeshHead
from synth.raster import interpolate, project, rasterise

if TYPE_CHECKING:
    from synth.render import FrameState, Scene

SHADOW_MAP_PX = 96          # sun shadow map side: ~3 mm texels over a head and shoulders
SHADOW_BIAS_M = 0.006       # depth tolerance so lit surfaces do not shadow themselves
LANDMARK_DEPTH_TOL_M = 0.005  # a landmark this close behind the depth buffer is still seen (pixel ~3-5 mm)


def _pose_head(scene: Scene, frame: FrameState) -> tuple[MeshHead, np.ndarray, np.ndarray]:
    head = scene.head
    assert isinstance(head, MeshHead)
    r = frame.r_head_v
    head.set_expression(frame.expression)
    head.set_gaze(r.T @ frame.gaze_v)
    return head, r, scene.head_position(r)


def render_mesh_window(scene: Scene, frame: FrameState, box: tuple[float, float, float, float],
                       out_size: tuple[int, int], pixels: tuple[np.ndarray, np.ndarray] | None = None,
                       ) -> dict[str, np.ndarray]:
    """The head in the full-frame box (x0, y0, x1, y1) at out_size (w, h): the same keys
    as Scene.render_rays, flattened row-major over the window's pixels. pixels: the
    window's full-frame pixel centres (Camera.window_pixels), when the caller has them."""
    head, r, centre = _pose_head(scene, frame)
    cam = scene.camera
    verts_h = head.vertices()
    x0, y0, x1, y1 = box
    w, h = out_size
    sx, sy = w / (x1 - x0), h / (y1 - y0)
    # the window is a pinhole camera of its own: focal lengths and principal point scaled
    xy, z = project(verts_h, cam.r_w2c @ r, cam.r_w2c @ (centre - cam.position), cam.fx * sx, cam.fy * sy,
                    (cam.cx - x0) * sx, (cam.cy - y0) * sy)
    tris, cull, tri_material = head.drawn_triangles()
    tri_id, bary, zbuf = rasterise(xy, z, tris, (w, h), cull)
    u, v = pixels if pixels is not None else cam.window_pixels(box, out_size)
    dirs_v = cam.rays(u.ravel(), v.ravel())
    n_rays = len(dirs_v)
    cos_axis = dirs_v @ cam.r_w2c[2]                     # ray . optical axis: depth -> distance
    t_mesh = zbuf.ravel() / cos_axis
    o_h = r.T @ (cam.position - centre)
    d_h = dirs_v @ r
    t_acc, k_acc = head.accessory_hits(o_h, d_h, frame.occluder)
    use_mesh = t_mesh <= t_acc
    t = np.minimum(t_mesh, t_acc)
    hit = np.isfinite(t)
    rgb = scene.rgb
    radiance = np.zeros((n_rays, 3) if rgb else n_rays)
    material = np.zeros(n_rays, np.int16)
    mesh_px = np.flatnonzero(hit & use_mesh)
    acc_px = np.flatnonzero(hit & ~use_mesh)
    points_h = np.zeros((n_rays, 3))
    normals_h = np.zeros((n_rays, 3))
    albedo = np.zeros((n_rays, 3) if rgb else n_rays)
    if len(mesh_px):
        va = head.vertex_albedo(rgb)
        pts, nrm, alb = interpolate(mesh_px, tri_id, bary, tris, verts_h, head.normals(),
                                    va if rgb else va[:, None])
        points_h[mesh_px] = pts
        normals_h[mesh_px] = nrm
        tex = head.texture(pts)
        albedo[mesh_px] = alb * tex[:, None] if rgb else alb[:, 0] * tex
        material[mesh_px] = tri_material[tri_id.ravel()[mesh_px]]
    if len(acc_px):
        k = k_acc[acc_px]
        p = o_h + t[acc_px, None] * d_h[acc_px]
        points_h[acc_px] = p
        normals_h[acc_px] = ellipsoid_normals(p, k, head.prims)
        mat = head.prims.material[k]
        material[acc_px] = mat
        albedo[acc_px] = head.accessory_albedo(mat, rgb)
    if hit.any():
        idx = np.flatnonzero(hit)
        points_v = cam.position + t[idx, None] * dirs_v[idx]
        sun_lit = None
        if scene.lighting.sun > 0:
            sun_lit = sun_visibility(scene, centre + verts_h @ r.T, tris, points_v, cull)
        radiance[idx] = scene._shade(albedo[idx], normals_h[idx] @ r.T, points_v, dirs_v[idx], material[idx],
                                     np.ones(len(idx), bool), frame.time, sun_lit=sun_lit,
                                     sheen=head.skin_sheen)
    lens, rim = head.glasses(o_h, d_h, np.where(hit, t, np.inf))
    return {"radiance": radiance, "hit": hit, "material": material, "depth": np.where(hit, t, np.inf),
            "face": hit & np.isin(material, FACE_MATERIALS), "lens": lens, "rim": rim, "dirs": dirs_v,
            "d_h": d_h, "r": r}


def sun_visibility(scene: Scene, verts_v: np.ndarray, tris: np.ndarray, points_v: np.ndarray,
                   cull: np.ndarray | None = None) -> np.ndarray:
    """Which points [N, 3] (V) the sun reaches past the head itself (nose, brows and jaw
    cast shadows in harsh sun): a depth map of the mesh seen along the sun's direction."""
    d = scene.sun_dir
    a = np.cross(d, [0.0, 0.0, 1.0] if abs(d[2]) < 0.9 else [1.0, 0.0, 0.0])
    a /= np.linalg.norm(a)
    b = np.cross(d, a)
    basis = np.stack([a, b])
    uv = verts_v @ basis.T
    lo, hi = uv.min(0), uv.max(0)
    scale = (SHADOW_MAP_PX - 1) / np.maximum(hi - lo, 1e-6)
    depth_along = verts_v @ d
    offset = depth_along.min() - 1.0                  # every depth > 0 for the rasteriser
    # (a, b, d) is right-handed like a camera's (x, y, z): the same back faces drop out
    _, _, zmap = rasterise((uv - lo) * scale + 0.5, depth_along - offset, tris, (SHADOW_MAP_PX, SHADOW_MAP_PX), cull)
    q = (points_v @ basis.T - lo) * scale
    ix = np.clip(np.round(q[:, 0]).astype(int), 0, SHADOW_MAP_PX - 1)
    iy = np.clip(np.round(q[:, 1]).astype(int), 0, SHADOW_MAP_PX - 1)
    outside = (q < -0.5).any(1) | (q > SHADOW_MAP_PX - 0.5).any(1)
    occluder = zmap[iy, ix]
    return outside | (points_v @ d - offset <= occluder + SHADOW_BIAS_M)


def landmark_visibility(scene: Scene, frame: FrameState, points_v: np.ndarray,
                        depth: np.ndarray | None = None,
                        box: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """Visibility of the landmarks [68, 3] (V) from a window's depth buffer [h, w] (distance
    along each pixel's ray): a landmark is visible when nothing (the head itself, a hand, a
    phone, a cap) is nearer along its ray. Without a window that holds every landmark, one
    is rendered around the head for the purpose."""
    cam = scene.camera
    uv, _ = cam.project(points_v)

    def window_coords(b: tuple[float, float, float, float], w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
        x0, y0, x1, y1 = b
        return ((uv[:, 0] - x0) * w / (x1 - x0) - 0.5).round().astype(int), \
            ((uv[:, 1] - y0) * h / (y1 - y0) - 0.5).round().astype(int)

    if depth is not None and box is not None:
        h, w = depth.shape
        ix, iy = window_coords(box, w, h)
    if depth is None or box is None or not ((ix >= 0) & (ix < w) & (iy >= 0) & (iy < h)).all():
        box = scene.head_box(frame.r_head_v)
        w = h = 160
        depth = render_mesh_window(scene, frame, box, (w, h))["depth"].reshape(h, w)
        ix, iy = window_coords(box, w, h)
    dist = np.linalg.norm(points_v - cam.position, axis=1)
    # the farthest surface in the 3x3 neighbourhood: a landmark on a silhouette (the jaw of
    # a turned head, an eye corner) is sampled beside itself on one side
    padded = np.pad(np.where(np.isfinite(depth), depth, -np.inf), 1, constant_values=-np.inf)
    inside = (ix >= 0) & (ix < w) & (iy >= 0) & (iy < h)
    jx, jy = np.clip(ix, 0, w - 1) + 1, np.clip(iy, 0, h - 1) + 1
    far = np.max([padded[jy + dy, jx + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)], axis=0)
    return inside & (dist <= far + LANDMARK_DEPTH_TOL_M)
