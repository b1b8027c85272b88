"""Calibration end to end on a tiny model and clip, once per method (entropy, percentile, minmax)."""

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, numpy_helper

from calibration.pipeline import FP16_FILE, INT8_FILE, REPORT_JSON, TABLE_ROLE, calibrate
from calibration.preprocess import PreprocessSpec
from calibration.quantize import qdq_scales
from calibration.runner import StepSession
from calibration.sources import SynthSource
from calibration.trt_table import parse_table
from dms.manifest import load_manifest, sha256_file
from export.trt_readiness import check_model

from .conftest import fast_config

# Loose bounds for a random tiny model with poses of tens of degrees (measured: INT8 max
# deviation 0.05-0.25 deg, FP16 < 0.002 deg); a wiring or range error gives degrees.
INT8_MAX_DEV_DEG = 1.5
FP16_MAX_DEV_DEG = 0.02


def _io(model):
    return [(v.name, v.type.tensor_type.elem_type, [d.dim_value for d in v.type.tensor_type.shape.dim])
            for v in [*model.graph.input, *model.graph.output]]


def test_int8_graph_is_tensorrt_ready_with_float32_io(calibrated):
    model_dir, result = calibrated
    int8 = onnx.load(str(model_dir / INT8_FILE))
    fp32 = onnx.load(str(model_dir / "step.onnx"))
    onnx.checker.check_model(int8, full_check=True)
    report = check_model(int8, INT8_FILE)
    assert report.ok, report.summary()
    assert _io(int8) == _io(fp32)
    assert all(t == TensorProto.FLOAT for _, t, _ in _io(int8))
    inits = {t.name: numpy_helper.to_array(t) for t in int8.graph.initializer}
    qdq = [n for n in int8.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    assert qdq
    for node in qdq:
        zp = inits[node.input[2]]
        assert zp.dtype == np.int8 and not zp.any(), f"{node.name}: zero point must be int8 0"
    quantised = {n.input[0] for n in int8.graph.node if n.op_type == "QuantizeLinear"}
    assert {"image", "state_0", "state_1"} <= quantised
    # the pose head's output stays float (an int8 pose would have 0.7-degree steps)
    producer = {o: n for n in int8.graph.node for o in n.output}
    assert producer["pose"].op_type == "Gemm"


def test_int8_and_fp16_track_fp32_on_held_out_clip(calibrated, tiny_synth):
    model_dir, _ = calibrated
    manifest = load_manifest(model_dir)
    spec = PreprocessSpec.from_manifest(manifest.preprocess)
    clip = next(SynthSource(tiny_synth, "test").sequences(spec, 60))
    pose = {}
    for name in ("step.onnx", INT8_FILE, FP16_FILE):
        pose[name] = StepSession(model_dir / name, manifest).run_sequence(clip.images).outputs["pose"]
    assert np.abs(pose["step.onnx"]).max() > 5.0       # a meaningful comparison: poses of degrees
    assert np.abs(pose[INT8_FILE] - pose["step.onnx"]).max() <= INT8_MAX_DEV_DEG
    assert np.abs(pose[FP16_FILE] - pose["step.onnx"]).max() <= FP16_MAX_DEV_DEG
    fp16 = onnx.load(str(model_dir / FP16_FILE))
    assert all(t == TensorProto.FLOAT for _, t, _ in _io(fp16))
    assert any(i.data_type == TensorProto.FLOAT16 for i in fp16.graph.initializer)
    assert check_model(fp16, FP16_FILE).ok


def test_tables_parse_and_agree_with_the_int8_graph(calibrated):
    model_dir, result = calibrated
    tables = [rel for rel, role in result.files.items() if role == TABLE_ROLE]
    assert len(tables) == 2
    ranges = json.loads((model_dir / "calibration_ranges.json").read_text())["tensors"]
    int8_scales = qdq_scales(onnx.load(str(model_dir / INT8_FILE)))
    codes = set()
    for rel in tables:
        parsed = parse_table((model_dir / rel).read_text(), rel)
        codes.add(parsed.version_code)
        assert parsed.algorithm == "EntropyCalibration2"
        for name in ("image", "state_0", "state_1"):
            assert parsed.scales[name] > 0.0
            assert parsed.scales[name] == pytest.approx(ranges[name]["amax"] / 127, rel=1e-6)
            # one set of ranges: the explicit (Q/DQ) and implicit (table) paths agree
            assert parsed.scales[name] == pytest.approx(int8_scales[name], rel=1e-6)
        assert "pose" not in parsed.scales                # the head stays out of INT8
        assert "state_0_out" in parsed.scales
    assert codes == {8502, 100300}


def test_states_were_calibrated_with_real_states(calibrated):
    _, result = calibrated
    ranges = result.summary["state_ranges"]
    assert set(ranges) == {"state_0", "state_1"}
    for name, r in ranges.items():
        assert r["max"] > 0.0 and r["min"] >= 0.0, name      # ReLU states: >= 0, and not all zero
        assert r["zero_share"] < 1.0


def test_manifest_records_every_file_with_its_sha256(calibrated):
    model_dir, result = calibrated
    manifest = load_manifest(model_dir, verify_files=True)
    for rel, role in result.files.items():
        assert manifest.files[rel]["role"] == role
        assert manifest.files[rel]["sha256"] == sha256_file(model_dir / rel)
    assert manifest.files["step.onnx"]["role"] == "step graph"
    cal = manifest.extra["calibration"]
    assert cal["method"] == result.summary["method"] and cal["frames"] == 24
    assert cal["source"]["kind"] == "synth" and cal["data_hash"] == cal["source"]["content_hash"]
    assert cal["stratification"]["by_subject"]
    assert set(cal["accuracy"]) == {"fp32", "int8", "fp16"}
    assert cal["accuracy"]["int8"]["mae_budget_deg"] == 0.3


def test_report_has_accuracy_and_latency(calibrated):
    model_dir, result = calibrated
    report = json.loads((model_dir / REPORT_JSON).read_text())
    acc = report["accuracy"]
    assert acc["labelled"] and acc["frames"] == 60
    for name in ("int8", "fp16"):
        block = acc["precisions"][name]
        assert set(block["mae_added_deg"]) == {"pitch", "yaw", "roll", "mean"}
        assert 0.0 <= block["on_road_disagreement"] <= 1.0
        assert block["max_yaw_drift_deg"] >= 0.0
    for name in ("fp32", "int8", "fp16"):
        assert set(report["latency"][name]) == {"1", "2"}
        assert report["latency"][name]["1"]["p50_ms"] > 0.0
    md = (model_dir / "calibration_report.md").read_text()
    assert "| int8 |" in md and "p50" in md


def test_recalibration_replaces_the_previous_one(model_copy, tiny_synth):
    calibrate(model_copy, tiny_synth, fast_config("minmax"))
    first = load_manifest(model_copy).files[INT8_FILE]["sha256"]
    calibrate(model_copy, tiny_synth, fast_config("percentile"))
    manifest = load_manifest(model_copy, verify_files=True)
    assert manifest.extra["calibration"]["method"] == "percentile"
    assert manifest.files[INT8_FILE]["sha256"] != first
    assert not [p for p in model_copy.iterdir() if p.name.startswith(".calibration-")]
