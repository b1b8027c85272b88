"""`dms evaluate-real`: the real-face yardstick (train.real_eval) on any shipped model.

Declares arguments only; numpy, OpenCV, ONNX Runtime and scipy are imported when the
command runs. No torch.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

HELP = ("score a model on real labelled faces (AFLW2000-3D, BIWI) through the runtime's path, with the "
        "runtime's crop and with the crop from the labels; markdown + JSON + PNG report")

DEFAULT_OUT = Path("runs/evaluate_real")   # git-ignored: the contact sheets are real photos
TEACHER_FILE = "teacher_mediapipe.csv"     # the teacher's output beside the data (scripts/teacher_mediapipe.py)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from runtime.assemble import add_model_arguments

    add_model_arguments(parser)
    parser.add_argument("--data", type=Path, required=True,
                        help="the labelled faces: an AFLW2000-3D folder (image*.jpg + .mat) or BIWI's hpdb/ "
                             "(or one sequence folder of it)")
    parser.add_argument("--format", choices=("aflw2000", "biwi"), default="aflw2000", help="dataset (default aflw2000)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"report folder (default {DEFAULT_OUT})")
    parser.add_argument("--crops", default="runtime,labels",
                        help="which crops to score: runtime (the car's localiser), labels (the training framing "
                             "of the labelled face); default both")
    parser.add_argument("--frames-per-still", type=int, default=1,
                        help="frames each still image is shown for, state carried, reset per image (default 1)")
    parser.add_argument("--max-abs-deg", type=float, default=99.0,
                        help="leave out faces with any |label angle| above this (default 99: the AFLW2000 protocol)")
    parser.add_argument("--teacher", type=Path, default=None,
                        help=f"teacher CSV to score beside ours (default DATA/{TEACHER_FILE} when present; 'none' to "
                             "skip); made by scripts/teacher_mediapipe.py")
    parser.add_argument("--worst", type=int, default=12, help="faces on the worst-errors contact sheet (default 12)")
    parser.add_argument("--no-png", action="store_true", help="markdown and JSON only")
    parser.add_argument("--summary-only", action="store_true",
                        help="markdown and the JSON summary, without per-face rows or images: the form that may be "
                             "committed beside a model (real photos and their labels never are)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def command_line(args: argparse.Namespace) -> str:
    """The command with every setting that changes a number spelled out: it reproduces the report."""
    parts = ["dms", "evaluate-real", "--model", str(args.model), "--data", str(args.data), "--format", args.format,
             "--crops", args.crops, "--backend", args.backend, "--precision", args.precision,
             "--detector", args.detector, "--frames-per-still", str(args.frames_per_still),
             "--max-abs-deg", f"{args.max_abs_deg:g}", "--out", str(args.out)]
    parts += ["--intrinsics", args.intrinsics] if args.intrinsics else ["--hfov", f"{args.hfov:g}"]
    if args.teacher is not None:
        parts += ["--teacher", str(args.teacher)]
    return " ".join(shlex.quote(p) for p in parts)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from runtime.assemble import build_localiser, runtime_config
    from runtime.backends import open_backend
    from runtime.run_cli import _model_hash
    from train.readers.common import ReaderError
    from train.real_eval import (MODES, FaceResult, RealEvalConfig, Runner, crop_agreement, load_clips, read_teacher, run_clip,
                                 summarise, teacher_faces)
    from train.real_eval_report import write_report

    cfg = RealEvalConfig(frames_per_still=args.frames_per_still, max_abs_deg=args.max_abs_deg, worst=args.worst)
    try:
        cfg.validate()
    except ValueError as exc:
        raise SystemExit(f"dms evaluate-real: {exc}") from None
    modes = [m.strip() for m in args.crops.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise SystemExit(f"--crops: expected a list of {', '.join(MODES)}, got {args.crops!r}")
    if not args.data.exists():
        raise SystemExit(f"--data: {args.data}: no such folder")
    try:
        clips, dropped = load_clips(args.data, args.format, cfg.max_abs_deg)
    except ReaderError as exc:
        raise SystemExit(f"dms evaluate-real: {exc}") from None
    if not clips:
        raise SystemExit(f"dms evaluate-real: {args.data}: no face left to score after the |angle| protocol")

    config = runtime_config(args, args.fps or 30.0)
    backend, manifest = open_backend(args.model, args.backend, args.precision, threads=args.threads,
                                     engine=args.engine)
    runner = Runner(backend, manifest, build_localiser(args.detector, args.model, config, args.threads), config,
                    intrinsics=config.camera.intrinsics((0, 0)) if args.intrinsics else None)
    faces: dict[str, list[FaceResult]] = {}
    n = sum(len(c.samples) for c in clips)
    try:
        for mode in modes:
            rows: list[FaceResult] = []
            for clip in tqdm(clips, desc=f"evaluate-real ({mode} crop)", unit="clip", disable=args.quiet,
                             total=len(clips), leave=False, postfix={"faces": n}):
                rows.extend(run_clip(runner, clip, mode, cfg))
            faces[mode] = rows
    except ReaderError as exc:
        raise SystemExit(f"dms evaluate-real: {exc}") from None
    finally:
        backend.close()

    summary_rows = {m: summarise(r, cfg.yaw_bins) for m, r in faces.items()}
    skip_teacher = args.teacher is not None and str(args.teacher).lower() == "none"
    teacher_path = args.teacher if args.teacher is not None else args.data / TEACHER_FILE
    if not skip_teacher and teacher_path.is_file() and args.format == "aflw2000":
        reference = faces[modes[0]]
        try:
            teacher = read_teacher(teacher_path, [f.name for f in reference])
        except ReaderError as exc:
            raise SystemExit(f"dms evaluate-real: {exc}") from None
        faces["teacher"] = teacher_faces(teacher, reference)
        summary_rows["teacher"] = summarise(faces["teacher"], cfg.yaw_bins)
        seen = {f.name for f in faces["teacher"] if f.found}
        for m in modes:
            summary_rows[f"{m}@teacher"] = summarise([f for f in faces[m] if f.name in seen], cfg.yaw_bins)
    elif args.teacher is not None and not skip_teacher:
        raise SystemExit(f"--teacher: {args.teacher}: no such file (or not an aflw2000 run)")

    summary = {"command": command_line(args),
               "model": str(args.model), "model_sha256": _model_hash(manifest), "data": str(args.data),
               "format": args.format, "backend": args.backend, "precision": args.precision,
               "config": {"frames_per_still": cfg.frames_per_still, "max_abs_deg": cfg.max_abs_deg,
                          "hfov_deg": args.hfov, "intrinsics": args.intrinsics, "detector": args.detector},
               "faces_scored": n, "dropped": dropped, "rows": summary_rows}
    if "runtime" in faces and "labels" in faces:
        summary["crop_agreement"] = crop_agreement(faces["runtime"])
    written = write_report(args.out, summary, faces, cfg.worst, png=not (args.no_png or args.summary_only),
                           per_face=not args.summary_only)
    from train.real_eval_report import markdown

    print(markdown({**summary, "worst": {}}), end="")
    print("wrote " + ", ".join(str(p) for p in written))
    return 0
