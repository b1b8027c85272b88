"""The two training stages of the patent, with exact resume, progress and curves.

Stage 1 trains the per-frame network on single frames. Stage 2 converts its FC layers to
recurrent ones (eq. 5, model.network.convert_to_recurrent) and fine-tunes on sequences
with truncated backpropagation through time: a sequence of seq_len frames is cut into
segments of tbptt frames; the hidden state flows (detached) from one segment into the
next, each segment is one optimiser step. Variational dropout keeps ONE mask per sequence
across all its segments. L2 losses, gradient clipping at norm 10 (patent).

Runs under torchrun too: with WORLD_SIZE > 1 the model is wrapped in
DistributedDataParallel (gloo on CPU, nccl on GPU), every rank draws its own batches
from (seed, step, rank), and only rank 0 writes checkpoints and plots.
"""

from __future__ import annotations

import gc
import json
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as torch_dist
from torch import nn
from tqdm import tqdm

from model.checkpoint import save_checkpoint
from model.network import HeadPoseNet, State
from train.config import LossConfig, StageConfig, TrainConfig
from train.data import Augment, Batch, SynthSplit, make_batch, step_rng

STATE_FILE = "train_state.pt"
VAL_SEQ_LEN = 300   # 10 s at 30 fps: long against the training sequences, cheap to run
CHECKPOINT_FILE = "model.pt"


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def main(self) -> bool:
        return self.rank == 0


