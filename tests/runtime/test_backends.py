"""Backends built from the manifest: ONNX Runtime agrees with PyTorch step by step with the
state carried; a corrupt model stops start-up naming the file; TensorRT is only tested
where it really is installed."""

import numpy as np
import pytest

from dms.manifest import ManifestError
from runtime.backends import engine_for, open_backend
from runtime.backends.base import PRECISION_ROLES, BackendError, StepIO
from runtime.backends.tensorrt_backend import tensorrt_available

def test_onnxruntime_backend_matches_pytorch_over_a_clip_with_the_state_carried(loop_model_dir):
    import torch

    from model.config import ModelConfig
    from tests.model_fakes import trained_like

    backend, manifest = open_backend(loop_model_dir)
    model = trained_like(ModelConfig.from_dict(manifest.model["config"]))
    rng = np.random.default_rng(0)
    images = rng.normal(0, 1, (20, 1, 1, 32, 32)).astype(np.float32)
    states = backend.zero_states()
    ref_state = model.init_state(1)
    poses = []
    with torch.no_grad():
        for x in images:
            out, states = backend.step(x, states)
            ref, ref_state = model.step(torch.from_numpy(x), ref_state)
            np.testing.assert_allclose(out["pose"], ref["pose"].numpy(), atol=1e-3)
            for s, r in zip(states, ref_state):
                np.testing.assert_allclose(s, r.numpy(), atol=1e-4)
            poses.append(out["pose"][0])
    assert backend.device.startswith("ONNX Runtime") and backend.precision == "fp32"
    # the state matters: the same image with a zero state gives another pose
    again, _ = backend.step(images[-1], backend.zero_states())
    assert np.abs(again["pose"][0] - poses[-1]).max() > 1e-3

def test_step_io_comes_from_the_manifest(loop_model_dir):
    _, manifest = open_backend(loop_model_dir)
    io = StepIO.from_manifest(manifest)
    assert io.image == "image" and io.outputs == ("pose",)
    assert [(p.input, p.output, p.shape) for p in io.states] == [("state_0", "state_0_out", (1, 24)),
                                                                ("state_1", "state_1_out", (1, 16))]

def test_corrupt_or_missing_model_file_stops_start_up_naming_it(loop_model_dir, tmp_path):
    import shutil

    bad = tmp_path / "m"
    shutil.copytree(loop_model_dir, bad)
    data = bytearray((bad / "step.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (bad / "step.onnx").write_bytes(bytes(data))
    with pytest.raises(ManifestError, match=r"step\.onnx: sha256 .* does not match"):
        open_backend(bad)
    (bad / "step.onnx").unlink()
    with pytest.raises(ManifestError, match=r"step\.onnx: listed in the manifest but missing"):
        open_backend(bad)
    with pytest.raises(ManifestError, match="no model manifest"):
        open_backend(tmp_path / "nothing")

def test_precision_without_its_graph_is_refused_with_the_hint(loop_model_dir):
    with pytest.raises(BackendError, match=r"no int8 graph .*dms calibrate"):
        open_backend(loop_model_dir, precision="int8")

def test_precision_roles_agree_with_calibration():
    from calibration.pipeline import FP16_ROLE, INT8_ROLE
    from export.names import STEP_ROLE

    assert PRECISION_ROLES == {"fp32": STEP_ROLE, "int8": INT8_ROLE, "fp16": FP16_ROLE}

def test_engine_lookup_follows_deploy_naming(loop_model_dir, tmp_path):
    from deploy.trt_plan import engine_file_name

    _, manifest = open_backend(loop_model_dir)
    assert engine_file_name("fp16") == "step_fp16.engine"
    with pytest.raises(BackendError, match=r"step_fp16\.engine: no TensorRT engine for fp16.*--engine"):
        engine_for(manifest, tmp_path, "fp16")
    (tmp_path / "step_fp16.engine").write_bytes(b"x")
    assert engine_for(manifest, tmp_path, "fp16") == tmp_path / "step_fp16.engine"

def test_tensorrt_stubs_are_not_taken_for_tensorrt():
    """tensorrt-stubs leaves an importable empty `tensorrt` namespace: that is no TensorRT."""
    import importlib.util

    if importlib.util.find_spec("tensorrt") is not None and tensorrt_available() is None:
        with pytest.raises(BackendError, match="TensorRT is not installed"):
            from runtime.backends.tensorrt_backend import _import

            _import()

@pytest.mark.skipif(tensorrt_available() is None, reason="TensorRT is not installed here (Jetson / NVIDIA GPU only)")
def test_tensorrt_backend_matches_onnxruntime(loop_model_dir, tmp_path):  # pragma: no cover - GPU only
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    assert parser.parse((loop_model_dir / "step.onnx").read_bytes())
    engine = builder.build_serialized_network(network, builder.create_builder_config())
    path = tmp_path / "step_fp32.engine"
    path.write_bytes(bytes(engine))
    trt_backend, _ = open_backend(loop_model_dir, "tensorrt", "fp32", engine=path)
    ort_backend, _ = open_backend(loop_model_dir)
    rng = np.random.default_rng(0)
    s_trt, s_ort = trt_backend.zero_states(), ort_backend.zero_states()
    for _ in range(10):
        x = rng.normal(0, 1, (1, 1, 32, 32)).astype(np.float32)
        o_trt, s_trt = trt_backend.step(x, s_trt)
        o_ort, s_ort = ort_backend.step(x, s_ort)
        np.testing.assert_allclose(o_trt["pose"], o_ort["pose"], atol=1e-2)
    trt_backend.close()

