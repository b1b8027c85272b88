"""The engine manifest: a JSON file beside every serialized TensorRT engine
(`step_int8.engine` -> `step_int8.engine.json`) saying what it was built for and from.

A TensorRT engine only deserializes on the TensorRT release that built it, and is tuned
for (and on another compute capability refused by) the GPU it was built on. Loading the
wrong one fails deep inside TensorRT with "Serialization assertion ... failed" or, across
GPU models of one family, runs with tactics timed for another chip. So the runtime calls
`check_engine_for_runtime` first: it compares the manifest with this device and refuses
with an error that says what the engine was built for, what this device is, and the
command that rebuilds it here.

The Orin modules (AGX Orin, Orin NX, Orin Nano) share the GPU name "Orin" and compute
capability 8.7, so format 2 also records the board model (/proc/device-tree/model), the
L4T release (first line of /etc/nv_tegra_release) and the GPU's SM count (deploy.device),
and all three must match: an engine on a cloned SD-card image from another module is
refused here and rebuilt by `dms build-engine --if-stale`. A format-1 manifest (written
before these were recorded) is accepted by the validator, but `--if-stale` rebuilds its
engine, and on a Jetson the runtime refuses it (its module cannot be confirmed).

The manifest also records the source ONNX's sha256, the build plan (flags, graph,
calibration table), the equivalent trtexec command and the build time, so that an engine
found on a device can be traced to the model folder and the options that made it.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol, Union, cast

import jsonschema

from deploy.device import DeviceInfo, describe, l4t_short, query_device
from deploy.trt_plan import PRECISIONS, Precision, TrtVersion
from dms.manifest import sha256_file

FORMAT = "dms-engine-manifest"
FORMAT_VERSION = 2          # 2: device.model, device.l4t_release, device.sm_count recorded
READABLE_FORMATS = (1, 2)
SUFFIX = ".json"


class EngineManifestError(ValueError):
    """An engine manifest that is missing, malformed or does not match its engine file."""


class EngineMismatchError(EngineManifestError):
    """An engine built for another device or TensorRT release: rebuild it here."""


_STR = {"type": "string", "minLength": 1}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["format", "format_version", "engine", "precision", "tensorrt_version", "device",
                 "source", "build", "built_at"],
    "additionalProperties": False,
    "properties": {
        "format": {"const": FORMAT},
        "format_version": {"enum": list(READABLE_FORMATS)},
        "engine": {
            "type": "object", "required": ["file", "sha256", "bytes"], "additionalProperties": False,
            "properties": {"file": _STR, "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                           "bytes": {"type": "integer", "minimum": 1}},
        },
        "precision": {"enum": list(PRECISIONS)},
        "dla_core": {"type": ["integer", "null"], "minimum": 0},
        "tensorrt_version": {"type": "string", "pattern": r"^\d+\.\d+(\.\d+){0,2}$"},
        "device": {
            "type": "object", "required": ["gpu_name", "compute_capability"],
            "properties": {"gpu_name": _STR, "compute_capability": {"type": "string", "pattern": r"^\d+\.\d+$"},
                           "cuda_version": {"type": ["string", "null"]},
                           "model": {"type": ["string", "null"]},
                           "l4t_release": {"type": ["string", "null"]},
                           "sm_count": {"type": ["integer", "null"], "minimum": 1}},
        },
        "source": {
            "type": "object", "required": ["model_dir", "onnx", "onnx_sha256"],
            "properties": {"model_dir": _STR, "model_name": {"type": "string"}, "onnx": _STR,
                           "onnx_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                           "calibration_table": {"type": ["string", "null"]},
                           "calibration_table_sha256": {"type": ["string", "null"]}},
        },
        "build": {"type": "object"},
        "built_at": {"type": "string", "format": "date-time"},
        "built_with": {"type": "object"},
    },
    # Format 2 records the device identity (null off a Jetson, never absent).
    "if": {"properties": {"format_version": {"const": 2}}, "required": ["format_version"]},
    "then": {"properties": {"device": {"required": ["model", "l4t_release", "sm_count"]}}},
}


def manifest_path(engine_path: Path) -> Path:
    """The manifest beside an engine: `step_int8.engine` -> `step_int8.engine.json`."""
    engine_path = Path(engine_path)
    return engine_path.with_name(engine_path.name + SUFFIX)


@dataclass
class EngineManifest:
    engine_file: str
    engine_sha256: str
    engine_bytes: int
    precision: Precision
    tensorrt_version: str
    gpu_name: str
    compute_capability: str
    model_dir: str
    onnx: str
    onnx_sha256: str
    cuda_version: str | None = None
    dla_core: int | None = None
    model_name: str = ""
    calibration_table: str | None = None
    calibration_table_sha256: str | None = None
    build: dict[str, Any] = field(default_factory=dict)   # plan, options, trtexec command
    built_at: str = ""                                    # ISO 8601, UTC
    built_with: dict[str, Any] = field(default_factory=dict)
    device_model: str | None = None     # /proc/device-tree/model of the building device
    l4t_release: str | None = None      # first line of its /etc/nv_tegra_release
    sm_count: int | None = None         # its GPU's multiprocessor count
    format_version: int = FORMAT_VERSION

    @property
    def identity_recorded(self) -> bool:
        """False for a format-1 manifest: it predates the board model / L4T / SM count record."""
        return self.format_version >= 2

    def to_dict(self) -> dict[str, Any]:
        device: dict[str, Any] = {"gpu_name": self.gpu_name, "compute_capability": self.compute_capability,
                                  "cuda_version": self.cuda_version}
        if self.identity_recorded:
            device.update(model=self.device_model, l4t_release=self.l4t_release, sm_count=self.sm_count)
        return {
            "format": FORMAT, "format_version": self.format_version,
            "engine": {"file": self.engine_file, "sha256": self.engine_sha256, "bytes": self.engine_bytes},
            "precision": self.precision, "dla_core": self.dla_core,
            "tensorrt_version": self.tensorrt_version,
            "device": device,
            "source": {"model_dir": self.model_dir, "model_name": self.model_name, "onnx": self.onnx,
                       "onnx_sha256": self.onnx_sha256, "calibration_table": self.calibration_table,
                       "calibration_table_sha256": self.calibration_table_sha256},
            "build": self.build, "built_at": self.built_at, "built_with": self.built_with,
        }

    @classmethod
    def from_dict(cls, data: Any, source: str) -> EngineManifest:
        validate(data, source)
        dev, src, eng = data["device"], data["source"], data["engine"]
        return cls(
            engine_file=eng["file"], engine_sha256=eng["sha256"], engine_bytes=eng["bytes"],
            precision=cast(Precision, data["precision"]), tensorrt_version=data["tensorrt_version"],
            gpu_name=dev["gpu_name"], compute_capability=dev["compute_capability"],
            cuda_version=dev.get("cuda_version"), dla_core=data.get("dla_core"),
            model_dir=src["model_dir"], model_name=src.get("model_name", ""), onnx=src["onnx"],
            onnx_sha256=src["onnx_sha256"], calibration_table=src.get("calibration_table"),
            calibration_table_sha256=src.get("calibration_table_sha256"),
            build=data["build"], built_at=data["built_at"], built_with=data.get("built_with", {}),
            device_model=dev.get("model"), l4t_release=dev.get("l4t_release"), sm_count=dev.get("sm_count"),
            format_version=int(data["format_version"]),
        )

    def built_for(self) -> str:
        return describe(self.tensorrt_version, self.gpu_name, self.compute_capability, self.sm_count,
                        self.device_model, self.l4t_release)

    def rebuild_command(self, engine_path: Path | None = None) -> str:
        """The `dms build-engine` command that rebuilds this engine with its options."""
        cmd = f"dms build-engine {self.model_dir} --precision {self.precision}"
        if self.dla_core is not None:
            cmd += f" --dla {self.dla_core}"
        options = self.build.get("options", {})
        if isinstance(options, dict):
            if options.get("workspace_mb"):
                cmd += f" --workspace {options['workspace_mb']}"
            if options.get("timing_cache"):
                cmd += f" --timing-cache {options['timing_cache']}"
        if engine_path is not None:
            cmd += f" --out {Path(engine_path).parent}"
        return cmd


def _field_path(error: jsonschema.ValidationError) -> str:
    out = ""
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def validate(data: Any, source: str) -> None:
    """EngineManifestError naming the file and the first bad field, if any."""
    validator = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        raise EngineManifestError(f"{source}: field '{_field_path(errors[0])}': {errors[0].message}")


def utc_now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def built_with() -> dict[str, Any]:
    from dms import __version__
    return {"dms": __version__, "python": platform.python_version(), "host": platform.node(),
            "machine": platform.machine()}


def save(manifest: EngineManifest, engine_path: Path) -> Path:
    data = manifest.to_dict()
    path = manifest_path(engine_path)
    validate(data, str(path))
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)  # atomic: a reader never sees half a manifest
    return path


def load(engine_path: Path) -> EngineManifest:
    """Read and validate the manifest beside `engine_path`."""
    path = manifest_path(engine_path)
    if not path.is_file():
        raise EngineManifestError(
            f"{path}: no engine manifest beside {Path(engine_path).name} (engines are written with their "
            "manifest by `dms build-engine`; rebuild it: dms build-engine MODEL_DIR --precision ...)")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise EngineManifestError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}") from exc
    return EngineManifest.from_dict(data, str(path))


def _known(value: object) -> str:
    return "not recorded" if value is None else f"'{value}'"


def mismatches(manifest: EngineManifest, device: DeviceInfo) -> list[str]:
    """What differs between the engine's build device and `device` (empty: compatible).
    TensorRT releases must match to major.minor.patch (the build number may differ); the
    GPU must have the same compute capability and name (same chip, same tuning); the board
    model, L4T release and SM count must match too (the Orin modules share the GPU name and
    compute capability). A value the manifest lacks (format 1) and the device has is a
    difference: the engine cannot be shown to be this module's."""
    out = []
    built = TrtVersion.parse(manifest.tensorrt_version)
    here = TrtVersion.parse(device.tensorrt_version)
    if built.release != here.release:
        out.append(f"TensorRT {built.release} vs {here.release}")
    if manifest.compute_capability != device.compute_capability:
        out.append(f"compute capability {manifest.compute_capability} vs {device.compute_capability}")
    if manifest.gpu_name.strip() != device.gpu_name.strip():
        out.append(f"GPU '{manifest.gpu_name}' vs '{device.gpu_name}'")
    if manifest.device_model != device.model:
        out.append(f"Jetson model {_known(manifest.device_model)} vs {_known(device.model)}")
    if manifest.l4t_release != device.l4t_release:
        a, b = l4t_short(manifest.l4t_release), l4t_short(device.l4t_release)
        if a == b:  # same release and revision, another build of it: show the lines
            a, b = str(manifest.l4t_release), str(device.l4t_release)
        out.append(f"L4T {a if manifest.l4t_release is not None else 'not recorded'} vs "
                   f"{b if device.l4t_release is not None else 'not recorded'}")
    if manifest.sm_count != device.sm_count:
        out.append(f"SM count {manifest.sm_count if manifest.sm_count is not None else 'not recorded'} vs "
                   f"{device.sm_count if device.sm_count is not None else 'not recorded'}")
    return out


