"""Ray casting against ellipsoids, vectorised over rays and primitives.

The synthetic head is a set of (possibly rotated) ellipsoids. Ray casting them exactly
in numpy is fast at crop resolution (6,400 rays x ~15 primitives), exact (no mesh
tessellation), and gives depth and normals for free: the same intersection routine puts
the landmarks on the surface that is rendered, so labels agree with pixels by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Primitives:
    """P ellipsoids in one parent frame: p_parent = center + rot @ (axes * unit_sphere)."""

    names: list[str] = field(default_factory=list)
    center: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    axes: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    rot: np.ndarray = field(default_factory=lambda: np.zeros((0, 3, 3)))
    material: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))

    def add(self, name: str, center: tuple[float, float, float], axes: tuple[float, float, float],
            material: int, rot: np.ndarray | None = None) -> None:
        self.names.append(name)
        self.center = np.vstack([self.center, np.asarray(center, float)[None]])
        self.axes = np.vstack([self.axes, np.asarray(axes, float)[None]])
        self.rot = np.concatenate([self.rot, (np.eye(3) if rot is None else np.asarray(rot, float))[None]])
        self.material = np.append(self.material, np.int16(material))

    def index(self, name: str) -> int:
        return self.names.index(name)

    def __len__(self) -> int:
        return len(self.names)


def intersect(origin: np.ndarray, dirs: np.ndarray, prims: Primitives,
              active: np.ndarray | None = None) -> np.ndarray:
    """Nearest positive hit distance of each ray with each primitive: [P, N], inf = miss.

    origin: [3] (one camera centre) or [N, 3]; dirs: [N, 3] unit vectors. The distance is
    along the unit ray, so it is the same in every frame the ray is expressed in.
    active: optional boolean [P]; inactive primitives are not computed (rows of inf).

    Each ellipsoid is the quadric (p - c)^T M (p - c) = 1 with M = R diag(1/axes^2) R^T,
    so the ray equation's coefficients come from small matrix products instead of per-ray
    transforms into every primitive's frame.
    """
    n_p, n = len(prims), len(dirs)
    out = np.full((n_p, n), np.inf)
    idx = np.arange(n_p) if active is None else np.flatnonzero(active)
    if n_p == 0 or len(idx) == 0:
        return out
    rot, inv2 = prims.rot[idx], 1.0 / prims.axes[idx] ** 2
    m = np.einsum("pij,pj,pkj->pik", rot, inv2, rot)                         # [P, 3, 3]
    o = np.asarray(origin, float)
    if o.ndim == 1:
        _intersect_from_point(o, dirs, prims, idx, m, out)
        return out
    oc = o[None] - prims.center[idx][:, None]                                 # [P, N, 3]
    mo = np.einsum("pij,pnj->pni", m, oc)
    a = np.einsum("ni,pij,nj->pn", dirs, m, dirs)
    b = 2.0 * np.einsum("pni,ni->pn", mo, dirs)
    c = np.einsum("pni,pni->pn", oc, mo) - 1.0
    out[idx] = _nearest_root(a, b, c)
    return out


def _nearest_root(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    disc = b * b - 4.0 * a * c
    sq = np.sqrt(np.maximum(disc, 0.0))
    inv2a = 0.5 / a
    t0 = (-b - sq) * inv2a
    t1 = (-b + sq) * inv2a
    # Entering hit if in front; a ray starting inside (t0 < 0 < t1) sees the far wall.
    t = np.where(t0 > 1e-9, t0, np.where(t1 > 1e-9, t1, np.inf))
    return np.where(disc > 0.0, t, np.inf)


def _intersect_from_point(o: np.ndarray, dirs: np.ndarray, prims: Primitives, idx: np.ndarray,
                          m: np.ndarray, out: np.ndarray) -> None:
    """Rays from one point (a camera centre): a bounding-cone test per primitive first
    (one small matrix product), then the exact quadric only for the rays inside the cone.
    An eye covers ~2 % of a face crop, so this skips most ray-primitive pairs."""
    oc = o[None] - prims.center[idx]                                          # [P, 3]
    dist = np.linalg.norm(oc, axis=1)
    radius = prims.axes[idx].max(axis=1)
    inside = dist <= radius
    cos_max = np.sqrt(np.clip(1.0 - (radius / np.maximum(dist, 1e-12)) ** 2, 0.0, 1.0))
    cand = (dirs @ (-oc / np.maximum(dist, 1e-12)[:, None]).T) > cos_max[None]   # [N, P]
    mo = np.einsum("pij,pj->pi", m, oc)
    c = np.einsum("pi,pi->p", oc, mo) - 1.0
    for j, p in enumerate(idx):
        sel = slice(None) if inside[j] else np.flatnonzero(cand[:, j])
        ds = dirs[sel]
        if len(ds) == 0:
            continue
        a = np.einsum("ni,ni->n", ds @ m[j], ds)
        out[p, sel] = _nearest_root(a, 2.0 * (ds @ mo[j]), c[j])


def normals(points: np.ndarray, prim_index: np.ndarray, prims: Primitives) -> np.ndarray:
    """Outward unit normals at surface points [N, 3] of primitives prim_index [N]."""
    c = prims.center[prim_index]
    r = prims.rot[prim_index]
    q = np.einsum("nji,nj->ni", r, points - c) / prims.axes[prim_index] ** 2
    n = np.einsum("nij,nj->ni", r, q)
    return n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)


def rotation_y(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
