"""The exported step graph: the contract the runtime, calibration and deploy rely on."""

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from dms.manifest import load_manifest
from export.names import STEP_FILE
from export.onnx_export import ONNX_IR_VERSION, ONNX_OPSET, ExportError, export_model, export_step_graph

from .conftest import tiny_config, trained_like


def _shapes(values):
    return {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in values}


@pytest.mark.parametrize("cell, head, widths", [
    ("fc", "pose", [24, 16]),
    ("gru", "joint", [24, 16]),
    ("lstm", "landmarks", [48, 32]),   # LSTM state = (h, c): twice the layer width
    ("none", "pose", []),               # per-frame network: no state at all
])
def test_step_graph_has_the_documented_inputs_and_outputs(cell, head, widths):
    cfg = tiny_config(cell=cell, head=head, in_channels=3 if cell == "gru" else 1)
    proto = export_step_graph(trained_like(cfg))
    inputs, outputs = _shapes(proto.graph.input), _shapes(proto.graph.output)
    assert list(inputs) == ["image", *(f"state_{i}" for i in range(len(widths)))]
    assert inputs["image"] == [1, cfg.in_channels, 32, 32]
    expected_out = {"pose": ["pose"], "landmarks": ["landmarks"], "joint": ["pose", "landmarks"]}[head]
    assert list(outputs) == [*expected_out, *(f"state_{i}_out" for i in range(len(widths)))]
    assert outputs.get("pose", [1, 3]) == [1, 3] and outputs.get("landmarks", [1, 136]) == [1, 136]
    for i, w in enumerate(widths):
        assert inputs[f"state_{i}"] == [1, w] and outputs[f"state_{i}_out"] == [1, w]
    ops = {n.op_type for n in proto.graph.node}
    assert "BatchNormalization" not in ops                 # folded into the convs
    assert not ops & {"Shape", "Gather", "Constant"}       # constants folded, no shape arithmetic
    assert proto.opset_import[0].version == ONNX_OPSET == 17 and proto.ir_version == ONNX_IR_VERSION
    onnx.checker.check_model(proto, full_check=True)


def test_export_writes_a_model_folder_the_runtime_can_load(tmp_path):
    model = trained_like(tiny_config(cell="fc", pixel_mean=0.45, pixel_scale=4.0))
    result = export_model(model, tmp_path / "m", training={"data_sha256": "cd" * 32, "epoch": 3})
    manifest = load_manifest(tmp_path / "m")                       # sha256 of every file verified
    assert list(manifest.files) == [STEP_FILE] and manifest.files[STEP_FILE]["role"] == "step graph"
    assert manifest.preprocess == {"height": 32, "width": 32, "channels": 1, "color": "gray",
                                   "mean": [0.45], "scale": [4.0], "layout": "NCHW"}
    assert manifest.model["name"] == "edge-fcrnn-pose" and manifest.model["cell"] == "fc"
    assert manifest.model["config"] == model.config.to_dict()
    assert manifest.states == [
        {"input": "state_0", "output": "state_0_out", "shape": [1, 24], "layer": "layers.0"},
        {"input": "state_1", "output": "state_1_out", "shape": [1, 16], "layer": "layers.1"}]
    assert manifest.training == {"data_sha256": "cd" * 32, "epoch": 3}
    export_info = manifest.extra["export"]
    assert export_info["opset"] == 17 and export_info["parity"]["passed"] is True
    assert export_info["parity"]["frames"] == 300
    assert result.parity.passed and result.readiness.ok

    # Driven from the manifest alone, as the runtime will: names, shapes, state pairing.
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(tmp_path / "m" / STEP_FILE), opts, providers=["CPUExecutionProvider"])
    feeds = {t.name: np.zeros(t.shape, np.float32) for t in manifest.inputs}
    feeds["image"] = np.full(feeds["image"].shape, 0.3, np.float32)
    names = [t.name for t in manifest.outputs]
    first = dict(zip(names, sess.run(names, feeds)))
    for st in manifest.states:
        feeds[st["input"]] = first[st["output"]]
    second = dict(zip(names, sess.run(names, feeds)))
    state = model.init_state(1)
    with torch.no_grad():
        for out in (first, second):
            ref, state = model.step(torch.from_numpy(feeds["image"]), state)
            np.testing.assert_allclose(out["pose"], ref["pose"].numpy(), atol=1e-4)
    assert np.abs(first["pose"] - second["pose"]).max() > 1e-3   # the state did change the output


def test_export_stores_the_config_in_the_graph_metadata():
    cfg = tiny_config(cell="gru")
    props = {p.key: p.value for p in export_step_graph(trained_like(cfg)).metadata_props}
    assert props["dms.model"] == "edge-gru-pose" and json.loads(props["dms.config"]) == cfg.to_dict()


def test_export_leaves_the_callers_model_alone():
    model = trained_like(tiny_config(cell="fc")).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    export_step_graph(model)
    assert model.training and sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) == 2
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_an_existing_model_folder_is_not_overwritten_without_force(tmp_path):
    model = trained_like(tiny_config(cell="fc"))
    export_model(model, tmp_path, parity_frames=5)
    with pytest.raises(ExportError, match=f"{tmp_path}: already holds a model"):
        export_model(model, tmp_path, parity_frames=5)
    export_model(model, tmp_path, parity_frames=5, name="renamed", force=True)
    assert load_manifest(tmp_path).model["name"] == "renamed"


def test_a_failed_parity_writes_nothing(tmp_path, monkeypatch):
    import export.onnx_export as ex

    real = ex.export_step_graph

    def broken(model, opset=ONNX_OPSET):
        proto = real(model, opset)
        for init in proto.graph.initializer:      # the head's bias, off by 0.01
            if init.name == "heads.pose.bias":
                arr = onnx.numpy_helper.to_array(init) + 0.01
                init.CopyFrom(onnx.numpy_helper.from_array(arr.astype(np.float32), init.name))
        return proto

    monkeypatch.setattr(ex, "export_step_graph", broken)
    with pytest.raises(ExportError, match=r"step.onnx: parity .* max \|pose diff\| 1.00e-02 deg .*FAILED at frame \d+"):
        export_model(trained_like(tiny_config(cell="fc")), tmp_path / "m", parity_frames=5)
    assert not (tmp_path / "m").exists()
