"""The service on the target: its configuration, the camera pipeline, and the two systemd
units rendered from them.

* `dms-engine.service` (oneshot, before the monitor): `dms build-engine ... --if-stale`,
  so the first start builds the engine for this device and a JetPack update (new
  TensorRT) rebuilds it; on every other boot it only checks hashes and versions.
* `dms.service`: `dms run` with the TensorRT backend, Type=notify with a watchdog fed by
  the frame loop (deploy.sd_notify), restarted on failure, as the unprivileged user
  `dms`, with a read-only system and write access only to its event, log and engine
  folders. It only Wants= the engine unit and repeats the `--if-stale` build in
  ExecStartPre=, so a failed build at boot is retried instead of final. With a CSI
  camera /tmp is not private: libargus needs nvargus-daemon's /tmp/argus_socket.

Options are limited to what systemd 245 knows (JetPack 5.1 = Ubuntu 20.04; JetPack 6 has
249). PrivateDevices= and MemoryDenyWriteExecute= are deliberately absent: the first
hides the camera and the GPU nodes, the second breaks CUDA.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from deploy.trt_plan import PRECISIONS, Precision, engine_file_name

CONFIG_FORMAT = "dms-deploy-config"
CONFIG_FORMAT_VERSION = 1
SERVICE_UNIT = "dms.service"
ENGINE_UNIT = "dms-engine.service"
DEFAULT_CONFIG_FILE = "/etc/dms/dms.json"


class ServiceConfigError(ValueError):
    """A deploy configuration that cannot work; names the field."""


@dataclass(frozen=True)
class CameraConfig:
    """The in-car camera as a GStreamer pipeline for OpenCV's CAP_GSTREAMER.

    kind: "csi" (MIPI sensor through libargus: nvarguscamerasrc, the usual in-cabin IR
      camera on a Jetson carrier board) or "usb" (v4l2src).
    width/height/fps: 1280x720 at 30 fps, a mode every Argus sensor driver offers; the
      network sees a 64x64 face crop, so more pixels only cost conversion time.
    color: "bgr" (what OpenCV consumers expect) or "gray" (GRAY8 straight from the
      hardware converter, no CPU colour conversion; for near-infrared mono models).
    usb_format: "raw" (uncompressed YUY2 and the like) or "mjpeg": most UVC cameras offer
      720p at 30 fps only as Motion-JPEG (USB 2.0 bandwidth), and caps asking for raw
      video at that mode fail to negotiate; "mjpeg" asks for image/jpeg and decodes with
      jpegdec (the CPU decoder every GStreamer install has; on a Jetson `source` can name
      the hardware one, nvv4l2decoder mjpeg=1, or nvjpegdec).
    source: a full pipeline that replaces the generated one.
    """

    kind: Literal["csi", "usb"] = "csi"
    sensor_id: int = 0
    device: str = "/dev/video0"
    width: int = 1280
    height: int = 720
    fps: int = 30
    color: Literal["bgr", "gray"] = "bgr"
    usb_format: Literal["raw", "mjpeg"] = "raw"
    source: str = ""

    def pipeline(self) -> str:
        if self.source:
            return self.source
        # appsink drop=true max-buffers=1: always the newest frame; a slow step skips
        # frames instead of queueing seconds of stale video.
        sink = "appsink drop=true max-buffers=1 sync=false"
        if self.kind == "csi":
            out = ("video/x-raw,format=GRAY8" if self.color == "gray"
                   else "video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR")
            return (f"nvarguscamerasrc sensor-id={self.sensor_id} ! "
                    f"video/x-raw(memory:NVMM),width={self.width},height={self.height},"
                    f"framerate={self.fps}/1 ! nvvidconv ! {out} ! {sink}")
        fmt = "GRAY8" if self.color == "gray" else "BGR"
        caps = f"width={self.width},height={self.height},framerate={self.fps}/1"
        if self.usb_format == "mjpeg":
            return (f"v4l2src device={self.device} ! image/jpeg,{caps} ! jpegdec ! videoconvert ! "
                    f"video/x-raw,format={fmt} ! {sink}")
        return (f"v4l2src device={self.device} ! video/x-raw,{caps} ! videoconvert ! video/x-raw,format={fmt} ! {sink}")

    def validate(self) -> None:
        if self.kind not in ("csi", "usb"):
            raise ServiceConfigError(f"camera.kind: must be 'csi' or 'usb', got {self.kind!r}")
        if self.usb_format not in ("raw", "mjpeg"):
            raise ServiceConfigError(f"camera.usb_format: must be 'raw' or 'mjpeg', got {self.usb_format!r}")
        if self.usb_format == "mjpeg" and self.kind != "usb":
            raise ServiceConfigError("camera.usb_format: 'mjpeg' is for kind 'usb' (a CSI sensor delivers raw frames)")

    @property
    def uses_argus(self) -> bool:
        """Frames come through nvargus-daemon (a CSI sensor, generated or named in `source`)."""
        return "nvarguscamerasrc" in self.pipeline()


@dataclass(frozen=True)
class TargetLayout:
    """Where things live on the target (FHS): code and model under /opt, configuration
    under /etc, engines and events under /var/lib, logs under /var/log."""

    prefix: str = "/opt/dms"
    config_dir: str = "/etc/dms"
    state_dir: str = "/var/lib/dms"
    log_dir: str = "/var/log/dms"

    def _p(self, base: str, *parts: str) -> str:
        return str(PurePosixPath(base, *parts))

    @property
    def venv(self) -> str:
        return self._p(self.prefix, "venv")

    @property
    def dms_bin(self) -> str:
        return self._p(self.prefix, "venv", "bin", "dms")

    @property
    def model_dir(self) -> str:
        return self._p(self.prefix, "model")

    @property
    def engine_dir(self) -> str:
        return self._p(self.state_dir, "engines")

    @property
    def events_dir(self) -> str:
        return self._p(self.state_dir, "events")

    @property
    def config_file(self) -> str:
        return self._p(self.config_dir, "dms.json")

    @property
    def upload_config(self) -> str:
        return self._p(self.config_dir, "upload.json")

    @property
    def timing_cache(self) -> str:
        return self._p(self.engine_dir, "timing.cache")


@dataclass(frozen=True)
class ServiceConfig:
    """How the monitor runs on the target.

    precision: int8, the product's target (README); the engine is built on the device.
    user: the unprivileged account the services run as (created by install.sh).
    groups: supplementary groups; on L4T the GPU (/dev/nvhost-*, /dev/nvmap) and camera
      nodes belong to `video`.
    watchdog_sec: 5 s. Euro NCAP wants "monitoring unavailable" within 10 s; a frozen loop
      is killed after 5 s and restarted after restart_sec, leaving time to start up.
    restart_sec: 2 s between restarts (a crash loop stays cheap; StartLimitIntervalSec=0
      means it never gives up: nobody in a car restarts a service by hand).
    start_timeout_sec: 120 s for start-up (engine deserialization, camera, first frame).
    engine_build_timeout_sec: 1800 s: an INT8 build takes minutes on an Orin Nano.
    min_free_mb: 512 MB free for events before `dms doctor` complains (the event log
      rotates by size; this is head-room for rotation and media).
    upload: send completed alerts to the fleet's MQTT broker from the monitor
      (`dms run --upload`, fleet.uploader), configured by layout.upload_config, which the
      bundle ships from `dms bundle --upload FILE`. The units need nothing more: the
      uploader writes only its cursor in the events folder and uses the network, which
      the sandbox leaves open.
    """

    precision: Precision = "int8"
    dla_core: int | None = None
    user: str = "dms"
    groups: tuple[str, ...] = ("video",)
    watchdog_sec: int = 5
    restart_sec: int = 2
    start_timeout_sec: int = 120
    engine_build_timeout_sec: int = 1800
    min_free_mb: int = 512
    upload: bool = False
    camera: CameraConfig = field(default_factory=CameraConfig)
    layout: TargetLayout = field(default_factory=TargetLayout)

    def validate(self) -> None:
        self.camera.validate()
        if self.precision not in PRECISIONS:
            raise ServiceConfigError(f"precision: must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if not self.user or not self.user.replace("-", "").replace("_", "").isalnum() or self.user == "root":
            raise ServiceConfigError(f"user: must be an unprivileged account name, got {self.user!r}")
        for name in ("watchdog_sec", "restart_sec", "start_timeout_sec", "engine_build_timeout_sec"):
            if getattr(self, name) < 1:
                raise ServiceConfigError(f"{name}: must be >= 1 s, got {getattr(self, name)}")
        if self.min_free_mb < 0:
            raise ServiceConfigError(f"min_free_mb: must be >= 0, got {self.min_free_mb}")
        for name in ("prefix", "config_dir", "state_dir", "log_dir"):
            value = getattr(self.layout, name)
            if not value.startswith("/") or any(c.isspace() for c in value) or "%" in value or "$" in value:
                raise ServiceConfigError(f"layout.{name}: must be an absolute path without spaces, % or $, "
                                         f"got {value!r}")

    @property
    def engine_path(self) -> str:
        return str(PurePosixPath(self.layout.engine_dir, engine_file_name(self.precision, self.dla_core)))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["groups"] = list(self.groups)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str) -> ServiceConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ServiceConfigError(f"{source}: field 'service.{unknown[0]}': unknown")
        try:
            camera = CameraConfig(**data.get("camera", {}))
            layout = TargetLayout(**data.get("layout", {}))
            rest = {k: v for k, v in data.items() if k not in ("camera", "layout")}
            if "groups" in rest:
                rest["groups"] = tuple(rest["groups"])
            cfg = cls(camera=camera, layout=layout, **rest)
        except TypeError as exc:
            raise ServiceConfigError(f"{source}: field 'service': {exc}") from None
        try:
            cfg.validate()
        except ServiceConfigError as exc:
            name, _, why = str(exc).partition(": ")
            raise ServiceConfigError(f"{source}: field 'service.{name}': {why}") from None
        return cfg


def _systemd_quote(arg: str) -> str:
    """One ExecStart= word: systemd splits on whitespace and expands % specifiers and $VAR,
    so escape those and quote when needed."""
    arg = arg.replace("%", "%%").replace("$", "$$")
    if arg and not any(c.isspace() or c in "\"'\\;" for c in arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def exec_line(argv: list[str]) -> str:
    return " ".join(_systemd_quote(a) for a in argv)


def run_command(cfg: ServiceConfig) -> list[str]:
    """The monitor's command line (`dms run`, owned by the runtime room): the event log and
    run summary go to the events folder (`--out`); no annotated video or plot on a car."""
    lay = cfg.layout
    return [lay.dms_bin, "run", "--source", cfg.camera.pipeline(), "--model", lay.model_dir,
            "--backend", "tensorrt", "--precision", cfg.precision, "--engine", cfg.engine_path,
            "--out", lay.events_dir, "--format", "jsonl", "--no-video", "--no-plot", "--quiet",
            *(["--upload", lay.upload_config] if cfg.upload else [])]


def engine_command(cfg: ServiceConfig) -> list[str]:
    lay = cfg.layout
    cmd = [lay.dms_bin, "build-engine", lay.model_dir, "--precision", cfg.precision,
           "--out", lay.engine_dir, "--timing-cache", lay.timing_cache, "--if-stale"]
    if cfg.dla_core is not None:
        cmd += ["--dla", str(cfg.dla_core)]
    return cmd


# libargus clients reach nvargus-daemon through this UNIX socket (JetPack 5 and 6): a
# private /tmp hides it, and the CSI camera fails with "Connecting to nvargus-daemon
# failed" in a restart loop. A bind mount of the socket into a private /tmp would not do:
# the daemon re-creates the socket when it restarts, and the mount keeps the dead one.
ARGUS_SOCKET = "/tmp/argus_socket"


def _sandbox(write_paths: list[str], private_tmp: bool = True) -> list[str]:
    tmp = (["PrivateTmp=yes"] if private_tmp else
           [f"# /tmp is shared: libargus talks to nvargus-daemon through {ARGUS_SOCKET}.", "PrivateTmp=no"])
    return [
        "# Sandbox: read-only system, no home directories, no privilege gain;",
        "# writable only where listed.",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        *tmp,
        "ReadWritePaths=" + " ".join(write_paths),
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectControlGroups=yes",
        "RestrictSUIDSGID=yes",
        "LockPersonality=yes",
    ]


def _identity(cfg: ServiceConfig) -> list[str]:
    lines = [f"User={cfg.user}", f"Group={cfg.user}"]
    if cfg.groups:
        lines.append("SupplementaryGroups=" + " ".join(cfg.groups))
    return lines


def _header(title: str, version: str) -> list[str]:
    return [f"# {title}", f"# Generated by `dms bundle` (dms {version}); change it with `systemctl edit`,",
            "# not here: a reinstall replaces this file."]


def render_service_unit(cfg: ServiceConfig, version: str) -> str:
    """The monitor. The engine unit builds at boot, but a failed build there must not
    leave the car without a monitor for good (a oneshot unit is not retried, and with
    Requires= its failure failed this unit too): so this unit only Wants= it, and builds
    a missing or stale engine itself in ExecStartPre= (`--if-stale`: a hash check when
    the engine is current). A failed build fails this start; Restart= tries again after
    RestartSec, each attempt bounded by TimeoutStartSec, which covers one build."""
    cfg.validate()
    lay = cfg.layout
    argus = cfg.camera.uses_argus
    lines = _header("dms: the driver monitor", version) + [
        "[Unit]",
        "Description=dms driver monitoring (head pose, attention alerts)",
        f"Documentation=file://{lay.prefix}/DEPLOY.md",
        f"Wants={ENGINE_UNIT}" + (" nvargus-daemon.service" if argus else ""),
        f"After={ENGINE_UNIT}" + (" nvargus-daemon.service" if argus else ""),
        "# Never give up restarting: nobody in a car restarts a service by hand.",
        "StartLimitIntervalSec=0",
        "",
        "[Service]",
        "Type=notify",
        "NotifyAccess=main",
        *_identity(cfg),
        "# Builds the engine only when missing or stale (a failed boot-time build is retried here).",
        "ExecStartPre=" + exec_line(engine_command(cfg)),
        "ExecStart=" + exec_line(run_command(cfg)),
        "Restart=on-failure",
        f"RestartSec={cfg.restart_sec}",
        "# The frame loop sends WATCHDOG=1 (deploy.sd_notify); a stalled loop is killed and restarted.",
        f"WatchdogSec={cfg.watchdog_sec}",
        "# Start-up, plus one engine build when ExecStartPre= has to make one.",
        f"TimeoutStartSec={cfg.start_timeout_sec + cfg.engine_build_timeout_sec}",
        "TimeoutStopSec=10",
        "Environment=PYTHONUNBUFFERED=1",
        *_sandbox([lay.events_dir, lay.log_dir, lay.engine_dir], private_tmp=not argus),
        "",
        "[Install]",
        "WantedBy=multi-user.target",
    ]
    return "\n".join(lines) + "\n"


def render_engine_unit(cfg: ServiceConfig, version: str) -> str:
    cfg.validate()
    lay = cfg.layout
    lines = _header("dms: build the TensorRT engine for this device when missing or stale", version) + [
        "[Unit]",
        "Description=dms TensorRT engine for this device (built on first start and after TensorRT updates)",
        f"Documentation=file://{lay.prefix}/DEPLOY.md",
        f"Before={SERVICE_UNIT}",
        "",
        "[Service]",
        "Type=oneshot",
        "RemainAfterExit=yes",
        *_identity(cfg),
        "ExecStart=" + exec_line(engine_command(cfg)),
        f"TimeoutStartSec={cfg.engine_build_timeout_sec}",
        *_sandbox([lay.engine_dir]),
        "",
        "[Install]",
        "WantedBy=multi-user.target",
    ]
    return "\n".join(lines) + "\n"


def deploy_config(cfg: ServiceConfig, bundle: dict[str, Any]) -> dict[str, Any]:
    """/etc/dms/dms.json: what was installed and how it runs; `dms doctor` reads it."""
    cfg.validate()
    lay = cfg.layout
    return {
        "format": CONFIG_FORMAT, "format_version": CONFIG_FORMAT_VERSION,
        "service": cfg.to_dict(),
        "paths": {"model_dir": lay.model_dir, "engine": cfg.engine_path, "engine_dir": lay.engine_dir,
                  "events_dir": lay.events_dir, "log_dir": lay.log_dir, "venv": lay.venv},
        "run": run_command(cfg),
        "bundle": bundle,
    }


@dataclass(frozen=True)
class InstalledConfig:
    """/etc/dms/dms.json as read back, with paths optionally re-rooted (tests, staging)."""

    service: ServiceConfig
    bundle: dict[str, Any]
    source: Path
    root: Path = Path("/")

    def path(self, target_path: str) -> Path:
        """A target path under `root` (Path('/') on the device itself)."""
        return self.root / target_path.lstrip("/")


def load_config(path: Path | str, root: Path | str = "/") -> InstalledConfig:
    path = Path(path)
    if not path.is_file():
        raise ServiceConfigError(f"{path}: no deploy configuration here (install a bundle with install.sh)")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ServiceConfigError(f"{path}: not valid JSON (line {exc.lineno}): {exc.msg}") from exc
    if not isinstance(data, dict) or data.get("format") != CONFIG_FORMAT:
        raise ServiceConfigError(f"{path}: field 'format': expected '{CONFIG_FORMAT}'")
    if data.get("format_version") != CONFIG_FORMAT_VERSION:
        raise ServiceConfigError(f"{path}: field 'format_version': expected {CONFIG_FORMAT_VERSION}, "
                                 f"got {data.get('format_version')!r}")
    service = data.get("service")
    if not isinstance(service, dict):
        raise ServiceConfigError(f"{path}: field 'service': missing or not an object")
    bundle = data.get("bundle", {})
    return InstalledConfig(ServiceConfig.from_dict(service, str(path)),
                           bundle if isinstance(bundle, dict) else {}, path, Path(root))
