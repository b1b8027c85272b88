"""The TensorRT backend's own logic on a CPU: fake `tensorrt` and `pycuda.driver` modules
whose "engine" runs the step graph with ONNX Runtime on fake device memory. What is
tested is ours: named tensors bound by address, the state double-buffered and never bound
as input and output at once, zeros uploaded after a reset, outputs copied back. (The real
library is exercised by test_backends.py where TensorRT is installed.)"""

import sys
import types

import numpy as np
import pytest

from runtime.backends.base import BackendError


class FakeMemory:
    def __init__(self):
        self.blocks = {}
        self.next = 0x1000

    def alloc(self, nbytes):
        addr = self.next
        self.next += 0x1000 + nbytes
        self.blocks[addr] = np.zeros(nbytes, np.uint8)
        mem = self

        class Alloc(int):
            def free(self):
                mem.blocks.pop(int(self), None)

        return Alloc(addr)


def make_fakes(onnx_path, manifest):
    import onnxruntime as ort

    mem = FakeMemory()
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    shapes = {t.name: tuple(t.shape) for t in (*manifest.inputs, *manifest.outputs)}
    inputs = [t.name for t in manifest.inputs]
    outputs = [t.name for t in manifest.outputs]
    log = {"bindings": [], "aliased": 0}

    def view(addr, name):
        n = int(np.prod(shapes[name]))
        return mem.blocks[addr][: 4 * n].view(np.float32).reshape(shapes[name])

    class Context:
        def __init__(self):
            self.addr = {}

        def set_tensor_address(self, name, address):
            self.addr[name] = int(address)
            return True

        def execute_async_v3(self, stream_handle):
            bound = dict(self.addr)
            log["bindings"].append(bound)
            if any(bound[i] == bound[o] for i in inputs for o in outputs):
                log["aliased"] += 1
            feeds = {n: view(bound[n], n).copy() for n in inputs}
            for name, value in zip(outputs, sess.run(outputs, feeds)):
                view(bound[name], name)[...] = value
            return True

    class Engine:
        num_io_tensors = len(inputs) + len(outputs)

        def get_tensor_name(self, i):
            return (inputs + outputs)[i]

        def get_tensor_shape(self, name):
            return shapes[name]

        def get_tensor_dtype(self, name):
            return "float32"

        def create_execution_context(self):
            return Context()

    trt = types.ModuleType("tensorrt")
    trt.__file__ = "fake/tensorrt/__init__.py"
    trt.__version__ = "10.3.0"

    class Logger:
        WARNING = 2

        def __init__(self, severity):
            pass

    class Runtime:
        def __init__(self, logger):
            self.DLA_core = 0

        def deserialize_cuda_engine(self, data):
            log["dla_core_at_deserialize"] = self.DLA_core
            return Engine() if data == b"ENGINE" else None

    trt.Logger, trt.Runtime = Logger, Runtime
    trt.nptype = lambda dtype: np.float32

    drv = types.ModuleType("pycuda.driver")
    drv.init = lambda: None

    class Ctx:
        """pycuda's context stack, as its exit handler sees it: a context still pushed at
        interpreter exit aborts the process ("context stack was not empty")."""
        popped = 0
        stack: list = []
        retained = 0

        def push(self):
            Ctx.stack.append(self)

        def pop(self):
            Ctx.popped += 1
            Ctx.stack.pop()

        def detach(self):
            Ctx.retained -= 1

    class Device:
        def __init__(self, i):
            pass

        def make_context(self):           # creates and pushes, as pycuda's does
            ctx = Ctx()
            ctx.push()
            return ctx

        def retain_primary_context(self):
            Ctx.retained += 1
            return Ctx()

        def name(self):
            return "Fake Orin"

    pinned = {"live": 0}

    class HostAllocation(bytearray):
        def free(self):
            pinned["live"] -= 1

    def pagelocked_empty(shape, dtype):
        pinned["live"] += 1
        n = int(np.prod(shape)) * np.dtype(dtype).itemsize
        return np.ndarray(shape, dtype, buffer=HostAllocation(n))      # as pycuda builds it

    log["pinned"] = pinned
    log["memory"] = mem

    class Stream:
        handle = 7

        def synchronize(self):
            pass

    def htod(dev, host, stream=None):
        mem.blocks[int(dev)][: host.nbytes] = host.reshape(-1).view(np.uint8)

    def dtoh(host, dev, stream=None):
        host.reshape(-1).view(np.uint8)[...] = mem.blocks[int(dev)][: host.nbytes]

    drv.Device, drv.Stream = Device, Stream
    drv.pagelocked_empty = pagelocked_empty
    drv.mem_alloc = mem.alloc
    drv.memcpy_htod_async, drv.memcpy_dtoh_async = htod, dtoh
    pycuda = types.ModuleType("pycuda")
    pycuda.driver = drv
    return trt, pycuda, drv, log, Ctx


@pytest.fixture
def fake_trt(loop_model_dir, monkeypatch):
    from dms.manifest import load_manifest

    manifest = load_manifest(loop_model_dir)
    trt, pycuda, drv, log, ctx = make_fakes(loop_model_dir / "step.onnx", manifest)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    monkeypatch.setitem(sys.modules, "pycuda", pycuda)
    monkeypatch.setitem(sys.modules, "pycuda.driver", drv)
    import runtime.backends.tensorrt_backend as tb

    monkeypatch.setattr(tb, "_check_engine", lambda path: None)
    ctx.stack.clear()
    ctx.popped = ctx.retained = 0
    return manifest, log, ctx


