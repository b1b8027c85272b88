"""`dms doctor`'s target checks on a staged install (fake device, camera, accounts, disk)."""

from __future__ import annotations

import json
import os
import shutil
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from deploy.engine_manifest import EngineManifest, save
from deploy.service import CameraConfig, ServiceConfig, deploy_config, load_config
from deploy.target_checks import Account, TargetProbes, can_access, run_target_checks
from dms.manifest import sha256_file

from .conftest import ORIN_JP6, ORIN_JP7, XAVIER_JP5, write_fake_model


def stage(root: Path, cfg: ServiceConfig | None = None) -> Path:
    """The folders install.sh makes, with a fake model, under `root`."""
    cfg = cfg or ServiceConfig()
    lay = cfg.layout
    write_fake_model(root / lay.model_dir.lstrip("/"))
    for d in (lay.engine_dir, lay.events_dir, lay.log_dir):
        (root / d.lstrip("/")).mkdir(parents=True, exist_ok=True)
    config = root / lay.config_file.lstrip("/")
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps(deploy_config(cfg, {"model": "tiny"})))
    return config


def probes(camera: list[Path], **kw) -> TargetProbes:
    me = Account("dms", os.getuid(), frozenset(os.getgroups()))
    base = dict(device=lambda: ORIN_JP6, disk_free=lambda _p: 4 << 30, video_devices=lambda: camera,
                account=lambda _n: me, access=lambda p, _a, mode: os.access(p, mode),
                gstreamer=lambda: True, socket=lambda _p: True)
    base.update(kw)
    return TargetProbes(**base)


def _by_name(checks) -> dict:
    return {c.name: c for c in checks}


def test_a_good_target_passes_and_a_foreign_engine_fails(tmp_path: Path) -> None:
    config = stage(tmp_path)
    cfg = load_config(config, tmp_path)
    cam = tmp_path / "video0"
    cam.touch()
    assert all(c.ok for c in run_target_checks(cfg, probes([cam])))
    engine = tmp_path / "var/lib/dms/engines/step_int8.engine"
    engine.write_bytes(b"engine")
    save(EngineManifest(engine.name, sha256_file(engine), 6, "int8", XAVIER_JP5.tensorrt_version, "Xavier", "7.2",
                        "/opt/dms/model", "step_int8.onnx", "a" * 64, built_at="2026-01-01T00:00:00+00:00"), engine)
    check = _by_name(run_target_checks(cfg, probes([cam])))["engine"]
    assert not check.ok and "built for TensorRT 8.5.2.2 on Xavier" in check.detail
    assert check.fix.startswith("sudo -u dms /opt/dms/venv/bin/dms build-engine /opt/dms/model --precision int8")


def test_usb_camera_node_and_permissions(tmp_path: Path) -> None:
    cfg_in = ServiceConfig(camera=CameraConfig(kind="usb", device="/dev/video3"))
    cfg = load_config(stage(tmp_path, cfg_in), tmp_path)
    camera = _by_name(run_target_checks(cfg, probes([])))["camera"]
    assert not camera.ok and "dev/video3: the camera is not there" in camera.detail
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev/video3").touch()
    denied = probes([], access=lambda p, _a, _m: "video" not in p.name)
    camera = _by_name(run_target_checks(cfg, denied))["camera"]
    assert not camera.ok and "usermod -a -G video dms" in camera.fix
    no_gst = _by_name(run_target_checks(cfg, probes([], gstreamer=lambda: False)))["camera"]
    assert not no_gst.ok and "OpenCV has no GStreamer" in no_gst.detail and "JetPack's OpenCV" in no_gst.fix
    shutil.rmtree(tmp_path / "var/log/dms")
    perms = _by_name(run_target_checks(cfg, probes([])))["permissions"]
    assert not perms.ok and "var/log/dms missing" in perms.detail and perms.fix.startswith("sudo chown -R dms:dms")


def test_can_access_reads_owner_group_and_other_bits(tmp_path: Path) -> None:
    d = tmp_path / "events"
    d.mkdir()
    st = d.stat()
    owner = Account("o", st.st_uid, frozenset())
    group = Account("g", st.st_uid + 12345, frozenset({st.st_gid}))
    other = Account("x", st.st_uid + 12345, frozenset())
    d.chmod(stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP)  # 0750
    assert can_access(d, owner, os.W_OK) and can_access(d, group, os.R_OK)
    assert not can_access(d, group, os.W_OK) and not can_access(d, other, os.R_OK)
    assert can_access(d, Account("root", 0, frozenset()), os.W_OK)


