"""The real-face pool (train.real_pool) as training splits that mix into stage-1 batches.

The pool becomes a SynthSplit of one-frame "tracks", so the same batching and augmentation
(mirror: yaw and roll flip; window jitter; photometric; JPEG) apply to real and rendered
crops alike. What differs is trust: each face's pose loss is weighted by the teacher's
range on the face it labelled (RealConfig; a re-rendered face keeps its source's weight,
its own yaw may be far beyond the teacher's range), and faces the teacher cannot label
carry weight 0 and are left out altogether. real.kinds picks which kinds are used.

Held-out faces are split by identity (an LFW name, a clip), never by frame, so the real
validation MAE measures new people, not new frames of people it trained on.
"""

from __future__ import annotations

import numpy as np

from dms.perspective import camera_to_ray_pose
from train.config import RealConfig
from train.data import SynthSplit
from train.real_pool import KINDS, RealPool


def teacher_weight(yaw_deg: np.ndarray, cfg: RealConfig) -> np.ndarray:
    """1 up to trust_yaw_deg of |yaw|, falling linearly to 0 at max_yaw_deg."""
    a = np.abs(np.asarray(yaw_deg, np.float64))
    w = (cfg.max_yaw_deg - a) / (cfg.max_yaw_deg - cfg.trust_yaw_deg)
    return np.clip(w, 0.0, 1.0).astype(np.float32)


def real_splits(pool: RealPool, cfg: RealConfig, pose_frame: str, seed: int = 0) -> tuple[SynthSplit, SynthSplit | None]:
    """(train, val) splits of the pool; val is None when cfg.val_fraction is 0."""
    weight = teacher_weight(pool.teacher_yaw, cfg)
    keep = (weight > 0) & np.isin(pool.kind, [KINDS.index(k) for k in cfg.kinds])
    groups = np.unique(pool.group)
    rng = np.random.default_rng([seed, 7331])
    n_val = int(round(len(groups) * cfg.val_fraction))
    val_groups = rng.choice(groups, n_val, replace=False) if n_val else np.zeros(0, groups.dtype)
    is_val = np.isin(pool.group, val_groups)
    train = _split(pool, keep & ~is_val, weight, pose_frame)
    val = _split(pool, keep & is_val, weight, pose_frame) if n_val and (keep & is_val).any() else None
    return train, val


def _split(pool: RealPool, mask: np.ndarray, weight: np.ndarray, pose_frame: str) -> SynthSplit:
    idx = np.flatnonzero(mask)
    n = len(idx)
    pose_camera = pool.pose_camera[idx].astype(np.float32)
    rays = pool.rays[idx].astype(np.float32)
    pose = pose_camera if pose_frame == "camera" else \
        camera_to_ray_pose(pose_camera.astype(np.float64), rays.astype(np.float64)).astype(np.float32)
    return SynthSplit(crops=pool.crops[idx], pose=pose, landmarks=np.zeros((n, 68, 2), np.float32),
                      visible=np.zeros((n, 68), bool), track=idx.astype(np.int32),   # one-frame tracks, by pool index
                      frame=np.zeros(n, np.int32), fps=0.0, content_hash=pool.content_hash,
                      pose_camera=pose_camera, rays=rays, pose_frame=pose_frame, pose_weight=weight[idx], has_landmarks=False)