def test_tensorrt_backend_carries_the_state_like_onnxruntime(fake_trt, loop_model_dir, tmp_path):
    from runtime.backends import open_backend
    from runtime.backends.tensorrt_backend import TensorRTBackend

    manifest, log, ctx = fake_trt
    engine = tmp_path / "step_fp16.engine"
    engine.write_bytes(b"ENGINE")
    trt_b = TensorRTBackend(engine, manifest, "fp16")
    ort_b, _ = open_backend(loop_model_dir)
    assert trt_b.device == "TensorRT 10.3.0 on Fake Orin"
    rng = np.random.default_rng(0)
    s_trt, s_ort = trt_b.zero_states(), ort_b.zero_states()
    for t in range(12):
        if t == 7:                                   # a reset: zeros handed in mid-stream
            s_trt, s_ort = trt_b.zero_states(), ort_b.zero_states()
        x = rng.normal(0, 1, (1, 1, 32, 32)).astype(np.float32)
        o_trt, s_trt = trt_b.step(x, s_trt)
        o_ort, s_ort = ort_b.step(x, s_ort)
        np.testing.assert_allclose(o_trt["pose"], o_ort["pose"], atol=1e-5)
        for a, b in zip(s_trt, s_ort):
            np.testing.assert_allclose(a, b, atol=1e-5)
    assert log["aliased"] == 0
    state_in = [b["state_0"] for b in log["bindings"]]
    state_out = [b["state_0_out"] for b in log["bindings"]]
    assert all(state_in[t + 1] == state_out[t] for t in range(6))      # written buffer is read next
    assert len(set(state_in)) == 2                                      # two buffers, swapped
    trt_b.close()
    assert ctx.popped == 1


def _released(log, ctx):
    """What pycuda's exit handler and the driver would find: nothing pushed, nothing held."""
    return not ctx.stack and ctx.retained == 0 and not log["memory"].blocks and log["pinned"]["live"] == 0


def test_close_pops_the_context_and_frees_every_buffer(fake_trt, tmp_path):
    from runtime.backends.tensorrt_backend import TensorRTBackend

    manifest, log, ctx = fake_trt
    engine = tmp_path / "step_fp16.engine"
    engine.write_bytes(b"ENGINE")
    backend = TensorRTBackend(engine, manifest, "fp16")
    backend.step(np.zeros((1, 1, 32, 32), np.float32), backend.zero_states())
    assert ctx.stack and log["memory"].blocks and log["pinned"]["live"] > 0
    backend.close()
    assert _released(log, ctx)
    backend.close()                               # idempotent
    assert _released(log, ctx)


def test_a_failed_setup_releases_the_context(fake_trt, tmp_path):
    from runtime.backends.tensorrt_backend import TensorRTBackend

    manifest, log, ctx = fake_trt
    bad = tmp_path / "step_fp16.engine"
    bad.write_bytes(b"garbage")
    with pytest.raises(BackendError):
        TensorRTBackend(bad, manifest, "fp16")
    assert _released(log, ctx)


def test_dms_run_on_tensorrt_releases_the_gpu_before_exit(fake_trt, loop_model_dir, tmp_path):
    """Before: nothing closed the backend, the context stayed pushed, and pycuda aborted
    the process at exit (every service stop ended in SIGABRT)."""
    from dms.cli import main

    _, log, ctx = fake_trt
    engine = tmp_path / "step_fp16.engine"
    engine.write_bytes(b"ENGINE")
    rc = main(["run", "--source", "synthetic:1", "--seconds", "0.2", "--model", str(loop_model_dir),
               "--backend", "tensorrt", "--precision", "fp16", "--engine", str(engine), "--out", str(tmp_path / "o"),
               "--no-video", "--no-plot", "--quiet", "--detector", "haar"])
    assert rc == 0
    assert len(log["bindings"]) > 0                # the engine ran
    assert _released(log, ctx)


def test_the_engine_runs_on_the_dla_core_it_was_built_for(fake_trt, tmp_path, monkeypatch):
    import runtime.backends.tensorrt_backend as tb

    manifest, log, _ = fake_trt
    monkeypatch.setattr(tb, "_check_engine", lambda path: 1)     # the engine manifest says DLA core 1
    engine = tmp_path / "step_int8_dla1.engine"
    engine.write_bytes(b"ENGINE")
    backend = tb.TensorRTBackend(engine, manifest, "int8")
    assert log["dla_core_at_deserialize"] == 1 and backend.device.endswith("(DLA core 1)")
    backend.close()


def test_tensorrt_backend_refuses_a_bad_engine_naming_it(fake_trt, tmp_path):
    from runtime.backends.tensorrt_backend import TensorRTBackend

    manifest, _, _ = fake_trt
    bad = tmp_path / "step_int8.engine"
    bad.write_bytes(b"garbage")
    with pytest.raises(BackendError, match=r"step_int8\.engine: TensorRT 10\.3\.0 could not deserialize"):
        TensorRTBackend(bad, manifest, "int8")
    with pytest.raises(BackendError, match="no such TensorRT engine"):
        TensorRTBackend(tmp_path / "missing.engine", manifest, "int8")


def test_engine_without_its_deploy_manifest_is_refused(loop_model_dir, tmp_path, monkeypatch):
    """The deploy room's engine manifest check runs before deserializing."""
    from dms.manifest import load_manifest

    manifest = load_manifest(loop_model_dir)
    trt, pycuda, drv, _, _ = make_fakes(loop_model_dir / "step.onnx", manifest)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    monkeypatch.setitem(sys.modules, "pycuda", pycuda)
    monkeypatch.setitem(sys.modules, "pycuda.driver", drv)
    from runtime.backends.tensorrt_backend import TensorRTBackend

    engine = tmp_path / "step_fp16.engine"
    engine.write_bytes(b"ENGINE")
    with pytest.raises(Exception, match=r"step_fp16\.engine\.json: no engine manifest"):
        TensorRTBackend(engine, manifest, "fp16")