@pytest.mark.parametrize("precision", ["int8", "fp16", "fp32"])
def test_tensorrt_check_uses_the_build_dispatch(tmp_path: Path, precision: str) -> None:
    cfg = load_config(stage(tmp_path, ServiceConfig(precision=precision)), tmp_path)  # type: ignore[arg-type]
    check = _by_name(run_target_checks(cfg, probes([])))["tensorrt"]
    assert check.ok and f"{precision} builds legacy" in check.detail


def test_tensorrt_check_fails_when_this_release_cannot_build_the_bundle(tmp_path: Path) -> None:
    cfg = load_config(stage(tmp_path), tmp_path)
    model = tmp_path / "opt/dms/model"
    shutil.rmtree(model)
    write_fake_model(model, int8=False, tables=("8.5.2",))  # no Q/DQ graph, no table for 10.3.0
    check = _by_name(run_target_checks(cfg, probes([])))["tensorrt"]
    assert not check.ok and "10.3.0" in check.detail and "calibrated for this JetPack" in check.fix


def test_dla_on_a_release_without_dla_fails_the_tensorrt_check(tmp_path: Path) -> None:
    cfg = load_config(stage(tmp_path, ServiceConfig(precision="int8", dla_core=0)), tmp_path)
    ok = _by_name(run_target_checks(cfg, probes([])))["tensorrt"]
    assert ok.ok and "builds legacy from step.onnx" in ok.detail  # JetPack 6: FP32 graph + 10.3.0's table
    thor = _by_name(run_target_checks(cfg, probes([], device=lambda: ORIN_JP7)))["tensorrt"]
    assert not thor.ok and "TensorRT 10.13.3 has no DLA" in thor.detail


def test_an_engine_from_another_orin_module_fails_the_engine_check(tmp_path: Path) -> None:
    """A cloned SD card: the engine and manifest were made on an AGX Orin, the device is an Orin Nano."""
    cfg = load_config(stage(tmp_path), tmp_path)
    l4t = "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64"
    agx = replace(ORIN_JP6, model="NVIDIA Jetson AGX Orin Developer Kit", l4t_release=l4t, sm_count=16)
    nano = replace(agx, model="NVIDIA Jetson Orin Nano Developer Kit", sm_count=8)
    engine = tmp_path / "var/lib/dms/engines/step_int8.engine"
    engine.write_bytes(b"engine")
    save(EngineManifest(engine.name, sha256_file(engine), 6, "int8", agx.tensorrt_version, agx.gpu_name,
                        agx.compute_capability, "/opt/dms/model", "step_int8.onnx", "a" * 64,
                        built_at="2026-01-01T00:00:00+00:00", device_model=agx.model, l4t_release=l4t,
                        sm_count=16), engine)
    assert _by_name(run_target_checks(cfg, probes([], device=lambda: agx)))["engine"].ok
    check = _by_name(run_target_checks(cfg, probes([], device=lambda: nano)))["engine"]
    assert not check.ok and "SM count 16 vs 8" in check.detail and "Orin Nano" in check.detail
    assert check.fix.startswith("sudo -u dms /opt/dms/venv/bin/dms build-engine")


def test_a_csi_camera_needs_the_nvargus_daemon_socket(tmp_path: Path) -> None:
    """The CSI camera talks to nvargus-daemon through /tmp/argus_socket; the service could
    not see it (private /tmp) and restart-looped. doctor now looks for it."""
    import socket

    from deploy.target_checks import is_socket

    cfg = load_config(stage(tmp_path), tmp_path)
    cam = tmp_path / "dev" / "video0"
    cam.parent.mkdir(exist_ok=True)
    cam.touch()
    missing = _by_name(run_target_checks(cfg, probes([cam], socket=is_socket)))["camera"]
    assert not missing.ok and "tmp/argus_socket: no nvargus-daemon socket" in missing.detail
    assert "restart nvargus-daemon" in missing.fix
    (tmp_path / "tmp").mkdir()
    (tmp_path / "tmp" / "argus_socket").touch()                     # a plain file is not the socket
    assert not _by_name(run_target_checks(cfg, probes([cam], socket=is_socket)))["camera"].ok
    (tmp_path / "tmp" / "argus_socket").unlink()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind(str(tmp_path / "tmp" / "argus_socket"))
        assert _by_name(run_target_checks(cfg, probes([cam], socket=is_socket)))["camera"].ok
    finally:
        server.close()
