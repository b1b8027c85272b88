"""`dms bench`: per-stage latency (p50 / p95 / p99), frames per second, deadline misses at a
camera rate and resident memory of the per-frame loop, as a table, JSON and a histogram
PNG; several backends / precisions compared on the same frames.

Declares arguments only; the pipeline's libraries are imported when the command runs.
`--memory` is the flatness check: 100,000 frames by default, RSS sampled 100 times.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

from runtime.assemble import add_model_arguments

HELP = "latency per stage (p50/p95/p99), fps, deadline misses, memory of the loop; compares backends/precisions"
DEFAULT_OUT = Path("runs/bench")
DEFAULT_FRAMES = 3000
MEMORY_FRAMES = 100_000
# Frames decoded/rendered once and replayed forward and backward: 2 s of drive at 30 fps.
DEFAULT_REPLAY = 60


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", default="synthetic:0",
                        help="frames to replay: synthetic[:SEED] (default synthetic:0, 640x480), a video or image folder")
    add_model_arguments(parser)
    parser.add_argument("--compare", default=None, metavar="BACKEND:PRECISION,...",
                        help="configurations to compare on the same frames, e.g. onnxruntime:fp32,onnxruntime:int8 "
                             "(default: --backend:--precision only)")
    parser.add_argument("--frames", type=int, default=None,
                        help=f"frames per configuration (default {DEFAULT_FRAMES}; {MEMORY_FRAMES} with --memory)")
    parser.add_argument("--replay", type=int, default=DEFAULT_REPLAY,
                        help=f"distinct frames read once and replayed (default {DEFAULT_REPLAY})")
    parser.add_argument("--memory", action="store_true",
                        help=f"memory-flatness run: {MEMORY_FRAMES} frames unless --frames, RSS growth must be < 5 MB")
    parser.add_argument("--no-monitor", action="store_true", help="leave the attention monitor out of the loop")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"report folder (default {DEFAULT_OUT})")
    parser.add_argument("--no-png", action="store_true", help="skip the histogram PNG")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is not met")


def configurations(args: argparse.Namespace) -> list[tuple[str, str]]:
    if not args.compare:
        return [(args.backend, args.precision)]
    out = []
    for item in args.compare.split(","):
        backend, _, precision = item.strip().partition(":")
        out.append((backend, precision or "fp32"))
    return out


def run(args: argparse.Namespace) -> int:
    from dms.manifest import ManifestError
    from runtime.assemble import build_pipeline, runtime_config
    from runtime.attention import AttentionMonitor
    from runtime.backends.base import BackendError
    from runtime.bench import BenchResult, bench_one, load_frames, table, write_report
    from runtime.haar import HaarError
    from runtime.sources import SourceError, open_source

    frames = args.frames or (MEMORY_FRAMES if args.memory else DEFAULT_FRAMES)
    try:
        synthetic = {"frames": args.replay} if args.source.startswith("synthetic") else {}
        source = open_source(args.source, args.fps, **synthetic)
    except (SourceError, ValueError) as exc:
        print(f"dms bench: {exc}", file=sys.stderr)
        return 2
    fps = args.fps or source.fps
    config = runtime_config(args, fps)
    print(f"reading {args.replay} frames of {source.name} once ...", file=sys.stderr)
    intrinsics_source = source
    images, truths = load_frames(source, args.replay)
    if not images:
        print(f"dms bench: {source.name} gave no frames", file=sys.stderr)
        return 2
    results: list[BenchResult] = []

    def _term(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt            # SIGTERM stops like Ctrl-C: the report is still written

    signal.signal(signal.SIGTERM, _term)
    for backend, precision in configurations(args):
        cfg_args = replace_ns(args, backend=backend, precision=precision)
        name = f"{backend}:{precision}"

        def make(profiler: Any, cfg_args: argparse.Namespace = cfg_args) -> Any:
            monitor = None if args.no_monitor else AttentionMonitor()
            return build_pipeline(cfg_args, config, source=intrinsics_source, monitor=monitor, profiler=profiler)

        print(f"{name}: {frames} frames ...", file=sys.stderr)
        try:
            results.append(bench_one(make, images, truths, frames, fps, name))
        except (ManifestError, BackendError, HaarError) as exc:
            print(f"dms bench: {name}: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print(f"{name}: stopped during warm-up", file=sys.stderr)
            break
        if results[-1].interrupted:
            print(f"{name}: stopped after {results[-1].frames} frames; later configurations skipped", file=sys.stderr)
            break
    if not results:
        return 130
    report = write_report(results, args.out, args, args.memory, source.name, png=not args.no_png)
    print(table(results))
    failed = []
    for name, targets in report["targets"].items():
        for key, t in targets.items():
            mark = "met" if t["met"] else "NOT met"
            val = t.get("ms", t.get("mb"))
            unit = "MB" if "mb" in t else "ms"
            print(f"target {name} {key}: {val:.3f} {unit} <= {t['target']} {unit}: {mark}")
            if not t["met"]:
                failed.append(f"{name} {key}")
    print(f"wrote {args.out}/bench.json, bench.txt" + ("" if args.no_png else ", latency_histogram.png"))
    return 1 if args.check and failed else 0


def replace_ns(ns: argparse.Namespace, **kw: Any) -> argparse.Namespace:
    d = vars(ns).copy()
    d.update(kw)
    return argparse.Namespace(**d)