@contextmanager
def distributed() -> Iterator[Dist]:
    """The process group's whole life: joined on entry, torn down on exit.

    torchrun sets WORLD_SIZE, RANK and LOCAL_RANK; without them this is one process and
    nothing is set up. Why the teardown matters: a process group that outlives main() is
    destroyed during interpreter finalisation, while gloo's worker threads may still hold
    work objects with tensor references; releasing those then takes the GIL of a dying
    interpreter, the thread is unwound, and the process aborts ("terminate called without
    an active exception", SIGABRT) at random, after training already finished
    (pytorch/pytorch#190489; PyTorch's distributed docs, "Shutdown": call
    destroy_process_group() near the end of main, once per trainer).

    destroy_process_group() alone is not enough: each stage's DistributedDataParallel
    wrapper is left in cyclic garbage (a frame of its constructor, from a lazy import
    there, is kept by a traceback in a cycle and holds it), and its reducer keeps
    the group and its last gradient all-reduce alive until the cyclic collector happens to
    run; on a rank where it has not run by exit, the abort above still happens (measured:
    one rank in two still held both stages' wrappers at the end of a run). So: collect
    them, let every rank meet at a barrier (no rank tears down while another still
    communicates), then destroy the group, all while the interpreter is whole. After an
    error the barrier is skipped: the other ranks may never reach it.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        yield Dist(device=torch.device("cuda" if torch.cuda.is_available() else "cpu"))
        return
    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available()
    owner = not torch_dist.is_initialized()
    if owner:
        torch_dist.init_process_group("nccl" if use_cuda else "gloo")
    device = torch.device(f"cuda:{local}") if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    ok = False
    try:
        yield Dist(torch_dist.get_rank(), torch_dist.get_world_size(), device)
        ok = True
    finally:
        if owner and torch_dist.is_initialized():
            gc.collect()
            try:
                if ok:
                    torch_dist.barrier()
            finally:
                torch_dist.destroy_process_group()


@dataclass
class RealData:
    """Pseudo-labelled real faces for a stage: training and held-out splits (train.real_mix)
    and the share of each batch they fill."""

    train: SynthSplit
    val: SynthSplit | None
    fraction: float


class _SequenceForward(nn.Module):
    """DDP synchronises gradients of what runs through forward(); this routes the clip
    forward (with state and masks) through it."""

    def __init__(self, model: HeadPoseNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor, state: State | None, dropout: Any) -> tuple[dict[str, torch.Tensor], State]:
        return self.model.forward_sequence(images, state, dropout)


def losses(out: dict[str, torch.Tensor], pose: torch.Tensor, lms: torch.Tensor, lm_w: torch.Tensor,
           cfg: LossConfig, pose_w: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """L2 (patent): mean squared pose error in units of pose_unit_deg (each frame weighted
    by pose_w [B, T], 1 = an exact label), plus the weighted mean squared landmark error
    (hidden landmarks weighted 0 when visible_only), plus on sequences the weighted squared
    frame-to-frame change of the pose error (temporal_weight)."""
    total = torch.zeros((), device=pose.device)
    parts: dict[str, float] = {}
    if "pose" in out:
        err = (out["pose"] - pose) / cfg.pose_unit_deg
        if pose_w is None:
            total = total + (err ** 2).mean()
        else:
            total = total + (pose_w[..., None] * err ** 2).sum() / (3.0 * pose_w.numel())
        parts["pose_mae"] = float((out["pose"] - pose).abs().mean().detach())
        if cfg.temporal_weight > 0 and err.ndim == 3 and err.shape[1] > 1:
            change = err[:, 1:] - err[:, :-1]         # [B, T-1, 3]: the jitter, per frame
            total = total + cfg.temporal_weight * (change ** 2).mean()
            parts["pose_jitter"] = float(change.abs().mean().detach()) * cfg.pose_unit_deg
    if "landmarks" in out:
        w = lm_w if cfg.visible_landmarks_only else torch.ones_like(lm_w)
        ll = (w * (out["landmarks"] - lms) ** 2).sum() / w.sum().clamp_min(1.0)
        total = total + cfg.landmark_weight * ll * 100.0   # ~1 % of the crop ~ 1 unit
        parts["landmark_rmse"] = float(ll.detach().sqrt())
    parts["loss"] = float(total.detach())
    return total, parts


def lr_factor(step: int, stage: StageConfig) -> float:
    """Linear warm-up, then cosine decay to lr_final."""
    if step < stage.warmup_steps:
        return (step + 1) / stage.warmup_steps
    progress = (step - stage.warmup_steps) / max(1, stage.steps - stage.warmup_steps)
    return stage.lr_final + (1 - stage.lr_final) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def evaluate_split(model: HeadPoseNet, split: SynthSplit, seq_len: int, max_sequences: int,
                   device: torch.device, seed: int = 12345, prefix: str = "val_mae") -> dict[str, float]:
    """Validation during training: pose MAE over fixed sequences (frames for stage 1)."""
    rng = np.random.default_rng(seed)
    starts_all = split.sequence_starts(seq_len)
    starts = np.sort(rng.choice(starts_all, min(max_sequences, len(starts_all)), replace=False))
    model.eval()
    errs = []
    with torch.no_grad():
        for i in range(0, len(starts), 64):
            b = make_batch(split, starts[i:i + 64], seq_len, model.config.input_size, model.config.normalise)
            out, _ = model.forward_sequence(torch.from_numpy(b.images).to(device))
            if "pose" in out:
                errs.append((out["pose"].cpu().numpy() - b.pose).reshape(-1, 3))
    model.train()
    if not errs:
        return {}
    e = np.abs(np.concatenate(errs))
    return {prefix: float(e.mean()), f"{prefix}_pitch": float(e[:, 0].mean()),
            f"{prefix}_yaw": float(e[:, 1].mean()), f"{prefix}_roll": float(e[:, 2].mean())}


def train_stage(model: HeadPoseNet, train: SynthSplit, val: SynthSplit | None, stage: StageConfig, cfg: TrainConfig,
                name: str, out_dir: Path, augment: Augment | None, dist: Dist, resume: bool = True,
                stop_at: int | None = None, real: RealData | None = None,
                provenance: dict[str, Any] | None = None) -> HeadPoseNet:
    """Train `model` for stage.steps optimiser steps; resumable exactly from out_dir.
    stop_at: leave after that many steps (state saved), for time-boxed or pre-empted jobs.
    real: pseudo-labelled real faces, a share of every batch (single-frame stages only:
    stills make no sequences). provenance: the data the model came from, written into every
    checkpoint (and so into the exported manifest)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    device = dist.device
    model = model.to(device).train()
    freeze_trunk = stage.freeze_trunk
    if freeze_trunk:
        for p in model.backbone.parameters():
            p.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=stage.lr, weight_decay=stage.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, stage))
    step = 0
    history: dict[str, list[dict[str, float]]] = {"train": [], "val": []}
    state_path = out_dir / STATE_FILE
    if resume and state_path.is_file():
        saved = torch.load(state_path, map_location=device, weights_only=True)
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        sched.load_state_dict(saved["scheduler"])
        step = int(saved["step"])
        history = json.loads(saved["history"])
        torch.set_rng_state(saved["torch_rng"])
        if dist.main:
            print(f"{name}: resuming at step {step} of {stage.steps}")
    wrapped: nn.Module = _SequenceForward(model)
    if dist.world > 1:
        wrapped = nn.parallel.DistributedDataParallel(wrapped, find_unused_parameters=freeze_trunk)
    starts = train.sequence_starts(stage.seq_len)
    if len(starts) == 0:
        raise ValueError(f"{name}: no training sequence of {stage.seq_len} frames in the data")
    n_real = 0
    if real is not None and stage.seq_len == 1:
        n_real = int(round(stage.batch * real.fraction))
    segments = max(1, stage.seq_len // max(1, stage.tbptt))
    seg_len = stage.seq_len // segments
    updates_per_batch = segments
    bar = tqdm(total=stage.steps, initial=step, desc=name, unit="step", disable=not dist.main, smoothing=0.02)
    last_parts: dict[str, float] = {}
    end = stage.steps if stop_at is None else min(stage.steps, stop_at)
    saved_at = step
    while step < end:
        rng = step_rng(cfg.seed, step, dist.rank)
        batch = make_batch(train, rng.choice(starts, stage.batch - n_real), stage.seq_len, model.config.input_size,
                           model.config.normalise, rng, augment, cfg.loss.visible_landmarks_only)
        if n_real:
            assert real is not None
            real_rng = step_rng(cfg.seed, step, 1000 + dist.rank)   # the synthetic draws stay as without
            batch = Batch.concat([batch, make_batch(real.train, real_rng.integers(0, len(real.train), n_real), 1,
                                                    model.config.input_size, model.config.normalise, real_rng,
                                                    augment, cfg.loss.visible_landmarks_only)])
        pose_w = torch.from_numpy(batch.pose_weight).to(device)
        images = torch.from_numpy(batch.images).to(device)
        pose = torch.from_numpy(batch.pose).to(device)
        lms = torch.from_numpy(batch.landmarks).to(device)
        lm_w = torch.from_numpy(batch.landmark_weight).to(device)
        if freeze_trunk:
            model.backbone.eval()     # batch-norm statistics stay those of stage 1
        masks = model.sample_dropout(stage.batch)
        state: State | None = None
        for k in range(updates_per_batch):
            sl = slice(k * seg_len, (k + 1) * seg_len)
            out, state = wrapped(images[:, sl], state, masks)
            loss, last_parts = losses(out, pose[:, sl], lms[:, sl], lm_w[:, sl], cfg.loss, pose_w[:, sl])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            gnorm = torch.nn.utils.clip_grad_norm_(params, stage.clip_grad_norm)
            opt.step()
            sched.step()
            state = tuple(s.detach() for s in state)
            step += 1
            bar.update(1)
            if step >= end:
                break
        last_parts["grad_norm"] = float(gnorm)
        last_parts["lr"] = float(sched.get_last_lr()[0])
        if dist.main:
            history["train"].append({"step": step, **last_parts})
            bar.set_postfix(loss=f"{last_parts['loss']:.3f}", mae=f"{last_parts.get('pose_mae', float('nan')):.2f}")
        if step % stage.eval_every < updates_per_batch or step >= stage.steps:
            if dist.main:
                if val is not None:
                    # recurrent models are validated on sequences much longer than they train
                    # on, so that a state that drifts over time shows up here, not in the car
                    val_len = 1 if stage.seq_len == 1 else max(stage.seq_len, VAL_SEQ_LEN)
                    history["val"].append({"step": step, **evaluate_split(model, val, val_len,
                                                                          256 if val_len == 1 else 16, device)})
                    if real is not None and real.val is not None and val_len == 1:
                        history["val"][-1].update(evaluate_split(model, real.val, 1, 512, device,
                                                                 prefix="val_real_mae"))
                    bar.write(f"{name} step {step}: " + ", ".join(f"{k} {v:.3f}" for k, v in history["val"][-1].items() if k != "step"))
                _save(model, opt, sched, step, history, out_dir, cfg, name, provenance)
            saved_at = step
            if dist.world > 1:
                torch_dist.barrier()
    if step != saved_at and dist.main:
        _save(model, opt, sched, step, history, out_dir, cfg, name, provenance)
    bar.close()
    for p in model.parameters():
        p.requires_grad_(True)
    return model


def _save(model: HeadPoseNet, opt: torch.optim.Optimizer, sched: Any, step: int, history: dict[str, Any],
          out_dir: Path, cfg: TrainConfig, name: str, provenance: dict[str, Any] | None = None) -> None:
    """Model checkpoint (what export reads) and training state (what resume reads), both
    written atomically; then the curves."""
    meta = {"stage": name, "step": step, "train_config": json.loads(json.dumps(cfg.to_dict())),
            "val": history["val"][-1] if history["val"] else {}}
    if provenance:
        meta["data"] = provenance
    save_checkpoint(out_dir / CHECKPOINT_FILE, model, meta)
    payload = {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
               "step": step, "history": json.dumps(history), "torch_rng": torch.get_rng_state()}
    tmp = out_dir / (STATE_FILE + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, out_dir / STATE_FILE)
    (out_dir / "history.json").write_text(json.dumps(history, indent=1))
    plot_curves(history, out_dir / "training_curves.png", name)


def plot_curves(history: dict[str, Any], path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    tr = history["train"]
    if tr:
        steps = np.array([r["step"] for r in tr])
        loss = np.array([r["loss"] for r in tr])
        k = max(1, len(loss) // 50)
        smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
        axes[0].plot(steps, loss, alpha=0.3, label="loss")
        axes[0].plot(steps[k - 1:], smooth, label=f"loss (mean of {k})")
        axes[0].set_yscale("log")
        axes[0].set_xlabel("step")
        axes[0].legend()
    va = history["val"]
    if va and "val_mae" in va[0]:
        s = [r["step"] for r in va]
        for key in ("val_mae", "val_mae_pitch", "val_mae_yaw", "val_mae_roll", "val_real_mae"):
            if key in va[0]:
                axes[1].plot(s, [r[key] for r in va], marker="o", label=key)
        axes[1].set_ylabel("degrees")
        axes[1].set_xlabel("step")
        axes[1].legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
