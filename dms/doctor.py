"""`dms doctor`: what this machine can run, each component with its version or "missing".

Exits non-zero when the runtime's minimum is missing: numpy, OpenCV and jsonschema, plus
one inference backend (ONNX Runtime, or TensorRT with pycuda or cuda-python). Torch is
reported but never required: a Jetson runtime has none.

On a target with a bundle installed (/etc/dms/dms.json, or --config), it also checks the
device against the bundle (deploy.target_checks): TensorRT and CUDA versions, the engine,
the camera, the service user's permissions and free disk for events.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

HELP = "print what this machine can run (versions, backends, CUDA devices); non-zero if the runtime's minimum is missing"


@dataclass
class Check:
    name: str
    version: str | None  # None = missing
    detail: str = ""
    role: str = ""       # what it is for

    @property
    def ok(self) -> bool:
        return self.version is not None


def _probe(name: str, module: str, role: str,
           detail: Callable[[Any], str] | None = None) -> Check:
    try:
        mod = importlib.import_module(module)
    except Exception as exc:  # ImportError, or a broken install raising anything
        reason = "" if isinstance(exc, ModuleNotFoundError) else f"import failed: {exc}"
        return Check(name, None, reason, role)
    if getattr(mod, "__file__", None) is None:
        # A namespace package with no code, e.g. what tensorrt-stubs leaves behind.
        return Check(name, None, "only type stubs / an empty namespace, no library", role)
    version = str(getattr(mod, "__version__", "") or _dist_version(module) or "present")
    extra = ""
    if detail is not None:
        try:
            extra = detail(mod)
        except Exception as exc:
            extra = f"(could not query: {exc})"
    return Check(name, version, extra, role)


def _dist_version(module: str) -> str | None:
    from importlib import metadata
    # packages_distributions() is Python 3.10+; JetPack 5.1 runs 3.8, where the module's
    # own name is the best guess at its distribution's
    mapping: dict[str, list[str]] = getattr(metadata, "packages_distributions", lambda: {})()
    top = module.split(".")[0]
    for dist in mapping.get(top, [top]):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def _ort_providers(ort: Any) -> str:
    return "providers: " + ", ".join(ort.get_available_providers())


def _torch_detail(torch: Any) -> str:
    if torch.cuda.is_available():
        return f"CUDA {torch.version.cuda}, {torch.cuda.device_count()} device(s)"
    return "CPU only"


def _cuda_devices() -> Check:
    """Find CUDA devices without needing torch: pycuda, then cuda-python, then nvidia-smi."""
    try:
        import pycuda.driver as drv
        drv.init()
        names = [drv.Device(i).name() for i in range(drv.Device.count())]
        return Check("CUDA devices", str(len(names)), ", ".join(names) or "none", "GPU inference")
    except Exception:
        pass
    try:
        from cuda.bindings import runtime as cudart
        err, count = cudart.cudaGetDeviceCount()
        if int(err) == 0:
            return Check("CUDA devices", str(count), "via cuda-python", "GPU inference")
    except Exception:
        pass
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10).stdout.strip()
            lines = [ln for ln in out.splitlines() if ln.startswith("GPU")]
            if lines:
                return Check("CUDA devices", str(len(lines)), "; ".join(lines), "GPU inference")
        except (OSError, subprocess.SubprocessError):
            pass
    return Check("CUDA devices", None, "none found (pycuda, cuda-python, nvidia-smi)", "GPU inference")


def gather() -> list[Check]:
    checks = [
        Check("python", platform.python_version(), f"{platform.machine()}, {sys.executable}", "everything"),
        _probe("numpy", "numpy", "runtime (required)"),
        _probe("opencv", "cv2", "runtime (required): camera, video, crops",
               lambda cv2: "GStreamer: " + ("yes" if "GStreamer:                   YES" in cv2.getBuildInformation() else "no")),
        _probe("jsonschema", "jsonschema", "runtime (required): manifests"),
        _probe("onnx", "onnx", "export, calibration, checks"),
        _probe("onnxruntime", "onnxruntime", "runtime backend (default)", _ort_providers),
        _probe("tensorrt", "tensorrt", "runtime backend on Jetson"),
        _probe("pycuda", "pycuda", "TensorRT buffers"),
        _probe("cuda-python", "cuda.bindings", "TensorRT buffers (alternative)"),
        _probe("torch", "torch", "training and export only", _torch_detail),
        _cuda_devices(),
    ]
    return checks


def runtime_ready(checks: list[Check]) -> tuple[bool, str]:
    """The runtime's minimum: numpy, OpenCV, jsonschema and one backend."""
    have = {c.name: c.ok for c in checks}
    missing = [n for n in ("numpy", "opencv", "jsonschema") if not have.get(n)]
    backend = have.get("onnxruntime") or (have.get("tensorrt") and (have.get("pycuda") or have.get("cuda-python")))
    if not backend:
        missing.append("a backend (onnxruntime, or tensorrt + pycuda/cuda-python)")
    if missing:
        return False, "runtime NOT ready, missing: " + ", ".join(missing)
    return True, "runtime ready"


# Where install.sh puts the deploy configuration (deploy.service.DEFAULT_CONFIG_FILE).
DEFAULT_CONFIG = Path("/etc/dms/dms.json")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--config", type=Path, default=None, metavar="FILE",
                        help=f"check this device against an installed bundle's configuration "
                             f"(default {DEFAULT_CONFIG} when it exists)")
    parser.add_argument("--root", type=Path, default=Path("/"), metavar="DIR",
                        help="the install root the configuration's paths are under (a staging install)")


def _target_checks(args: argparse.Namespace) -> tuple[list[dict[str, Any]], bool] | None:
    """The installed-bundle checks, when there is a configuration to check against."""
    path = args.config if args.config is not None else (DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None)
    if path is None:
        return None
    from deploy.service import ServiceConfigError, load_config
    from deploy.target_checks import TargetCheck, run_target_checks

    try:
        results = run_target_checks(load_config(path, args.root))
    except ServiceConfigError as exc:
        results = [TargetCheck("config", False, str(exc), "reinstall the bundle (install.sh)")]
    return [asdict(r) for r in results], all(r.ok for r in results)


def run(args: argparse.Namespace) -> int:
    checks = gather()
    ok, verdict = runtime_ready(checks)
    target = _target_checks(args)
    if args.json:
        report: dict[str, Any] = {"checks": [asdict(c) for c in checks], "runtime_ready": ok}
        if target is not None:
            report["target_checks"], report["target_ok"] = target
        print(json.dumps(report, indent=2))
    else:
        for c in checks:
            print(f"{c.name:13} {c.version or 'missing':22} {c.role:40} {c.detail}")
        print(verdict)
        if target is not None:
            print(f"\ninstalled bundle ({args.config or DEFAULT_CONFIG}):")
            for r in target[0]:
                print(f"{r['name']:13} {'ok' if r['ok'] else 'FAILED':7} {r['detail']}"
                      + (f"\n{'':21} fix: {r['fix']}" if r["fix"] and not r["ok"] else ""))
            print("target ready" if target[1] else "target NOT ready (see FAILED above)")
    return 0 if ok and (target is None or target[1]) else 1
