"""The issue's "done" check, as far as this machine can go without TensorRT: a bundle built
from a real model folder (the shipped models/default/ when present, else a tiny model
exported and calibrated on the fly) installs into a scratch root with install.sh; the
installed files, venv, configuration and units are then checked, and `dms doctor`'s
target checks run against that root.

What only a Jetson can check (the engine build, the service start, the watchdog under
systemd) is listed in docs/deploy.md with the command for each.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.bundle import BundleError, create_bundle, unpack
from deploy.device import DeviceInfo, DeviceQueryError
from deploy.service import load_config
from deploy.target_checks import Account, TargetProbes, run_target_checks
from dms.manifest import load_manifest

from .conftest import ORIN_JP6
from .test_service import verify_units


@pytest.fixture(scope="module")
def installed(real_model: Path, wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("install")
    result = create_bundle(real_model, work / "dms-bundle.tar.gz", wheel=wheel, log=lambda _m: None)
    bundle = unpack(result.path, work / "unpacked")
    root = work / "root"
    proc = subprocess.run(["bash", str(bundle / "install.sh"), "--root", str(root), "--no-engine", "--no-deps"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (work / "stdout.txt").write_text(proc.stdout)
    return {"root": root, "bundle": bundle, "model": real_model, "stdout": work / "stdout.txt"}


def test_install_lays_out_the_target(installed: dict[str, Path]) -> None:
    root = installed["root"]
    out = installed["stdout"].read_text()
    assert "bundle verified" in out and "engine not built now (--no-engine)" in out
    for rel in ("opt/dms/DEPLOY.md", "opt/dms/BUNDLE.json", "etc/dms/dms.json", "etc/systemd/system/dms.service",
                "etc/systemd/system/dms-engine.service"):
        assert (root / rel).is_file(), rel
    for rel in ("var/lib/dms/engines", "var/lib/dms/events", "var/log/dms"):
        assert (root / rel).is_dir(), rel
    # The model arrives intact: every file against its manifest's sha256.
    installed_model = load_manifest(root / "opt/dms/model", verify_files=True)
    assert installed_model.files == load_manifest(installed["model"]).files
    # The venv sees the system site packages (JetPack's tensorrt) and has our wheel.
    cfg = (root / "opt/dms/venv/pyvenv.cfg").read_text()
    assert "include-system-site-packages = true" in cfg
    py = root / "opt/dms/venv/bin/python"
    probe = subprocess.run([str(py), "-c", "import dms, deploy.sd_notify; print(dms.__version__)"],
                           capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0 and probe.stdout.strip() == "0.1.0", probe.stderr
    assert (root / "opt/dms/venv/bin/dms").is_file()


@pytest.mark.skipif(shutil.which("systemctl") is None, reason="systemctl is not installed here")
def test_units_are_enabled_in_the_root(installed: dict[str, Path]) -> None:
    wants = installed["root"] / "etc/systemd/system/multi-user.target.wants"
    assert {p.name for p in wants.iterdir()} == {"dms.service", "dms-engine.service"}


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_installed_units_pass_systemd_analyze(installed: dict[str, Path], tmp_path: Path) -> None:
    root = installed["root"]
    units = {name: (root / "etc/systemd/system" / name).read_text() for name in ("dms.service", "dms-engine.service")}
    assert verify_units(units, tmp_path, root / "opt/dms/venv/bin/dms") == ""


def test_doctor_checks_the_installed_target(installed: dict[str, Path]) -> None:
    root = installed["root"]
    cfg = load_config(root / "etc/dms/dms.json", root)
    camera = root / "dev/video0"
    camera.parent.mkdir(exist_ok=True)
    camera.touch()
    me = Account("dms", os.getuid(), frozenset(os.getgroups()))
    probes = TargetProbes(device=lambda: ORIN_JP6, disk_free=lambda _p: 10 << 30,
                          video_devices=lambda: [camera], account=lambda _n: me,
                          access=lambda p, _a, mode: os.access(p, mode), gstreamer=lambda: True,
                          socket=lambda p: p == root / "tmp/argus_socket")     # nvargus-daemon is up
    checks = {c.name: c for c in run_target_checks(cfg, probes)}
    assert all(c.ok for c in checks.values()), [c for c in checks.values() if not c.ok]
    assert "builds legacy from step_int8.onnx" in checks["tensorrt"].detail
    assert "not built yet" in checks["engine"].detail and "CUDA 12.6 (JetPack 6.1/6.2)" in checks["cuda"].detail
    # A JetPack 5 device whose CUDA is not JetPack 5's, low disk, and no TensorRT at all:
    wrong = TargetProbes(device=lambda: DeviceInfo("8.5.2.2", "Orin", "8.7", "12.6"),
                         disk_free=lambda _p: 1 << 20, video_devices=lambda: [camera], account=lambda _n: me,
                         access=lambda p, _a, mode: os.access(p, mode), gstreamer=lambda: True,
                         socket=lambda _p: True)
    bad = {c.name: c for c in run_target_checks(cfg, wrong)}
    assert not bad["cuda"].ok and "pairs TensorRT 8.5.2 with CUDA 11.4" in bad["cuda"].detail
    assert not bad["disk"].ok and "1 MB free" in bad["disk"].detail

    def no_trt():
        raise DeviceQueryError("TensorRT is not importable")
    missing = {c.name: c for c in run_target_checks(cfg, TargetProbes(
        device=no_trt, disk_free=lambda _p: 10 << 30, video_devices=lambda: [], account=lambda _n: None))}
    assert not missing["tensorrt"].ok and "system-site-packages" in missing["tensorrt"].fix
    assert not missing["camera"].ok and not missing["permissions"].ok and "install.sh" in missing["permissions"].fix


def test_doctor_cli_on_the_staged_root(installed: dict[str, Path]) -> None:
    """The real probes here: no TensorRT, so the target is reported NOT ready, by name."""
    root = installed["root"]
    proc = subprocess.run([sys.executable, "-m", "dms.cli", "doctor", "--json", "--config",
                           str(root / "etc/dms/dms.json"), "--root", str(root)],
                          capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    checks = {c["name"]: c for c in report["target_checks"]}
    assert report["target_ok"] is False and checks["model"]["ok"] and not checks["tensorrt"]["ok"]


def test_reinstall_keeps_the_edited_config_as_backup(installed: dict[str, Path]) -> None:
    root, bundle = installed["root"], installed["bundle"]
    config = root / "etc/dms/dms.json"
    config.write_text(config.read_text().replace('"watchdog_sec": 5', '"watchdog_sec": 7'))
    proc = subprocess.run(["bash", str(bundle / "install.sh"), "--root", str(root), "--no-engine", "--no-deps",
                           "--no-systemd"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert '"watchdog_sec": 7' in (root / "etc/dms/dms.json.bak").read_text()
    assert '"watchdog_sec": 5' in config.read_text()
    assert "systemd units not installed (--no-systemd)" in proc.stdout


def _install(bundle: Path, root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(bundle / "install.sh"), "--root", str(root), "--no-engine", *args],
                          capture_output=True, text=True, timeout=600, env=env)


def test_offline_without_the_dependencies_says_how_and_writes_nothing(installed: dict[str, Path],
                                                                     tmp_path: Path) -> None:
    """Before: --offline went to pip with only the dms wheel in wheels/ and failed to
    resolve numpy, after the old venv and model had been replaced."""
    proc = _install(installed["bundle"], tmp_path / "root", "--offline")
    assert proc.returncode != 0
    assert "--offline needs the runtime's dependencies" in proc.stderr and "--wheelhouse" in proc.stderr
    assert not (tmp_path / "root" / "opt").exists()


def test_a_python_without_venv_support_is_named_with_its_package(installed: dict[str, Path], tmp_path: Path) -> None:
    fake = tmp_path / "python3"
    fake.write_text(f"#!/bin/sh\ncase \"$*\" in *ensurepip*) exit 1;; esac\nexec {sys.executable} \"$@\"\n")
    fake.chmod(0o755)
    proc = _install(installed["bundle"], tmp_path / "root", "--no-deps", "--python", str(fake))
    assert proc.returncode != 0 and "sudo apt-get install python3-venv" in proc.stderr
    assert not (tmp_path / "root" / "opt").exists()


def test_building_pycuda_without_the_cuda_toolkit_names_it(installed: dict[str, Path], tmp_path: Path) -> None:
    """pip builds pycuda from source on a Jetson; under sudo nvcc was not on PATH and the
    build died on "cuda.h: No such file". Now the toolkit is looked up first."""
    if shutil.which("g++") is None:
        pytest.skip("no C++ compiler here: install.sh stops at that check first")
    env = {k: v for k, v in os.environ.items() if k != "CUDA_HOME"}
    env["DMS_CUDA_SEARCH"] = str(tmp_path / "no-cuda-here")
    proc = _install(installed["bundle"], tmp_path / "root", env=env)
    assert proc.returncode != 0
    assert "needs the CUDA toolkit" in proc.stderr or "needs the Python headers" in proc.stderr, proc.stderr
    assert not (tmp_path / "root" / "opt").exists()


def test_a_wheelhouse_ships_in_the_bundle_for_offline_installs(real_model: Path, wheel: Path, tmp_path: Path) -> None:
    house = tmp_path / "house"
    house.mkdir()
    (house / "tqdm-4.67.1-py3-none-any.whl").write_bytes(b"wheel bytes")
    (house / "pycuda-2025.1.tar.gz").write_bytes(b"sdist bytes")
    (house / "notes.txt").write_text("not shipped")
    result = create_bundle(real_model, tmp_path / "b.tar.gz", wheel=wheel, wheelhouse=house, log=lambda _m: None)
    assert {"wheels/tqdm-4.67.1-py3-none-any.whl", "wheels/pycuda-2025.1.tar.gz"} <= set(result.files)
    assert "wheels/notes.txt" not in result.files
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BundleError, match="no .whl"):
        create_bundle(real_model, tmp_path / "c.tar.gz", wheel=wheel, wheelhouse=empty, log=lambda _m: None)


def test_the_jetson_install_keeps_numpy_1_for_jetpacks_opencv() -> None:
    """The venv sees JetPack's cv2, built against numpy 1 ("_ARRAY_API not found" under numpy
    2); an unbounded numpy>=1.24 pulled numpy 2 over it."""
    import tomllib

    data = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    jetson = data["project"]["optional-dependencies"]["jetson"]
    assert any(r.replace(" ", "").startswith("numpy") and "<2" in r for r in jetson), jetson


def test_the_bundle_carries_the_uploaders_config_and_a_reinstall_keeps_the_vehicles(
        real_model: Path, wheel: Path, tmp_path: Path) -> None:
    upload = tmp_path / "upload.json"
    upload.write_text(json.dumps({"host": "mqtt.fleet.example", "vehicle_id_file": "/etc/dms/vehicle_id",
                                  "ca_file": "/etc/dms/fleet-ca.pem", "username": "unit",
                                  "password_file": "/etc/dms/secrets/mqtt"}))
    result = create_bundle(real_model, tmp_path / "b.tar.gz", wheel=wheel, upload=upload, log=lambda _m: None)
    assert "config/upload.json" in result.files
    bundle = unpack(result.path, tmp_path / "unpacked")
    run = json.loads((bundle / "config/dms.json").read_text())["run"]
    assert run[run.index("--upload") + 1] == "/etc/dms/upload.json"
    root = tmp_path / "root"
    proc = subprocess.run(["bash", str(bundle / "install.sh"), "--root", str(root), "--no-engine", "--no-deps"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    installed = root / "etc/dms/upload.json"
    assert json.loads(installed.read_text())["host"] == "mqtt.fleet.example"
    assert (installed.stat().st_mode & 0o777) == 0o640
    installed.write_text(installed.read_text().replace("mqtt.fleet.example", "mqtt.depot.example"))
    proc = subprocess.run(["bash", str(bundle / "install.sh"), "--root", str(root), "--no-engine", "--no-deps"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "kept this vehicle's" in proc.stderr
    assert "mqtt.depot.example" in installed.read_text() and (root / "etc/dms/upload.json.new").is_file()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"host": "h", "vehicle_id": "v", "password": "hunter2"}))
    with pytest.raises(BundleError, match="secrets go in password_file"):
        create_bundle(real_model, tmp_path / "c.tar.gz", wheel=wheel, upload=bad, log=lambda _m: None)
