"""Triangle rasterisation with a depth buffer, compiled with numba.

Why numba and not OpenGL: it needs no display, no EGL/OSMesa system packages and no GPU,
so the same code renders on a 2-core training box, in CI and in a worker process; it is
deterministic (one triangle order, one rounding); and at crop scale (an 80-px window over
a 26k-vertex head) a scan-converting loop costs about as much as uploading the mesh to a
software OpenGL context would. Pixel centres are at (i + 0.5, j + 0.5): the same sample
points as the ray caster's ``Camera.window_pixels``, so a mesh render and a ray-cast
render of the same window line up exactly.

Barycentrics are perspective-correct (1/z interpolated in screen space), so a point
rebuilt from them lies on the 3D triangle along the pixel's ray: depth, normals and
texture are exact for the mesh, not affine approximations.
"""

from __future__ import annotations

import numpy as np
from numba import njit

NEAR_M = 0.01   # triangles with a vertex closer to the camera than this are dropped


@njit(cache=True, nogil=True)
def _rasterise(xy: np.ndarray, z: np.ndarray, tris: np.ndarray, cull: np.ndarray, width: int, height: int,
               tri_id: np.ndarray, bary: np.ndarray, depth: np.ndarray) -> None:  # pragma: no cover - compiled
    eps = -1e-9
    for f in range(tris.shape[0]):
        i0, i1, i2 = tris[f, 0], tris[f, 1], tris[f, 2]
        z0, z1, z2 = z[i0], z[i1], z[i2]
        if z0 < NEAR_M or z1 < NEAR_M or z2 < NEAR_M:
            continue
        x0, y0 = xy[i0, 0], xy[i0, 1]
        x1, y1 = xy[i1, 0], xy[i1, 1]
        x2, y2 = xy[i2, 0], xy[i2, 1]
        area = (x1 - x0) * (y2 - y0) - (y1 - y0) * (x2 - x0)
        if area == 0.0 or (cull[f] and area > 0.0):
            continue
        # pixel centres px + 0.5 inside the triangle's bounding box
        px0 = max(int(np.ceil(min(x0, x1, x2) - 0.5)), 0)
        px1 = min(int(np.floor(max(x0, x1, x2) - 0.5)), width - 1)
        py0 = max(int(np.ceil(min(y0, y1, y2) - 0.5)), 0)
        py1 = min(int(np.floor(max(y0, y1, y2) - 0.5)), height - 1)
        if px0 > px1 or py0 > py1:
            continue
        inv_area = 1.0 / area
        iz0, iz1, iz2 = 1.0 / z0, 1.0 / z1, 1.0 / z2
        for py in range(py0, py1 + 1):
            cy = py + 0.5
            for px in range(px0, px1 + 1):
                cx = px + 0.5
                w0 = ((x2 - x1) * (cy - y1) - (y2 - y1) * (cx - x1)) * inv_area
                w1 = ((x0 - x2) * (cy - y2) - (y0 - y2) * (cx - x2)) * inv_area
                w2 = 1.0 - w0 - w1
                if w0 < eps or w1 < eps or w2 < eps:
                    continue
                a0, a1, a2 = w0 * iz0, w1 * iz1, w2 * iz2
                d = 1.0 / (a0 + a1 + a2)
                if d < depth[py, px]:
                    depth[py, px] = d
                    tri_id[py, px] = f
                    bary[py, px, 0] = a0 * d
                    bary[py, px, 1] = a1 * d
                    bary[py, px, 2] = a2 * d


