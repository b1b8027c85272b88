"""`dms calibrate MODEL_DIR --data DATA_DIR|VIDEO --method entropy|percentile|minmax`.

Writes into MODEL_DIR (beside step.onnx) and records in its manifest:
  step_int8.onnx                INT8 Q/DQ (symmetric, zero point 0, per-channel weights)
  step_fp16.onnx                FP16 with float32 inputs/outputs
  calibration_trt8.5.2.cache    TensorRT calibration table, JetPack 5.1 (implicit INT8)
  calibration_trt10.3.0.cache   the same for JetPack 6.1/6.2
  calibration_ranges.json       per-tensor ranges (for ITensor.set_dynamic_range)
  calibration_report.json/.md   FP32 vs INT8 vs FP16 on held-out sequences + CPU latency

Only argparse at import: onnx/onnxruntime/OpenCV load when the command runs; never torch.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from calibration import DEFAULT_METHOD, METHODS

HELP = ("calibrate a model folder: INT8 Q/DQ + TensorRT calibration tables + FP16 graph from "
        "representative frames with real hidden states, and an FP32/INT8/FP16 accuracy report")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_dir", type=Path, metavar="MODEL_DIR", help="a model folder written by `dms export`")
    parser.add_argument("--data", type=Path, required=True, metavar="DATA_DIR|VIDEO",
                        help="a `dms synth` dataset folder or a video file of drivers")
    parser.add_argument("--method", choices=METHODS, default=DEFAULT_METHOD,
                        help=f"how INT8 activation ranges are chosen (default {DEFAULT_METHOD}: the 99.999th "
                             "percentile of |x|; entropy is TensorRT's KL search, which clips ReLU layers hard)")
    parser.add_argument("--frames", type=int, default=None, metavar="N",
                        help="calibration frames, stratified over pose, subject and lighting (default 512)")
    parser.add_argument("--calib-split", default=None, metavar="SPLIT",
                        help="dataset split the frames come from (default train)")
    parser.add_argument("--report-split", default=None, metavar="SPLIT",
                        help="held-out split for the accuracy report (default test)")
    parser.add_argument("--report-data", type=Path, default=None, metavar="DATA_DIR|VIDEO",
                        help="report on this data instead (default: --data's report split; a video reports on itself)")
    parser.add_argument("--report-seconds", type=float, default=None, metavar="S",
                        help="length of each held-out sequence (default 60 s; 0 = whole tracks)")
    parser.add_argument("--latency-steps", type=int, default=None, metavar="N",
                        help="timed steps per precision and thread count in the report (default 300)")
    parser.add_argument("--seed", type=int, default=None, help="frame selection seed (default 0)")


def _fail(message: str, code: int = 1) -> int:
    print(f"dms calibrate: error: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from calibration.pipeline import CalibrationConfig, CalibrationError, calibrate
    from calibration.preprocess import PreprocessError
    from calibration.quantize import QuantConfig, QuantizeError
    from calibration.sources import SelectionConfig, SourceError
    from calibration.trt_table import TableError
    from dms.manifest import ManifestError

    expected: tuple[type[Exception], ...] = (CalibrationError, ManifestError, SourceError, PreprocessError,
                                             QuantizeError, TableError)
    try:  # the dataset readers need the training extras (scipy); a video needs none of them
        from synth.dataset import DatasetError
        from synth.shards import ShardError
        expected += (DatasetError, ShardError)
    except ImportError:
        pass

    cfg = CalibrationConfig(quant=QuantConfig(method=args.method))
    if args.frames is not None or args.seed is not None:
        sel = SelectionConfig()
        cfg = replace(cfg, selection=replace(sel, frames=sel.frames if args.frames is None else args.frames,
                                             seed=sel.seed if args.seed is None else args.seed))
    for attr, value in (("calib_split", args.calib_split), ("report_split", args.report_split),
                        ("report_seconds", args.report_seconds), ("latency_steps", args.latency_steps)):
        if value is not None:
            cfg = replace(cfg, **{attr: value})
    try:
        cfg.validate()
    except ValueError as exc:
        return _fail(str(exc), 2)
    try:
        result = calibrate(args.model_dir, args.data, cfg, report_data=args.report_data, log=print)
    except expected as exc:
        return _fail(str(exc))
    acc = result.summary["accuracy"]
    for name in ("int8", "fp16"):
        fig = acc.get(name, {})
        added = fig.get("mae_added_deg")
        verdict = ("" if fig.get("within_budget") is None else
                   ", within budget" if fig["within_budget"] else f", OVER the {fig['mae_budget_deg']} deg budget")
        print(f"{name}: max deviation from FP32 {fig.get('max_dev_from_fp32_deg', float('nan')):.3f} deg"
              + (f", MAE added {added:+.3f} deg" if added is not None else "") + verdict
              + f", on-road disagreement {100 * fig.get('on_road_disagreement', 0.0):.2f} %")
    for rel, role in result.files.items():
        print(f"wrote {result.model_dir / rel} ({role})")
    print(f"updated {result.manifest_path}")
    return 0
