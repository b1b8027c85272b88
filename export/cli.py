"""`dms export`: checkpoint -> model folder (step.onnx + manifest.json), checked twice:
TensorRT readiness and parity with PyTorch. `dms export --check PATH` runs the readiness
check alone on a model folder or an .onnx file (no torch needed, so it runs on a Jetson).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = ("export a checkpoint to a one-step ONNX graph + manifest (parity with PyTorch and "
        "TensorRT readiness checked), or --check an existing model folder / .onnx")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", nargs="?", type=Path, help="a dms checkpoint (.pt) written by training")
    parser.add_argument("--out", type=Path, metavar="MODEL_DIR", help="the model folder to write")
    parser.add_argument("--check", type=Path, metavar="PATH",
                        help="only check TensorRT readiness of a model folder or an .onnx file")
    parser.add_argument("--name", help="model name in the manifest (default: backbone-cell-head, e.g. edge-fcrnn-pose)")
    parser.add_argument("--parity-frames", type=int, default=None, metavar="N",
                        help="frames in the parity clip (default 300)")
    parser.add_argument("--force", action="store_true", help="replace a model already in MODEL_DIR")


def _fail(message: str, code: int = 1) -> int:
    print(f"dms export: error: {message}", file=sys.stderr)
    return code


def _check(path: Path) -> int:
    from dms.manifest import ManifestError
    from export.trt_readiness import check_path

    try:
        reports = check_path(path)
    except (ManifestError, FileNotFoundError) as exc:
        return _fail(str(exc))
    for report in reports:
        print(report.summary())
    return 0 if all(r.ok for r in reports) else 1


def run(args: argparse.Namespace) -> int:
    if args.check is not None:
        if args.checkpoint is not None or args.out is not None:
            return _fail("--check takes only a PATH; run the export and the check separately", 2)
        return _check(args.check)
    if args.checkpoint is None or args.out is None:
        return _fail("needs CHECKPOINT and --out MODEL_DIR (or --check PATH)", 2)
    if args.parity_frames is not None and args.parity_frames < 1:
        return _fail(f"--parity-frames must be >= 1, got {args.parity_frames}", 2)

    from dms.manifest import sha256_file
    from export.onnx_export import ExportError, export_model
    from export.parity import PARITY_FRAMES
    from model.checkpoint import CheckpointError, load_checkpoint

    try:
        model, meta = load_checkpoint(args.checkpoint)
        # The training facts travel into the manifest, with which checkpoint file this was.
        training = dict(meta)
        training["checkpoint"] = {"file": args.checkpoint.name, "sha256": sha256_file(args.checkpoint)}
        result = export_model(model, args.out, name=args.name, training=training,
                              parity_frames=args.parity_frames or PARITY_FRAMES, force=args.force)
    except (CheckpointError, ExportError) as exc:
        return _fail(str(exc))
    print(result.readiness.summary())
    print(result.parity.summary())
    print(f"wrote {result.step_path} and {result.manifest_path}")
    return 0
