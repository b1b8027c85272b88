"""`dms bundle MODEL_DIR --out dms-bundle.tar.gz [--precision ...] [--camera csi|usb ...]`,
and `dms bundle --verify BUNDLE` (a .tar.gz or an unpacked folder).

Only argparse at import; the bundle is assembled when the command runs. Never torch.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = ("package a model folder for a Jetson: ONNX graphs, manifests, config, systemd units, "
        "install script and guide, every file with its sha256 (or --verify a bundle)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_dir", type=Path, nargs="?", metavar="MODEL_DIR",
                        help="an exported (and calibrated) model folder")
    parser.add_argument("--out", type=Path, default=Path("dms-bundle.tar.gz"),
                        help="the bundle to write (default dms-bundle.tar.gz)")
    parser.add_argument("--verify", type=Path, default=None, metavar="BUNDLE",
                        help="only verify a bundle (.tar.gz or unpacked folder) against its SHA256SUMS")
    parser.add_argument("--precision", choices=("fp32", "fp16", "int8"), default="int8",
                        help="the engine the target builds (default int8)")
    parser.add_argument("--dla", type=int, default=None, metavar="CORE", help="build the engine for DLA core CORE")
    parser.add_argument("--camera", choices=("csi", "usb"), default="csi",
                        help="csi: nvarguscamerasrc (default); usb: v4l2src")
    parser.add_argument("--sensor-id", type=int, default=0, help="CSI sensor id (default 0)")
    parser.add_argument("--device", default="/dev/video0", help="USB camera device (default /dev/video0)")
    parser.add_argument("--size", default="1280x720", metavar="WxH", help="camera mode (default 1280x720)")
    parser.add_argument("--fps", type=int, default=30, help="camera frame rate (default 30)")
    parser.add_argument("--gray", action="store_true", help="ask the camera pipeline for GRAY8 frames")
    parser.add_argument("--source", default="", metavar="PIPELINE",
                        help="a complete GStreamer pipeline instead of the generated one")
    parser.add_argument("--user", default="dms", help="the service's unprivileged user (default dms)")
    parser.add_argument("--watchdog", type=int, default=None, metavar="S",
                        help="systemd WatchdogSec (default 5)")
    parser.add_argument("--wheel", type=Path, default=None, metavar="FILE",
                        help="the dms wheel to ship (default: built from this checkout)")
    parser.add_argument("--wheelhouse", type=Path, default=None, metavar="DIR",
                        help="the runtime's dependency wheels for the target (aarch64, its Python; pycuda as a "
                             "source archive) to ship for install.sh --offline (docs/deploy.md, 'Offline install')")
    parser.add_argument("--upload", type=Path, default=None, metavar="FILE",
                        help="the fleet uploader's JSON configuration (broker, TLS and credential file paths, "
                             "vehicle_id_file): the monitor then sends completed alerts over MQTT (docs/fleet.md)")
    parser.add_argument("--usb-format", choices=("raw", "mjpeg"), default="raw",
                        help="USB camera stream: raw (default) or mjpeg (most UVC cameras' only 720p30 mode)")


def _fail(message: str, code: int = 1) -> int:
    print(f"dms bundle: error: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from deploy.bundle import BundleError, create_bundle, verify_bundle
    from deploy.service import CameraConfig, ServiceConfig, ServiceConfigError
    from dms.manifest import ManifestError

    if args.verify is not None:
        try:
            info = verify_bundle(args.verify)
        except (BundleError, OSError, ValueError) as exc:
            return _fail(str(exc))
        print(f"{args.verify}: OK, {len(info.get('files', {})) + 1} files match SHA256SUMS "
              f"(model {info.get('model')}, {info.get('precision')}, dms {info.get('dms_version')})")
        return 0
    if args.model_dir is None:
        return _fail("needs MODEL_DIR (or --verify BUNDLE)", 2)
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        return _fail(f"--size must look like 1280x720, got {args.size!r}", 2)
    camera = CameraConfig(kind=args.camera, sensor_id=args.sensor_id, device=args.device, width=width,
                          height=height, fps=args.fps, color="gray" if args.gray else "bgr", source=args.source,
                          usb_format=args.usb_format)
    cfg = ServiceConfig(precision=args.precision, dla_core=args.dla, user=args.user, camera=camera)
    if args.watchdog is not None:
        cfg = replace(cfg, watchdog_sec=args.watchdog)
    try:
        result = create_bundle(args.model_dir, args.out, cfg, wheel=args.wheel, wheelhouse=args.wheelhouse,
                               upload=args.upload)
    except (BundleError, ManifestError, ServiceConfigError) as exc:
        return _fail(str(exc))
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"wrote {result.path}: {len(result.files)} files listed in SHA256SUMS")
    for t in result.targets:
        print(f"  {t['jetpack']:16} TensorRT {t['tensorrt']:7} "
              + (f"unsupported: {t['error']}" if "error" in t else f"{t['api']} from {t['graph']}"))
    print(f"sha256 {result.sha256}  {result.path.name}   (give this to the integrator to check the copy)")
    return 0
