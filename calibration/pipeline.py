"""`dms calibrate` end to end: frames -> real states -> ranges -> INT8 / FP16 / tables -> report
-> manifest. No torch anywhere on this path.

Everything is written to a staging folder inside MODEL_DIR and checked there (TensorRT
readiness, onnx.checker, float32 I/O identical to the FP32 graph); only then are the files
moved into place and recorded in the manifest with their sha256, so a model folder never
lists a precision graph that failed a check. Re-running replaces the previous
calibration's files and manifest entries.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import onnx

from calibration.preprocess import PreprocessSpec
from calibration.quantize import (QuantConfig, check_precision_graph, compute_ranges, convert_fp16,
                                  quantize_int8)
from calibration.report import (LATENCY_STEPS, LATENCY_THREADS, REPORT_SECONDS, build_report,
                                render_markdown)
from calibration.runner import StepSession
from calibration.sources import SelectionConfig, SynthSource, open_source
from calibration.trt_table import ALGORITHM, TABLE_TARGETS, TrtRelease, write_tables
from dms.manifest import MANIFEST_NAME, ModelManifest, load_manifest
from export.names import STEP_ROLE

INT8_FILE = "step_int8.onnx"
FP16_FILE = "step_fp16.onnx"
RANGES_FILE = "calibration_ranges.json"
REPORT_JSON = "calibration_report.json"
REPORT_MD = "calibration_report.md"
# Manifest roles (dms.manifest files[...].role): deploy and the runtime pick files by role.
INT8_ROLE = "int8 step graph"
FP16_ROLE = "fp16 step graph"
TABLE_ROLE = "tensorrt calibration table"
RANGES_ROLE = "calibration ranges"
REPORT_ROLE = "calibration report"
CALIBRATION_ROLES = frozenset({INT8_ROLE, FP16_ROLE, TABLE_ROLE, RANGES_ROLE, REPORT_ROLE})
# Calibration frames come from the training subjects; the report's from held-out ones.
CALIBRATION_SPLIT = "train"
REPORT_SPLIT = "test"
# report_seconds = 0: every held-out track from its first to its last frame.
WHOLE_SEQUENCES = 0.0


class CalibrationError(RuntimeError):
    """Calibration that cannot run or whose result must not ship; names the file or field."""


@dataclass(frozen=True)
class CalibrationConfig:
    quant: QuantConfig = field(default_factory=QuantConfig)
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    calib_split: str = CALIBRATION_SPLIT
    report_split: str = REPORT_SPLIT
    report_seconds: float = REPORT_SECONDS
    latency_steps: int = LATENCY_STEPS
    latency_threads: tuple[int, ...] = LATENCY_THREADS
    table_targets: tuple[TrtRelease, ...] = TABLE_TARGETS

    def validate(self) -> None:
        self.quant.validate()
        self.selection.validate()
        if self.report_seconds < 0:
            raise ValueError(f"report_seconds: must be >= 0 (0 = whole tracks), got {self.report_seconds}")
        if self.latency_steps < 1 or not self.latency_threads or min(self.latency_threads) < 1:
            raise ValueError(f"latency_steps ({self.latency_steps}) and latency_threads "
                             f"({self.latency_threads}) must be >= 1")


@dataclass
class CalibrationResult:
    model_dir: Path
    manifest_path: Path
    files: dict[str, str]          # manifest-relative path -> role
    report: dict[str, Any]
    summary: dict[str, Any]        # what went into the manifest's extra.calibration


def step_graph_file(manifest: ModelManifest, model_dir: Path) -> str:
    """The manifest entry of the FP32 step graph (role 'step graph')."""
    for rel, entry in manifest.files.items():
        if entry.get("role") == STEP_ROLE:
            return rel
    raise CalibrationError(f"{model_dir / MANIFEST_NAME}: field 'files': no file with role '{STEP_ROLE}' "
                           "(export the model with `dms export` first)")


def _accuracy_summary(report: dict[str, Any]) -> dict[str, Any]:
    """The figures the manifest keeps (the report file holds the rest)."""
    out: dict[str, Any] = {}
    for name, block in report["accuracy"]["precisions"].items():
        fig: dict[str, Any] = {}
        for key in ("mae_deg", "mae_added_deg", "max_dev_from_fp32_deg"):
            if key in block:
                fig[key] = block[key]["mean"] if key != "max_dev_from_fp32_deg" else max(
                    v for k, v in block[key].items() if k != "mean")
        for key in ("on_road_disagreement", "max_yaw_drift_deg", "within_budget", "mae_budget_deg"):
            if key in block:
                fig[key] = block[key]
        lat = report["latency"].get(name, {})
        fig["cpu_p50_ms"] = {t: v["p50_ms"] for t, v in lat.items()}
        out[name] = fig
    return out


def calibrate(model_dir: Path | str, data: Path | str, config: CalibrationConfig | None = None,
              report_data: Path | str | None = None, log: Callable[[str], None] | None = None) -> CalibrationResult:
    """Calibrate MODEL_DIR's step graph with frames from `data` (a `dms synth` folder or a
    video file) and report on held-out sequences (`report_data`, default: `data`'s
    report split; for a video, the video itself)."""
    config = config or CalibrationConfig()
    config.validate()
    say = log or (lambda _msg: None)
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise CalibrationError(f"{model_dir}: no such model folder (write one with `dms export`)")
    manifest = load_manifest(model_dir, verify_files=True)
    step_rel = step_graph_file(manifest, model_dir)
    step_path = model_dir / step_rel
    spec = PreprocessSpec.from_manifest(manifest.preprocess, str(model_dir / MANIFEST_NAME))

    # Open both data sources first: a missing split must stop us before minutes of work.
    source = open_source(data, spec, config.calib_split)
    if report_data is not None:
        report_source = open_source(report_data, spec, config.report_split)
    elif isinstance(source, SynthSource):
        report_source = SynthSource(source.data_dir, config.report_split)
    else:
        report_source = source
    say(f"calibration data: {source.describe()['kind']} {data}; report on {report_source.describe()}")
    if report_source is source or (isinstance(report_source, SynthSource) and isinstance(source, SynthSource)
                                   and report_source.data_dir.resolve() == source.data_dir.resolve()
                                   and report_source.split == source.split):
        say("warning: the report runs on the calibration data itself, not on held-out data")

    session = StepSession(step_path, manifest)
    calib = source.calibration_set(session, spec, config.selection)
    state_ranges = calib.state_ranges()
    say(f"{len(calib)} calibration frames over {calib.stratification['strata_covered']} strata; "
        f"real state ranges: " + ", ".join(f"{k} [{v['min']:.3g}, {v['max']:.3g}]" for k, v in state_ranges.items()))
    feeds = calib.feeds()
    ranges = compute_ranges(step_path, feeds, config.quant)
    fp32 = onnx.load(str(step_path))

    stage = Path(tempfile.mkdtemp(prefix=".calibration-", dir=model_dir))
    try:
        quantize_int8(step_path, stage / INT8_FILE, feeds, ranges, config.quant)
        int8 = onnx.load(str(stage / INT8_FILE))
        check_precision_graph(int8, fp32, str(model_dir / INT8_FILE), expect_qdq=True)
        fp16 = convert_fp16(fp32)
        check_precision_graph(fp16, fp32, str(model_dir / FP16_FILE), expect_qdq=False)
        onnx.save(fp16, str(stage / FP16_FILE))
        say(f"{INT8_FILE} ({config.quant.method}) and {FP16_FILE}: TensorRT-ready, float32 I/O")
        state_outputs = {st["output"] for st in manifest.states}
        float_outputs = frozenset(t.name for t in manifest.outputs if t.name not in state_outputs)
        tables, skipped = write_tables(stage, ranges.amax(), fp32, config.table_targets, float_outputs)
        (stage / RANGES_FILE).write_text(json.dumps(ranges.to_dict(), indent=1) + "\n")

        max_frames = (None if config.report_seconds == WHOLE_SEQUENCES
                      else max(1, int(round(config.report_seconds * report_source.fps))))
        # labels in the frame the model's pose is relative to (ray or camera, dms.perspective)
        sequences = report_source.sequences(spec, max_frames, str(manifest.model.get("pose_frame", "camera")))
        models = {"fp32": step_path, "int8": stage / INT8_FILE, "fp16": stage / FP16_FILE}
        report = build_report(models, manifest, sequences, config.latency_threads, config.latency_steps)
        report["files"] = {"fp32": step_rel, "int8": INT8_FILE, "fp16": FP16_FILE}
        summary: dict[str, Any] = {
            "method": config.quant.method,
            "settings": config.quant.to_dict(),
            "frames": len(calib),
            "source": calib.source,
            "data_hash": calib.source.get("content_hash") or calib.source.get("sha256"),
            "stratification": calib.stratification,
            "state_ranges": state_ranges,
            "report_data": report_source.describe(),
            "tensorrt_tables": {t.version: {"file": tables[t.version], "header": f"TRT-{t.code}-{ALGORITHM}",
                                            "platform": t.platform} for t in config.table_targets},
            "tensors_without_scale": skipped,
            "outputs_kept_float": sorted(float_outputs),
            "selection": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config.selection).items()},
        }
        report["calibration"] = dict(summary)
        (stage / REPORT_JSON).write_text(json.dumps(report, indent=2) + "\n")
        (stage / REPORT_MD).write_text(render_markdown(report, f"Calibration report: {manifest.model['name']}"))

        roles = {INT8_FILE: INT8_ROLE, FP16_FILE: FP16_ROLE, RANGES_FILE: RANGES_ROLE,
                 REPORT_JSON: REPORT_ROLE, REPORT_MD: REPORT_ROLE, **{f: TABLE_ROLE for f in tables.values()}}
        for rel, entry in list(manifest.files.items()):  # the previous calibration's entries
            if entry.get("role") in CALIBRATION_ROLES:
                del manifest.files[rel]
                if rel not in roles and (model_dir / rel).is_file():
                    (model_dir / rel).unlink()
        for rel in roles:
            os.replace(stage / rel, model_dir / rel)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    for rel, role in roles.items():
        manifest.add_file(model_dir, rel, role=role)
    summary["accuracy"] = _accuracy_summary(report)
    summary["files"] = dict(roles)
    manifest.extra["calibration"] = summary
    manifest_path = manifest.save(model_dir)
    return CalibrationResult(model_dir, manifest_path, roles, report, summary)
