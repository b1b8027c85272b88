"""The TensorRT readiness check refuses what the car's TensorRT would refuse, naming the
node and op, and passes what export writes."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from export.onnx_export import export_model, export_step_graph
from export.trt_readiness import TARGETS, check_model, check_path

from .conftest import tiny_config, trained_like

ROOT = Path(__file__).resolve().parents[2]


def _model(nodes, inputs, outputs, inits=(), opset=17):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def _vi(name, shape, dtype=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, shape)


def _messages(report, check):
    return [i.message for i in report.issues if i.check == check]


def test_every_exported_cell_and_head_is_ready_for_every_target():
    for cfg in (tiny_config(cell="fc"), tiny_config(cell="gru", head="joint"),
                tiny_config(cell="lstm", head="landmarks", in_channels=3), tiny_config(cell="none")):
        report = check_model(export_step_graph(trained_like(cfg)), "step.onnx")
        assert report.ok, report.summary()
        assert "TensorRT-ready for 8.5, 10.3, 10.13, 11" in report.summary()


def test_an_unsupported_op_is_named_with_node_and_versions():
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="act"),
             helper.make_node("Det", ["r"], ["y"], name="head/det")]
    report = check_model(_model(nodes, [_vi("x", [1, 3, 3])], [_vi("y", [1])]), "bad.onnx")
    [msg] = _messages(report, "operator")
    assert "node 'head/det' (Det)" in msg and "8.5 (JetPack 5.1)" in msg and "11 (JetPack 7.2.2+)" in msg
    assert "bad.onnx: node 'head/det' (Det)" in report.summary()


def test_an_op_added_after_tensorrt_8_5_fails_only_for_8_5():
    scale = numpy_helper.from_array(np.ones(4, np.float32), "gamma")
    nodes = [helper.make_node("LayerNormalization", ["x", "gamma"], ["y"], name="ln", axis=-1)]
    report = check_model(_model(nodes, [_vi("x", [1, 4])], [_vi("y", [1, 4])], [scale]))
    [msg] = _messages(report, "operator")
    assert "node 'ln' (LayerNormalization)" in msg and "TensorRT 8.5 (JetPack 5.1)" in msg
    assert "10.3" not in msg
    assert "release/8.5-GA" in msg   # the source of the claim travels with it


def test_a_dynamic_dimension_is_named():
    nodes = [helper.make_node("Relu", ["image"], ["y"], name="act")]
    report = check_model(_model(nodes, [_vi("image", ["batch", 1, 8, 8])], [_vi("y", ["batch", 1, 8, 8])]))
    msgs = _messages(report, "dynamic-shape")
    assert any("graph input 'image': dimension 0 is symbolic ('batch')" in m for m in msgs)
    assert any("graph output 'y'" in m for m in msgs)


def test_an_unknown_intermediate_shape_is_named():
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["r"], name="reshape"),
             helper.make_node("Relu", ["r"], ["y"], name="act")]
    shape_in = _vi("shape", [2], TensorProto.INT64)
    report = check_model(_model(nodes, [_vi("x", [1, 6]), shape_in], [_vi("y", [1, 6])]))
    assert any("node 'reshape' (Reshape): output 'r'" in m for m in _messages(report, "dynamic-shape"))
    assert any("graph input 'shape'" in m and "node 'reshape' (Reshape)" in m
               for m in _messages(report, "shape-arithmetic"))


def test_a_shape_gather_reshape_chain_is_named_from_source_to_consumer():
    idx = numpy_helper.from_array(np.array([0, 1], np.int64), "idx")
    nodes = [helper.make_node("Shape", ["x"], ["s"], name="get_shape"),
             helper.make_node("Gather", ["s", "idx"], ["g"], name="pick", axis=0),
             helper.make_node("Reshape", ["x", "g"], ["y"], name="flatten")]
    report = check_model(_model(nodes, [_vi("x", [1, 6, 1, 1])], [_vi("y", [1, 6])], [idx]))
    msgs = _messages(report, "shape-arithmetic")
    assert len(msgs) == 1, msgs   # one chain, one message (not one per link)
    assert "node 'flatten' (Reshape)" in msgs[0]
    assert "Shape 'get_shape' -> Gather 'pick' -> Reshape 'flatten'" in msgs[0]


def test_folding_removes_the_same_chain():
    from export.onnx_fold import fold_constants
    idx = numpy_helper.from_array(np.array([0, 1], np.int64), "idx")
    nodes = [helper.make_node("Shape", ["x"], ["s"], name="get_shape"),
             helper.make_node("Gather", ["s", "idx"], ["g"], name="pick", axis=0),
             helper.make_node("Reshape", ["x", "g"], ["r"], name="flatten"),
             helper.make_node("Relu", ["r"], ["y"], name="act")]
    folded = fold_constants(_model(nodes, [_vi("x", [1, 6, 1, 1])], [_vi("y", [1, 6])], [idx]))
    assert [n.op_type for n in folded.graph.node] == ["Reshape", "Relu"]
    assert check_model(folded).ok


def _qdq(zero_point, zp_type=TensorProto.INT8, with_zp=True):
    scale = numpy_helper.from_array(np.array(0.05, np.float32), "scale")
    zp = helper.make_tensor("zp", zp_type, [], [zero_point])
    q_inputs = ["x", "scale", "zp"] if with_zp else ["x", "scale"]
    nodes = [helper.make_node("QuantizeLinear", q_inputs, ["q"], name="q_in"),
             helper.make_node("DequantizeLinear", ["q", "scale", "zp"] if with_zp else ["q", "scale"], ["y"],
                              name="dq_in")]
    return _model(nodes, [_vi("x", [1, 4])], [_vi("y", [1, 4])], [scale, zp] if with_zp else [scale])


def test_symmetric_int8_qdq_passes():
    assert check_model(_qdq(0)).ok


def test_a_non_zero_zero_point_is_named():
    msgs = _messages(check_model(_qdq(3)), "quantization")
    assert any("node 'q_in' (QuantizeLinear): zero point 'zp' is 3, not 0" in m for m in msgs)
    assert any("node 'dq_in' (DequantizeLinear)" in m for m in msgs)


def test_uint8_or_missing_zero_points_are_refused():
    msgs = _messages(check_model(_qdq(128, TensorProto.UINT8)), "quantization")
    assert any("node 'q_in' (QuantizeLinear): zero point 'zp' is uint8, not int8" in m for m in msgs)
    msgs = _messages(check_model(_qdq(0, with_zp=False)), "quantization")
    assert any("node 'q_in' (QuantizeLinear): no zero point" in m for m in msgs)


def test_an_opset_too_new_for_tensorrt_8_5_is_refused():
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="act")]
    msgs = _messages(check_model(_model(nodes, [_vi("x", [1, 4])], [_vi("y", [1, 4])], opset=18)), "opset")
    assert len(msgs) == 1 and "opset 18 is outside TensorRT 8.5" in msgs[0]


def test_int64_graph_io_is_refused():
    nodes = [helper.make_node("Identity", ["x"], ["y"], name="id")]
    report = check_model(_model(nodes, [_vi("x", [1, 4], TensorProto.INT64)], [_vi("y", [1, 4], TensorProto.INT64)]))
    assert any("graph input 'x' is int64" in m for m in _messages(report, "io-dtype"))


def test_check_path_on_a_model_folder_verifies_files_and_manifest(tmp_path):
    export_model(trained_like(tiny_config(cell="gru")), tmp_path, parity_frames=3)
    [report] = check_path(tmp_path)
    assert report.ok, report.summary()
    # A graph swapped for one with other I/O but re-hashed: the manifest no longer describes it.
    other = export_step_graph(trained_like(tiny_config(cell="gru", fc_sizes=(24, 8))))
    onnx.save(other, str(tmp_path / "step.onnx"))
    from dms.manifest import ManifestError, load_manifest
    with pytest.raises(ManifestError, match="step.onnx: sha256"):
        check_path(tmp_path)
    manifest = load_manifest(tmp_path, verify_files=False)
    manifest.add_file(tmp_path, "step.onnx", role="step graph")
    manifest.save(tmp_path)
    [report] = check_path(tmp_path)
    assert any("manifest field 'inputs[2].shape': [1, 16] but the graph's 'state_1' is [1, 8]" in m
               for m in _messages(report, "manifest"))


def test_targets_cover_the_four_deployment_versions():
    assert [t.version for t in TARGETS] == ["8.5", "10.3", "10.13", "11"]
    assert all(t.min_opset <= 17 <= t.max_opset for t in TARGETS)
    for t in TARGETS:   # everything our step graphs use, on every target
        assert {"Conv", "Relu", "MaxPool", "Flatten", "Gemm", "MatMul", "Add", "Mul", "Sub", "Sigmoid",
                "Tanh", "Slice", "Concat", "QuantizeLinear", "DequantizeLinear", "Cast"} <= t.ops


def test_the_check_does_not_import_torch():
    """It runs on the Jetson, which has no torch."""
    code = ("import sys; import export.trt_readiness, export.names, export.onnx_fold, export.cli; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"
