"""What this device is, as far as a TensorRT engine cares: TensorRT release, GPU name,
compute capability (and the CUDA version, for `dms doctor`).

An engine is only valid on the TensorRT release and GPU model it was built on, so the
engine manifest records these and the runtime compares them before deserializing.
TensorRT, pycuda and cuda-python are imported only when asked (this module imports on a
machine without them, and tests inject a DeviceInfo instead of querying).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


class DeviceQueryError(RuntimeError):
    """The device could not be queried: says which library is missing or failed."""


@dataclass(frozen=True)
class DeviceInfo:
    tensorrt_version: str            # trt.__version__, e.g. "10.3.0.30"
    gpu_name: str                    # e.g. "Orin"
    compute_capability: str          # "major.minor", e.g. "8.7"
    cuda_version: str | None = None  # CUDA runtime the Python bindings report, e.g. "12.6"

    def describe(self) -> str:
        return f"TensorRT {self.tensorrt_version} on {self.gpu_name} (compute {self.compute_capability})"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _cuda_version_text(version: int) -> str:
    """CUDA's integer versions: 12060 -> '12.6' (major * 1000 + minor * 10)."""
    return f"{version // 1000}.{(version % 1000) // 10}"


def _gpu_via_pycuda(index: int) -> tuple[str, str, str | None]:
    import pycuda.driver as drv

    drv.init()
    dev = drv.Device(index)
    major, minor = dev.compute_capability()
    cuda = ".".join(str(p) for p in drv.get_version()[:2])
    return str(dev.name()), f"{major}.{minor}", cuda


def _gpu_via_cuda_python(index: int) -> tuple[str, str, str | None]:
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
    return name.rstrip("\x00"), f"{prop.major}.{prop.minor}", cuda


def query_device(index: int = 0) -> DeviceInfo:
    """Ask TensorRT for its version and pycuda (else cuda-python) for GPU `index`."""
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
            gpu, cc, cuda = probe(index)
        except Exception as exc:  # ImportError, or a driver error from either library
            failures.append(f"{name}: {exc}")
            continue
        return DeviceInfo(version, gpu, cc, cuda)
    raise DeviceQueryError(f"cannot query GPU {index}: " + "; ".join(failures)
                           + " (install pycuda: pip install 'dms[jetson]')")
