"""The model manifest: the JSON contract beside every exported model.

Export writes it, calibration and deploy add files to it, and the runtime builds its
backend from it without ever importing torch. It records what the graph expects
(preprocessing), what it returns, which inputs and outputs form the recurrent state,
the angle convention, and the sha256 of every file so that a corrupt or swapped model
is refused at start-up with the file's name.

Validation is done with a JSON schema (jsonschema) so that an error names the exact
field, e.g. ``manifest.json: field 'states[0].shape': [1, 0] ...``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from dms.angles import ANGLE_ORDER, CONVENTION

MANIFEST_NAME = "manifest.json"
FORMAT = "dms-model-manifest"
FORMAT_VERSION = 1


class ManifestError(ValueError):
    """A manifest that is missing, malformed or does not match its files."""


_DTYPES = ["float32", "float16", "int8", "int32", "int64", "uint8"]
_TENSOR = {
    "type": "object",
    "required": ["name", "shape", "dtype"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        # Static shapes only: TensorRT engines for the car are built for batch 1.
        "shape": {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 1}},
        "dtype": {"enum": _DTYPES},
        "description": {"type": "string"},
    },
    "additionalProperties": False,
}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["format", "format_version", "model", "preprocess", "inputs", "outputs",
                 "states", "angles", "files"],
    "additionalProperties": False,
    "properties": {
        "format": {"const": FORMAT},
        "format_version": {"const": FORMAT_VERSION},
        "model": {
            "type": "object",
            "required": ["name", "backbone", "head", "cell"],
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "backbone": {"type": "string"},
                "head": {"enum": ["pose", "landmarks", "joint"]},
                "cell": {"enum": ["none", "fc", "gru", "lstm"]},
                # what the pose output is relative to (dms.perspective); absent = camera
                "pose_frame": {"enum": ["ray", "camera"]},
                "config": {"type": "object"},
            },
        },
        "preprocess": {
            "type": "object",
            "required": ["height", "width", "channels", "color", "mean", "scale", "layout"],
            "additionalProperties": False,
            "properties": {
                "height": {"type": "integer", "minimum": 1},
                "width": {"type": "integer", "minimum": 1},
                "channels": {"enum": [1, 3]},
                "color": {"enum": ["gray", "rgb", "bgr"]},
                # pixel' = (pixel / 255 - mean) * scale, per channel
                "mean": {"type": "array", "items": {"type": "number"}, "minItems": 1},
                "scale": {"type": "array", "items": {"type": "number", "exclusiveMinimum": 0}, "minItems": 1},
                "layout": {"const": "NCHW"},
            },
        },
        "inputs": {"type": "array", "minItems": 1, "items": _TENSOR},
        "outputs": {"type": "array", "minItems": 1, "items": _TENSOR},
        "states": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["input", "output", "shape"],
                "additionalProperties": False,
                "properties": {
                    "input": {"type": "string"},
                    "output": {"type": "string"},
                    "shape": {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 1}},
                    "layer": {"type": "string"},
                },
            },
        },
        "angles": {
            "type": "object",
            "required": ["convention", "order", "units"],
            "properties": {
                "convention": {"const": CONVENTION},
                "order": {"const": list(ANGLE_ORDER)},
                "units": {"const": "degrees"},
            },
        },
        "files": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["sha256", "bytes"],
                "properties": {
                    "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                    "bytes": {"type": "integer", "minimum": 0},
                    "role": {"type": "string"},
                },
            },
        },
        "training": {"type": "object"},
        "extra": {"type": "object"},
    },
}


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _field_path(error: jsonschema.ValidationError) -> str:
    out = ""
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def validate_manifest(data: Any, source: str = MANIFEST_NAME) -> None:
    """Raise ManifestError naming the source and the first bad field, if any."""
    validator = jsonschema.Draft202012Validator(SCHEMA)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        raise ManifestError(f"{source}: field '{_field_path(err)}': {err.message}")
    _check_consistency(data, source)


def _check_consistency(data: dict[str, Any], source: str) -> None:
    """Cross-field rules a schema cannot express: states refer to real tensors."""
    inputs = {t["name"]: t for t in data["inputs"]}
    outputs = {t["name"]: t for t in data["outputs"]}
    for i, st in enumerate(data["states"]):
        for side, table in (("input", inputs), ("output", outputs)):
            name = st[side]
            if name not in table:
                raise ManifestError(
                    f"{source}: field 'states[{i}].{side}': no {side} tensor named '{name}'")
            if table[name]["shape"] != st["shape"]:
                raise ManifestError(
                    f"{source}: field 'states[{i}].shape': {st['shape']} differs from "
                    f"{side} '{name}' shape {table[name]['shape']}")
    pre = data["preprocess"]
    for key in ("mean", "scale"):
        if len(pre[key]) not in (1, pre["channels"]):
            raise ManifestError(
                f"{source}: field 'preprocess.{key}': needs 1 or {pre['channels']} values, "
                f"got {len(pre[key])}")


@dataclass
class TensorSpec:
    name: str
    shape: list[int]
    dtype: str = "float32"
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if not self.description:
            d.pop("description")
        return d


@dataclass
class ModelManifest:
    """In-memory manifest. ``to_dict`` / ``from_dict`` round-trip through the schema."""

    model: dict[str, Any]
    preprocess: dict[str, Any]
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    states: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model": self.model,
            "preprocess": self.preprocess,
            "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs],
            "states": self.states,
            "angles": {"convention": CONVENTION, "order": list(ANGLE_ORDER), "units": "degrees"},
            "files": self.files,
        }
        if self.training:
            d["training"] = self.training
        if self.extra:
            d["extra"] = self.extra
        return d

    @classmethod
    def from_dict(cls, data: Any, source: str = MANIFEST_NAME) -> ModelManifest:
        validate_manifest(data, source)
        return cls(
            model=data["model"],
            preprocess=data["preprocess"],
            inputs=[TensorSpec(**t) for t in data["inputs"]],
            outputs=[TensorSpec(**t) for t in data["outputs"]],
            states=data["states"],
            files=data["files"],
            training=data.get("training", {}),
            extra=data.get("extra", {}),
        )

    def add_file(self, model_dir: Path, relpath: str, role: str = "") -> None:
        """Record a file under model_dir with its sha256 and size."""
        path = Path(model_dir) / relpath
        entry: dict[str, Any] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
        if role:
            entry["role"] = role
        self.files[relpath] = entry

    def save(self, model_dir: Path) -> Path:
        data = self.to_dict()
        validate_manifest(data, str(Path(model_dir) / MANIFEST_NAME))
        path = Path(model_dir) / MANIFEST_NAME
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(path)  # atomic: a reader never sees half a manifest
        return path


def read_manifest_json(model_dir: Path, what: str = "model manifest", folder: str = "a model folder") -> tuple[Path, Any]:
    """MODEL_DIR/manifest.json parsed, or an error naming the file (and the line)."""
    path = model_dir / MANIFEST_NAME
    if not path.is_file():
        raise ManifestError(f"{path}: no {what} here (is '{model_dir}' {folder}?)")
    try:
        return path, json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}") from exc


def load_manifest(model_dir: Path | str, verify_files: bool = True) -> ModelManifest:
    """Read and validate MODEL_DIR/manifest.json; optionally check every file's sha256."""
    model_dir = Path(model_dir)
    path, data = read_manifest_json(model_dir)
    manifest = ModelManifest.from_dict(data, str(path))
    if verify_files:
        verify_manifest_files(manifest, model_dir)
    return manifest


def verify_manifest_files(manifest: ModelManifest, model_dir: Path) -> None:
    """Refuse a missing or altered file, naming it: a corrupt model must not start."""
    verify_files(manifest.files, model_dir)


def verify_files(files: dict[str, Any], model_dir: Path) -> None:
    """Each listed file (relative path -> {"sha256": ...}) exists and has its sha256; the
    model and the head-detector folders both list their files this way."""
    for rel, entry in files.items():
        path = Path(model_dir) / rel
        if not path.is_file():
            raise ManifestError(f"{path}: listed in the manifest but missing")
        actual = sha256_file(path)
        if actual != entry["sha256"]:
            raise ManifestError(
                f"{path}: sha256 {actual[:12]}... does not match the manifest's "
                f"{entry['sha256'][:12]}... (file corrupt or replaced; re-export or re-copy it)")
