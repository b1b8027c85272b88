"""`dms doctor` on an installed target: does this device match the bundle installed on it?

Reads the deploy configuration (/etc/dms/dms.json) and checks, each with what to do when
it fails:
  model        the installed model folder's files against its manifest (sha256)
  tensorrt     this device's TensorRT release can build the configured precision from the
               bundle's graphs (the same dispatch as `dms build-engine`)
  cuda         the CUDA version is the one JetPack pairs with that TensorRT
  engine       the engine, if built, was built for this device: TensorRT release, GPU and
               Jetson module (board model, L4T release, SM count) (else the first start builds it)
               A --dla configuration on a TensorRT release without DLA fails the tensorrt check.
  camera       the camera's device node exists and the service user can open it
  permissions  the service user exists and can write the event and log folders
  disk         free space for events

Every probe of the machine is injectable (TargetProbes), so the checks are tested on CPU.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from deploy.device import DeviceInfo, DeviceQueryError, query_device
from deploy.engine_manifest import EngineManifestError, check_engine_for_runtime
from deploy.model_graphs import model_graphs
from deploy.service import ARGUS_SOCKET, InstalledConfig
from deploy.trt_plan import BuildOptions, PlanError, TrtVersion, jetpack_for, plan_build
from dms.manifest import ManifestError, load_manifest


@dataclass
class TargetCheck:
    name: str
    ok: bool
    detail: str
    fix: str = ""


@dataclass
class Account:
    name: str
    uid: int
    gids: frozenset[int]


def lookup_account(name: str) -> Account | None:
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        return None
    gids = {pw.pw_gid} | {g.gr_gid for g in grp.getgrall() if name in g.gr_mem}
    return Account(name, pw.pw_uid, frozenset(gids))


def can_access(path: Path, account: Account, mode: int) -> bool:
    """Would `account` get `mode` (os.R_OK / os.W_OK, plus X on folders) on `path`, by its
    permission bits? (os.access answers only for the user running doctor.)"""
    if account.uid == 0:
        return True
    st = path.stat()
    need = 0
    if mode & os.R_OK:
        need |= 4
    if mode & os.W_OK:
        need |= 2
    if stat.S_ISDIR(st.st_mode):
        need |= 1
    if st.st_uid == account.uid:
        bits = (st.st_mode >> 6) & 7
    elif st.st_gid in account.gids:
        bits = (st.st_mode >> 3) & 7
    else:
        bits = st.st_mode & 7
    return bits & need == need


def _video_devices() -> list[Path]:
    return sorted(Path("/dev").glob("video*"))


def opencv_has_gstreamer() -> bool | None:
    """True/False from OpenCV's build information; None when OpenCV is not importable.
    A pip `opencv-python` wheel (no GStreamer) shadowing JetPack's OpenCV is the classic
    reason a CSI camera pipeline does not open."""
    try:
        import cv2
    except ImportError:
        return None
    info = str(cv2.getBuildInformation())
    return re.search(r"GStreamer:\s+YES", info) is not None


def is_socket(path: Path) -> bool:
    try:
        return stat.S_ISSOCK(path.stat().st_mode)
    except OSError:
        return False


@dataclass
class TargetProbes:
    device: Callable[[], DeviceInfo] = query_device
    disk_free: Callable[[Path], int] = field(default=lambda p: shutil.disk_usage(p).free)
    video_devices: Callable[[], list[Path]] = _video_devices
    account: Callable[[str], Account | None] = lookup_account
    access: Callable[[Path, Account, int], bool] = can_access
    gstreamer: Callable[[], bool | None] = opencv_has_gstreamer
    socket: Callable[[Path], bool] = is_socket


def _engine_check(cfg: InstalledConfig, device: DeviceInfo | None) -> TargetCheck:
    engine = cfg.path(cfg.service.engine_path)
    rebuild = (f"sudo -u {cfg.service.user} {cfg.service.layout.dms_bin} build-engine {cfg.service.layout.model_dir} "
               f"--precision {cfg.service.precision} --out {cfg.service.layout.engine_dir}")
    if not engine.is_file():
        return TargetCheck("engine", True, f"{engine}: not built yet; dms-engine.service builds it on first start",
                           f"or build it now: {rebuild}")
    if device is None:
        return TargetCheck("engine", False, f"{engine}: cannot check it without TensorRT and a GPU query", rebuild)
    try:
        m = check_engine_for_runtime(engine, device)
    except EngineManifestError as exc:
        return TargetCheck("engine", False, str(exc), rebuild)
    return TargetCheck("engine", True, f"{engine.name}: {m.precision}, built {m.built_at} for {m.built_for()}")


def _camera_check(cfg: InstalledConfig, probes: TargetProbes, account: Account | None) -> TargetCheck:
    pipeline = cfg.service.camera.pipeline()
    match = re.search(r"v4l2src\s+device=(\S+)", pipeline)
    nodes = [cfg.path(match.group(1))] if match else probes.video_devices()
    if not nodes or not all(n.exists() for n in nodes):
        what = str(nodes[0]) if match else "no /dev/video* node"
        return TargetCheck("camera", False, f"{what}: the camera is not there",
                           "check the cable and the sensor driver (dmesg | grep -i -e imx -e video)")
    kind = "CSI via nvargus-daemon" if "nvarguscamerasrc" in pipeline else "V4L2"
    if cfg.service.camera.uses_argus:
        sock = cfg.path(ARGUS_SOCKET)
        if not probes.socket(sock):
            return TargetCheck("camera", False, f"{sock}: no nvargus-daemon socket: libargus cannot reach the "
                               "camera daemon (\"Connecting to nvargus-daemon failed\")",
                               "sudo systemctl restart nvargus-daemon; systemctl status nvargus-daemon")
    gst = probes.gstreamer()
    if not gst:
        return TargetCheck("camera", False, "OpenCV " + ("is not importable" if gst is None else "has no GStreamer")
                           + ": the camera pipeline cannot open",
                           "use JetPack's OpenCV (pip uninstall opencv-python opencv-python-headless in the venv)")
    if account is not None:
        denied = [n for n in nodes if not probes.access(n, account, os.R_OK | os.W_OK)]
        if denied:
            return TargetCheck("camera", False, f"{denied[0]}: user {account.name} cannot open it",
                               f"sudo usermod -a -G video {account.name}")
    return TargetCheck("camera", True, f"{kind}: {', '.join(str(n) for n in nodes)}")


def run_target_checks(cfg: InstalledConfig, probes: TargetProbes | None = None) -> list[TargetCheck]:
    probes = probes or TargetProbes()
    svc, lay = cfg.service, cfg.service.layout
    checks: list[TargetCheck] = []

    model_dir = cfg.path(lay.model_dir)
    graphs = None
    try:
        manifest = load_manifest(model_dir, verify_files=True)
        graphs = model_graphs(manifest, model_dir)
        checks.append(TargetCheck("model", True, f"{model_dir}: {manifest.model.get('name', '?')}, "
                                                 f"{len(manifest.files)} files match the manifest"))
    except ManifestError as exc:
        checks.append(TargetCheck("model", False, str(exc), "reinstall the bundle (install.sh)"))

    device: DeviceInfo | None = None
    try:
        device = probes.device()
    except DeviceQueryError as exc:
        checks.append(TargetCheck("tensorrt", False, str(exc),
                                  "recreate the venv with --system-site-packages (install.sh does)"))
    if device is not None:
        version = TrtVersion.parse(device.tensorrt_version)
        jp = jetpack_for(version)
        if graphs is not None:
            try:
                plan = plan_build(version, BuildOptions(precision=svc.precision, dla_core=svc.dla_core), graphs)
                checks.append(TargetCheck("tensorrt", True, f"{device.describe()}: {svc.precision} builds "
                                                            f"{plan.api} from {plan.graph}"))
            except PlanError as exc:
                checks.append(TargetCheck("tensorrt", False, f"TensorRT {version}: {exc}",
                                          "bundle a model calibrated for this JetPack, or another --precision"))
        if jp is None:
            checks.append(TargetCheck("cuda", True, f"CUDA {device.cuda_version or '?'} with TensorRT {version}: "
                                                    "not a JetPack pairing this bundle knows; the engine build decides"))
        elif device.cuda_version and device.cuda_version.split(".")[:2] != jp.cuda.split(".")[:2]:
            checks.append(TargetCheck("cuda", False, f"CUDA {device.cuda_version} with TensorRT {version}: "
                                                     f"{jp.name} pairs TensorRT {jp.tensorrt.release} with CUDA {jp.cuda}",
                                      "reflash or upgrade JetPack consistently (apt full-upgrade of nvidia-jetpack)"))
        else:
            checks.append(TargetCheck("cuda", True, f"CUDA {device.cuda_version or '?'} ({jp.name})"))
    checks.append(_engine_check(cfg, device))

    account = probes.account(svc.user)
    checks.append(_camera_check(cfg, probes, account))
    if account is None:
        checks.append(TargetCheck("permissions", False, f"no user '{svc.user}' on this machine",
                                  "run install.sh as root: it creates the service user"))
    else:
        problems = []
        for target, mode in ((lay.events_dir, os.W_OK), (lay.log_dir, os.W_OK), (lay.engine_dir, os.W_OK),
                             (lay.model_dir, os.R_OK)):
            path = cfg.path(target)
            if not path.is_dir():
                problems.append(f"{path} missing")
            elif not probes.access(path, account, mode):
                problems.append(f"{path} not {'writable' if mode == os.W_OK else 'readable'} by {svc.user}")
        checks.append(TargetCheck("permissions", not problems,
                                  "; ".join(problems) or f"{svc.user} can write events, logs and engines",
                                  f"sudo chown -R {svc.user}:{svc.user} {lay.events_dir} {lay.log_dir} {lay.engine_dir}"
                                  if problems else ""))

    events = cfg.path(lay.events_dir)
    probe_dir = events if events.is_dir() else cfg.root
    free_mb = probes.disk_free(probe_dir) // (1 << 20)
    checks.append(TargetCheck("disk", free_mb >= svc.min_free_mb,
                              f"{free_mb} MB free for {lay.events_dir} (needs {svc.min_free_mb} MB)",
                              "" if free_mb >= svc.min_free_mb else "free space or move the events folder"))
    return checks
