"""`dms train --config configs/default.json`: both stages of the patent, resumable.

Under torchrun (`torchrun --nproc_per_node 2 -m dms.cli train --config ...`) it trains
with DistributedDataParallel across the processes (gloo on CPU, nccl on GPUs).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = "train the per-frame CNN (stage 1) and its recurrent conversion (stage 2) from a config file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, required=True, help="training config (JSON), e.g. configs/default.json")
    parser.add_argument("--stage", choices=["all", "1", "2"], default="all")
    parser.add_argument("--data", help="override the config's dataset folder")
    parser.add_argument("--out", help="override the config's run folder")
    parser.add_argument("--fresh", action="store_true", help="ignore saved training state (default: resume)")
    parser.add_argument("--no-augment", action="store_true", help="train on centre windows only")


def run(args: argparse.Namespace) -> int:
    from train.config import TrainConfig, TrainConfigError
    from train.real_pool import RealPoolError
    from train.run import run_training
    try:
        cfg = TrainConfig.load(args.config)
    except TrainConfigError as exc:
        print(f"dms train: {exc}", file=sys.stderr)
        return 2
    if args.data:
        cfg.data = args.data
    if args.out:
        cfg.out = args.out
    try:
        info = run_training(cfg, args.stage, resume=not args.fresh, augment=None if args.no_augment else "default")
    except RealPoolError as exc:          # real.pool names a folder that is not a usable pool
        print(f"dms train: real.pool: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(info, indent=1))
    return 0 if info["ranks_in_sync"] else 1
