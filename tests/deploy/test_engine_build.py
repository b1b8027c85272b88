"""The builder call sequence per TensorRT release, against a fake `tensorrt` module.

No TensorRT here: these tests prove the calls match the plan and the API shape of each
release (the fake is strict where TensorRT is); that TensorRT then builds a working engine
is checked on a Jetson (docs/deploy.md, "Checks only a Jetson can run").
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from deploy.device import DeviceInfo
from deploy.engine_build import EngineBuildError, build_serialized_engine
from deploy.engine_job import build_engine
from deploy.engine_manifest import EngineMismatchError, check_engine_for_runtime, load, manifest_path
from deploy.model_graphs import model_graphs
from deploy.trt_plan import BuildOptions, TrtVersion, plan_build
from dms.manifest import load_manifest

from .conftest import ORIN_JP5, ORIN_JP6, ORIN_JP7, XAVIER_JP5, write_fake_model
from .fake_tensorrt import FakeTensorRT, engine_record, parse_timing_cache, timing_cache_blob

L4T_36_4_3 = "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, DATE: Wed Jan  8 01:49:37 UTC 2025"
# Three Orin modules on one JetPack 6 image: same TensorRT, GPU name and compute capability.
AGX_ORIN = replace(ORIN_JP6, model="NVIDIA Jetson AGX Orin Developer Kit", l4t_release=L4T_36_4_3, sm_count=16)
ORIN_NX = replace(ORIN_JP6, model="NVIDIA Jetson Orin NX Engineering Reference Developer Kit",
                  l4t_release=L4T_36_4_3, sm_count=8)
ORIN_NANO = replace(ORIN_JP6, model="NVIDIA Jetson Orin Nano Engineering Reference Developer Kit",
                    l4t_release=L4T_36_4_3, sm_count=8)


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
    ("8.5.2.2", "int8 q/dq graph", ["INT8", "FP16"], 1 << 0),  # EXPLICIT_BATCH, legacy INT8 (+FP16) flags
    ("10.3.0.30", "int8 q/dq graph", ["INT8", "FP16"], 0),     # explicit batch implied, legacy flags
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
    cache.write_bytes(timing_cache_blob("10.3.0", "Orin/16", ["earlier"]))
    fake = use_trt("10.3.0.30", dla_cores=2)
    plan = _plan(fake_model, "10.3.0", precision="fp16", dla_core=1, workspace_mb=64, timing_cache=cache)
    logs: list[str] = []
    out = build_serialized_engine(plan, fake_model, log=logs.append)
    record = engine_record(out.engine)
    assert record["flags"] == ["FP16", "GPU_FALLBACK"]
    assert record["device"] == int(fake.DeviceType.DLA) and record["dla_core"] == 1
    assert record["pools"] == {"WORKSPACE": 64 << 20}
    assert ("create_timing_cache", cache.read_bytes()) in fake.calls and ("set_timing_cache", False) in fake.calls
    # The file's timings were taken, and the build's added to them.
    assert parse_timing_cache(out.timing_cache or b"") == ("10.3.0", "Orin/16", ["earlier", "timed:fp16 graph"])
    assert not any("warning" in line for line in logs)


def test_dla_int8_engine_is_the_fp32_graph_with_the_table(use_trt, fake_model: Path) -> None:
    """Issue item 7 through the builder: on TensorRT 8.5 the DLA INT8 engine is parsed from
    the FP32 graph, reads 8.5.2's table, and sets INT8 + FP16 + GPU_FALLBACK."""
    fake = use_trt("8.5.2.2", dla_cores=2)
    out = build_serialized_engine(_plan(fake_model, "8.5.2", precision="int8", dla_core=0), fake_model,
                                  log=lambda _m: None)
    record = engine_record(out.engine)
    assert record["graph"] == "fp32 graph" and record["table"] == "TRT-8.5.2-EntropyCalibration2\n"
    assert record["flags"] == ["INT8", "FP16", "GPU_FALLBACK"]
    assert record["device"] == int(fake.DeviceType.DLA) and record["dla_core"] == 0


