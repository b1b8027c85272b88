"""A tiny head model in ICT-FaceKit's compact format, made at test time.

CI must not depend on the real model (third-party, research use, never in the repository),
so the reader, the rasteriser path and the dataset plumbing are exercised on this stand-in:
an ellipsoid skull with a nose, two eyeballs with irises, lashes, a few identity modes and
the three expressions the renderer drives. Same keys, units (cm) and axes (x = subject's
left, y up, z out of the face) as the real file; mirror-symmetric about x = 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from synth.head import HeadModel, Identity
from synth.mesh_head import ICT_ORIGIN_CM, ICT_TO_H

MATERIALS = ["M_Face", "M_BackHead", "M_GumsTongue", "M_Teeth", "M_ScleraLeft", "M_IrisLeft", "M_ScleraRight",
             "M_IrisRight", "M_LacrimalFluid", "M_EyeBlend", "M_EyeOcclusion", "M_EyeLashes"]
PARTS = ["Face", "Head and Neck", "Mouth socket", "Eye socket left", "Eye socket right", "Gums and tongue", "Teeth",
         "Eyeball left", "Eyeball right", "Lacrimal fluid left", "Lacrimal fluid right", "Eye blend left",
         "Eye blend right", "Eye occlusion left", "Eye occlusion right", "Eyelashes left", "Eyelashes right"]


def _sphere(centre, radii, n_lat, n_lon):
    """A closed UV ellipsoid, poles on the z axis, counter-clockwise seen from outside.
    Longitudes are symmetric about x = 0 (the mirror maps vertices to vertices)."""
    th = np.linspace(0, np.pi, n_lat + 1)[1:-1]
    ph = np.linspace(-np.pi, np.pi, n_lon, endpoint=False)   # includes 0 and -pi: x = 0
    t, p = np.meshgrid(th, ph, indexing="ij")
    unit = np.column_stack([(np.sin(t) * np.sin(p)).ravel(), (np.sin(t) * np.cos(p)).ravel(), np.cos(t).ravel()])
    v = np.vstack([[0, 0, 1], unit, [0, 0, -1]])
    faces = []
    idx = lambda i, j: 1 + i * n_lon + (j % n_lon)  # noqa: E731
    for j in range(n_lon):
        faces.append([0, idx(0, j + 1), idx(0, j), -1])
        last = len(v) - 1
        faces.append([last, idx(n_lat - 2, j), idx(n_lat - 2, j + 1), -1])
        for i in range(n_lat - 2):
            faces.append([idx(i, j), idx(i, j + 1), idx(i + 1, j + 1), idx(i + 1, j)])
    f = np.array(faces)
    # orient outward: reverse every polygon if a quad's normal points inward
    a, b, c = (v[f[2, k]] for k in range(3))
    if np.cross(b - a, c - a) @ (a + b + c) < 0:
        quads = f[:, 3] >= 0
        f[quads] = f[quads][:, ::-1]
        f[~quads, :3] = f[~quads, 2::-1]
    return v * radii + centre, f


def _to_ict(p_h: np.ndarray) -> np.ndarray:
    return (np.asarray(p_h) / 0.01) @ ICT_TO_H + ICT_ORIGIN_CM


def make_fixture(folder: Path, n_identity: int = 4, drop: tuple[str, ...] = ()) -> Path:
    """Write blendshapes.npz into folder; `drop` leaves keys out (for the reader's errors)."""
    folder.mkdir(parents=True, exist_ok=True)
    # skull: axis z forward (ICT), so build a sphere with poles on z and stretch it
    head_v, head_f = _sphere(np.array([0.0, 3.5, 1.5]), np.array([7.8, 11.0, 10.5]), 44, 56)
    # a nose: push the front middle of the face outward
    nose = np.exp(-((head_v[:, 0] / 1.3) ** 2 + ((head_v[:, 1] - 1.5) / 2.8) ** 2)) * (head_v[:, 2] > 5)
    head_v[:, 2] += 2.4 * nose
    eyes_v, eyes_f, eye_ranges = [], [], []
    offset = len(head_v)
    for sign in (1.0, -1.0):   # left eye (x > 0) first, as in the real model
        ev, ef = _sphere(np.array([3.1 * sign, 3.6, 10.0]), np.array([1.2, 1.2, 1.2]), 10, 12)
        eye_ranges.append((offset, offset + len(ev)))
        eyes_v.append(ev)
        eyes_f.append(np.where(ef >= 0, ef + offset, -1))
        offset += len(ev)
    lash_v = np.array([[3.1 * s + dx, 4.7, 11.0] for s in (1.0, -1.0) for dx in (-0.8, 0.8, 0.0)])
    lash_f = np.array([[offset, offset + 1, offset + 2, -1], [offset + 3, offset + 5, offset + 4, -1]])
    v = np.vstack([head_v, *eyes_v, lash_v]).astype(np.float32)
    faces = np.vstack([head_f, *eyes_f, lash_f]).astype(np.int32)
    n_head_f = len(head_f)
    mat = np.zeros(len(faces), np.uint8)
    mat[:n_head_f] = np.where(v[head_f[:, 0], 2] > 0, 0, 1)   # face / back of the head
    pos = n_head_f
    for (lo, hi), sclera, iris in zip(eye_ranges, (4, 6), (5, 7)):
        n = len(eyes_f[0])
        ef = faces[pos:pos + n]
        front = v[ef[:, 0], 2] > 10.9
        mat[pos:pos + n] = np.where(front, iris, sclera)
        pos += n
    mat[pos:] = 11
    mat[n_head_f - 1] = 8   # one overlay polygon, which the reader must drop
    ranges = {p: (offset, offset) for p in PARTS}
    ranges["Face"] = (0, len(head_v))
    ranges["Head and Neck"] = (len(head_v), len(head_v))
    ranges["Eyeball left"], ranges["Eyeball right"] = eye_ranges
    ranges["Eyelashes left"] = (offset, offset + 3)
    ranges["Eyelashes right"] = (offset + 3, offset + 6)
    # landmarks: the head vertex nearest each point of the ellipsoid head's template
    target = _to_ict(HeadModel(Identity()).landmarks_3d())
    skull = v[:len(head_v)]
    midline = np.flatnonzero(np.abs(skull[:, 0]) < 1e-4)
    ibug = np.array([int(midline[np.argmin(((skull[midline] - t) ** 2).sum(1))]) if abs(t[0]) < 1e-3
                     else int(np.argmin(((skull - t) ** 2).sum(1))) for t in target], np.int32)
    # identity modes: width, face length, nose size, then small smooth random modes
    rng = np.random.default_rng(7)
    ident = np.zeros((n_identity, len(v), 3), np.float32)
    ident[0, :, 0] = 0.05 * v[:, 0]
    if n_identity > 1:
        ident[1, :, 1] = 0.04 * (v[:, 1] - 3.5)
    if n_identity > 2:
        ident[2, :len(head_v), 2] = 0.6 * nose
    for k in range(3, n_identity):
        w = rng.normal(0, 0.02, 3)
        ident[k, :, :] = np.column_stack([w[0] * v[:, 0], w[1] * np.abs(v[:, 0]), w[2] * v[:, 1]])
    names = ["browDown_L", "jawOpen", "eyeBlink_L", "eyeBlink_R"]
    expr = np.zeros((len(names), len(v), 3), np.float32)
    mouth_y = skull[ibug[62], 1]
    jaw = np.clip((mouth_y - v[:, 1]) / 3.0, 0, 1) * (v[:, 2] > -2)
    jaw[len(head_v):] = 0
    expr[1, :, 1] = -2.9 * jaw
    for k, (up, low) in ((2, ((43, 47), (44, 46))), (3, ((37, 41), (38, 40)))):
        for a, b in (up, low):
            expr[k, ibug[a]] = v[ibug[b]] - v[ibug[a]]
    arrays = {
        "neutral": v, "identity": ident.astype(np.float16), "expression": expr.astype(np.float16),
        "expression_names": np.array(names), "faces": faces, "face_material": mat,
        "material_names": np.array(MATERIALS), "part_names": np.array(PARTS),
        "part_vertex_range": np.array([ranges[p] for p in PARTS], np.int32), "ibug68_vertex": ibug,
    }
    for k in drop:
        arrays.pop(k)
    np.savez_compressed(folder / "blendshapes.npz", **arrays)  # type: ignore[arg-type]
    return folder
