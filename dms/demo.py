"""`dms demo`: the README's main command.

Today it exercises the foundation end to end on CPU: build the edge network, convert its
FC layers to the FC-RNN (eq. 5), run it frame by frame over a short clip carrying the
hidden state, and check that the frame-by-frame loop equals the whole-clip forward.
The weights are freshly initialised (no trained model ships yet), so the angles it
prints are not estimates of anything; the runtime and training issues turn this into
the full pipeline with the shipped model.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

HELP = "run the pipeline demo on CPU (for now: build the edge FC-RNN and step it over a short clip)"


def placeholder_clip(frames: int, size: tuple[int, int], seed: int) -> np.ndarray:
    """A bright ellipse drifting left and right over noise: frames [T, 1, H, W] in [0, 1].
    Stands in for synthetic driver crops until the synth room exists."""
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    clip = np.empty((frames, 1, h, w), np.float32)
    for t in range(frames):
        cx = w / 2 + 0.2 * w * np.sin(2 * np.pi * t / frames)
        face = (((xx - cx) / (0.3 * w)) ** 2 + ((yy - h / 2) / (0.4 * h)) ** 2) < 1.0
        clip[t, 0] = 0.2 + 0.6 * face + 0.05 * rng.standard_normal((h, w)).astype(np.float32)
    return np.clip(clip, 0.0, 1.0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frames", type=int, default=30, help="clip length (default 30 = 1 s at 30 fps)")
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    import torch

    from model.complexity import measure
    from model.config import ModelConfig
    from model.network import build_model, convert_to_recurrent

    torch.manual_seed(args.seed)
    cfg = ModelConfig()
    per_frame = build_model(cfg).eval()
    rnn = convert_to_recurrent(per_frame, "fc").eval()
    cx = measure(rnn.config)
    print(f"model: {cfg.backbone} backbone, input {cx.input}, FC-RNN {list(cfg.fc_sizes)}, "
          f"{cx.params:,} parameters, {cx.mflops:.1f} MFLOPs per frame")
    print("weights: freshly initialised (no trained model ships yet): the angles below are not estimates")

    clip = torch.from_numpy(placeholder_clip(args.frames, cfg.input_size, args.seed))
    state = rnn.init_state(1)
    poses, times = [], []
    with torch.no_grad():
        for t in range(args.frames):
            start = time.perf_counter()
            out, state = rnn.step(clip[t : t + 1], state)
            times.append(time.perf_counter() - start)
            poses.append(out["pose"][0])
        whole, _ = rnn.forward_sequence(clip[None])
        frame_only, _ = per_frame.forward_sequence(clip[None])
    stepped = torch.stack(poses)
    for t in range(0, args.frames, max(1, args.frames // 6)):
        p, y, r = stepped[t].tolist()
        print(f"frame {t:3d}: pitch {p:+9.5f}  yaw {y:+9.5f}  roll {r:+9.5f}")
    step_vs_clip = (stepped - whole["pose"][0]).abs().max().item()
    rnn_vs_cnn = (whole["pose"] - frame_only["pose"]).abs().max().item()
    print(f"step-by-step vs whole clip: max |diff| = {step_vs_clip:.2e}")
    print(f"converted FC-RNN (W_hh = 0) vs per-frame CNN: max |diff| = {rnn_vs_cnn:.2e}")
    ms = np.array(times[1:]) * 1e3
    print(f"torch step latency (CPU, {torch.get_num_threads()} threads): p50 {np.percentile(ms, 50):.2f} ms, "
          f"p95 {np.percentile(ms, 95):.2f} ms")
    ok = step_vs_clip < 1e-4 and rnn_vs_cnn < 1e-4
    print("demo: OK" if ok else "demo: FAILED (step and clip outputs disagree)")
    return 0 if ok else 1
