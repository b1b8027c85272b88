"""`dms build-engine` and `dms bundle` as an integrator meets them, and the deploy room's
import discipline (no torch, no ONNX Runtime on the Jetson path)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import deploy.engine_manifest
from calibration import pipeline as calibration_pipeline
from deploy import model_graphs as graphs_module
from deploy.model_graphs import model_graphs
from dms.cli import main
from dms.manifest import ManifestError, load_manifest
from export.names import STEP_ROLE

from .conftest import ORIN_JP6, write_fake_model
from .fake_tensorrt import FakeTensorRT, engine_record

ROOT = Path(__file__).resolve().parents[2]


def _dms(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dms.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)


def test_plan_only_prints_the_trtexec_command_for_any_release(fake_model: Path) -> None:
    out = _dms("build-engine", str(fake_model), "--plan-only", "--trt-version", "8.5.2", "--precision", "fp16",
               "--workspace", "512")
    assert out.returncode == 0, out.stderr
    assert "TensorRT 8.5.2: legacy network from step_fp16.onnx; network flags ['EXPLICIT_BATCH']" in out.stdout
    assert (f"/usr/src/tensorrt/bin/trtexec --onnx={fake_model}/step_fp16.onnx "
            f"--saveEngine={fake_model}/step_fp16.engine --fp16 --memPoolSize=workspace:512") in out.stdout


def test_plan_only_for_dla(fake_model: Path) -> None:
    """Issue item 7 at the command line: DLA INT8 on JetPack 5.1 / 6 is the FP32 graph plus
    that release's table with --fp16 --int8; on JetPack 7 (TensorRT 10.13, Thor) --dla is
    refused on one line."""
    for version in ("8.5.2", "10.3.0"):
        out = _dms("build-engine", str(fake_model), "--plan-only", "--trt-version", version, "--dla", "0")
        assert out.returncode == 0, out.stderr
        assert (f"--onnx={fake_model}/step.onnx --saveEngine={fake_model}/step_int8_dla0.engine --fp16 --int8 "
                f"--calib={fake_model}/calibration_trt{version}.cache --useDLACore=0 --allowGPUFallback") in out.stdout
    gpu = _dms("build-engine", str(fake_model), "--plan-only", "--trt-version", "10.3.0")
    assert f"--onnx={fake_model}/step_int8.onnx" in gpu.stdout and "--fp16 --int8" in gpu.stdout
    thor = _dms("build-engine", str(fake_model), "--plan-only", "--trt-version", "10.13.3", "--dla", "0")
    assert thor.returncode == 1 and "Traceback" not in thor.stderr
    assert thor.stderr.count("\n") == 1 and thor.stderr.startswith(
        "dms build-engine: error: --dla 0: TensorRT 10.13.3 has no DLA")


def test_errors_are_one_line_and_say_what_to_do(tmp_path: Path) -> None:
    model = write_fake_model(tmp_path / "m", fp16=False)
    out = _dms("build-engine", str(model), "--plan-only", "--trt-version", "10.13", "--precision", "fp16")
    assert out.returncode == 1 and "dms calibrate" in out.stderr and "Traceback" not in out.stderr
    here = _dms("build-engine", str(model))  # no TensorRT on this machine
    assert here.returncode == 1 and "dms build-engine: error:" in here.stderr and "tensorrt" in here.stderr.lower()
    both = _dms("build-engine", str(model), "--trt-version", "10.3")
    assert both.returncode == 2 and "--plan-only" in both.stderr


def test_build_engine_command_with_a_fake_tensorrt(fake_model: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", FakeTensorRT("10.3.0.30"))
    monkeypatch.setattr(deploy.engine_manifest, "query_device", lambda: ORIN_JP6)
    out = tmp_path / "engines"
    assert main(["build-engine", str(fake_model), "--out", str(out), "--timing-cache", str(out / "t.cache")]) == 0
    printed = capsys.readouterr().out
    assert "equivalent trtexec command" in printed and f"wrote {out / 'step_int8.engine'}" in printed
    assert engine_record((out / "step_int8.engine").read_bytes())["flags"] == ["INT8", "FP16"]
    assert main(["build-engine", str(fake_model), "--out", str(out), "--timing-cache", str(out / "t.cache"),
                 "--if-stale"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_bundle_command_and_verify(fake_model: Path, tmp_path: Path) -> None:
    wheel = tmp_path / "dms-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"PK")
    out = _dms("bundle", str(fake_model), "--out", str(tmp_path / "b.tar.gz"), "--wheel", str(wheel),
               "--camera", "usb", "--size", "640x480")
    assert out.returncode == 0, out.stderr
    assert "JetPack 7.x" in out.stdout and "sha256 " in out.stdout
    ok = _dms("bundle", "--verify", str(tmp_path / "b.tar.gz"))
    assert ok.returncode == 0 and "OK, 13 files match SHA256SUMS" in ok.stdout
    bad = _dms("bundle", str(fake_model), "--size", "big")
    assert bad.returncode == 2 and "--size" in bad.stderr


def test_role_names_match_calibrations() -> None:
    """deploy repeats calibration's role strings (to avoid importing ONNX Runtime on a Jetson)."""
    assert graphs_module.INT8_ROLE == calibration_pipeline.INT8_ROLE
    assert graphs_module.FP16_ROLE == calibration_pipeline.FP16_ROLE
    assert graphs_module.TABLE_ROLE == calibration_pipeline.TABLE_ROLE


def test_model_graphs_from_a_manifest(tmp_path: Path) -> None:
    model = write_fake_model(tmp_path / "m")
    graphs = model_graphs(load_manifest(model), model)
    assert (graphs.fp32, graphs.fp16, graphs.int8_qdq) == ("step.onnx", "step_fp16.onnx", "step_int8.onnx")
    assert dict(graphs.tables) == {"8.5.2": "calibration_trt8.5.2.cache", "10.3.0": "calibration_trt10.3.0.cache"}
    manifest = load_manifest(model)
    manifest.extra.pop("calibration")  # release read from the file name instead
    assert dict(model_graphs(manifest, model).tables) == dict(graphs.tables)
    manifest.files["other.onnx"] = dict(manifest.files["step.onnx"])
    with pytest.raises(ManifestError, match=f"2 files with role '{STEP_ROLE}'"):
        model_graphs(manifest, model)
    manifest.files = {}
    with pytest.raises(ManifestError, match="no file with role 'step graph'.*dms export"):
        model_graphs(manifest, model)


def test_the_deploy_path_imports_neither_torch_nor_onnxruntime() -> None:
    code = ("import sys; import deploy.build_cli, deploy.bundle_cli, deploy.engine_job, deploy.engine_build, "
            "deploy.sd_notify, deploy.target_checks, deploy.bundle; "
            "print(sorted(m for m in ('torch', 'onnxruntime', 'cv2', 'onnx', 'tensorrt') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr
