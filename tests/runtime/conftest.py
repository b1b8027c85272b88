"""Fixtures of the per-frame loop's tests (runtime/pipeline.py and friends): a tiny
exported model folder and a short rendered synthetic clip, each made once per session."""

import pytest

from tests.runtime.loop_helpers import render_clip


@pytest.fixture(scope="session")
def loop_model_dir(tmp_path_factory):
    """A tiny FC-RNN exported with `ray` pose output, as `dms export` writes it."""
    import torch

    from export.onnx_export import export_model
    from model.config import ModelConfig
    from tests.model_fakes import trained_like

    torch.manual_seed(0)
    cfg = ModelConfig(cell="fc", input_size=(32, 32), edge_channels=(8, 16), edge_convs=(1, 1),
                      fc_sizes=(24, 16), pose_frame="ray")
    out = tmp_path_factory.mktemp("loop_model") / "m"
    export_model(trained_like(cfg), out, parity_frames=30)
    return out


@pytest.fixture(scope="session")
def loop_clip():
    """8 frames of synthetic drive 0 (640x480 NIR, A-pillar mount; Haar finds this face)."""
    return render_clip(seed=0, frames=8)
