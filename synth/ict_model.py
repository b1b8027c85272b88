"""Reading a user's copy of the ICT-FaceKit face model (`dms synth --head-model PATH`).

The model (MIT, USC ICT) is a linear head: a neutral mesh of 26,719 vertices plus 100
identity modes (principal components of light-stage scans, each 1 sigma) and 53 ARKit
expression blendshapes. The project never ships it or anything made from it: it is read
at run time from the folder the user points at, like the dataset readers read a user's
300W-LP. The folder is the compact form described in its README: ``blendshapes.npz``
(neutral, deltas, polygons, materials, parts, the 68 iBUG landmark vertices).

Everything here stays in the model's own units and axes (centimetres; x to the subject's
left, y up, z out of the face); synth.mesh_head converts to the head frame H.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from dms.manifest import sha256_file
from synth.ict_convert import cache_path, convert, model_folder

MODEL_FILE = "blendshapes.npz"
REQUIRED_KEYS = ("neutral", "identity", "expression", "expression_names", "faces", "face_material",
                 "material_names", "part_names", "part_vertex_range", "ibug68_vertex")
# Expressions the renderer drives: the labels (mouth opening, eye closure) stay true only if
# these exist in the model.
REQUIRED_EXPRESSIONS = ("jawOpen", "eyeBlink_L", "eyeBlink_R")
# Polygons that are transparent overlays in the original shading (tear film, the soft
# shadow where lid meets eyeball): a plain rasteriser would draw them as opaque skins.
OVERLAY_MATERIALS = ("M_LacrimalFluid", "M_EyeBlend", "M_EyeOcclusion")


class HeadModelError(ValueError):
    """A head-model folder that cannot be used; the message names the file and field."""


@dataclass(frozen=True)
class ICTModel:
    """The arrays of one head model, as stored (cm, the model's axes)."""

    path: Path
    sha256: str
    neutral: np.ndarray            # [V, 3] float32
    identity: np.ndarray           # [I, V, 3] float16 deltas, 1 sigma each
    expression: np.ndarray         # [E, V, 3] float16 deltas, weight 1 = full shape
    expression_names: tuple[str, ...]
    triangles: np.ndarray          # [F, 3] int32: the drawn polygons, quads split in two
    triangle_material: np.ndarray  # [F] uint8: index into material_names
    material_names: tuple[str, ...]
    part_vertex_range: dict[str, tuple[int, int]]
    ibug68: np.ndarray             # [68] vertex index of each iBUG landmark

    @property
    def n_identity(self) -> int:
        return int(self.identity.shape[0])

    def expression_delta(self, name: str) -> np.ndarray:
        return self.expression[self.expression_names.index(name)].astype(np.float32)

    def part(self, name: str) -> tuple[int, int]:
        for key, rng in self.part_vertex_range.items():
            if key.lower() == name.lower():
                return rng
        raise HeadModelError(f"{self.path / MODEL_FILE}: part_names has no part '{name}' "
                             f"(has {sorted(self.part_vertex_range)})")

    def material_vertices(self, material: str) -> np.ndarray:
        """Vertex indices used by the drawn triangles of one material."""
        if material not in self.material_names:
            return np.zeros(0, np.int64)
        sel = self.triangle_material == self.material_names.index(material)
        return np.unique(self.triangles[sel])


def _triangulate(faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Quads (a, b, c, d) -> (a, b, c) + (a, c, d); triangles are padded with -1."""
    quads = faces[:, 3] >= 0
    first = faces[:, :3]
    second = faces[quads][:, [0, 2, 3]]
    tris = np.concatenate([first, second])
    owner = np.concatenate([np.arange(len(faces)), np.flatnonzero(quads)])
    return tris.astype(np.int32), owner


@lru_cache(maxsize=2)
def load_head_model(folder: str | Path) -> ICTModel:
    """Read and check a head-model folder. Every failure names the file and the field."""
    root = Path(folder).expanduser()
    path = root / MODEL_FILE if root.is_dir() else root
    clone = model_folder(root) if root.is_dir() and not path.exists() else None
    if clone is not None:
        # a clone of the toolkit's repository: converted once into the user's cache
        path = cache_path(clone)
        if not path.exists():
            print(f"converting the ICT-FaceKit model in {clone} to {path} (once)", file=sys.stderr)
            try:
                convert(clone, path)
            except (OSError, ValueError, KeyError) as e:
                raise HeadModelError(f"{clone}: cannot convert this ICT-FaceKit folder ({e})") from None
    if not path.exists():
        raise HeadModelError(f"{path}: no head model here (expected ICT-FaceKit's compact copy with {MODEL_FILE}, "
                             "or a clone of the ICT-FaceKit repository; see docs/synth.md, 'Scanned heads')")
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise HeadModelError(f"{path}: not a readable .npz file ({e})") from None
    with z:
        missing = [k for k in REQUIRED_KEYS if k not in z.files]
        if missing:
            raise HeadModelError(f"{path}: missing field(s) {missing}")
        a = {k: z[k] for k in REQUIRED_KEYS}
    neutral = a["neutral"].astype(np.float32)
    n_vert = len(neutral)
    if neutral.ndim != 2 or neutral.shape[1] != 3 or n_vert < 4:
        raise HeadModelError(f"{path}: field 'neutral' must be [V, 3], got {a['neutral'].shape}")
    for key in ("identity", "expression"):
        if a[key].ndim != 3 or a[key].shape[1:] != (n_vert, 3):
            raise HeadModelError(f"{path}: field '{key}' must be [N, {n_vert}, 3], got {a[key].shape}")
        if not np.isfinite(a[key]).all():
            raise HeadModelError(f"{path}: field '{key}' has non-finite values")
    names = tuple(str(s) for s in a["expression_names"])
    if len(names) != len(a["expression"]):
        raise HeadModelError(f"{path}: 'expression_names' has {len(names)} names for {len(a['expression'])} shapes")
    lacking = [e for e in REQUIRED_EXPRESSIONS if e not in names]
    if lacking:
        raise HeadModelError(f"{path}: field 'expression_names' lacks {lacking} (they drive mouth opening and blinks)")
    faces = a["faces"].astype(np.int64)
    if faces.ndim != 2 or faces.shape[1] not in (3, 4):
        raise HeadModelError(f"{path}: field 'faces' must be [F, 4] (quads, -1 pads triangles), got {faces.shape}")
    if faces.shape[1] == 3:
        faces = np.column_stack([faces, np.full(len(faces), -1)])
    if faces[:, :3].min() < 0 or faces.max() >= n_vert:
        raise HeadModelError(f"{path}: field 'faces' indexes vertices outside [0, {n_vert})")
    mat = a["face_material"].astype(np.int64)
    mat_names = tuple(str(s) for s in a["material_names"])
    if mat.shape != (len(faces),) or mat.min() < 0 or mat.max() >= len(mat_names):
        raise HeadModelError(f"{path}: field 'face_material' must give each of {len(faces)} polygons "
                             f"one of {len(mat_names)} materials")
    ibug = a["ibug68_vertex"].astype(np.int64)
    if ibug.shape != (68,) or ibug.min() < 0 or ibug.max() >= n_vert:
        raise HeadModelError(f"{path}: field 'ibug68_vertex' must be 68 vertex indices in [0, {n_vert})")
    parts = {str(n): (int(r[0]), int(r[1])) for n, r in zip(a["part_names"], a["part_vertex_range"])}
    tris, owner = _triangulate(faces)
    tri_mat = mat[owner]
    drop = np.isin(tri_mat, [mat_names.index(m) for m in OVERLAY_MATERIALS if m in mat_names])
    return ICTModel(path=root, sha256=sha256_file(path), neutral=neutral, identity=a["identity"],
                    expression=a["expression"], expression_names=names, triangles=tris[~drop],
                    triangle_material=tri_mat[~drop].astype(np.uint8), material_names=mat_names,
                    part_vertex_range=parts, ibug68=ibug.astype(np.int32))
