"""Parity over a 300-frame clip with the state carried: ONNX Runtime running the exported
step graph gives what the (unfolded) PyTorch model gives, for every cell."""

import numpy as np
import onnx
import pytest

from export.onnx_export import export_step_graph
from export.parity import (
    PARITY_FRAMES, POSE_TOLERANCE_DEG, check_parity, parity_clip, run_onnx,
)
from model.config import ModelConfig

from .conftest import tiny_config, trained_like


@pytest.mark.parametrize("cell", ["fc", "gru", "lstm"])
def test_default_edge_model_matches_pytorch_over_300_frames(cell):
    model = trained_like(ModelConfig(cell=cell))          # the default edge network, 1x64x64, 256-256
    report = check_parity(model, export_step_graph(model))
    assert report.frames == PARITY_FRAMES == 300
    assert report.max_abs_diff["pose"] <= POSE_TOLERANCE_DEG == 1e-3, report.summary()
    assert report.max_state_diff < 1e-3 and report.passed


def test_the_state_matters_so_parity_is_not_vacuous():
    """With W_hh != 0 the carried state changes the pose by degrees: a graph that dropped
    it would fail parity by far more than the tolerance."""
    model = trained_like(ModelConfig(cell="fc"))
    proto = export_step_graph(model)
    clip = parity_clip(model.config, 60)
    carried, _, _ = run_onnx(proto, clip, ["pose"])
    reset = np.stack([run_onnx(proto, clip[t:t + 1], ["pose"])[0]["pose"][0] for t in range(0, 60, 10)])
    assert np.abs(carried["pose"][::10] - reset).max() > 100 * POSE_TOLERANCE_DEG
    assert np.abs(carried["pose"]).max() > 1.0            # tens of degrees, like a trained head


def test_states_wired_to_the_wrong_layer_fail_after_the_first_frame():
    model = trained_like(ModelConfig(cell="fc"))
    proto = export_step_graph(model)
    # Swap which layer's new state leaves as state_0_out / state_1_out (both 256 wide).
    rename = {"state_0_out": "h0", "state_1_out": "h1"}
    for node in proto.graph.node:
        node.input[:] = [rename.get(i, i) for i in node.input]
        node.output[:] = [rename.get(o, o) for o in node.output]
    proto.graph.node.extend([onnx.helper.make_node("Identity", ["h1"], ["state_0_out"]),
                             onnx.helper.make_node("Identity", ["h0"], ["state_1_out"])])
    report = check_parity(model, proto, frames=30)
    assert not report.passed
    assert report.worst_frame["pose"] > 0                  # frame 0 (zero state) still agrees
    assert "FAILED at frame" in report.summary()


def test_joint_head_landmarks_are_compared_too():
    model = trained_like(tiny_config(cell="lstm", head="joint", in_channels=3))
    report = check_parity(model, export_step_graph(model), frames=20)
    assert set(report.max_abs_diff) == {"pose", "landmarks"} and report.passed, report.summary()
