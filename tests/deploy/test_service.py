"""The systemd units and the deploy configuration rendered from a ServiceConfig."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from deploy.service import (CameraConfig, ServiceConfig, ServiceConfigError, TargetLayout, deploy_config,
                            engine_command, exec_line, load_config, render_engine_unit, render_service_unit,
                            run_command)


def _directives(unit: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in unit.splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out.setdefault(key, []).append(value)
    return out


def test_monitor_unit_runs_sandboxed_with_a_watchdog() -> None:
    d = _directives(render_service_unit(ServiceConfig(), "0.1.0"))
    assert d["Type"] == ["notify"] and d["WatchdogSec"] == ["5"] and d["NotifyAccess"] == ["main"]
    assert d["User"] == ["dms"] and d["Group"] == ["dms"] and d["SupplementaryGroups"] == ["video"]
    assert d["Restart"] == ["on-failure"] and d["StartLimitIntervalSec"] == ["0"]
    for key in ("NoNewPrivileges", "ProtectHome", "ProtectKernelTunables", "ProtectControlGroups"):
        assert d[key] == ["yes"], key
    assert d["ProtectSystem"] == ["strict"]
    # Writable: only the event and log folders, and the engines (ExecStartPre= may rebuild).
    assert d["ReadWritePaths"] == ["/var/lib/dms/events /var/log/dms /var/lib/dms/engines"]
    assert "PrivateDevices" not in d and "MemoryDenyWriteExecute" not in d  # camera, GPU, CUDA need these
    assert d["After"][0].startswith("dms-engine.service")
    argv = shlex.split(d["ExecStart"][0])
    assert argv[:2] == ["/opt/dms/venv/bin/dms", "run"]
    args = dict(zip(argv[2::2], argv[3::2]))
    assert args["--model"] == "/opt/dms/model" and args["--backend"] == "tensorrt"
    assert args["--engine"] == "/var/lib/dms/engines/step_int8.engine" and args["--out"] == "/var/lib/dms/events"
    assert args["--source"].startswith("nvarguscamerasrc sensor-id=0 ! video/x-raw(memory:NVMM)")
    assert args["--source"].endswith("appsink drop=true max-buffers=1 sync=false")


def test_engine_unit_builds_when_stale_and_writes_only_engines() -> None:
    cfg = ServiceConfig(precision="fp16", dla_core=0)
    d = _directives(render_engine_unit(cfg, "0.1.0"))
    assert d["Type"] == ["oneshot"] and d["Before"] == ["dms.service"] and d["User"] == ["dms"]
    assert d["ReadWritePaths"] == ["/var/lib/dms/engines"] and d["ProtectSystem"] == ["strict"]
    assert shlex.split(d["ExecStart"][0]) == engine_command(cfg) == [
        "/opt/dms/venv/bin/dms", "build-engine", "/opt/dms/model", "--precision", "fp16", "--out",
        "/var/lib/dms/engines", "--timing-cache", "/var/lib/dms/engines/timing.cache", "--if-stale", "--dla", "0"]
    assert cfg.engine_path == "/var/lib/dms/engines/step_fp16_dla0.engine"
    assert "--engine" in run_command(cfg) and cfg.engine_path in run_command(cfg)


def test_the_csi_camera_can_reach_nvargus_daemon() -> None:
    """A private /tmp hid /tmp/argus_socket: the default CSI install restart-looped with
    "Connecting to nvargus-daemon failed"."""
    csi = _directives(render_service_unit(ServiceConfig(), "0.1.0"))
    assert csi["PrivateTmp"] == ["no"]
    assert "nvargus-daemon.service" in csi["After"][0] and "nvargus-daemon.service" in csi["Wants"][0]
    usb = _directives(render_service_unit(ServiceConfig(camera=CameraConfig(kind="usb")), "0.1.0"))
    assert usb["PrivateTmp"] == ["yes"] and "nvargus" not in usb["After"][0]
    custom = CameraConfig(kind="usb", source="nvarguscamerasrc sensor-id=1 ! nvvidconv ! appsink")
    assert _directives(render_service_unit(ServiceConfig(camera=custom), "0.1.0"))["PrivateTmp"] == ["no"]


def test_a_failed_engine_build_at_boot_is_retried_by_the_monitor() -> None:
    """The oneshot engine unit was Required=: one failed build at boot left the car without
    a monitor until someone intervened."""
    cfg = ServiceConfig()
    d = _directives(render_service_unit(cfg, "0.1.0"))
    assert "Requires" not in d and d["Wants"][0].startswith("dms-engine.service")
    assert shlex.split(d["ExecStartPre"][0]) == engine_command(cfg)
    assert "--if-stale" in engine_command(cfg)           # a hash check when the engine is current
    assert d["Restart"] == ["on-failure"] and d["StartLimitIntervalSec"] == ["0"]
    # one attempt may take a whole build
    assert int(d["TimeoutStartSec"][0]) == cfg.start_timeout_sec + cfg.engine_build_timeout_sec


@pytest.mark.parametrize("camera, expected", [
    (CameraConfig(kind="usb", usb_format="mjpeg"),
     "v4l2src device=/dev/video0 ! image/jpeg,width=1280,height=720,framerate=30/1 ! jpegdec ! videoconvert ! "
     "video/x-raw,format=BGR ! appsink drop=true max-buffers=1 sync=false"),
    (CameraConfig(kind="usb", device="/dev/video2", width=640, height=480, fps=60),
     "v4l2src device=/dev/video2 ! video/x-raw,width=640,height=480,framerate=60/1 ! videoconvert ! "
     "video/x-raw,format=BGR ! appsink drop=true max-buffers=1 sync=false"),
    (CameraConfig(color="gray"),
     "nvarguscamerasrc sensor-id=0 ! video/x-raw(memory:NVMM),width=1280,height=720,framerate=30/1 ! "
     "nvvidconv ! video/x-raw,format=GRAY8 ! appsink drop=true max-buffers=1 sync=false"),
    (CameraConfig(source="videotestsrc ! appsink"), "videotestsrc ! appsink"),
])
def test_camera_pipelines(camera: CameraConfig, expected: str) -> None:
    assert camera.pipeline() == expected


def test_exec_line_quotes_what_systemd_would_split_or_expand() -> None:
    argv = ["/bin/x", "a b", 'say "hi"', "plain", "back\\slash"]
    assert shlex.split(exec_line(argv)) == argv
    assert exec_line(["/bin/x", "50%", "$HOME"]) == "/bin/x 50%% $$HOME"


@pytest.mark.parametrize("change, message", [
    (dict(user="root"), "user: must be an unprivileged account"),
    (dict(precision="int4"), "precision"),
    (dict(watchdog_sec=0), "watchdog_sec"),
    (dict(layout=TargetLayout(prefix="opt/dms")), "layout.prefix"),
    (dict(layout=TargetLayout(state_dir="/var/lib/my dms")), "layout.state_dir"),
    (dict(camera=CameraConfig(usb_format="mjpeg")), "camera.usb_format"),
    (dict(camera=CameraConfig(kind="usb", usb_format="h264")), "camera.usb_format"),
])
def test_bad_configurations_are_refused(change: dict, message: str) -> None:
    with pytest.raises(ServiceConfigError, match=message):
        render_service_unit(replace(ServiceConfig(), **change), "0.1.0")


def test_deploy_config_round_trips_and_names_bad_fields(tmp_path: Path) -> None:
    cfg = ServiceConfig(precision="fp16", camera=CameraConfig(kind="usb"))
    path = tmp_path / "dms.json"
    path.write_text(json.dumps(deploy_config(cfg, {"model": "tiny"})))
    loaded = load_config(path, root=tmp_path)
    assert loaded.service == cfg and loaded.bundle == {"model": "tiny"}
    assert loaded.path("/var/lib/dms/events") == tmp_path / "var/lib/dms/events"
    data = json.loads(path.read_text())
    data["service"]["watchdog_sec"] = -1
    path.write_text(json.dumps(data))
    with pytest.raises(ServiceConfigError, match=r"dms.json: field 'service.watchdog_sec': must be >= 1"):
        load_config(path)
    data["service"]["colour"] = "blue"
    path.write_text(json.dumps(data))
    with pytest.raises(ServiceConfigError, match="field 'service.colour': unknown"):
        load_config(path)
    path.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ServiceConfigError, match="field 'format'"):
        load_config(path)
    with pytest.raises(ServiceConfigError, match="no deploy configuration"):
        load_config(tmp_path / "missing.json")


def verify_units(units: dict[str, str], tmp_path: Path, dms_bin: Path) -> str:
    """`systemd-analyze verify` on the units, with ExecStart pointing at an existing `dms`
    (it refuses a command that does not exist here). Returns its output ('' = clean)."""
    folder = tmp_path / "units"
    folder.mkdir(exist_ok=True)
    for name, text in units.items():
        (folder / name).write_text(text.replace("/opt/dms/venv/bin/dms", str(dms_bin)))
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no", *sorted(units)], cwd=folder,
                          capture_output=True, text=True, timeout=60)
    return (proc.stdout + proc.stderr).strip() + ("" if proc.returncode == 0 else f" (exit {proc.returncode})")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    stub = tmp_path / "dms"
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    cfg = ServiceConfig()
    units = {"dms.service": render_service_unit(cfg, "0.1.0"), "dms-engine.service": render_engine_unit(cfg, "0.1.0")}
    assert verify_units(units, tmp_path, stub) == ""
    # ...and the check does catch a broken unit:
    broken = {"dms.service": units["dms.service"].replace("WatchdogSec=5", "WatchdogSec=five")}
    assert "Failed to parse" in verify_units(broken, tmp_path, stub)


def test_the_monitor_uploads_when_configured_and_the_sandbox_leaves_the_network_open() -> None:
    cfg = ServiceConfig(upload=True)
    argv = run_command(cfg)
    assert argv[argv.index("--upload") + 1] == "/etc/dms/upload.json"
    assert "--upload" not in run_command(ServiceConfig())
    d = _directives(render_service_unit(cfg, "0.1.0"))
    assert shlex.split(d["ExecStart"][0]) == argv
    for key in ("PrivateNetwork", "IPAddressDeny", "RestrictAddressFamilies"):
        assert key not in d, key          # the uploader needs the network
    assert "/var/lib/dms/events" in d["ReadWritePaths"][0]   # its cursor lives beside the log
