"""`dms evaluate`: the per-frame CNN, CNN + tuned Kalman filter and CNN + FC-RNN (and GRU if
trained) on held-out subjects, as the patent compares them.

Every method runs causally over whole test tracks from a zero state, as the runtime does.
The Kalman filter's noise parameters are tuned on the validation subjects' CNN estimates
(train.kalman.tune_kalman), never on the test subjects, so it is the best filter the data
supports rather than a straw man.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from dms.perspective import ray_to_camera_pose
from model.checkpoint import load_checkpoint
from model.network import HeadPoseNet
from train.data import SynthSplit, center_window
from train.kalman import kalman_smooth, tune_kalman
from train.metrics import MethodMetrics, evaluate_method
from train.report import METHOD_CNN, METHOD_FC_RNN, METHOD_GRU, METHOD_KALMAN, check_targets, write_report

CHUNK_FRAMES = 512   # frames per forward pass over a track (the state is carried between chunks)


def _track_images(split: SynthSplit, sl: slice, model: HeadPoseNet) -> np.ndarray:
    crops = split.crops[sl]
    win, _ = center_window(crops, split.landmarks[sl], model.config.input_size)
    x = model.config.normalise(win.astype(np.float32))
    return x[:, None] if x.ndim == 3 else np.moveaxis(x, -1, 1)


@torch.no_grad()
def predict_tracks(model: HeadPoseNet, split: SynthSplit, desc: str) -> dict[str, list[np.ndarray]]:
    """Run `model` over every track of `split`, frame after frame carrying the state (one
    chunk of frames per forward pass). Returns per-track arrays per output; the pose is
    always camera-relative (a ray-relative output is turned back with each crop's ray, as
    the runtime does)."""
    model.eval()
    out: dict[str, list[np.ndarray]] = {}
    for _, sl in tqdm(split.tracks(), desc=desc, unit="track"):
        images = _track_images(split, sl, model)
        state = model.init_state(1)
        parts: dict[str, list[np.ndarray]] = {}
        for i in range(0, len(images), CHUNK_FRAMES):
            x = torch.from_numpy(np.ascontiguousarray(images[i:i + CHUNK_FRAMES]))[None]
            res, state = model.forward_sequence(x, state)
            for k, tensor in res.items():
                parts.setdefault(k, []).append(tensor[0].numpy())
        for k, chunks in parts.items():
            values = np.concatenate(chunks)
            if k == "pose" and model.config.pose_frame == "ray":
                values = ray_to_camera_pose(values, split.rays[sl].astype(np.float64)).astype(np.float32)
            out.setdefault(k, []).append(values)
    return out


def _truth(split: SynthSplit) -> tuple[list[np.ndarray], list[np.ndarray]]:
    tracks = split.tracks()
    return [split.pose_camera[sl] for _, sl in tracks], [split.landmarks[sl].reshape(-1, 136) for _, sl in tracks]


def _metrics(pred: dict[str, list[np.ndarray]], pose_truth: list[np.ndarray], lm_truth: list[np.ndarray]) -> MethodMetrics:
    return evaluate_method(pred.get("pose"), pose_truth if "pose" in pred else None,
                           pred.get("landmarks"), lm_truth if "landmarks" in pred else None)


def evaluate_run(run_dir: Path, data_dir: Path, out_dir: Path, split: str = "test",
                 max_frames: int | None = None) -> dict[str, Any]:
    """Evaluate a training run folder (stage1/model.pt, stage2/model.pt, optional gru/model.pt)."""
    cnn, meta = load_checkpoint(run_dir / "stage1" / "model.pt")
    recurrent = {METHOD_FC_RNN: run_dir / "stage2" / "model.pt", METHOD_GRU: run_dir / "gru" / "model.pt"}
    test = SynthSplit.load(data_dir, split, max_frames=max_frames)
    val = SynthSplit.load(data_dir, "val", max_frames=max_frames)
    pose_truth, lm_truth = _truth(test)
    results: dict[str, MethodMetrics] = {}
    predictions: dict[str, list[np.ndarray]] = {}
    cnn_test = predict_tracks(cnn, test, "per-frame CNN, test")
    results[METHOD_CNN] = _metrics(cnn_test, pose_truth, lm_truth)
    kalman_cfg = search = None
    if "pose" in cnn_test:
        predictions[METHOD_CNN] = cnn_test["pose"]
        cnn_val = predict_tracks(cnn, val, "per-frame CNN, validation (Kalman tuning)")
        val_truth, _ = _truth(val)
        kalman_cfg, search = tune_kalman(cnn_val["pose"], val_truth, val.fps)
        smoothed = kalman_smooth(cnn_test["pose"], test.fps, kalman_cfg)
        predictions[METHOD_KALMAN] = smoothed
        results[METHOD_KALMAN] = evaluate_method(smoothed, pose_truth)
    for name, path in recurrent.items():
        if path.is_file():
            model, _ = load_checkpoint(path)
            pred = predict_tracks(model, test, name)
            results[name] = _metrics(pred, pose_truth, lm_truth)
            if "pose" in pred:
                predictions[name] = pred["pose"]
    rnn_names = [n for n in (METHOD_FC_RNN, METHOD_GRU) if n in results]
    targets = check_targets(results, rnn=rnn_names)
    n_frames = int(sum(len(p) for p in pose_truth))
    notes = [f"{split} split: tracks {sorted(set(test.track.tolist()))!r}, {n_frames:,} frames at {test.fps:g} fps; "
             f"every method runs causally from a zero state over whole tracks",
             f"Kalman filter tuned on the validation subjects ({len(val):,} frames)",
             f"data content hash {test.content_hash[:16]}..., training step {meta.get('step')}"]
    files = write_report(out_dir, results, truth=pose_truth if predictions else None,
                         predictions=predictions or None, fps=test.fps, targets=targets,
                         kalman_config=kalman_cfg, kalman_search=search, notes=notes,
                         meta={"run": str(run_dir), "data": str(data_dir), "split": split, "frames": n_frames})
    return {"results": {k: v.to_dict() for k, v in results.items()}, "files": files}