def rasterise(xy: np.ndarray, z: np.ndarray, tris: np.ndarray, size: tuple[int, int],
              cull: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rasterise triangles given their vertices' pixel positions and camera depths.

    xy: [V, 2] pixel coordinates (x right, y down; pixel (i, j) is sampled at its centre);
    z: [V] depth along the optical axis (> 0 in front); tris: [F, 3] vertex indices;
    size: (width, height). cull: [F] bool, drop that triangle when it faces away (its
    vertices run clockwise on screen, i.e. counter-clockwise seen from behind): right for
    the closed outer skin, wrong for thin open surfaces (lashes), which stay two-sided.
    Returns (triangle id [h, w] int32, -1 = empty; perspective-correct barycentrics
    [h, w, 3] float64; depth [h, w] float64, inf = empty).
    """
    w, h = size
    tri_id = np.full((h, w), -1, np.int32)
    bary = np.zeros((h, w, 3))
    depth = np.full((h, w), np.inf)
    flags = np.zeros(len(tris), np.bool_) if cull is None else np.ascontiguousarray(cull, np.bool_)
    _rasterise(np.ascontiguousarray(xy, np.float64), np.ascontiguousarray(z, np.float64),
               np.ascontiguousarray(tris, np.int64), flags, int(w), int(h), tri_id, bary, depth)
    return tri_id, bary, depth


@njit(cache=True, nogil=True)
def _project(v: np.ndarray, m: np.ndarray, t: np.ndarray, fx: float, fy: float, cx: float, cy: float,
             xy: np.ndarray, z: np.ndarray) -> None:  # pragma: no cover - compiled
    for i in range(v.shape[0]):
        p0 = m[0, 0] * v[i, 0] + m[0, 1] * v[i, 1] + m[0, 2] * v[i, 2] + t[0]
        p1 = m[1, 0] * v[i, 0] + m[1, 1] * v[i, 1] + m[1, 2] * v[i, 2] + t[1]
        p2 = m[2, 0] * v[i, 0] + m[2, 1] * v[i, 1] + m[2, 2] * v[i, 2] + t[2]
        z[i] = p2
        q = 1.0 / p2 if p2 > 1e-9 else 1e9
        xy[i, 0] = fx * p0 * q + cx
        xy[i, 1] = fy * p1 * q + cy


def project(vertices: np.ndarray, rot: np.ndarray, trans: np.ndarray, fx: float, fy: float, cx: float,
            cy: float) -> tuple[np.ndarray, np.ndarray]:
    """Pinhole projection of vertices [V, 3] moved by p = rot @ v + trans into a camera
    (x right, y down, z forward): pixel positions [V, 2] and depths [V]."""
    xy = np.empty((len(vertices), 2))
    z = np.empty(len(vertices))
    _project(np.ascontiguousarray(vertices, np.float64), np.ascontiguousarray(rot, np.float64),
             np.ascontiguousarray(trans, np.float64), float(fx), float(fy), float(cx), float(cy), xy, z)
    return xy, z


@njit(cache=True, nogil=True)
def _vertex_normals(v: np.ndarray, tris: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - compiled
    for f in range(tris.shape[0]):
        i0, i1, i2 = tris[f, 0], tris[f, 1], tris[f, 2]
        ax, ay, az = v[i1, 0] - v[i0, 0], v[i1, 1] - v[i0, 1], v[i1, 2] - v[i0, 2]
        bx, by, bz = v[i2, 0] - v[i0, 0], v[i2, 1] - v[i0, 1], v[i2, 2] - v[i0, 2]
        nx, ny, nz = ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx
        for i in (i0, i1, i2):
            out[i, 0] += nx
            out[i, 1] += ny
            out[i, 2] += nz
    for i in range(out.shape[0]):
        n = np.sqrt(out[i, 0] ** 2 + out[i, 1] ** 2 + out[i, 2] ** 2)
        if n > 0.0:
            out[i, 0] /= n
            out[i, 1] /= n
            out[i, 2] /= n


def vertex_normals(vertices: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals [V, 3] of a triangle mesh, pointing to the side from
    which the triangles wind counter-clockwise (outward for ICT-FaceKit's mesh)."""
    out = np.zeros((len(vertices), 3))
    _vertex_normals(np.ascontiguousarray(vertices, np.float64), np.ascontiguousarray(tris, np.int64), out)
    return out


@njit(cache=True, nogil=True)
def _interpolate(pixels: np.ndarray, tri_id: np.ndarray, bary: np.ndarray, tris: np.ndarray, verts: np.ndarray,
                 vnormals: np.ndarray, valbedo: np.ndarray, points: np.ndarray, normals: np.ndarray,
                 albedo: np.ndarray) -> None:  # pragma: no cover - compiled
    for k in range(pixels.shape[0]):
        p = pixels[k]
        f = tri_id[p]
        nx = ny = nz = 0.0
        for c in range(3):
            i = tris[f, c]
            b = bary[p, c]
            for j in range(3):
                points[k, j] += b * verts[i, j]
            nx += b * vnormals[i, 0]
            ny += b * vnormals[i, 1]
            nz += b * vnormals[i, 2]
            for j in range(valbedo.shape[1]):
                albedo[k, j] += b * valbedo[i, j]
        n = np.sqrt(nx * nx + ny * ny + nz * nz)
        if n > 1e-12:
            nx, ny, nz = nx / n, ny / n, nz / n
        normals[k, 0], normals[k, 1], normals[k, 2] = nx, ny, nz


def interpolate(pixels: np.ndarray, tri_id: np.ndarray, bary: np.ndarray, tris: np.ndarray, verts: np.ndarray,
                vnormals: np.ndarray, valbedo: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Surface point, unit normal and albedo at rasterised pixels (flat indices into the
    rasteriser's outputs), interpolated from per-vertex values with the barycentrics.
    valbedo: [V, C] (C = 1 for NIR, 3 for RGB)."""
    n = len(pixels)
    points = np.zeros((n, 3))
    normals = np.zeros((n, 3))
    albedo = np.zeros((n, valbedo.shape[1]))
    _interpolate(np.ascontiguousarray(pixels, np.int64), tri_id.reshape(-1), bary.reshape(-1, 3), tris,
                 np.ascontiguousarray(verts, np.float64), np.ascontiguousarray(vnormals, np.float64),
                 np.ascontiguousarray(valbedo, np.float64), points, normals, albedo)
    return points, normals, albedo
