"""TensorRT calibration tables (the legacy implicit-INT8 path of JetPack 5 and 6).

On TensorRT 8.5 (JetPack 5.1) and 10.3 (JetPack 6.1/6.2) an engine can still be built the
old way: parse the FP32 ONNX, set the INT8 flag and hand the builder a calibrator whose
``read_calibration_cache`` returns this file (or ``trtexec --int8 --calib=FILE``); with a
valid table TensorRT skips calibration entirely. The file is what TensorRT's own
calibrators write:

    TRT-<version>-EntropyCalibration2
    <tensor name>: <scale as the big-endian hex of its float32 bits>
    ...

* ``<version>`` is the NV_TENSORRT_VERSION integer of the release that reads it:
  major * 1000 + minor * 100 + patch on 8.x (NvInferRuntimeCommon.h,
  kNV_TENSORRT_VERSION_IMPL; 8.5.2 -> 8502) and major * 10000 + minor * 100 + patch from
  10.0 (NvInferRuntimeBase.h, NV_TENSORRT_VERSION_INT; 10.3.0 -> 100300). TensorRT skips
  a table it finds incompatible (NVIDIA/TensorRT#1378), so one table per target version
  is written. JetPack 5.1.x ships TensorRT 8.5.2, JetPack 6.1/6.2 TensorRT 10.3.0.
* the scale is amax / 127 (symmetric int8; e.g. an input in [-1, 1] gives 1/127 =
  0x3c010204), written as ``struct.pack('>f', scale).hex()``, as in the caches quoted in
  NVIDIA/TensorRT#2036 ("TRT-8203-EntropyCalibration2", "168: 3e5d05cc").
* tensor names are the FP32 ONNX graph's value names: TensorRT's ONNX parser names each
  network tensor after the ONNX value it comes from. Tensors TensorRT creates itself (a
  Gemm split into MatMul + bias) have no entry and run in higher precision, with a warning.
* the model's outputs (pose, landmarks; not the states) get no entry on purpose: TensorRT
  then keeps the head layers that produce them out of INT8 ("missing scale ... fall back
  to non-int8"), as the Q/DQ graph does (calibration.quantize: an int8 pose has 0.7-degree
  steps). The recurrent states keep theirs: they feed the next layer and the next frame.

"EntropyCalibration2" names the algorithm TensorRT would have used; the scales here come
from whichever method calibration ran (recorded in the manifest): TensorRT reads them
as given.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import onnx

ALGORITHM = "EntropyCalibration2"
INT8_MAX = 127.0


@dataclass(frozen=True)
class TrtRelease:
    """A TensorRT release whose legacy INT8 path reads a table, and where it runs."""

    version: str
    platform: str

    @property
    def code(self) -> int:
        return version_code(self.version)

    @property
    def file_name(self) -> str:
        return f"calibration_trt{self.version}.cache"


# The JetPacks whose TensorRT still has the implicit-INT8 path (SPEC.md: removed in 11).
TABLE_TARGETS: tuple[TrtRelease, ...] = (
    TrtRelease("8.5.2", "JetPack 5.1.x"),
    TrtRelease("10.3.0", "JetPack 6.1/6.2"),
)


class TableError(ValueError):
    """A calibration table that does not parse; the message names the line."""


def version_code(version: str) -> int:
    """'8.5.2' -> 8502, '10.3.0' -> 100300 (NV_TENSORRT_VERSION of that release)."""
    try:
        major, minor, patch = (int(p) for p in (version.split(".") + ["0", "0"])[:3])
    except ValueError:
        raise TableError(f"TensorRT version must look like 8.5.2, got {version!r}") from None
    return major * 1000 + minor * 100 + patch if major < 10 else major * 10000 + minor * 100 + patch


def scale_hex(scale: float) -> str:
    """The float32 bits of `scale`, big-endian hex (8 digits), as TensorRT writes them."""
    return struct.pack(">f", scale).hex()


def hex_scale(text: str) -> float:
    value: float = struct.unpack(">f", bytes.fromhex(text))[0]
    return value


def tensor_order(model: onnx.ModelProto) -> list[str]:
    """Graph inputs, then node outputs in node order: the order TensorRT's own tables follow."""
    names = [i.name for i in model.graph.input]
    for node in model.graph.node:
        names += [o for o in node.output if o]
    return names


def table_text(amax: Mapping[str, float], order: list[str], code: int) -> tuple[str, list[str]]:
    """(the table, names left out). Tensors without a calibrated range, or whose range is
    0 (never non-zero on the calibration frames) are left out: TensorRT then keeps them in
    higher precision instead of quantising everything to zero."""
    lines = [f"TRT-{code}-{ALGORITHM}"]
    skipped = []
    seen = set()
    for name in [*order, *sorted(set(amax) - set(order))]:
        if name in seen or name not in amax:
            continue
        seen.add(name)
        a = float(amax[name])
        if not math.isfinite(a) or a <= 0.0:
            skipped.append(name)
            continue
        lines.append(f"{name}: {scale_hex(a / INT8_MAX)}")
    return "\n".join(lines) + "\n", skipped


@dataclass
class ParsedTable:
    version_code: int
    algorithm: str
    scales: dict[str, float]


def parse_table(text: str, source: str = "calibration table") -> ParsedTable:
    """Read a table back (tests, deploy); raises TableError naming the line."""
    lines = text.splitlines()
    if not lines:
        raise TableError(f"{source}: empty")
    head = lines[0].strip().split("-")
    if len(head) != 3 or head[0] != "TRT" or not head[1].isdigit():
        raise TableError(f"{source}: line 1: expected 'TRT-<version>-<algorithm>', got {lines[0]!r}")
    scales: dict[str, float] = {}
    for i, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        name, sep, value = line.rpartition(": ")
        if not sep or not name or len(value.strip()) != 8:
            raise TableError(f"{source}: line {i}: expected '<tensor>: <8 hex digits>', got {line!r}")
        try:
            scales[name] = hex_scale(value.strip())
        except ValueError:
            raise TableError(f"{source}: line {i}: {value.strip()!r} is not hex") from None
    return ParsedTable(int(head[1]), head[2], scales)


def write_tables(out_dir: Path, amax: Mapping[str, float], fp32: onnx.ModelProto,
                 targets: tuple[TrtRelease, ...] = TABLE_TARGETS,
                 float_outputs: frozenset[str] = frozenset()) -> tuple[dict[str, str], list[str]]:
    """One table per target release in out_dir: ({version: file name}, names left out).
    `float_outputs` (the non-state graph outputs) get no scale (see the module docstring)."""
    order = tensor_order(fp32)
    kept = {k: v for k, v in amax.items() if k not in float_outputs}
    files: dict[str, str] = {}
    skipped: list[str] = []
    for target in targets:
        text, skipped = table_text(kept, order, target.code)
        (Path(out_dir) / target.file_name).write_text(text)
        files[target.version] = target.file_name
    return files, skipped
