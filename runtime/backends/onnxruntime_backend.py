"""The step graph on ONNX Runtime: the default backend everywhere (CPU here; the CUDA and
TensorRT execution providers when the installed build has them).

Session settings and why:
* ``intra_op_num_threads`` (default 1): a 1-MFLOP-scale graph per frame is latency bound,
  and extra threads cost more in synchronisation than they save; one thread also leaves
  the other cores to the camera and the detector, and makes results independent of the
  machine's core count. The bench measures other counts.
* sequential execution, one inter-op thread: the graph is a chain.
* graph optimisation level ALL: constant folding and conv+activation fusion at load.
* outputs are fetched by name from pre-built lists; the feed dict is built once and only
  its values change per frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from dms.manifest import ModelManifest
from runtime.backends.base import BackendError, States, StepIO, split_outputs

# Execution providers in order of preference, used when present in this build.
PREFERRED_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
DEFAULT_THREADS = 1


def pick_providers(requested: Sequence[str] | None, available: Sequence[str]) -> list[str]:
    """The requested providers (all must exist) or the preferred ones this build has."""
    if requested:
        missing = [p for p in requested if p not in available]
        if missing:
            raise BackendError(f"ONNX Runtime has no {missing[0]} in this build (available: {list(available)})")
        return list(requested)
    return [p for p in PREFERRED_PROVIDERS if p in available] or ["CPUExecutionProvider"]


class OnnxRuntimeBackend:
    name = "onnxruntime"

    def __init__(self, graph: Path, manifest: ModelManifest, precision: str = "fp32",
                 threads: int = DEFAULT_THREADS, providers: Sequence[str] | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise BackendError("onnxruntime is not installed (pip install '.[cpu]')") from exc
        self.io = StepIO.from_manifest(manifest)
        self.precision = precision
        self.threads = threads
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3            # errors only
        chosen = pick_providers(providers, ort.get_available_providers())
        try:
            self.session = ort.InferenceSession(str(graph), opts, providers=chosen)
        except Exception as exc:  # ORT raises its own exception types (InvalidProtobuf, Fail ...)
            raise BackendError(f"{graph}: ONNX Runtime cannot load it: {exc}") from exc
        self.providers = list(self.session.get_providers())
        self.device = f"ONNX Runtime {ort.__version__} {self.providers[0]}, {threads} thread(s)"
        graph_inputs = {i.name for i in self.session.get_inputs()}
        graph_outputs = {o.name for o in self.session.get_outputs()}
        need_in = {self.io.image, *(p.input for p in self.io.states)}
        need_out = {*self.io.outputs, *(p.output for p in self.io.states)}
        for side, need, have in (("input", need_in, graph_inputs), ("output", need_out, graph_outputs)):
            missing = sorted(need - have)
            if missing:
                raise BackendError(f"{graph}: has no {side} '{missing[0]}' that the manifest names "
                                   f"({side}s: {sorted(have)})")
        self._fetch = [*self.io.outputs, *(p.output for p in self.io.states)]
        self._feeds: dict[str, Any] = {self.io.image: None, **{p.input: None for p in self.io.states}}
        self._state_names = [p.input for p in self.io.states]

    def zero_states(self) -> States:
        return self.io.zero_states()

    def step(self, image: np.ndarray, states: States) -> tuple[dict[str, np.ndarray], States]:
        feeds = self._feeds
        feeds[self.io.image] = image
        for name, value in zip(self._state_names, states):
            feeds[name] = value
        return split_outputs(self.io, self.session.run(self._fetch, feeds))

    def close(self) -> None:
        self.__dict__.pop("session", None)
