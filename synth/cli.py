"""`dms synth`: generate the synthetic dataset, merge shard jobs, preview.

    dms synth --subjects 10 --tracks 70 --frames-per-track 7300 --out data/synth
    dms synth --out data/synth --shard-index 3 --num-shards 8     # one of 8 machines
    dms synth merge data/synth                                    # after all 8 finished
    dms synth preview --data data/synth --out out/preview         # contact sheet + MP4
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from synth.dataset import SynthConfig

HELP = "generate the synthetic head-video dataset (patent scale by default), merge shard jobs, or preview it"


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 160x120, got '{text}'") from None
    return w, h


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", default="generate", choices=["generate", "merge", "preview"],
                        help="generate (default), merge partial manifests, or preview")
    parser.add_argument("dir", nargs="?", help="dataset folder (for merge)")
    parser.add_argument("--out", type=Path, help="output folder")
    parser.add_argument("--subjects", type=int, default=100,
                        help="default 100 (the patent used 10; 7 training subjects over-fit)")
    parser.add_argument("--head", choices=["ellipsoid", "scanned"],
                        help="ellipsoid: the built-in parametric head; scanned: real scanned geometry from "
                             "--head-model (default: scanned when --head-model is given)")
    parser.add_argument("--head-model", type=Path,
                        help="folder of your copy of ICT-FaceKit's face model (blendshapes.npz; see docs/synth.md)")
    parser.add_argument("--tracks", type=int, default=70, help="default 70 (the patent's)")
    parser.add_argument("--frames-per-track", type=int, default=7300,
                        help="default 7300: 70 x 7300 = 511,000 >= the patent's 510,960 frames")
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--color", choices=["nir", "rgb"], default="nir",
                        help="nir: near-infrared monochrome with active illumination (default); rgb")
    parser.add_argument("--crop-size", type=int, default=80, help="stored crop side in pixels (default 80)")
    parser.add_argument("--chunk-frames", type=int, default=1024, help="frames per shard file")
    parser.add_argument("--full-every", type=int, default=0,
                        help="also store a downscaled full frame every N frames (head-detector data); 0 = none")
    parser.add_argument("--full-size", type=_size, default=(160, 120), help="size of stored full frames (WxH)")
    parser.add_argument("--wide-yaw-scale", type=float, default=1.0,
                        help="x the rates of shoulder checks and passenger looks (default 1: a realistic drive, "
                             "0.5 %% of frames beyond |yaw| 60; training sets want more, e.g. 6)")
    parser.add_argument("--extreme-pose-scale", type=float, default=1.0,
                        help="x the rates of stretches, looks up, reaches down and head rests (default 1)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--shard-index", type=int, help="this job's index (with --num-shards)")
    parser.add_argument("--num-shards", type=int, help="number of jobs the dataset is split into")
    parser.add_argument("--data", type=Path, help="preview: an existing dataset to show")
    parser.add_argument("--track", type=int, default=0, help="preview: which track goes into the MP4")
    parser.add_argument("--seconds", type=float, default=8.0, help="preview: MP4 length")


def _config(args: argparse.Namespace) -> "SynthConfig":
    from synth.dataset import SynthConfig
    from synth.ict_model import load_head_model
    from synth.video import CropSpec
    head = args.head or ("scanned" if args.head_model else "ellipsoid")
    if head == "scanned":
        if not args.head_model:
            raise ValueError("--head scanned needs --head-model PATH (your copy of ICT-FaceKit's model)")
        load_head_model(args.head_model)     # a bad folder fails here, naming the file, before any work
    return SynthConfig(subjects=args.subjects, tracks=args.tracks, frames_per_track=args.frames_per_track,
                       fps=args.fps, seed=args.seed, color=args.color, crop=CropSpec(size=args.crop_size),
                       chunk_frames=args.chunk_frames, full_every=args.full_every, full_size=args.full_size,
                       head=head, head_model=str(Path(args.head_model).resolve()) if head == "scanned" else "",
                       wide_yaw_scale=args.wide_yaw_scale, extreme_pose_scale=args.extreme_pose_scale)


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except ValueError as exc:      # a bad option or head model: one line naming it, no traceback
        print(f"dms synth: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    if args.action == "merge":
        return _merge(Path(args.dir or args.out or "."))
    if args.action == "preview":
        from synth.preview import write_preview
        if args.out is None:
            print("dms synth preview: --out is required", file=sys.stderr)
            return 2
        paths = write_preview(args.out, data_dir=args.data, config=None if args.data else _config(args),
                              track=args.track, seconds=args.seconds)
        for p in paths:
            print(p)
        return 0
    if args.out is None:
        print("dms synth: --out DIR is required", file=sys.stderr)
        return 2
    return _generate(args)


def _generate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from synth.dataset import (MANIFEST_NAME, DatasetError, all_tasks, build_manifest, job_tasks, part_name,
                               run_tasks, track_descriptions, write_config, write_json)
    cfg = _config(args)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    sharded = args.num_shards is not None
    if sharded != (args.shard_index is not None):
        print("dms synth: --shard-index and --num-shards go together", file=sys.stderr)
        return 2
    try:
        write_config(cfg, out)
    except DatasetError as exc:
        print(f"dms synth: {exc}", file=sys.stderr)
        return 1
    tasks = job_tasks(cfg, args.shard_index, args.num_shards) if sharded else all_tasks(cfg)
    frames = sum(min(cfg.chunk_frames, cfg.frames_per_track - c * cfg.chunk_frames) for _, c in tasks)
    what = f"job {args.shard_index} of {args.num_shards}: " if sharded else ""
    print(f"{what}{len(tasks)} shards, {frames:,} frames of {cfg.total_frames:,} "
          f"({cfg.subjects} subjects, {cfg.tracks} tracks, {cfg.color}, {cfg.crop.size}px crops) -> {out}")
    start = time.perf_counter()
    with tqdm(total=frames, unit="frame", smoothing=0.05) as bar:
        records = run_tasks(cfg, out, tasks, args.workers, bar.update)
    tracks = track_descriptions(cfg, sorted({t for t, _ in tasks}))
    part = (args.shard_index, args.num_shards) if sharded else None
    manifest = build_manifest(cfg, records, tracks, part)
    name = part_name(*part) if part else MANIFEST_NAME
    write_json(out / name, manifest)
    secs = time.perf_counter() - start
    c = manifest["counts"]
    print(f"{c['frames']:,} frames in {secs:.0f} s ({c['frames'] / secs:.0f} frames/s), "
          f"{c['bytes'] / 1e6:.1f} MB ({c['bytes'] / max(c['frames'], 1) * 1e5 / 1e6:.1f} MB per 100k frames)")
    print(f"splits by subject: {manifest['splits']}")
    print(f"wrote {out / name}" + ("; run `dms synth merge` when every job has finished" if part else ""))
    return 0


def _merge(out: Path) -> int:
    from synth.dataset import DatasetError, merge_parts
    try:
        manifest = merge_parts(out)
    except DatasetError as exc:
        print(f"dms synth merge: {exc}", file=sys.stderr)
        return 1
    print(f"merged {manifest['counts']['shards']} shards, {manifest['counts']['frames']:,} frames -> {out / 'manifest.json'}")
    return 0
