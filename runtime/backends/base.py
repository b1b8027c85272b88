"""One interface over every inference backend, built from the model manifest.

A backend is anything with ``step(image, states) -> (outputs, states)`` (DESIGN.md): the
loop never knows whether ONNX Runtime on a CPU or TensorRT on a Jetson runs the graph.
``states`` is the list the backend returned for the previous frame, or
``zero_states()`` after a reset; a backend may keep the state on the device and only
check that it was handed back its own list (TensorRT does). Which graph file a precision
uses comes from the manifest's file roles, written by export and calibration.

Names and shapes of the graph's tensors come from the manifest only, never from name
patterns, so any model the manifest describes runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List, Protocol, Sequence

import numpy as np

from dms.manifest import MANIFEST_NAME, ModelManifest
from export.names import STEP_ROLE

PRECISIONS = ("fp32", "int8", "fp16")
# Manifest file roles of the ONNX graphs per precision (export.names.STEP_ROLE and
# calibration.pipeline's INT8_ROLE / FP16_ROLE; copied, not imported, because
# calibration.pipeline loads onnx; tests/runtime/test_backends.py checks they agree).
PRECISION_ROLES: dict[str, str] = {"fp32": STEP_ROLE, "int8": "int8 step graph", "fp16": "fp16 step graph"}

States = List[np.ndarray]          # typing.List: evaluated at import (Python 3.8 on JetPack 5.1)


class BackendError(RuntimeError):
    """A backend that cannot start: the message names the file or the missing library."""


class Backend(Protocol):
    name: str          # "onnxruntime" / "tensorrt"
    precision: str     # "fp32" / "int8" / "fp16"
    device: str        # what it runs on, in words (for reports)

    def zero_states(self) -> States: ...

    def step(self, image: np.ndarray, states: States) -> tuple[dict[str, np.ndarray], States]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class StatePair:
    input: str
    output: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class StepIO:
    """The step graph's tensors as the manifest names them."""

    image: str
    image_shape: tuple[int, ...]
    outputs: tuple[str, ...]                 # non-state outputs, manifest order
    output_shapes: tuple[tuple[int, ...], ...]
    states: tuple[StatePair, ...]

    @classmethod
    def from_manifest(cls, manifest: ModelManifest, source: str = MANIFEST_NAME) -> StepIO:
        pairs = tuple(StatePair(s["input"], s["output"], tuple(int(d) for d in s["shape"])) for s in manifest.states)
        state_in = {p.input for p in pairs}
        state_out = {p.output for p in pairs}
        images = [t for t in manifest.inputs if t.name not in state_in]
        if len(images) != 1:
            raise BackendError(f"{source}: field 'inputs': expected one non-state input (the image), "
                               f"got {[t.name for t in images]}")
        outs = [t for t in manifest.outputs if t.name not in state_out]
        return cls(images[0].name, tuple(images[0].shape), tuple(t.name for t in outs),
                   tuple(tuple(t.shape) for t in outs), pairs)

    def zero_states(self) -> States:
        return [np.zeros(p.shape, np.float32) for p in self.states]


def graph_for(manifest: ModelManifest, model_dir: Path, precision: str) -> Path:
    """The ONNX graph of ``precision`` listed in the manifest (by role)."""
    if precision not in PRECISIONS:
        raise BackendError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    role = PRECISION_ROLES[precision]
    for rel, entry in manifest.files.items():
        if entry.get("role") == role:
            return Path(model_dir) / rel
    have = sorted(f"{rel} ({e.get('role', '?')})" for rel, e in manifest.files.items())
    hint = " (run `dms calibrate` for int8/fp16)" if precision != "fp32" else ""
    raise BackendError(f"{Path(model_dir) / MANIFEST_NAME}: field 'files': no {precision} graph "
                       f"(role '{role}'){hint}; files: {', '.join(have) or 'none'}")


def split_outputs(io: StepIO, values: Sequence[np.ndarray]) -> tuple[dict[str, np.ndarray], States]:
    """Graph results in fetch order (outputs, then states) -> (outputs dict, states list)."""
    n = len(io.outputs)
    return dict(zip(io.outputs, values[:n])), list(values[n:])
