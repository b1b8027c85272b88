"""The mesh rasteriser against an independent reference: exact ray-triangle intersection
(Moller-Trumbore) for every pixel centre, and vertex normals summed with numpy."""

import numpy as np
import pytest

from synth.raster import rasterise, vertex_normals


def _reference(xy, z, tris, size):
    """Nearest triangle per pixel by casting the pixel-centre ray of a unit-focal pinhole
    camera (pixel = xyz[:2] / z) through every triangle in 3D."""
    w, h = size
    pts = np.column_stack([xy * z[:, None], z])          # back-project: camera coords
    ids = np.full((h, w), -1)
    depth = np.full((h, w), np.inf)
    for j in range(h):
        for i in range(w):
            d = np.array([i + 0.5, j + 0.5, 1.0])
            for f, (a, b, c) in enumerate(tris):
                e1, e2 = pts[b] - pts[a], pts[c] - pts[a]
                p = np.cross(d, e2)
                det = e1 @ p
                if abs(det) < 1e-12:
                    continue
                s = -pts[a]
                u = (s @ p) / det
                q = np.cross(s, e1)
                v = (d @ q) / det
                t = (e2 @ q) / det
                if u < 0 or v < 0 or u + v > 1 or t <= 0:
                    continue
                if t < depth[j, i]:          # t is the depth because d has z = 1
                    depth[j, i], ids[j, i] = t, f
    return ids, depth


@pytest.mark.parametrize("seed", range(3))
def test_rasteriser_matches_ray_casting(seed):
    rng = np.random.default_rng(seed)
    n = 12
    xy = rng.uniform(-2, 26, (3 * n, 2))
    z = rng.uniform(0.5, 2.0, 3 * n)
    tris = np.arange(3 * n).reshape(n, 3)
    ids, bary, depth = rasterise(xy, z, tris, (24, 20))
    ref_ids, ref_depth = _reference(xy, z, tris, (24, 20))
    agree = ids == ref_ids
    # pixel centres exactly on a shared edge may go either way; nothing else may differ
    assert agree.mean() > 0.99
    both = agree & (ids >= 0)
    np.testing.assert_allclose(depth[both], ref_depth[both], rtol=1e-9)
    # perspective-correct barycentrics rebuild the 3D point on the pixel's ray
    pts = np.column_stack([xy * z[:, None], z])
    j, i = np.nonzero(ids >= 0)
    p = np.einsum("nk,nki->ni", bary[j, i], pts[tris[ids[j, i]]])
    np.testing.assert_allclose(p[:, 0] / p[:, 2], i + 0.5, atol=1e-9)
    np.testing.assert_allclose(p[:, 1] / p[:, 2], j + 0.5, atol=1e-9)
    np.testing.assert_allclose(p[:, 2], depth[j, i], rtol=1e-9)


def test_triangles_behind_the_camera_are_not_drawn():
    xy = np.array([[1.0, 1.0], [9.0, 1.0], [1.0, 9.0]])
    ids, _, _ = rasterise(xy, np.array([1.0, -1.0, 1.0]), np.array([[0, 1, 2]]), (10, 10))
    assert (ids == -1).all()


def test_vertex_normals_match_numpy():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(30, 3))
    tris = rng.integers(0, 30, (50, 3))
    tris = tris[(tris[:, 0] != tris[:, 1]) & (tris[:, 1] != tris[:, 2]) & (tris[:, 0] != tris[:, 2])]
    fn = np.cross(v[tris[:, 1]] - v[tris[:, 0]], v[tris[:, 2]] - v[tris[:, 0]])
    ref = np.zeros_like(v)
    for k in range(3):
        np.add.at(ref, tris[:, k], fn)
    used = np.linalg.norm(ref, axis=1) > 0
    ref[used] /= np.linalg.norm(ref[used], axis=1, keepdims=True)
    np.testing.assert_allclose(vertex_normals(v, tris), ref, atol=1e-12)
