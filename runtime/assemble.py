"""Build a pipeline from command-line choices: shared by `dms run` and `dms bench`.

Argument declarations import nothing heavy (so `dms --help` stays fast on a Jetson);
``build_*`` import OpenCV, ONNX Runtime or TensorRT only when called.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

from runtime.config import DEFAULT_HFOV_DEG, CameraConfig, LocaliseConfig, RuntimeConfig

# Where the head detector (`dms train-detector`'s export) is looked for with --detector auto:
# inside the model folder, then the repository's models/ folder.
DETECTOR_SUBDIR = "head_detector"
DEFAULT_DETECTOR_DIR = Path("models") / "head_detector"


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, required=True, help="model folder (step.onnx + manifest.json from dms export)")
    p.add_argument("--backend", choices=("onnxruntime", "tensorrt"), default="onnxruntime",
                   help="inference backend (default onnxruntime; tensorrt on a Jetson)")
    p.add_argument("--precision", choices=("fp32", "int8", "fp16"), default="fp32",
                   help="which graph of the manifest (default fp32; int8/fp16 from dms calibrate, or the engine's)")
    p.add_argument("--engine", type=Path, default=None,
                   help="TensorRT engine file (default: MODEL/step_<precision>.engine)")
    p.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads (default 1)")
    p.add_argument("--detector", default="auto",
                   help="head localiser: a head-detector folder, 'haar' (OpenCV cascades only), or 'auto' "
                        f"(MODEL/{DETECTOR_SUBDIR} or {DEFAULT_DETECTOR_DIR} when present, Haar as fallback)")
    p.add_argument("--detect-every-frame", action="store_true",
                   help="run the detector on every frame (default: only when the tracker loses confidence "
                        "and every --redetect-s)")
    p.add_argument("--redetect-s", type=float, default=LocaliseConfig.redetect_every_s,
                   help=f"refresh detection at least this often while tracking (default {LocaliseConfig.redetect_every_s})")
    p.add_argument("--hfov", type=float, default=DEFAULT_HFOV_DEG,
                   help=f"camera horizontal field of view, degrees (default {DEFAULT_HFOV_DEG}: a typical DMS lens)")
    p.add_argument("--intrinsics", default=None, metavar="FX,FY,CX,CY",
                   help="camera intrinsics in pixels (override --hfov); the synthetic source knows its own")
    p.add_argument("--fps", type=float, default=None,
                   help="frame rate: of an image folder or a camera, and the deadline rate (default: the source's, 30)")


def runtime_config(args: argparse.Namespace, fps: float) -> RuntimeConfig:
    cam = CameraConfig(hfov_deg=args.hfov)
    if args.intrinsics:
        try:
            fx, fy, cx, cy = (float(v) for v in args.intrinsics.split(","))
        except ValueError:
            raise SystemExit(f"--intrinsics: expected FX,FY,CX,CY, got {args.intrinsics!r}") from None
        cam = CameraConfig(hfov_deg=args.hfov, fx=fx, fy=fy, cx=cx, cy=cy)
    loc = replace(LocaliseConfig(), detect_every_frame=bool(args.detect_every_frame),
                  redetect_every_s=float(args.redetect_s))
    cfg = RuntimeConfig(camera=cam, localise=loc, fps=fps)
    cfg.validate()
    return cfg


def find_detector(spec: str, model_dir: Path) -> Path | None:
    """The head-detector folder --detector names (None: Haar only)."""
    if spec == "haar":
        return None
    if spec == "auto":
        for cand in (model_dir / DETECTOR_SUBDIR, DEFAULT_DETECTOR_DIR):
            if (cand / "manifest.json").is_file():
                return cand
        return None
    return Path(spec)


def build_localiser(spec: str, model_dir: Path, config: RuntimeConfig, threads: int = 1) -> Any:
    """Our head detector (if any) with OpenCV's Haar cascades as the fallback."""
    from runtime.haar import HaarLocaliser
    from runtime.localise import FirstOf

    haar = HaarLocaliser(config.crop)
    folder = find_detector(spec, model_dir)
    if folder is None:
        return haar
    from runtime.head_detector import HeadDetector

    return FirstOf([HeadDetector.load(folder, threads=threads), haar])


def build_pipeline(args: argparse.Namespace, config: RuntimeConfig, *, source: Any = None, monitor: Any = None,
                   events: Any = None, speed: Any = None, profiler: Any = None) -> Any:
    """Backend (manifest and sha256 verified first), localiser, pipeline."""
    from runtime.backends import open_backend
    from runtime.localise import HeadFinder
    from runtime.pipeline import Pipeline

    backend, manifest = open_backend(args.model, args.backend, args.precision, threads=args.threads,
                                     engine=args.engine)
    finder = HeadFinder(build_localiser(args.detector, args.model, config, args.threads), config.localise)
    intrinsics = None if args.intrinsics else getattr(source, "intrinsics", None)
    return Pipeline(backend, manifest, finder, config, monitor=monitor, events=events, speed=speed,
                    profiler=profiler, intrinsics=intrinsics)
