"""`dms train-detector --data DIR --out DIR`: train the head detector on a synthetic set's
full frames, evaluate it on the held-out subjects, export it (ONNX + manifest) and report.

    dms synth --out data/synth_full --subjects 10 --tracks 60 --frames-per-track 400 --full-every 5
    dms train-detector --data data/synth_full --out runs/head_detector --export models/head_detector

The run folder gets detector.pt, curves.png, examples.png, report.json, report.md and the
exported model in model/ (or where --export says), with a copy of the report beside it.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
from pathlib import Path

HELP = "train the head detector (full-frame head box + presence) on synthetic full frames, evaluate, export"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from model.detector_config import DetectorConfig

    d = DetectorConfig()
    parser.add_argument("--data", type=Path, required=True, help="synthetic dataset made with --full-every N")
    parser.add_argument("--out", type=Path, required=True, help="run folder (checkpoint, curves, report)")
    parser.add_argument("--export", type=Path, help="model folder to export to (default: OUT/model)")
    parser.add_argument("--force", action="store_true", help="replace a model already in the export folder")
    parser.add_argument("--steps", type=int, help="training steps (default 4000)")
    parser.add_argument("--batch", type=int, help="batch size (default 64)")
    parser.add_argument("--lr", type=float, help="peak learning rate (default 3e-3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--negatives-per-track", type=int, default=4,
                        help="rendered empty-seat and headless frames per track, each (default 4)")
    parser.add_argument("--input-size", default=f"{d.input_size[0]}x{d.input_size[1]}", help="HxW (default 96x128)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _input_size(text: str) -> tuple[int, int]:
    h, w = (int(v) for v in text.lower().split("x"))
    return h, w


def _command(args: argparse.Namespace) -> str:
    """The command line that reproduces this run (for the report and the manifest)."""
    parts = ["dms", "train-detector", "--data", str(args.data), "--out", str(args.out)]
    if args.export:
        parts += ["--export", str(args.export)]
    for flag, value in (("--steps", args.steps), ("--batch", args.batch), ("--lr", args.lr)):
        if value is not None:
            parts += [flag, str(value)]
    parts += ["--seed", str(args.seed), "--threads", str(args.threads),
              "--negatives-per-track", str(args.negatives_per_track), "--input-size", args.input_size]
    return " ".join(shlex.quote(p) for p in parts)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    import numpy as np
    import torch
    from tqdm import tqdm

    from export.detector_export import export_detector
    from export.onnx_export import ExportError
    from model.detector import measure_detector
    from model.detector_config import DetectorConfig
    from synth.dataset import DatasetError, SynthConfig, load_manifest
    from train.detector import (DetectorTrainConfig, evaluate, predict, preprocess, save_detector, train_detector,
                                with_blocked)
    from train.detector_metrics import DetectorMetrics
    from train.detector_data import KINDS, DetectorDataError, FullFrameSet, load_full_frames, render_negatives
    from train.detector_report import plot_curves, plot_examples, write_report

    torch.set_num_threads(args.threads)
    net_cfg = DetectorConfig(input_size=_input_size(args.input_size))
    overrides = {k: v for k, v in (("steps", args.steps), ("batch", args.batch), ("lr", args.lr)) if v is not None}
    cfg = replace(DetectorTrainConfig(), seed=args.seed, threads=args.threads, **overrides)
    try:
        manifest = load_manifest(args.data)
        synth_cfg = SynthConfig.from_dict(manifest["config"])
        splits = manifest["splits"]
        shards = {s: sum(r["split"] == s for r in manifest["shards"]) for s in ("train", "val", "test")}
        sets: dict[str, FullFrameSet] = {}
        negs: dict[str, FullFrameSet] = {}
        show = not args.no_progress
        for split in ("train", "val", "test"):
            if not shards[split]:
                continue
            with tqdm(total=shards[split], desc=f"{split} full frames", unit="shard", disable=not show) as bar:
                sets[split] = load_full_frames(args.data, [split], net_cfg.input_size, bar.update)
            tracks = len({r["track"] for r in manifest["shards"] if r["split"] == split})
            with tqdm(total=tracks, desc=f"{split} negatives", unit="track", disable=not show) as bar:
                negs[split] = render_negatives(args.data, [split], net_cfg.input_size, args.negatives_per_track,
                                               seed=args.seed, progress=bar.update)
    except (DatasetError, DetectorDataError) as exc:
        print(f"dms train-detector: {exc}", file=sys.stderr)
        return 1
    if "train" not in sets:
        print(f"dms train-detector: {args.data}: no training subjects", file=sys.stderr)
        return 1
    # held-out subjects: their frames with a head, rendered negatives, and covered lenses
    held = {s: with_blocked(FullFrameSet.concat([sets[s], negs[s]]), seed=args.seed)
            for s in ("val", "test") if s in sets}
    for name, data in (("train", sets["train"]), *held.items()):
        print(f"{name}: {int(data.present.sum())} frames with a head, "
              f"{int((~data.present).sum()) + (len(negs[name]) if name == 'train' else 0)} without")

    frame_size = (int(synth_cfg.frame_size[0]), int(synth_cfg.frame_size[1]))
    result = train_detector(sets["train"], negs["train"], held.get("val"), cfg, net_cfg, frame_size,
                            show_progress=show)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    net = result.net
    complexity = measure_detector(net_cfg)
    results: dict[str, DetectorMetrics] = {s: evaluate(net, held[s], frame_size, cfg.threshold)
                                           for s in ("test", "val") if s in held}
    meta = {"data": str(args.data), "data_hash": manifest["content_hash"], "best_step": result.best_step,
            "train_config": cfg.to_dict(), "results": {k: m.to_dict() for k, m in results.items()}}
    save_detector(out / "detector.pt", net, meta)
    plot_curves(out / "curves.png", result.history, result.best_step)
    report_set = held["test"] if "test" in held else held.get("val")
    if report_set is not None:
        rng = np.random.default_rng(args.seed)
        heads = np.flatnonzero(report_set.present)
        others = np.flatnonzero(~report_set.present)
        pick = np.concatenate([rng.choice(heads, min(18, len(heads)), replace=False),
                               rng.choice(others, min(6, len(others)), replace=False)])
        box, score = predict(net, report_set.images[pick])
        plot_examples(out / "examples.png", report_set.images[pick], report_set.boxes[pick], box, score,
                      [KINDS[k] for k in report_set.kind[pick]], cfg.threshold)
        parity_frames = preprocess(report_set.images[:200], net_cfg)
    else:
        parity_frames = preprocess(sets["train"].images[:200], net_cfg)
    model_dir = args.export or out / "model"
    command = _command(args)
    training = {"data": str(args.data), "data_hash": manifest["content_hash"], "steps": cfg.steps,
                "best_step": result.best_step, "seed": cfg.seed, "command": command,
                "test": results["test"].to_dict() if "test" in results else None}
    try:
        exported = export_detector(net, model_dir, parity_frames, presence_threshold=cfg.threshold,
                                   training=training, force=args.force)
    except ExportError as exc:
        print(f"dms train-detector: {exc}", file=sys.stderr)
        return 1
    info = {"data": str(args.data), "data_hash": manifest["content_hash"], "command": command,
            "test_subjects": splits.get("test"), "val_subjects": splits.get("val"), "steps": cfg.steps,
            "best_step": result.best_step, "train_seconds": result.seconds, "threads": cfg.threads,
            "threshold": cfg.threshold, "params": complexity.params, "mflops": complexity.mflops,
            "input": f"1x{net_cfg.input_size[0]}x{net_cfg.input_size[1]}",
            "onnx_bytes": exported.onnx_path.stat().st_size, "ort_ms_per_frame": exported.parity.ort_ms_per_frame,
            "parity": exported.parity.to_dict(), "train_config": cfg.to_dict(), "model_config": net_cfg.to_dict(),
            "history": result.history}
    write_report(out, results, info)
    for name in ("report.md", "report.json", "curves.png", "examples.png"):
        if (out / name).is_file() and out.resolve() != Path(model_dir).resolve():
            shutil.copyfile(out / name, Path(model_dir) / name)
    for split, m in results.items():
        print(f"{split}: mean IoU {m.mean_iou:.3f}, IoU>=0.5 {100 * m.iou_ge_0_5:.1f} %, centre error "
              f"{m.centre_error_median:.3f} head sides (median), presence AUC {m.presence_auc}, "
              f"accuracy {100 * m.presence_accuracy:.1f} %")
    print(f"ONNX Runtime {exported.parity.ort_ms_per_frame:.3f} ms per frame (1 thread); "
          f"{exported.onnx_path} ({exported.onnx_path.stat().st_size / 1024:.0f} KiB)")
    print(f"wrote {out / 'report.md'} and {exported.manifest_path}")
    return 0