class DeviceQuery(Protocol):
    """A callable that queries the device (query_device, or a test's lambda)."""

    def __call__(self) -> DeviceInfo: ...


# typing.Union, not `X | Y`: this alias is evaluated at import, and JetPack 5.1 runs Python 3.8.
DeviceSource = Union[DeviceInfo, DeviceQuery, None]


def resolve_device(device: DeviceSource) -> DeviceInfo:
    if device is None:
        return query_device()
    if isinstance(device, DeviceInfo):
        return device
    return device()


def check_engine_for_runtime(engine_path: Path, device: DeviceSource = None,
                             verify_sha256: bool = True) -> EngineManifest:
    """The runtime's gate before deserializing `engine_path`: its manifest must exist and
    be valid, the engine file must match the recorded sha256, and the engine must have
    been built for this device's TensorRT release, GPU (name, compute capability, SM count)
    and Jetson module (board model, L4T release). `device` defaults to querying TensorRT +
    pycuda/cuda-python and /proc/device-tree/model, /etc/nv_tegra_release (tests pass a
    DeviceInfo or a callable).

    Raises EngineManifestError (missing/malformed/corrupt) or EngineMismatchError (another
    device or TensorRT release), each saying how to rebuild the engine here."""
    engine_path = Path(engine_path)
    if not engine_path.is_file():
        raise EngineManifestError(f"{engine_path}: no such engine file (build one on this device: "
                                  "dms build-engine MODEL_DIR --precision ...)")
    manifest = load(engine_path)
    if manifest.engine_file != engine_path.name:
        raise EngineManifestError(f"{manifest_path(engine_path)}: field 'engine.file': describes "
                                  f"'{manifest.engine_file}', not '{engine_path.name}'")
    if verify_sha256:
        actual = sha256_file(engine_path)
        if actual != manifest.engine_sha256:
            raise EngineManifestError(
                f"{engine_path}: sha256 {actual[:12]}... does not match its manifest's "
                f"{manifest.engine_sha256[:12]}... (engine corrupt or replaced); rebuild it: "
                f"{manifest.rebuild_command(engine_path)}")
    here = resolve_device(device)
    diff = mismatches(manifest, here)
    if diff:
        old = ("; its manifest predates the Jetson model / L4T / SM count record (engine manifest format "
               f"{manifest.format_version})" if not manifest.identity_recorded else "")
        raise EngineMismatchError(
            f"{engine_path}: built for {manifest.built_for()}, but this device has {here.describe()} "
            f"({'; '.join(diff)}{old}). TensorRT engines only run on the release, GPU and Jetson module "
            f"that built them; rebuild it on this device: {manifest.rebuild_command(engine_path)}")
    return manifest
