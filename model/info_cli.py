"""`dms model-info`: parameters and FLOPs per frame for each backbone and input size."""

from __future__ import annotations

import argparse
import json

HELP = "parameters and FLOPs per frame of each backbone at its default or a given input size"


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"input size must look like 64x64, got '{text}'") from None
    return h, w


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backbone", choices=["edge", "vgg16", "all"], default="all")
    parser.add_argument("--input-size", type=_size, metavar="HxW",
                        help="crop size (default: each backbone's own, edge 64x64, vgg16 224x224)")
    parser.add_argument("--channels", type=int, choices=[1, 3], help="1 = IR/gray, 3 = RGB")
    parser.add_argument("--cell", choices=["none", "fc", "gru", "lstm"], default="fc",
                        help="recurrent cell (default fc: the patent's FC-RNN)")
    parser.add_argument("--head", choices=["pose", "landmarks", "joint"], default="pose")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    from model.complexity import measure
    from model.config import ModelConfig

    names = ["edge", "vgg16"] if args.backbone == "all" else [args.backbone]
    rows = []
    for name in names:
        overrides: dict[str, object] = {"cell": args.cell, "head": args.head}
        if args.input_size:
            overrides["input_size"] = args.input_size
        if args.channels:
            overrides["in_channels"] = args.channels
        rows.append(measure(ModelConfig.for_backbone(name, **overrides)))
    if args.json:
        print(json.dumps([dict(r.__dict__, mflops=r.mflops) for r in rows], indent=2))
        return 0
    print(f"{'backbone':8} {'input':>11} {'cell':>5} {'params':>12} {'trunk':>12} {'MFLOPs':>10} {'MMACs':>9}")
    for r in rows:
        print(f"{r.backbone:8} {r.input:>11} {r.cell:>5} {r.params:>12,} {r.trunk_params:>12,} "
              f"{r.mflops:>10.1f} {r.macs / 1e6:>9.1f}")
    print("FLOPs count a multiply-add as 2 (torch FlopCounterMode: conv and matmul ops).")
    return 0
