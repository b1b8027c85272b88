"""Turning a clone of the ICT-FaceKit repository into the compact model file, once.

A user who clones github.com/USC-ICT/ICT-FaceKit has `FaceXModel/`: 158 `.obj` files of
2.5 MB each (the neutral mesh, 100 identity shapes, 53 + 4 expression shapes) and
`vertex_indices.json`. Reading 400 MB of text for every worker of every dataset job would
be slow, so the first use converts it to `blendshapes.npz` (neutral + float16 deltas,
polygons, materials, parts, landmarks: the same layout synth.ict_model reads) in the
user's cache, keyed by the clone's neutral mesh. Nothing of the model is ever written
inside the repository.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

# Vertex ranges [start, stop) of the model's 17 parts, from the toolkit README's table
# ("Vertex and polygon ranges"); they hold for its 26,719-vertex topology only.
PART_VERTEX_RANGES: dict[str, tuple[int, int]] = {
    "Face": (0, 9409), "Head and Neck": (9409, 11248), "Mouth socket": (11248, 13294),
    "Eye socket left": (13294, 13678), "Eye socket right": (13678, 14062), "Gums and tongue": (14062, 17039),
    "Teeth": (17039, 21451), "Eyeball left": (21451, 23021), "Eyeball right": (23021, 24591),
    "Lacrimal fluid left": (24591, 24795), "Lacrimal fluid right": (24795, 24999),
    "Eye blend left": (24999, 25023), "Eye blend right": (25023, 25047),
    "Eye occlusion left": (25047, 25199), "Eye occlusion right": (25199, 25351),
    "Eyelashes left": (25351, 26035), "Eyelashes right": (26035, 26719),
}
NEUTRAL_OBJ = "generic_neutral_mesh.obj"


def model_folder(src: Path) -> Path | None:
    """The FaceXModel folder of a clone (or the folder itself), None if src is not one."""
    for cand in (src / "FaceXModel", src):
        if (cand / NEUTRAL_OBJ).exists() and (cand / "vertex_indices.json").exists():
            return cand
    return None


def cache_path(folder: Path) -> Path:
    h = hashlib.sha256((folder / NEUTRAL_OBJ).read_bytes()).hexdigest()[:16]
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return root / "dms" / "head_models" / f"ict-{h}" / "blendshapes.npz"


def _vertices(path: Path) -> np.ndarray:
    with open(path) as f:
        rows = [line.split()[1:4] for line in f if line.startswith("v ")]
    if not rows:
        raise ValueError(f"{path}: no vertex ('v') lines")
    return np.asarray(rows, np.float64)


def _topology(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Polygons ([F, 4] 0-based vertex indices, -1 pads triangles) and their materials."""
    faces, mats, names = [], [], []
    current = -1
    with open(path) as f:
        for line in f:
            if line.startswith("usemtl "):
                name = line.split()[1]
                if name not in names:
                    names.append(name)
                current = names.index(name)
            elif line.startswith("f "):
                idx = [int(tok.split("/")[0]) - 1 for tok in line.split()[1:]]
                if len(idx) not in (3, 4):
                    raise ValueError(f"{path}: polygon with {len(idx)} corners (triangles and quads only)")
                faces.append(idx + [-1] * (4 - len(idx)))
                mats.append(max(current, 0))
    return np.asarray(faces, np.int32), np.asarray(mats, np.uint8), names or ["default"]


def convert(folder: Path, out: Path, progress: bool = True) -> Path:
    """FaceXModel folder -> blendshapes.npz at out. Deltas are float16 where that keeps
    every vertex within 1e-4 of the head height (float32 otherwise), as in the shared copy."""
    cfg = json.loads((folder / "vertex_indices.json").read_text())
    neutral = _vertices(folder / NEUTRAL_OBJ)
    faces, mats, mat_names = _topology(folder / NEUTRAL_OBJ)
    if len(neutral) != max(r[1] for r in PART_VERTEX_RANGES.values()):
        raise ValueError(f"{folder / NEUTRAL_OBJ}: {len(neutral)} vertices; the part table is for "
                         f"{max(r[1] for r in PART_VERTEX_RANGES.values())} (ICT-FaceKit's topology)")
    landmarks = np.asarray(cfg["idx_to_landmark_verts"], np.int32)
    head = neutral[:, 1].max() - neutral[landmarks[8], 1]
    identities = sorted(p.stem for p in folder.glob("identity[0-9][0-9][0-9].obj"))
    expressions = list(cfg["expressions"])
    names = identities + expressions
    shapes = {}
    for name in tqdm(names, desc="reading ICT-FaceKit shapes", unit="shape", disable=not progress):
        v = _vertices(folder / f"{name}.obj")
        if v.shape != neutral.shape:
            raise ValueError(f"{folder / (name + '.obj')}: {len(v)} vertices, the neutral mesh has {len(neutral)}")
        shapes[name] = v - neutral

    def stack(keys: list[str]) -> np.ndarray:
        d = np.stack([shapes[k] for k in keys])
        exact = np.abs(d.astype(np.float16).astype(np.float64) - d).max() < 1e-4 * head
        return d.astype(np.float16 if exact else np.float32)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez_compressed(
        tmp, neutral=neutral.astype(np.float32), identity=stack(identities), identity_names=np.array(identities),
        expression=stack(expressions), expression_names=np.array(expressions), faces=faces, face_material=mats,
        material_names=np.array(mat_names), part_names=np.array(list(PART_VERTEX_RANGES)),
        part_vertex_range=np.array(list(PART_VERTEX_RANGES.values()), np.int32), ibug68_vertex=landmarks,
        source=np.array(f"converted from {folder}"))
    tmp.replace(out)
    return out
