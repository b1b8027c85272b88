"""What this device is, as far as a TensorRT engine cares: TensorRT release, GPU name,
compute capability, SM count, the Jetson module and its L4T release (and the CUDA
version, for `dms doctor`).

An engine is only valid on the TensorRT release and GPU it was built on, so the engine
manifest records these and the runtime compares them before deserializing. The GPU name
and compute capability cannot tell Orin modules apart (AGX Orin, Orin NX and Orin Nano all
report "Orin", 8.7), so three more facts are recorded: the board model from the device
tree (/proc/device-tree/model, a NUL-terminated string: "NVIDIA Jetson AGX Orin Developer
Kit"), the first line of /etc/nv_tegra_release (the L4T release: "# R36 (release),
REVISION: 4.3, ...") and the GPU's multiprocessor (SM) count (AGX Orin 64 GB: 16, Orin
Nano 4 GB: 4). A cloned SD-card image carrying an engine from another module then differs
in at least one of them. The two files are read under a `root` so tests fake them; off a
Jetson they are absent and recorded as None.

TensorRT, pycuda and cuda-python are imported only when asked (this module imports on a
machine without them, and tests inject a DeviceInfo instead of querying).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

DEVICE_TREE_MODEL = "proc/device-tree/model"   # relative to the root
L4T_RELEASE_FILE = "etc/nv_tegra_release"
_L4T_LINE = re.compile(r"R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)")


class DeviceQueryError(RuntimeError):
    """The device could not be queried: says which library is missing or failed."""


def read_device_model(root: Path = Path("/")) -> str | None:
    """The board model from the device tree, without its terminating NUL; None off a
    Jetson (no such file) or when it cannot be read."""
    try:
        raw = (Path(root) / DEVICE_TREE_MODEL).read_bytes()
    except OSError:
        return None
    text = raw.split(b"\x00", 1)[0].decode("utf-8", errors="replace").strip()
    return text or None


def read_l4t_release(root: Path = Path("/")) -> str | None:
    """The first line of /etc/nv_tegra_release (the L4T release and revision), stripped;
    None off a Jetson or when it cannot be read."""
    try:
        with open(Path(root) / L4T_RELEASE_FILE, encoding="utf-8", errors="replace") as fh:
            line = fh.readline().strip()
    except OSError:
        return None
    return line or None


def l4t_short(line: str | None) -> str:
    """'# R36 (release), REVISION: 4.3, GCID: ...' -> 'R36.4.3' (the line itself when it
    does not look like that; '?' for None)."""
    if line is None:
        return "?"
    match = _L4T_LINE.search(line)
    return f"R{match.group(1)}.{match.group(2)}" if match else line


def describe(tensorrt_version: str, gpu_name: str, compute_capability: str, sm_count: int | None = None,
             model: str | None = None, l4t_release: str | None = None) -> str:
    """'TensorRT 10.3.0.30 on Orin (compute 8.7, 16 SMs) in NVIDIA Jetson AGX Orin Developer
    Kit, L4T R36.4.3': what is known, for errors that compare two devices."""
    text = f"TensorRT {tensorrt_version} on {gpu_name} (compute {compute_capability}"
    text += f", {sm_count} SMs)" if sm_count is not None else ")"
    if model is not None:
        text += f" in {model}"
    if l4t_release is not None:
        text += f", L4T {l4t_short(l4t_release)}"
    return text


@dataclass(frozen=True)
class DeviceInfo:
    tensorrt_version: str            # trt.__version__, e.g. "10.3.0.30"
    gpu_name: str                    # e.g. "Orin"
    compute_capability: str          # "major.minor", e.g. "8.7"
    cuda_version: str | None = None  # CUDA runtime the Python bindings report, e.g. "12.6"
    model: str | None = None         # /proc/device-tree/model, e.g. "NVIDIA Jetson AGX Orin Developer Kit"
    l4t_release: str | None = None   # first line of /etc/nv_tegra_release
    sm_count: int | None = None      # the GPU's multiprocessor count, e.g. 16

    def describe(self) -> str:
        return describe(self.tensorrt_version, self.gpu_name, self.compute_capability, self.sm_count,
                        self.model, self.l4t_release)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Gpu(NamedTuple):
    name: str
    compute_capability: str
    cuda_version: str | None
    sm_count: int


def _cuda_version_text(version: int) -> str:
    """CUDA's integer versions: 12060 -> '12.6' (major * 1000 + minor * 10)."""
    return f"{version // 1000}.{(version % 1000) // 10}"


def _gpu_via_pycuda(index: int) -> _Gpu:
    import pycuda.driver as drv

    drv.init()
    dev = drv.Device(index)
    major, minor = dev.compute_capability()
    cuda = ".".join(str(p) for p in drv.get_version()[:2])
    sms = int(dev.get_attribute(drv.device_attribute.MULTIPROCESSOR_COUNT))
    return _Gpu(str(dev.name()), f"{major}.{minor}", cuda, sms)


def _gpu_via_cuda_python(index: int) -> _Gpu:
    try:
        from cuda.bindings import runtime as cudart  # cuda-python >= 12.6
    except ImportError:
        from cuda import cudart  # older cuda-python (JetPack 5/6 wheels)
    err, prop = cudart.cudaGetDeviceProperties(index)
    if int(err) != 0:
        raise DeviceQueryError(f"cudaGetDeviceProperties({index}) failed: {err}")
    name = prop.name.decode() if isinstance(prop.name, bytes) else str(prop.name)
    err, version = cudart.cudaRuntimeGetVersion()
    cuda = _cuda_version_text(int(version)) if int(err) == 0 else None
    return _Gpu(name.rstrip("\x00"), f"{prop.major}.{prop.minor}", cuda, int(prop.multiProcessorCount))


def query_device(index: int = 0, root: Path = Path("/")) -> DeviceInfo:
    """Ask TensorRT for its version, pycuda (else cuda-python) for GPU `index`, and the
    files under `root` for the Jetson module and L4T release."""
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise DeviceQueryError(f"TensorRT is not importable ({exc}); on a Jetson it comes with JetPack: "
                               "use a venv made with --system-site-packages") from exc
    version = str(getattr(trt, "__version__", "") or "")
    if not version:
        raise DeviceQueryError("the 'tensorrt' module has no __version__: only type stubs are installed here")
    failures = []
    for name, probe in (("pycuda", _gpu_via_pycuda), ("cuda-python", _gpu_via_cuda_python)):
        try:
            gpu = probe(index)
        except Exception as exc:  # ImportError, or a driver error from either library
            failures.append(f"{name}: {exc}")
            continue
        return DeviceInfo(version, gpu.name, gpu.compute_capability, gpu.cuda_version,
                          model=read_device_model(root), l4t_release=read_l4t_release(root),
                          sm_count=gpu.sm_count)
    raise DeviceQueryError(f"cannot query GPU {index}: " + "; ".join(failures)
                           + " (install pycuda: pip install 'dms[jetson]')")
