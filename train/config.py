"""Training configuration: one JSON file in configs/ describes a whole run (both stages).

Every number that shapes training has a documented default and its source; the patent's
are marked (patent). A config file may set any subset; unknown keys stop the run with the
key's name, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from model.config import ModelConfig


class TrainConfigError(ValueError):
    pass


@dataclass
class StageConfig:
    """One training stage.

    steps: optimiser steps. batch: sequences per step (stage 1: single frames).
    seq_len: frames per training sequence (1 in stage 1). tbptt: frames per truncated-BPTT
        segment; the hidden state is carried (detached) from one segment to the next, so
        the network learns from seq_len frames of context at tbptt frames of memory cost.
    lr: Adam learning rate, cosine-decayed to lr * lr_final over the stage.
    weight_decay: AdamW decoupled weight decay.
    clip_grad_norm: 10, the patent's gradient clipping (if ||g|| > 10, g <- 10 g / ||g||).
    freeze_trunk: keep the conv trunk (and its batch-norm statistics) from stage 1 fixed.
        Stage 2 does this by default: the patent's conversion fine-tunes the FC layers
        (W_io, b) and trains W_hh; freezing the convolutions makes a sequence step ~3x
        cheaper on a CPU, which is what lets both stages fit 90 minutes on two cores.
    """

    steps: int = 6000
    batch: int = 64
    seq_len: int = 1
    tbptt: int = 1
    lr: float = 2e-3
    lr_final: float = 0.02
    warmup_steps: int = 200
    weight_decay: float = 1e-4
    clip_grad_norm: float = 10.0
    eval_every: int = 500
    freeze_trunk: bool = False


@dataclass
class LossConfig:
    """L2 losses (patent). Pose errors are measured in units of pose_unit_deg so that pose
    and landmark (crop-normalised, ~0..1) terms have comparable size in joint models."""

    pose_unit_deg: float = 10.0
    landmark_weight: float = 1.0
    visible_landmarks_only: bool = True
    # Sequences only (stage 2): weight of the L2 loss on the frame-to-frame change of the
    # pose error, i.e. on the squared jitter that `dms evaluate` reports. 0 = the patent's
    # plain L2. Why have it: the per-frame error is mostly a slowly varying offset, so plain
    # L2 barely rewards a tracker for removing frame-to-frame jitter, which is what makes
    # an alert's glance start and end times shake; the same term is the "temporal
    # consistency" loss of video pose estimators (e.g. Kocabas et al., VIBE, CVPR 2020).
    temporal_weight: float = 0.0


@dataclass
class RealConfig:
    """Real faces with the offline teacher's pose as pseudo-labels (train.real_pool), mixed
    into stage 1's batches. pool: the folder `dms real-pool` wrote; "" = synthetic only
    (the patent's recipe).

    fraction: share of each stage-1 batch drawn from the pool. 0.25 keeps synthetic data
        (exact labels, every angle up to profile) the majority of every step.
    trust_yaw_deg / max_yaw_deg: the teacher's pose is trusted fully up to |yaw| 30 deg
        and not at all beyond 60 (realdata README, measured on AFLW2000: MAE 2.2 deg yaw
        at 0-30, 5.9 at 30-60, 9.4 at 60-75 with most faces beyond 60 not found); between
        them a face's loss weight falls linearly.
    val_fraction: identities (LFW names, clips) held out for the real validation MAE
        against the teacher, printed with the synthetic one during training.
    kinds: which of the pool's faces are used (train.real_pool.KINDS): "still" (photos),
        "video" (talking-head frames, framed by the runtime's localiser), "rotated"
        (real faces re-rendered at large yaw, train.real_rotate).
    """

    pool: str = ""
    fraction: float = 0.25
    trust_yaw_deg: float = 30.0
    max_yaw_deg: float = 60.0
    val_fraction: float = 0.05
    kinds: tuple[str, ...] = ("still", "video", "rotated")

    def validate(self, source: str) -> None:
        if not 0.0 <= self.fraction < 1.0:
            raise TrainConfigError(f"{source}: real.fraction must be in [0, 1), got {self.fraction}")
        if not 0.0 < self.trust_yaw_deg < self.max_yaw_deg:
            raise TrainConfigError(f"{source}: real: need 0 < trust_yaw_deg < max_yaw_deg, "
                                   f"got {self.trust_yaw_deg}, {self.max_yaw_deg}")
        self.kinds = tuple(self.kinds)
        from train.real_pool import KINDS

        if not self.kinds:
            raise TrainConfigError(f"{source}: real.kinds is empty (leave real.pool empty for no real faces)")
        unknown = sorted(set(self.kinds) - set(KINDS))
        if unknown:
            raise TrainConfigError(f"{source}: real.kinds: unknown kind '{unknown[0]}' (known: {', '.join(KINDS)})")
        if not 0.0 <= self.val_fraction < 0.5:
            raise TrainConfigError(f"{source}: real.val_fraction must be in [0, 0.5), got {self.val_fraction}")


@dataclass
class TrainConfig:
    data: str = "data/synth"
    out: str = "runs/default"
    seed: int = 0
    model: ModelConfig = field(default_factory=ModelConfig)
    stage1: StageConfig = field(default_factory=StageConfig)
    stage2: StageConfig = field(default_factory=lambda: StageConfig(
        steps=2000, batch=16, seq_len=48, tbptt=16, lr=5e-4, warmup_steps=100, eval_every=500,
        freeze_trunk=True))
    cell: str = "fc"            # the recurrent cell of stage 2 (fc = the patent's FC-RNN)
    loss: LossConfig = field(default_factory=LossConfig)
    augment: dict[str, Any] = field(default_factory=dict)   # train.augment config overrides
    real: RealConfig = field(default_factory=RealConfig)
    val_frames: int = 20000     # validation frames used during training (full split at evaluate)
    workers: int = 0            # data-loading processes (0 = in the training process)
    threads: int = 0            # torch threads (0 = torch's default)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["model"] = self.model.to_dict()
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> TrainConfig:
        cfg: TrainConfig = _build(cls, data, source)
        cfg.real.validate(source)
        return cfg

    @classmethod
    def load(cls, path: Path | str) -> TrainConfig:
        path = Path(path)
        if not path.is_file():
            raise TrainConfigError(f"{path}: training config not found")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise TrainConfigError(f"{path}: not valid JSON (line {exc.lineno}): {exc.msg}") from exc
        return cls.from_dict(data, str(path))


def _build(cls: type, data: dict[str, Any], source: str) -> Any:
    """Defaults of `cls` overridden by `data`, nested dataclasses merged key by key."""
    if not isinstance(data, dict):
        raise TrainConfigError(f"{source}: expected an object, got {type(data).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise TrainConfigError(f"{source}: unknown key '{unknown[0]}' (known: {sorted(known)})")
    defaults = cls()
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        current = getattr(defaults, name)
        where = f"{source}: {name}"
        if isinstance(current, ModelConfig):
            kwargs[name] = ModelConfig.from_dict({**current.to_dict(), **value}, where)
        elif is_dataclass(current) and not isinstance(current, type):
            kwargs[name] = _build(type(current), {**asdict(current), **value}, where)
        else:
            kwargs[name] = value
    return cls(**kwargs)
