"""One command, both stages: `dms train --config configs/default.json`.

Stage 1 writes OUT/stage1/model.pt (the per-frame CNN), stage 2 OUT/stage2/model.pt (the
FC-RNN); each stage resumes from its own training state if interrupted.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from model.checkpoint import load_checkpoint
from model.network import HeadPoseNet, build_model, convert_to_recurrent
from train.config import TrainConfig
from train.data import Augment, SynthSplit
from train.real_pool import RealPool
from train.stages import CHECKPOINT_FILE, Dist, RealData, distributed, train_stage


def default_augment(cfg: TrainConfig) -> Augment | None:
    """The training-time augmentation (train.augment) for this model's input size."""
    try:
        from train.augment import make_sequence_augment
    except ImportError:   # the augmentation module is optional for tiny smoke runs
        return None
    return make_sequence_augment(cfg.model.input_size, cfg.augment)


def run_training(cfg: TrainConfig, stages: str = "all", resume: bool = True,
                 augment: Augment | None | str = "default", stop_at: int | None = None) -> dict[str, Any]:
    """Both stages under one process group (see train.stages.distributed), torn down
    before returning so that a torchrun job ends cleanly on every rank."""
    with distributed() as dist:
        return _run_stages(cfg, dist, stages, resume, augment, stop_at)


def _run_stages(cfg: TrainConfig, dist: Dist, stages: str, resume: bool, augment: Augment | None | str,
                stop_at: int | None) -> dict[str, Any]:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    if dist.main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "train_config.json").write_text(json.dumps(cfg.to_dict(), indent=1))
    aug: Augment | None = default_augment(cfg) if isinstance(augment, str) else augment
    t0 = time.perf_counter()
    frame = cfg.model.pose_frame
    pool = _real_pool(cfg)              # before the synthetic data: a bad pool fails in a second
    train = SynthSplit.load(cfg.data, "train", progress=dist.main, pose_frame=frame)
    val = SynthSplit.load(cfg.data, "val", max_frames=cfg.val_frames, progress=dist.main,
                          pose_frame=frame) if dist.main else None
    real, provenance = _real_data(cfg, pool, train.content_hash)
    timings: dict[str, float] = {"load_s": time.perf_counter() - t0}
    torch.manual_seed(cfg.seed)   # identical initial weights on every rank (DDP also broadcasts)
    stage1_ckpt = out / "stage1" / CHECKPOINT_FILE
    if stages in ("all", "1"):
        t = time.perf_counter()
        model = build_model(cfg.model.with_cell("none"))
        torch.manual_seed(cfg.seed * 1000 + dist.rank)  # dropout differs per rank
        last = train_stage(model, train, val, cfg.stage1, cfg, "stage1", out / "stage1", aug, dist, resume, stop_at,
                           real=real, provenance=provenance)
        timings["stage1_s"] = time.perf_counter() - t
    if stages in ("all", "2"):
        t = time.perf_counter()
        per_frame, _ = load_checkpoint(stage1_ckpt)
        torch.manual_seed(cfg.seed + 1)
        rnn = convert_to_recurrent(per_frame, cfg.cell)
        torch.manual_seed(cfg.seed * 1000 + 1 + dist.rank)
        last = train_stage(rnn, train, val, cfg.stage2, cfg, "stage2", out / "stage2", aug, dist, resume, stop_at,
                           provenance=provenance)
        timings["stage2_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t0
    in_sync = _ranks_in_sync(last, dist.world)
    device = str(dist.device) if dist.device.type == "cpu" else torch.cuda.get_device_name(dist.device)
    info = {"timings": timings, "device": device, "world_size": dist.world,
            "torch_threads": torch.get_num_threads(), "data_hash": train.content_hash, "ranks_in_sync": in_sync,
            "data": provenance}
    if dist.main:
        (out / f"train_info_{stages}.json").write_text(json.dumps(info, indent=1))
    return info


def _real_pool(cfg: TrainConfig) -> RealPool | None:
    if not cfg.real.pool or cfg.real.fraction <= 0:
        return None
    from train.real_pool import RealPool

    return RealPool.load(cfg.real.pool)


def _real_data(cfg: TrainConfig, pool: RealPool | None, synth_hash: str) -> tuple[RealData | None, dict[str, Any]]:
    """The pseudo-labelled real pool as stage-1 data (None without one), and what the model
    is made from, for its manifest: a real face never ships, its provenance does."""
    provenance: dict[str, Any] = {"synthetic": {"folder": cfg.data, "content_hash": synth_hash}}
    if pool is None:
        return None, provenance
    from train.real_mix import real_splits

    tr, va = real_splits(pool, cfg.real, cfg.model.pose_frame, cfg.seed)
    m = pool.manifest
    provenance["real"] = {"pool_sha256": pool.content_hash, "faces": int(m["faces"]), "train_faces": len(tr),
                          "val_faces": 0 if va is None else len(va), "inputs_sha256": m.get("inputs_sha256", {}),
                          "stats": m.get("stats", {}), "pool_config": m.get("config", {}),
                          "labels": "MediaPipe Face Landmarker teacher (pseudo-labels), weighted by |yaw|",
                          "licence": "research-only sources; no real image is in this model's files"}
    return RealData(tr, va, cfg.real.fraction), provenance


def _ranks_in_sync(model: HeadPoseNet, world: int) -> bool:
    """After DDP training every rank must hold the same weights: compare a checksum of each
    rank's own parameters across ranks (trivially true for one process)."""
    if world <= 1:
        return True
    import torch.distributed as torch_dist
    with torch.no_grad():
        mine = torch.stack([p.detach().double().sum() for p in model.parameters()]).sum().reshape(1).cpu()
    gathered = [torch.zeros_like(mine) for _ in range(world)]
    torch_dist.all_gather(gathered, mine)
    return all(torch.equal(g, gathered[0]) for g in gathered)
