"""Shared fixtures: a tiny exported FC-RNN and a tiny synthetic dataset, made once per session.

The model is random but shaped like a trained one where calibration can tell: batch-norm
statistics that are not the identity, recurrent weights with spectral radius ~0.5 (the
state matters for several frames and never explodes), pose outputs of tens of degrees.
The dataset's crops are 40 px so that the network window (0.8 of the crop) is exactly the
model's 32 px input.
"""

from __future__ import annotations

import argparse
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from calibration.pipeline import CalibrationConfig
from calibration.quantize import QuantConfig
from calibration.sources import SelectionConfig

# Small on purpose: each number keeps the whole calibration suite well under 40 s.
TEST_FRAMES = 24            # calibration frames (512 in production)
TEST_WARMUP = 20            # state warm-up frames (60 in production)
TEST_ENTROPY_BINS = 512     # 2048 in production; the KL search is the slow part
TEST_LATENCY_STEPS = 10


def fast_config(method: str = "entropy", **overrides) -> CalibrationConfig:
    cfg = CalibrationConfig(quant=QuantConfig(method=method, entropy_bins=TEST_ENTROPY_BINS,
                                              percentile_bins=TEST_ENTROPY_BINS),
                            selection=SelectionConfig(frames=TEST_FRAMES, warmup_frames=TEST_WARMUP),
                            latency_steps=TEST_LATENCY_STEPS)
    return replace(cfg, **overrides)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    from export.onnx_export import export_model
    from model.config import ModelConfig
    from tests.model_fakes import trained_like

    cfg = ModelConfig(input_size=(32, 32), edge_channels=(8, 16), edge_convs=(1, 1), fc_sizes=(24, 16), cell="fc")
    model = trained_like(cfg, seed=0, radius=0.5)
    out = tmp_path_factory.mktemp("tiny_model") / "model"
    export_model(model.eval(), out, parity_frames=30)
    return out


@pytest.fixture
def model_copy(tiny_model_dir, tmp_path) -> Path:
    """A fresh copy of the exported model folder (calibration writes into it)."""
    dst = tmp_path / "model"
    shutil.copytree(tiny_model_dir, dst)
    return dst


@pytest.fixture(scope="session", params=["entropy", "percentile", "minmax"])
def calibrated(request, tiny_model_dir, tiny_synth, tmp_path_factory):
    """(model folder, CalibrationResult) per method, calibrated once per session."""
    from calibration.pipeline import calibrate

    dst = tmp_path_factory.mktemp(f"calibrated_{request.param}") / "model"
    shutil.copytree(tiny_model_dir, dst)
    return dst, calibrate(dst, tiny_synth, fast_config(request.param))