def test_errors_carry_tensorrt_messages(use_trt, fake_model: Path) -> None:
    use_trt("10.3.0.30", dla_cores=0)
    with pytest.raises(EngineBuildError, match=r"^--dla 0: this device has no DLA \(Jetson Orin Nano and Thor "
                                               r"have none\); drop --dla$"):
        build_serialized_engine(_plan(fake_model, "10.3.0", dla_core=0), fake_model, log=lambda _m: None)
    use_trt("10.3.0.30", dla_cores=2)
    with pytest.raises(EngineBuildError, match="has 2 DLA core.*use --dla 0 to 1"):
        build_serialized_engine(_plan(fake_model, "10.3.0", dla_core=2), fake_model, log=lambda _m: None)
    use_trt("10.3.0.30", dla_cores=0)
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
    assert parse_timing_cache((out / "timing.cache").read_bytes())[2] == ["timed:int8 q/dq graph"]
    assert any("trtexec" in line and "--int8" in line and "--fp16" in line for line in logs)
    m = check_engine_for_runtime(result.engine_path, ORIN_JP6)
    assert (m.precision, m.tensorrt_version, m.gpu_name, m.compute_capability) == ("int8", "10.3.0.30", "Orin", "8.7")
    assert m.onnx == "step_int8.onnx" and m.build["plan"]["builder_flags"] == ["INT8", "FP16"]
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


# --- issue item 10(c): a timing cache from elsewhere, or a corrupt one, does not fail the build ---

@pytest.mark.parametrize("blob, bad_cache, why", [
    (timing_cache_blob("8.5.2", "Orin/16", ["old"]), "raise", "another TensorRT release or device"),  # JetPack 5
    (timing_cache_blob("10.3.0", "Orin/8", ["nano"]), "raise", "another TensorRT release or device"),  # other module
    (b"\x00\x17garbage", "raise", "TensorRT could not read it"),        # corrupt: the binding raises
    (b"\x00\x17garbage", "none", "TensorRT could not read it (corrupt"),  # corrupt: the binding returns None
])
def test_a_foreign_or_corrupt_timing_cache_starts_empty(use_trt, fake_model: Path, tmp_path: Path,
                                                         blob: bytes, bad_cache: str, why: str) -> None:
    cache = tmp_path / "timing.cache"
    cache.write_bytes(blob)
    fake = use_trt("10.3.0.30", bad_cache=bad_cache)
    logs: list[str] = []
    out = build_serialized_engine(_plan(fake_model, "10.3.0", timing_cache=cache), fake_model, log=logs.append)
    assert engine_record(out.engine)["graph"] == "int8 q/dq graph"
    warnings = [line for line in logs if line.startswith("warning:")]
    assert len(warnings) == 1 and str(cache) in warnings[0] and why in warnings[0]
    assert "starting with an empty cache" in warnings[0]
    # The build ran with an empty cache of this release and device, and returns it filled.
    assert parse_timing_cache(out.timing_cache or b"") == ("10.3.0", "Orin/16", ["timed:int8 q/dq graph"])
    assert ("set_timing_cache", False) in fake.calls


