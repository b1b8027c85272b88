"""Parity: the exported step graph, run by ONNX Runtime frame by frame with the state
carried, must give what the PyTorch model gives.

One frame agreeing proves little for a recurrent model: a state input wired to the wrong
layer, a state output taken before the activation, or an LSTM's (h, c) halves swapped all
pass a single zero-state frame and drift apart later. So the check runs a clip (300
frames, 10 s at 30 fps) through both, each carrying its own state, and compares every
frame's outputs. The PyTorch side is the unfolded model in eval mode, so the check also
covers batch-norm folding and constant folding.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from export.names import IMAGE_INPUT, state_input, state_output
from model.config import ModelConfig
from model.network import HeadPoseNet

# The acceptance figure: max |pose difference| over the clip <= 1e-3 degrees.
# float32 rounding differences between PyTorch and ONNX Runtime kernels are 1e-6 to 5e-6
# degrees for the edge fc/gru/lstm networks over 300 frames with poses in tens of degrees
# (measured, tests/export/test_parity.py), so this leaves room for summation-order noise
# and still catches any wiring error (those show up as >= 1e-2).
POSE_TOLERANCE_DEG = 1e-3
# Landmarks are crop-normalised ([0, 1]); 1e-4 of a 224 px crop is 0.02 px, invisible,
# and the same 1e-3-degree-sized margin over float32 noise.
LANDMARK_TOLERANCE = 1e-4
TOLERANCES = {"pose": POSE_TOLERANCE_DEG, "landmarks": LANDMARK_TOLERANCE}
# 300 frames = 10 s at 30 fps: longer than any alert window's onset (3 s), long enough
# for a recurrent state error to accumulate, ~1 s of CPU for the edge model.
PARITY_FRAMES = 300
PARITY_SEED = 0
# One thread for both runtimes: results do not depend on the machine's core count (no
# split reductions), and the step times reported are single-core figures (ONNX Runtime
# with 2 threads: ~0.6x of it on this machine).
PARITY_THREADS = 1


def placeholder_clip(frames: int, size: tuple[int, int], seed: int) -> np.ndarray:
    """A bright ellipse drifting left and right over noise: frames [T, 1, H, W] in [0, 1].
    Exercises the step graph and the carried state without needing a dataset."""
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    clip = np.empty((frames, 1, h, w), np.float32)
    for t in range(frames):
        cx = w / 2 + 0.2 * w * np.sin(2 * np.pi * t / frames)
        face = (((xx - cx) / (0.3 * w)) ** 2 + ((yy - h / 2) / (0.4 * h)) ** 2) < 1.0
        clip[t, 0] = 0.2 + 0.6 * face + 0.05 * rng.standard_normal((h, w)).astype(np.float32)
    return np.clip(clip, 0.0, 1.0)


@dataclass
class ParityReport:
    frames: int
    max_abs_diff: dict[str, float]                 # per output, over every frame
    max_state_diff: float                          # over every frame, every state tensor
    tolerances: dict[str, float]
    torch_step_ms: float = 0.0                     # median per frame (informative)
    ort_step_ms: float = 0.0
    worst_frame: dict[str, int] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(self.max_abs_diff[k] <= self.tolerances[k] for k in self.max_abs_diff)

    def summary(self) -> str:
        parts = []
        for k, diff in self.max_abs_diff.items():
            unit = " deg" if k == "pose" else ""
            verdict = "ok" if diff <= self.tolerances[k] else f"FAILED at frame {self.worst_frame.get(k, -1)}"
            parts.append(f"max |{k} diff| {diff:.2e}{unit} (tolerance {self.tolerances[k]:g}{unit}, {verdict})")
        return (f"parity PyTorch vs ONNX Runtime over {self.frames} frames with the state carried: "
                + "; ".join(parts) + f"; max |state diff| {self.max_state_diff:.2e}; "
                f"step p50 on CPU ({PARITY_THREADS} thread): torch {self.torch_step_ms:.2f} ms, "
                f"onnxruntime {self.ort_step_ms:.2f} ms")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["passed"] = self.passed
        return d


def parity_clip(cfg: ModelConfig, frames: int = PARITY_FRAMES, seed: int = PARITY_SEED) -> np.ndarray:
    """A deterministic clip as network input [T, C, H, W] float32 (after preprocess).

    The moving blob of placeholder_clip; for RGB each channel is shifted by a few
    pixels so that a channel-order mistake changes the result.
    """
    gray = placeholder_clip(frames, cfg.input_size, seed)[:, 0]
    channels = [np.roll(gray, 3 * c, axis=-1) for c in range(cfg.in_channels)]
    pixels = np.stack(channels, axis=1) * 255.0
    return np.asarray(cfg.normalise(pixels), dtype=np.float32)


@contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_torch(model: HeadPoseNet, clip: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray, list[float]]:
    """Outputs [T, n] per name, states [T, sum of widths] and per-step seconds."""
    net = copy.deepcopy(model).to(device="cpu", dtype=torch.float32).eval()
    state = net.init_state(1)
    outs: dict[str, list[np.ndarray]] = {k: [] for k in net.config.outputs}
    states, times = [], []
    # One thread, like ONNX Runtime here: 300 tiny multi-threaded steps on a busy 2-core
    # machine stall on thread barriers (seen: 34 s instead of 2 s while other jobs ran).
    with torch.no_grad(), _torch_threads(PARITY_THREADS):
        for frame in torch.from_numpy(clip):
            start = time.perf_counter()
            out, state = net.step(frame[None], state)
            times.append(time.perf_counter() - start)
            for k in outs:
                outs[k].append(out[k][0].numpy())
            states.append(np.concatenate([s[0].numpy() for s in state]) if state else np.zeros(0, np.float32))
    return {k: np.stack(v) for k, v in outs.items()}, np.stack(states), times


def run_onnx(onnx_model: bytes | str | Path | onnx.ModelProto, clip: np.ndarray,
             output_names: list[str]) -> tuple[dict[str, np.ndarray], np.ndarray, list[float]]:
    """The step graph in ONNX Runtime (CPU), frame by frame, its state fed back by name."""
    import onnxruntime as ort

    if isinstance(onnx_model, onnx.ModelProto):
        onnx_model = onnx_model.SerializeToString()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = PARITY_THREADS
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(onnx_model if isinstance(onnx_model, bytes) else str(onnx_model), opts,
                                providers=["CPUExecutionProvider"])
    inputs = {i.name: i for i in sess.get_inputs()}
    n_states = sum(1 for name in inputs if name != IMAGE_INPUT)
    feeds: dict[str, np.ndarray] = {
        state_input(i): np.zeros([int(d) for d in inputs[state_input(i)].shape], np.float32)
        for i in range(n_states)}
    fetch = [*output_names, *(state_output(i) for i in range(n_states))]
    outs: dict[str, list[np.ndarray]] = {k: [] for k in output_names}
    states, times = [], []
    for frame in clip:
        feeds[IMAGE_INPUT] = frame[None]
        start = time.perf_counter()
        result = sess.run(fetch, feeds)
        times.append(time.perf_counter() - start)
        for k, v in zip(output_names, result):
            outs[k].append(v[0])
        new_states = result[len(output_names):]
        for i, s in enumerate(new_states):
            feeds[state_input(i)] = s
        states.append(np.concatenate([s[0] for s in new_states]) if new_states else np.zeros(0, np.float32))
    return {k: np.stack(v) for k, v in outs.items()}, np.stack(states), times


def check_parity(model: HeadPoseNet, onnx_model: bytes | str | Path | onnx.ModelProto,
                 frames: int = PARITY_FRAMES, seed: int = PARITY_SEED,
                 clip: np.ndarray | None = None) -> ParityReport:
    """Compare `model` (PyTorch, eval) with the step graph over a clip; never raises on a
    mismatch, the report says (``passed``, ``summary()``)."""
    if clip is None:
        clip = parity_clip(model.config, frames, seed)
    names = list(model.config.outputs)
    ref, ref_states, t_times = run_torch(model, clip)
    got, got_states, o_times = run_onnx(onnx_model, clip, names)
    diffs, worst = {}, {}
    for k in names:
        per_frame = np.abs(ref[k].astype(np.float64) - got[k]).max(axis=1)
        diffs[k] = float(per_frame.max())
        worst[k] = int(per_frame.argmax())
    state_diff = float(np.abs(ref_states - got_states).max()) if ref_states.size else 0.0
    return ParityReport(
        frames=len(clip), max_abs_diff=diffs, max_state_diff=state_diff,
        tolerances={k: TOLERANCES[k] for k in names},
        torch_step_ms=float(np.median(t_times) * 1e3), ort_step_ms=float(np.median(o_times) * 1e3),
        worst_frame=worst)
