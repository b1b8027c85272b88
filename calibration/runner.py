"""The step graph in ONNX Runtime on CPU, its recurrent state carried by the manifest's names.

Calibration needs it twice: to collect real hidden states with the FP32 graph, and to
compare FP32, INT8 and FP16 over held-out sequences. The state pairs (input -> output)
come from the manifest, never from name patterns, so any model the manifest describes
works. CPU only: the calibration machine has no GPU, and ONNX Runtime's CPU kernels run
the Q/DQ and float16 graphs too (the numbers, not the speed, are what TensorRT will match).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dms.manifest import ModelManifest

# One thread unless asked: results then do not depend on the machine's core count (no
# split reductions), and the report's latency table states its thread count explicitly.
DEFAULT_THREADS = 1


@dataclass(frozen=True)
class StatePair:
    input: str
    output: str
    shape: tuple[int, ...]


@dataclass
class SequenceResult:
    """outputs: name -> [T, n]; states_in: per state pair, the state fed at each frame
    [T, *shape[1:]] (what calibration needs); final: the states after the last frame;
    step_s: wall time of each session.run."""

    outputs: dict[str, np.ndarray]
    states_in: list[np.ndarray] = field(default_factory=list)
    final: list[np.ndarray] = field(default_factory=list)
    step_s: list[float] = field(default_factory=list)


class StepSession:
    """One ONNX Runtime session over a step graph (FP32, INT8 Q/DQ or FP16 with float32 I/O)."""

    def __init__(self, model: bytes | str | Path, manifest: ModelManifest, threads: int = DEFAULT_THREADS) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3  # errors only: ORT's warnings about unused initializers are noise here
        src = model if isinstance(model, bytes) else str(model)
        self.session = ort.InferenceSession(src, opts, providers=["CPUExecutionProvider"])
        self.threads = threads
        self.states = [StatePair(s["input"], s["output"], tuple(int(d) for d in s["shape"])) for s in manifest.states]
        state_outputs = {s.output for s in self.states}
        self.output_names = [t.name for t in manifest.outputs if t.name not in state_outputs]
        state_inputs = {s.input for s in self.states}
        images = [t.name for t in manifest.inputs if t.name not in state_inputs]
        if len(images) != 1:
            raise ValueError(f"manifest: expected one non-state input (the image), got {images}")
        self.image_name = images[0]
        graph_inputs = {i.name for i in self.session.get_inputs()}
        missing = sorted(({self.image_name} | state_inputs) - graph_inputs)
        if missing:
            raise ValueError(f"{model if not isinstance(model, bytes) else 'graph'}: has no input '{missing[0]}' "
                             f"that the manifest names (inputs: {sorted(graph_inputs)})")
        self._fetch = [*self.output_names, *(s.output for s in self.states)]

    def zero_state(self) -> list[np.ndarray]:
        """The runtime's state at the first frame (and after a reset): zeros."""
        return [np.zeros(s.shape, np.float32) for s in self.states]

    def step(self, image: np.ndarray, states: list[np.ndarray]) -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
        """One frame: image [1, C, H, W] and the previous states -> (outputs, new states)."""
        feeds = {self.image_name: image, **{s.input: v for s, v in zip(self.states, states)}}
        result = self.session.run(self._fetch, feeds)
        n = len(self.output_names)
        return dict(zip(self.output_names, result[:n])), list(result[n:])

    def run_sequence(self, images: np.ndarray, states: list[np.ndarray] | None = None,
                     record_states: bool = False, timed: bool = False) -> SequenceResult:
        """Frames [T, C, H, W] in order, carrying the state (from zeros unless given)."""
        states = self.zero_state() if states is None else [np.asarray(s, np.float32) for s in states]
        outs: dict[str, list[np.ndarray]] = {k: [] for k in self.output_names}
        rec: list[list[np.ndarray]] = [[] for _ in self.states]
        times: list[float] = []
        for t in range(len(images)):
            if record_states:
                for i, s in enumerate(states):
                    rec[i].append(s[0])
            start = time.perf_counter() if timed else 0.0
            out, states = self.step(images[t:t + 1], states)
            if timed:
                times.append(time.perf_counter() - start)
            for k, v in out.items():
                outs[k].append(v[0])
        meta = {o.name: o for o in self.session.get_outputs()}
        width = {k: int(np.prod(meta[k].shape[1:])) for k in self.output_names}
        return SequenceResult(
            outputs={k: np.stack(v) if v else np.zeros((0, width[k]), np.float32) for k, v in outs.items()},
            states_in=[np.stack(r) if r else np.zeros((0, *s.shape[1:]), np.float32) for r, s in zip(rec, self.states)],
            final=states, step_s=times)
