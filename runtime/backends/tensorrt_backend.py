"""The step graph as a TensorRT engine on a Jetson, with pycuda for memory and the stream.

Deliberately thin (TensorRT cannot be installed off an NVIDIA platform, so this module is
only type-checked here, against tensorrt-stubs; the logic around it is tested on CPU):

* deserialize the engine (built by deploy for this TensorRT version and GPU);
* TensorRT >= 8.5 named-tensor API: num_io_tensors / get_tensor_name / get_tensor_mode,
  set_tensor_address per tensor, execute_async_v3 on one CUDA stream;
* page-locked (pinned) host buffers, so copies are real DMA and can be asynchronous;
* two device buffers per recurrent state, swapped every frame (runtime.state_buffers):
  never the same buffer as state input and state output. The state stays on the GPU; it
  is copied back only so that the loop can check it is finite (a few hundred floats).
  When the loop hands in a state other than the one returned last (zeros after a reset)
  it is uploaded first.

tensorrt and pycuda are imported when the backend is created, never at module import.
Type-checked (mypy strict for this module, pyproject.toml) against tensorrt-stubs as
repaired by scripts/trt_stubs_for_mypy.py; pycuda has no stubs and is typed Any.
"""

from __future__ import annotations

import atexit
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dms.manifest import ModelManifest
from runtime.backends.base import BackendError, States, StepIO
from runtime.state_buffers import StateBuffers

if TYPE_CHECKING:
    import tensorrt as trt

def tensorrt_available() -> str | None:
    """TensorRT's version if the real library (not only the type stubs) imports, else None."""
    try:
        import tensorrt
    except Exception:
        return None
    if getattr(tensorrt, "__file__", None) is None or not hasattr(tensorrt, "Runtime"):
        return None               # tensorrt-stubs leaves an empty namespace package
    return str(getattr(tensorrt, "__version__", "unknown"))


def _import() -> tuple[Any, Any]:
    if tensorrt_available() is None:
        raise BackendError("TensorRT is not installed (JetPack provides it; use a venv with "
                           "--system-site-packages) -- or use --backend onnxruntime")
    import tensorrt

    try:
        import pycuda.driver as cuda  # no stubs: typed Any (mypy ignore_missing_imports)
    except ImportError as exc:
        raise BackendError("pycuda is not installed (pip install '.[jetson]')") from exc
    return tensorrt, cuda


def _check_engine(engine_path: Path) -> int | None:
    """The deploy room's engine manifest check (TensorRT version, GPU, graph hash), when
    present; returns the DLA core the engine was built for (None: the GPU)."""
    try:
        from deploy.engine_manifest import check_engine_for_runtime
    except ImportError:
        return None
    dla = getattr(check_engine_for_runtime(engine_path), "dla_core", None)
    return int(dla) if dla is not None else None


def _free_host(array: np.ndarray) -> None:
    """Free a page-locked array's allocation now (pycuda's pagelocked_empty returns an
    ndarray whose base chain ends in the HostAllocation) rather than at garbage
    collection, which may come after the context is gone."""
    base: Any = array
    while base is not None and not hasattr(base, "free"):
        base = getattr(base, "base", None)
    if base is not None:
        base.free()


def _np_dtype(trt_module: Any, dtype: Any) -> np.dtype[Any]:
    """numpy dtype of a TensorRT DataType (tensorrt.nptype is untyped in the stubs)."""
    out: np.dtype[Any] = np.dtype(trt_module.nptype(dtype))
    return out


