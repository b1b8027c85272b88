"""The head detector's manifest: the JSON contract beside its ONNX graph.

The pose model's manifest (dms.manifest) describes a recurrent step graph with angles and
states; the detector has neither, so it gets its own small schema rather than stretching
that one. What it shares with it: the sha256 of every file (dms.manifest.sha256_file), so a
corrupt or swapped detector is refused at start-up with the file's name, and errors that
name the field (jsonschema), raised as dms.manifest.ManifestError.

The runtime reads it without torch: preprocessing (size, resize method, mean/scale), the
tensors, what the outputs mean, and the presence threshold chosen at training time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from dms.manifest import MANIFEST_NAME, ManifestError, read_manifest_json, sha256_file
from dms.manifest import verify_files as check_files

FORMAT = "dms-detector-manifest"
FORMAT_VERSION = 1
# The box output's layout: (cx, cy) as shares of the frame's width and height (pixel i's
# centre at (i + 0.5) / W), side of the square head box as a share of the frame height.
BOX_FORMAT = "cx_cy_side"
# The head box is the synthetic set's head_box: centred on the head's centre, its side
# twice the head radius (0.12 m, synth.video.CropSpec.head_radius_m) -- chin to crown.
BOX_DEFINITION = "synth head_box: square around the head centre, side = 2 x 0.12 m head radius"

_TENSOR = {
    "type": "object",
    "required": ["name", "shape", "dtype"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "shape": {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 1}},
        "dtype": {"const": "float32"},
        "description": {"type": "string"},
    },
    "additionalProperties": False,
}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["format", "format_version", "model", "preprocess", "inputs", "outputs", "box",
                 "presence_threshold", "files"],
    "additionalProperties": False,
    "properties": {
        "format": {"const": FORMAT},
        "format_version": {"const": FORMAT_VERSION},
        "model": {"type": "object", "required": ["name", "onnx"],
                  "properties": {"name": {"type": "string"}, "onnx": {"type": "string", "minLength": 1},
                                 "config": {"type": "object"}}},
        "preprocess": {
            "type": "object",
            "required": ["height", "width", "channels", "color", "resize", "mean", "scale", "layout"],
            "additionalProperties": False,
            "properties": {
                "height": {"type": "integer", "minimum": 1},
                "width": {"type": "integer", "minimum": 1},
                "channels": {"const": 1},
                "color": {"const": "gray"},
                "resize": {"const": "cv2.INTER_AREA"},
                # pixel' = (pixel / 255 - mean) * scale
                "mean": {"type": "number"},
                "scale": {"type": "number", "exclusiveMinimum": 0},
                "layout": {"const": "NCHW"},
            },
        },
        "inputs": {"type": "array", "minItems": 1, "maxItems": 1, "items": _TENSOR},
        "outputs": {"type": "array", "minItems": 2, "maxItems": 2, "items": _TENSOR},
        "box": {"type": "object", "required": ["output", "format", "definition"],
                "properties": {"output": {"type": "string"}, "format": {"const": BOX_FORMAT},
                               "definition": {"type": "string"}}},
        "presence_threshold": {"type": "number", "minimum": 0, "maximum": 1},
        "files": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {
                "type": "object",
                "required": ["sha256", "bytes"],
                "properties": {"sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                               "bytes": {"type": "integer", "minimum": 0},
                               "role": {"type": "string"}},
            },
        },
        "training": {"type": "object"},
        "extra": {"type": "object"},
    },
}


@dataclass
class DetectorManifest:
    """In-memory detector manifest; ``to_dict`` / ``from_dict`` round-trip through the schema."""

    onnx: str
    height: int
    width: int
    mean: float
    scale: float
    input_name: str = "image"
    box_output: str = "box"
    presence_output: str = "presence"
    presence_threshold: float = 0.5
    name: str = "head-detector"
    config: dict[str, Any] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model": {"name": self.name, "onnx": self.onnx, "config": self.config},
            "preprocess": {"height": self.height, "width": self.width, "channels": 1, "color": "gray",
                           "resize": "cv2.INTER_AREA", "mean": self.mean, "scale": self.scale, "layout": "NCHW"},
            "inputs": [{"name": self.input_name, "shape": [1, 1, self.height, self.width], "dtype": "float32",
                        "description": "the whole frame, gray, resized to width x height with cv2.INTER_AREA"}],
            "outputs": [
                {"name": self.box_output, "shape": [1, 3], "dtype": "float32",
                 "description": "cx, cy as shares of frame width / height; side as a share of frame height"},
                {"name": self.presence_output, "shape": [1, 1], "dtype": "float32",
                 "description": "head presence logit; sigmoid gives the score in [0, 1]"},
            ],
            "box": {"output": self.box_output, "format": BOX_FORMAT, "definition": BOX_DEFINITION},
            "presence_threshold": self.presence_threshold,
            "files": self.files,
        }
        if self.training:
            d["training"] = self.training
        if self.extra:
            d["extra"] = self.extra
        return d

    @classmethod
    def from_dict(cls, data: Any, source: str = MANIFEST_NAME) -> DetectorManifest:
        validate(data, source)
        pre = data["preprocess"]
        outputs = [o["name"] for o in data["outputs"]]
        box = data["box"]["output"]
        if box not in outputs:
            raise ManifestError(f"{source}: field 'box.output': no output named '{box}' (outputs: {outputs})")
        if data["model"]["onnx"] not in data["files"]:
            raise ManifestError(f"{source}: field 'model.onnx': '{data['model']['onnx']}' is not listed in 'files'")
        return cls(onnx=data["model"]["onnx"], height=pre["height"], width=pre["width"], mean=float(pre["mean"]),
                   scale=float(pre["scale"]), input_name=data["inputs"][0]["name"], box_output=box,
                   presence_output=next(o for o in outputs if o != box),
                   presence_threshold=float(data["presence_threshold"]), name=data["model"]["name"],
                   config=data["model"].get("config", {}), files=data["files"],
                   training=data.get("training", {}), extra=data.get("extra", {}))

    def add_file(self, model_dir: Path, relpath: str, role: str = "") -> None:
        path = Path(model_dir) / relpath
        entry: dict[str, Any] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
        if role:
            entry["role"] = role
        self.files[relpath] = entry

    def save(self, model_dir: Path) -> Path:
        path = Path(model_dir) / MANIFEST_NAME
        data = self.to_dict()
        validate(data, str(path))
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(path)   # atomic: a reader never sees half a manifest
        return path


def validate(data: Any, source: str = MANIFEST_NAME) -> None:
    """Raise ManifestError naming the source and the first bad field, if any."""
    errors = sorted(jsonschema.Draft202012Validator(SCHEMA).iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path).lstrip(".")
        raise ManifestError(f"{source}: field '{where or '(top level)'}': {err.message}")


def load_detector_manifest(model_dir: Path | str, verify_files: bool = True) -> DetectorManifest:
    """Read and validate MODEL_DIR/manifest.json; check every file's sha256 unless told not to."""
    model_dir = Path(model_dir)
    path, data = read_manifest_json(model_dir, "detector manifest", "a head-detector folder")
    manifest = DetectorManifest.from_dict(data, str(path))
    if verify_files:
        check_files(manifest.files, model_dir)
    return manifest
