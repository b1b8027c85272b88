"""Fixtures for the deploy room: model folders (a fast fake one, and a real exported and
calibrated tiny model), a wheel built once, device descriptions, and a fake TensorRT.

Nothing here needs TensorRT or a GPU; the fake TensorRT records the builder calls so the
tests can check their order against what the plan asked for.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from deploy.device import DeviceInfo
from dms.manifest import ModelManifest, TensorSpec

ROOT = Path(__file__).resolve().parents[2]
ORIN_JP6 = DeviceInfo("10.3.0.30", "Orin", "8.7", "12.6")
ORIN_JP5 = DeviceInfo("8.5.2.2", "Orin", "8.7", "11.4")
XAVIER_JP5 = DeviceInfo("8.5.2.2", "Xavier", "7.2", "11.4")
ORIN_JP7 = DeviceInfo("10.13.3.9", "Orin", "8.7", "13.0")


def write_fake_model(model_dir: Path, fp16: bool = True, int8: bool = True,
                     tables: tuple[str, ...] = ("8.5.2", "10.3.0")) -> Path:
    """A model folder with the real manifest layout and roles but placeholder graph bytes:
    deploy only hashes, copies and plans from these files (TensorRT parses them on a Jetson)."""
    model_dir.mkdir(parents=True, exist_ok=True)
    files = {"step.onnx": ("step graph", b"fp32 graph")}
    if fp16:
        files["step_fp16.onnx"] = ("fp16 step graph", b"fp16 graph")
    if int8:
        files["step_int8.onnx"] = ("int8 step graph", b"int8 q/dq graph")
    for version in tables:
        files[f"calibration_trt{version}.cache"] = ("tensorrt calibration table",
                                                    f"TRT-{version}-EntropyCalibration2\n".encode())
    manifest = ModelManifest(
        model={"name": "tiny-fcrnn-pose", "backbone": "edge", "head": "pose", "cell": "fc"},
        preprocess={"height": 32, "width": 32, "channels": 1, "color": "gray", "mean": [0.5], "scale": [2.0],
                    "layout": "NCHW"},
        inputs=[TensorSpec("image", [1, 1, 32, 32]), TensorSpec("state_0", [1, 16])],
        outputs=[TensorSpec("pose", [1, 3]), TensorSpec("state_0_out", [1, 16])],
        states=[{"input": "state_0", "output": "state_0_out", "shape": [1, 16]}],
    )
    for rel, (role, data) in files.items():
        (model_dir / rel).write_bytes(data)
        manifest.add_file(model_dir, rel, role=role)
    if tables:
        manifest.extra["calibration"] = {"tensorrt_tables": {
            v: {"file": f"calibration_trt{v}.cache", "header": "", "platform": ""} for v in tables}}
    manifest.save(model_dir)
    return model_dir


@pytest.fixture
def fake_model(tmp_path: Path) -> Path:
    return write_fake_model(tmp_path / "model")


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dms wheel, built once per session from this checkout (offline)."""
    from deploy.bundle import build_wheel
    return build_wheel(ROOT, tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="session")
def real_model(tmp_path_factory: pytest.TempPathFactory, tiny_synth: Path) -> Path:
    """A model folder from the real chain: a tiny trained-looking FC-RNN exported to ONNX
    and calibrated (INT8 Q/DQ, FP16, TensorRT tables) - about 5 s. With models/default/
    (the shipped model) present, that one is used instead."""
    shipped = ROOT / "models" / "default"
    if (shipped / "manifest.json").is_file():
        return shipped
    pytest.importorskip("torch", reason="exporting the tiny model needs torch")
    from calibration.pipeline import calibrate
    from export.onnx_export import export_model
    from model.config import ModelConfig
    from tests.calibration.conftest import fast_config
    from tests.model_fakes import trained_like

    cfg = ModelConfig(input_size=(32, 32), edge_channels=(8, 16), edge_convs=(1, 1), fc_sizes=(24, 16), cell="fc")
    out = tmp_path_factory.mktemp("deploy_model") / "model"
    export_model(trained_like(cfg, seed=0, radius=0.5).eval(), out, parity_frames=30)
    calibrate(out, tiny_synth, fast_config("percentile"))
    return out


@pytest.fixture
def copy_model(tmp_path: Path):
    def _copy(src: Path) -> Path:
        dst = tmp_path / "model_copy"
        shutil.copytree(src, dst)
        return dst
    return _copy


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())