class TensorRTBackend:
    name = "tensorrt"
    _host: dict[str, np.ndarray]
    _dev: dict[str, Any]
    _allocs: list[Any]
    _pinned: list[np.ndarray]

    def __init__(self, engine_path: Path, manifest: ModelManifest, precision: str = "fp16", device: int = 0) -> None:
        _, cuda = _import()
        self._cuda = cuda
        self.precision = precision
        self.io = StepIO.from_manifest(manifest)
        engine_path = Path(engine_path)
        if not engine_path.is_file():
            raise BackendError(f"{engine_path}: no such TensorRT engine (build one with deploy)")
        dla_core = _check_engine(engine_path)
        cuda.init()
        # The device's primary context (the one the CUDA runtime and TensorRT themselves
        # use), pushed for this thread and popped by close(). A context created with
        # make_context() and never popped makes pycuda abort the process at exit
        # ("PyCUDA ERROR: The context stack was not empty upon module cleanup"): every
        # service stop would end in SIGABRT and a core dump (NVIDIA/TensorRT#1107).
        self._ctx = cuda.Device(device).retain_primary_context()
        self._ctx.push()
        self._host = {}
        self._dev = {}
        self._allocs = []
        self._pinned = []
        try:
            self._setup(engine_path, dla_core)
        except BaseException:
            self.close()
            raise
        self.device = f"TensorRT {tensorrt_available()} on {cuda.Device(device).name()}" + (
            f" (DLA core {dla_core})" if dla_core is not None else "")
        # A safety net for callers that forget close(): it runs before pycuda's own exit
        # handler (atexit is last-in, first-out and pycuda registered at import).
        atexit.register(self.close)

    def _setup(self, engine_path: Path, dla_core: int | None) -> None:
        import tensorrt as trt  # present: _import() checked it

        cuda = self._cuda
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        if dla_core is not None:
            # IRuntime.DLA_core must be set before deserializing: an engine built for DLA
            # core 1 otherwise runs on core 0 (TensorRT API: "DLA core to use when
            # deserializing", default 0).
            self._runtime.DLA_core = dla_core
        engine: trt.ICudaEngine | None = self._runtime.deserialize_cuda_engine(engine_path.read_bytes())
        if engine is None:
            raise BackendError(f"{engine_path}: TensorRT {trt.__version__} could not deserialize it "
                               "(built with another TensorRT version or for another GPU?)")
        self._engine = engine
        context = engine.create_execution_context()
        if context is None:
            raise BackendError(f"{engine_path}: could not create an execution context (out of GPU memory?)")
        self._context: trt.IExecutionContext = context
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        io = self.io
        need = [io.image, *io.outputs, *(p.input for p in io.states), *(p.output for p in io.states)]
        missing = [n for n in need if n not in names]
        if missing:
            raise BackendError(f"{engine_path}: has no tensor '{missing[0]}' that the manifest names (tensors: {names})")
        self._stream = cuda.Stream()
        for name in (io.image, *io.outputs):
            dims = engine.get_tensor_shape(name)
            shape = tuple(int(dims[k]) for k in range(len(dims)))
            dtype = _np_dtype(trt, engine.get_tensor_dtype(name))
            self._host[name] = cuda.pagelocked_empty(shape, dtype)
            self._pinned.append(self._host[name])
            self._dev[name] = cuda.mem_alloc(self._host[name].nbytes)
            context.set_tensor_address(name, int(self._dev[name]))
        dev_pairs: list[tuple[int, int]] = []
        host_pairs: list[tuple[np.ndarray, np.ndarray]] = []
        for p in io.states:
            dtype = _np_dtype(trt, engine.get_tensor_dtype(p.input))
            host = (cuda.pagelocked_empty(p.shape, dtype), cuda.pagelocked_empty(p.shape, dtype))
            self._pinned.extend(host)
            dev = (cuda.mem_alloc(host[0].nbytes), cuda.mem_alloc(host[0].nbytes))
            self._allocs.extend(dev)
            dev_pairs.append((int(dev[0]), int(dev[1])))
            host_pairs.append(host)
        self._dev_states: StateBuffers[int] = StateBuffers(dev_pairs)
        self._host_states: StateBuffers[np.ndarray] = StateBuffers(host_pairs)
        self._returned: States | None = None

    def zero_states(self) -> States:
        return self.io.zero_states()

    def step(self, image: np.ndarray, states: States) -> tuple[dict[str, np.ndarray], States]:
        cuda, io, ctx, stream = self._cuda, self.io, self._context, self._stream
        np.copyto(self._host[io.image], image.reshape(self._host[io.image].shape), casting="same_kind")
        cuda.memcpy_htod_async(self._dev[io.image], self._host[io.image], stream)
        if states is not self._returned:      # zeros after a reset, or a state from elsewhere
            self._dev_states.reset()
            self._host_states.reset()
            for i, value in enumerate(states):
                host = self._host_states.input(i)
                np.copyto(host, value.reshape(host.shape), casting="same_kind")
                cuda.memcpy_htod_async(self._dev_states.input(i), host, stream)
        for i, p in enumerate(io.states):
            ctx.set_tensor_address(p.input, self._dev_states.input(i))
            ctx.set_tensor_address(p.output, self._dev_states.output(i))
        if not ctx.execute_async_v3(stream.handle):
            raise BackendError("TensorRT execute_async_v3 failed (see the TensorRT log above)")
        for name in io.outputs:
            cuda.memcpy_dtoh_async(self._host[name], self._dev[name], stream)
        for i in range(len(io.states)):
            cuda.memcpy_dtoh_async(self._host_states.output(i), self._dev_states.output(i), stream)
        stream.synchronize()
        new_states = [self._host_states.output(i) for i in range(len(io.states))]
        self._dev_states.swap()
        self._host_states.swap()
        self._returned = new_states
        # copies: the pinned output buffers are overwritten by the next frame
        return {name: self._host[name].copy() for name in io.outputs}, new_states

    def close(self) -> None:
        """Release everything in the order CUDA needs, while the interpreter is whole:
        finish the stream's work, drop TensorRT's objects (they own device memory), free
        device and pinned host buffers and the stream, then pop and release the context.
        Idempotent; the owner of the pipeline calls it (runtime.pipeline.Pipeline.close)."""
        ctx = self.__dict__.pop("_ctx", None)
        if ctx is None:
            return
        atexit.unregister(self.close)
        stream = self.__dict__.pop("_stream", None)
        try:
            if stream is not None:
                stream.synchronize()
        finally:
            for name in ("_context", "_engine", "_runtime", "_dev_states", "_host_states", "_returned"):
                self.__dict__.pop(name, None)
            for buf in [*self._dev.values(), *self._allocs]:
                buf.free()
            for array in self._pinned:
                _free_host(array)
            self._dev.clear()
            self._allocs.clear()
            self._pinned.clear()
            self._host.clear()
            del stream
            ctx.pop()
            ctx.detach()