def test_build_engine_overwrites_a_foreign_timing_cache(use_trt, fake_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "engines"
    out.mkdir()
    cache = out / "timing.cache"
    cache.write_bytes(timing_cache_blob("8.5.2", "Orin/16", ["jetpack5"]))  # left by JetPack 5
    use_trt("10.3.0.30")
    logs: list[str] = []
    result = build_engine(fake_model, BuildOptions(timing_cache=cache), out, device=ORIN_JP6, log=logs.append)
    assert result.built and any("timing cache written by another TensorRT release" in line for line in logs)
    assert parse_timing_cache(cache.read_bytes()) == ("10.3.0", "Orin/16", ["timed:int8 q/dq graph"])


def test_an_unreadable_timing_cache_is_a_warning(use_trt, fake_model: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "timing.cache"
    cache.write_bytes(timing_cache_blob("10.3.0", "Orin/16", ["x"]))
    real = Path.read_bytes

    def deny(self: Path) -> bytes:
        if self == cache:
            raise PermissionError(13, "Permission denied")
        return real(self)
    monkeypatch.setattr(Path, "read_bytes", deny)
    use_trt("10.3.0.30")
    logs: list[str] = []
    out = build_serialized_engine(_plan(fake_model, "10.3.0", timing_cache=cache), fake_model, log=logs.append)
    assert [line for line in logs if line.startswith("warning:")] == [
        f"warning: {cache}: timing cache not readable (Permission denied); starting with an empty cache "
        "(the file is overwritten after a successful build)"]
    assert parse_timing_cache(out.timing_cache or b"")[2] == ["timed:int8 q/dq graph"]


# --- issue item 8: Orin modules told apart; older manifests rebuilt ---

def test_the_engine_manifest_records_the_jetson_module(use_trt, fake_model: Path, tmp_path: Path) -> None:
    use_trt("10.3.0.30")
    result = build_engine(fake_model, BuildOptions(), tmp_path, device=AGX_ORIN, log=lambda _m: None)
    data = json.loads(result.manifest_path.read_text())
    assert data["format_version"] == 2
    assert data["device"] == {"gpu_name": "Orin", "compute_capability": "8.7", "cuda_version": "12.6",
                              "model": "NVIDIA Jetson AGX Orin Developer Kit", "l4t_release": L4T_36_4_3,
                              "sm_count": 16}
    assert load(result.engine_path).built_for() == ("TensorRT 10.3.0.30 on Orin (compute 8.7, 16 SMs) in "
                                                    "NVIDIA Jetson AGX Orin Developer Kit, L4T R36.4.3")


@pytest.mark.parametrize("other, differs", [
    (ORIN_NANO, "Jetson model 'NVIDIA Jetson AGX Orin Developer Kit' vs "
                "'NVIDIA Jetson Orin Nano Engineering Reference Developer Kit'; SM count 16 vs 8"),
    (ORIN_NX, "SM count 16 vs 8"),
    (replace(AGX_ORIN, l4t_release=L4T_36_4_3.replace("REVISION: 4.3", "REVISION: 4.0")), "L4T R36.4.3 vs R36.4.0"),
])
def test_a_cloned_sd_card_engine_is_stale_and_refused(use_trt, fake_model: Path, tmp_path: Path,
                                                      other: DeviceInfo, differs: str) -> None:
    """An SD-card image cloned from an AGX Orin into another Orin module (same TensorRT, GPU
    name "Orin", compute 8.7): the runtime refuses the engine and --if-stale rebuilds it."""
    use_trt("10.3.0.30")
    first = build_engine(fake_model, BuildOptions(), tmp_path, device=AGX_ORIN, log=lambda _m: None)
    assert not build_engine(fake_model, BuildOptions(), tmp_path, device=AGX_ORIN, if_stale=True,
                            log=lambda _m: None).built
    with pytest.raises(EngineMismatchError) as err:
        check_engine_for_runtime(first.engine_path, other)
    assert differs in str(err.value) and "rebuild it on this device: dms build-engine" in str(err.value)
    rebuilt = build_engine(fake_model, BuildOptions(), tmp_path, device=other, if_stale=True, log=lambda _m: None)
    assert rebuilt.built and differs in rebuilt.reason
    assert check_engine_for_runtime(rebuilt.engine_path, other).sm_count == other.sm_count


def test_an_older_manifest_without_the_module_is_rebuilt_and_says_so(use_trt, fake_model: Path,
                                                                     tmp_path: Path) -> None:
    use_trt("10.3.0.30")
    result = build_engine(fake_model, BuildOptions(), tmp_path, device=AGX_ORIN, log=lambda _m: None)
    data = json.loads(result.manifest_path.read_text())
    data["format_version"] = 1  # as dms wrote it before the module was recorded
    for key in ("model", "l4t_release", "sm_count"):
        del data["device"][key]
    result.manifest_path.write_text(json.dumps(data))
    old = load(result.engine_path)
    assert not old.identity_recorded and old.to_dict() == data
    # The runtime on a Jetson cannot confirm the module: refused, saying why.
    with pytest.raises(EngineMismatchError, match="Jetson model not recorded vs 'NVIDIA Jetson AGX Orin.*"
                                                  "predates the Jetson model / L4T / SM count record"):
        check_engine_for_runtime(result.engine_path, AGX_ORIN)
    # --if-stale rebuilds it (even off a Jetson, where nothing would differ) and says why.
    for device in (AGX_ORIN, ORIN_JP6):
        again = build_engine(fake_model, BuildOptions(), tmp_path, device=device, if_stale=True, log=lambda _m: None)
        assert again.built and "engine manifest format 1 (an older dms) records no Jetson model" in again.reason
        result.manifest_path.write_text(json.dumps(data))
