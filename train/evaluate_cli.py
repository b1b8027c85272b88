"""`dms evaluate`: CNN vs CNN + Kalman vs CNN + FC-RNN on held-out subjects."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "evaluate a training run on held-out subjects: per-frame CNN, CNN + tuned Kalman, CNN + FC-RNN"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", type=Path, required=True, help="training run folder (with stage1/, stage2/)")
    parser.add_argument("--data", type=Path, default=Path("data/synth"), help="synthetic dataset folder")
    parser.add_argument("--out", type=Path, help="report folder (default: RUN/eval)")
    parser.add_argument("--split", default="test", choices=["test", "val"])
    parser.add_argument("--max-frames", type=int, help="evaluate on at most this many frames per split (quick look)")


def run(args: argparse.Namespace) -> int:
    from train.evaluate import evaluate_run
    out = args.out or args.run / "eval"
    summary = evaluate_run(args.run, args.data, out, args.split, args.max_frames)
    files = summary["files"]
    print(Path(files.markdown).read_text())
    print(f"wrote {files.markdown}, {files.json}" + (f", {files.tracks_png}, {files.histogram_png}" if files.tracks_png else ""))
    return 0
