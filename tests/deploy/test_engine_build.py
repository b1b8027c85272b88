"""The builder call sequence per TensorRT release, against a fake `tensorrt` module.

No TensorRT here: these tests prove the calls match the plan and the API shape of each
release (the fake is strict where TensorRT is); that TensorRT then builds a working engine
is checked on a Jetson (docs/deploy.md, "Checks only a Jetson can run").
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from deploy.engine_build import EngineBuildError, build_serialized_engine
from deploy.engine_job import build_engine
from deploy.engine_manifest import EngineMismatchError, check_engine_for_runtime, load, manifest_path
from deploy.model_graphs import model_graphs
from deploy.trt_plan import BuildOptions, TrtVersion, plan_build
from dms.manifest import load_manifest

from .conftest import ORIN_JP5, ORIN_JP6, ORIN_JP7, XAVIER_JP5, write_fake_model
from .fake_tensorrt import FakeTensorRT, engine_record


@pytest.fixture
def use_trt(monkeypatch: pytest.MonkeyPatch):
    def _install(version: str, **kw) -> FakeTensorRT:
        fake = FakeTensorRT(version, **kw)
        monkeypatch.setitem(sys.modules, "tensorrt", fake)
        return fake
    return _install


def _plan(model: Path, version: str, **options):
    manifest = load_manifest(model)
    return plan_build(TrtVersion.parse(version), BuildOptions(**options), model_graphs(manifest, model))


def _names(fake: FakeTensorRT) -> list[str]:
    return [c[0] for c in fake.calls]


@pytest.mark.parametrize("version, graph, flags, network_flags", [
    ("8.5.2.2", "int8 q/dq graph", ["INT8"], 1 << 0),      # EXPLICIT_BATCH, legacy INT8 flag
    ("10.3.0.30", "int8 q/dq graph", ["INT8"], 0),         # explicit batch implied, legacy INT8 flag
    ("10.13.3.9", "int8 q/dq graph", [], 1 << 1),          # STRONGLY_TYPED (member 1 on 10.x)
    ("11.4.1", "int8 q/dq graph", [], 0),                  # always strongly typed
])
def test_int8_per_release(use_trt, fake_model: Path, version: str, graph: str, flags: list[str],
                          network_flags: int) -> None:
    fake = use_trt(version)
    out = build_serialized_engine(_plan(fake_model, version), fake_model, log=lambda _m: None)
    record = engine_record(out.engine)
    assert record["graph"] == graph and record["flags"] == flags and record["network_flags"] == network_flags
    assert record["table"] is None and out.timing_cache is None
    assert _names(fake) == ["Logger", "create_network", "parse_from_file", *["set_flag"] * len(flags),
                            "build_serialized_network"]


def test_fp16_uses_the_fp16_graph_with_the_flag_on_legacy(use_trt, fake_model: Path) -> None:
    use_trt("10.3.0.30")
    record = engine_record(build_serialized_engine(_plan(fake_model, "10.3.0", precision="fp16"), fake_model,
                                                   log=lambda _m: None).engine)
    assert record["graph"] == "fp16 graph" and record["flags"] == ["FP16"]


def test_implicit_int8_reads_the_table_through_an_entropy_calibrator(use_trt, tmp_path: Path) -> None:
    model = write_fake_model(tmp_path / "m", int8=False)
    fake = use_trt("8.5.2.2")
    record = engine_record(build_serialized_engine(_plan(model, "8.5.2"), model, log=lambda _m: None).engine)
    assert record["graph"] == "fp32 graph" and record["flags"] == ["INT8"]
    assert record["table"] == "TRT-8.5.2-EntropyCalibration2\n"
    assert "IInt8EntropyCalibrator2.__init__" in _names(fake)


def test_dla_workspace_and_timing_cache(use_trt, fake_model: Path, tmp_path: Path) -> None:
    cache = tmp_path / "timing.cache"
    cache.write_bytes(b"earlier")
    fake = use_trt("10.3.0.30", dla_cores=2)
    plan = _plan(fake_model, "10.3.0", precision="fp16", dla_core=1, workspace_mb=64, timing_cache=cache)
    out = build_serialized_engine(plan, fake_model, log=lambda _m: None)
    record = engine_record(out.engine)
    assert record["flags"] == ["FP16", "GPU_FALLBACK"]
    assert record["device"] == int(fake.DeviceType.DLA) and record["dla_core"] == 1
    assert record["pools"] == {"WORKSPACE": 64 << 20}
    assert ("create_timing_cache", b"earlier") in fake.calls and ("set_timing_cache", False) in fake.calls
    assert out.timing_cache == b"earlier+timed"


def test_errors_carry_tensorrt_messages(use_trt, fake_model: Path) -> None:
    use_trt("10.3.0.30", dla_cores=0)
    with pytest.raises(EngineBuildError, match="has 0 DLA core"):
        build_serialized_engine(_plan(fake_model, "10.3.0", dla_core=0), fake_model, log=lambda _m: None)
    (fake_model / "step_int8.onnx").write_bytes(b"bad graph")
    with pytest.raises(EngineBuildError, match="unsupported operator"):
        build_serialized_engine(_plan_unchecked(fake_model, "10.3.0"), fake_model, log=lambda _m: None)
    use_trt("10.3.0.30", build_ok=False)
    (fake_model / "step_int8.onnx").write_bytes(b"int8 q/dq graph")
    with pytest.raises(EngineBuildError, match="returned no engine"):
        build_serialized_engine(_plan_unchecked(fake_model, "10.3.0"), fake_model, log=lambda _m: None)


def _plan_unchecked(model: Path, version: str, **options):
    manifest = load_manifest(model, verify_files=False)
    return plan_build(TrtVersion.parse(version), BuildOptions(**options), model_graphs(manifest, model))


def test_a_plan_for_another_release_fails_clearly(use_trt, fake_model: Path) -> None:
    """The flags are looked up by name: a legacy plan on TensorRT 11 (no INT8 flag) or an
    8.x plan without EXPLICIT_BATCH fails with a message, not with wrong flags."""
    use_trt("11.4.1")
    with pytest.raises(EngineBuildError, match="no BuilderFlag.INT8"):
        build_serialized_engine(_plan(fake_model, "10.3.0"), fake_model, log=lambda _m: None)
    use_trt("8.5.2.2")
    with pytest.raises(EngineBuildError, match="explicit batch"):
        build_serialized_engine(_plan(fake_model, "10.3.0"), fake_model, log=lambda _m: None)


def test_build_engine_writes_engine_and_manifest_then_runtime_accepts_it(use_trt, fake_model: Path,
                                                                         tmp_path: Path) -> None:
    use_trt("10.3.0.30")
    out = tmp_path / "engines"
    logs: list[str] = []
    result = build_engine(fake_model, BuildOptions(timing_cache=out / "timing.cache"), out, device=ORIN_JP6,
                          log=logs.append)
    assert result.built and result.engine_path == out / "step_int8.engine"
    assert result.manifest_path == manifest_path(result.engine_path) and result.manifest_path.is_file()
    assert (out / "timing.cache").read_bytes() == b"+timed"
    assert any("trtexec" in line and "--int8" in line for line in logs)
    m = check_engine_for_runtime(result.engine_path, ORIN_JP6)
    assert (m.precision, m.tensorrt_version, m.gpu_name, m.compute_capability) == ("int8", "10.3.0.30", "Orin", "8.7")
    assert m.onnx == "step_int8.onnx" and m.build["plan"]["builder_flags"] == ["INT8"]
    assert m.model_dir == str(fake_model.resolve()) and m.built_at.endswith("+00:00")
    assert "--saveEngine=" in m.build["trtexec"]


def test_if_stale_skips_a_current_engine_and_rebuilds_after_changes(use_trt, fake_model: Path,
                                                                     tmp_path: Path) -> None:
    out = tmp_path / "engines"
    use_trt("10.3.0.30")
    first = build_engine(fake_model, BuildOptions(), out, device=ORIN_JP6, log=lambda _m: None)
    again = build_engine(fake_model, BuildOptions(), out, device=ORIN_JP6, if_stale=True, log=lambda _m: None)
    assert first.built and not again.built and "up to date" in again.reason
    # A JetPack upgrade (new TensorRT): the boot-time unit rebuilds.
    use_trt("10.13.3.9")
    upgraded = build_engine(fake_model, BuildOptions(), out, device=ORIN_JP7, if_stale=True, log=lambda _m: None)
    assert upgraded.built and "TensorRT 10.3.0 vs 10.13.3" in upgraded.reason
    assert engine_record(upgraded.engine_path.read_bytes())["network_flags"] == 1 << 1
    # A new model graph (re-calibrated): rebuilt even on the same device.
    (fake_model / "step_int8.onnx").write_bytes(b"int8 q/dq graph v2")
    manifest = load_manifest(fake_model, verify_files=False)
    manifest.add_file(fake_model, "step_int8.onnx", role="int8 step graph")
    manifest.save(fake_model)
    changed = build_engine(fake_model, BuildOptions(), out, device=ORIN_JP7, if_stale=True, log=lambda _m: None)
    assert changed.built and "onnx_sha256" in changed.reason
    # Other options (a workspace cap) also count.
    capped = build_engine(fake_model, BuildOptions(workspace_mb=32), out, device=ORIN_JP7, if_stale=True,
                          log=lambda _m: None)
    assert capped.built and "workspace_bytes" in capped.reason


def test_engine_from_another_device_is_refused_with_the_rebuild_command(use_trt, fake_model: Path,
                                                                        tmp_path: Path) -> None:
    use_trt("8.5.2.2")
    result = build_engine(fake_model, BuildOptions(precision="fp16"), tmp_path, device=ORIN_JP5,
                          log=lambda _m: None)
    with pytest.raises(EngineMismatchError) as err:
        check_engine_for_runtime(result.engine_path, XAVIER_JP5)
    msg = str(err.value)
    assert "built for TensorRT 8.5.2.2 on Orin (compute 8.7)" in msg
    assert "this device has TensorRT 8.5.2.2 on Xavier (compute 7.2)" in msg
    assert f"dms build-engine {fake_model.resolve()} --precision fp16 --out {tmp_path}" in msg
    assert load(result.engine_path).precision == "fp16"
