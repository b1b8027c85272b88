"""`dms build-engine MODEL_DIR --precision fp32|fp16|int8 [--dla CORE] [--workspace MB]
[--timing-cache FILE] [--out DIR] [--if-stale] [--plan-only --trt-version X.Y.Z]`.

Builds a serialized TensorRT engine for *this* device (the graph and flags chosen per
TensorRT release by deploy.trt_plan), writes the engine manifest beside it, and prints
the equivalent trtexec command. `--plan-only --trt-version 8.5.2` shows the plan for
another release without TensorRT (what a JetPack 5.1 device would build).

Only argparse at import; TensorRT loads when the build starts. Never torch.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = ("build a TensorRT engine for this device from a model folder (FP16/INT8 graph and flags per "
        "TensorRT release), with an engine manifest beside it; prints the equivalent trtexec command")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_dir", type=Path, metavar="MODEL_DIR",
                        help="a model folder from `dms export` (+ `dms calibrate` for fp16/int8)")
    parser.add_argument("--precision", choices=("fp32", "fp16", "int8"), default="int8",
                        help="engine precision (default int8: the Q/DQ graph; on TensorRT 8.5/10.3 the "
                             "calibration table when there is no Q/DQ graph, and always with --dla)")
    parser.add_argument("--dla", type=int, default=None, metavar="CORE",
                        help="run on DLA core CORE (fp16/int8 only), unsupported layers on the GPU; TensorRT "
                             "8.5-10.7 or 11.4.1+ on a Jetson with DLA (not Orin Nano, not Thor)")
    parser.add_argument("--workspace", type=int, default=None, metavar="MB",
                        help="cap TensorRT's build workspace at MB MiB (default: TensorRT's, the device memory)")
    parser.add_argument("--timing-cache", type=Path, default=None, metavar="FILE",
                        help="read kernel timings from FILE before the build and save them after it (a FILE "
                             "from another TensorRT release or device, or a corrupt one, is replaced, with a warning)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="folder for the engine and its manifest (default: MODEL_DIR)")
    parser.add_argument("--if-stale", action="store_true",
                        help="do nothing when the engine there is current for this device (TensorRT, GPU, "
                             "Jetson model, L4T release), model and options")
    parser.add_argument("--plan-only", action="store_true",
                        help="print the build plan and trtexec command, build nothing")
    parser.add_argument("--trt-version", default=None, metavar="X.Y.Z",
                        help="with --plan-only: plan for this TensorRT release instead of the installed one")


def _fail(message: str, code: int = 1) -> int:
    print(f"dms build-engine: error: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    from deploy.device import DeviceQueryError, query_device
    from deploy.engine_build import EngineBuildError
    from deploy.engine_job import build_engine, plan_for
    from deploy.engine_manifest import EngineManifestError
    from deploy.trt_plan import (BuildOptions, PlanError, TrtVersion, engine_file_name, format_command,
                                 trtexec_command)
    from dms.manifest import ManifestError

    if args.trt_version is not None and not args.plan_only:
        return _fail("--trt-version only plans (--plan-only): an engine is built by the TensorRT installed here", 2)
    options = BuildOptions(precision=args.precision, dla_core=args.dla, workspace_mb=args.workspace,
                           timing_cache=args.timing_cache)
    try:
        if args.plan_only:
            version = (TrtVersion.parse(args.trt_version) if args.trt_version is not None
                       else TrtVersion.parse(query_device().tensorrt_version))
            _, plan = plan_for(args.model_dir, options, version)
            out_dir = args.out if args.out is not None else args.model_dir
            engine = out_dir / engine_file_name(plan.precision, plan.dla_core)
            print(f"TensorRT {version}: {plan.api} network from {plan.graph}; network flags "
                  f"{list(plan.network_flags) or 'none'}; builder flags {list(plan.builder_flags) or 'none'}"
                  + (f"; calibration table {plan.calibration_table}" if plan.calibration_table else ""))
            for note in plan.notes:
                print(f"note: {note}")
            print("trtexec equivalent:\n  " + format_command(trtexec_command(plan, args.model_dir, engine)))
            return 0
        result = build_engine(args.model_dir, options, args.out, if_stale=args.if_stale)
    except (PlanError, ManifestError, EngineManifestError, DeviceQueryError, EngineBuildError) as exc:
        return _fail(str(exc))
    if result.built:
        print(f"wrote {result.engine_path} ({result.engine_path.stat().st_size} bytes) and {result.manifest_path}")
    else:
        print(f"{result.engine_path}: {result.reason}; nothing to do")
    return 0
