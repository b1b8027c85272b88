"""The engine manifest and the runtime's refusal of engines built elsewhere."""

from __future__ import annotations

import json
import re
import sys
import types
from dataclasses import replace
from pathlib import Path

import pytest

from deploy.device import (DeviceInfo, DeviceQueryError, l4t_short, query_device, read_device_model,
                           read_l4t_release)
from deploy.engine_manifest import (EngineManifest, EngineManifestError, EngineMismatchError,
                                    check_engine_for_runtime, load, manifest_path, mismatches, save)
from dms.manifest import sha256_file

from .conftest import ORIN_JP5, ORIN_JP6, XAVIER_JP5


def _engine(tmp_path: Path, device: DeviceInfo = ORIN_JP6, data: bytes = b"engine bytes") -> Path:
    engine = tmp_path / "step_int8.engine"
    engine.write_bytes(data)
    save(EngineManifest(
        engine_file=engine.name, engine_sha256=sha256_file(engine), engine_bytes=len(data), precision="int8",
        tensorrt_version=device.tensorrt_version, gpu_name=device.gpu_name,
        compute_capability=device.compute_capability, cuda_version=device.cuda_version,
        model_dir="/opt/dms/model", model_name="tiny", onnx="step_int8.onnx", onnx_sha256="a" * 64,
        build={"options": {"workspace_mb": 256, "timing_cache": "/var/lib/dms/engines/timing.cache"}},
        built_at="2026-01-02T03:04:05+00:00"), engine)
    return engine


def test_manifest_sits_beside_the_engine_and_round_trips(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    assert manifest_path(engine) == tmp_path / "step_int8.engine.json"
    m = check_engine_for_runtime(engine, ORIN_JP6)
    assert m.to_dict() == json.loads(manifest_path(engine).read_text())
    # The build number may differ (10.3.0.30 vs 10.3.0.26): TensorRT releases must match.
    assert check_engine_for_runtime(engine, DeviceInfo("10.3.0.26", "Orin", "8.7")).precision == "int8"
    # The device may be given lazily, as the runtime's query.
    assert check_engine_for_runtime(engine, lambda: ORIN_JP6).gpu_name == "Orin"


@pytest.mark.parametrize("device, differs", [
    (ORIN_JP5, "TensorRT 10.3.0 vs 8.5.2"),
    (DeviceInfo("10.3.0.30", "Xavier", "7.2"), "compute capability 8.7 vs 7.2"),
    (DeviceInfo("10.3.0.30", "Orin Nano", "8.7"), "GPU 'Orin' vs 'Orin Nano'"),
])
def test_another_device_or_release_is_refused(tmp_path: Path, device: DeviceInfo, differs: str) -> None:
    engine = _engine(tmp_path)
    with pytest.raises(EngineMismatchError) as err:
        check_engine_for_runtime(engine, device)
    msg = str(err.value)
    assert differs in msg
    assert "built for TensorRT 10.3.0.30 on Orin (compute 8.7)" in msg and device.describe() in msg
    # ...and says how to rebuild, with the options the engine was built with.
    assert ("dms build-engine /opt/dms/model --precision int8 --workspace 256 --timing-cache "
            f"/var/lib/dms/engines/timing.cache --out {tmp_path}") in msg


def test_mismatches_lists_every_difference() -> None:
    engine = EngineManifest("e", "a" * 64, 1, "fp16", "10.3.0.30", "Orin", "8.7", "/m", "g", "b" * 64)
    assert mismatches(engine, XAVIER_JP5) == ["TensorRT 10.3.0 vs 8.5.2", "compute capability 8.7 vs 7.2",
                                              "GPU 'Orin' vs 'Xavier'"]
    assert mismatches(engine, ORIN_JP6) == []


def test_corrupt_missing_or_foreign_files_are_refused(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    engine.write_bytes(b"engine bytez")
    with pytest.raises(EngineManifestError, match="does not match its manifest.*rebuild it: dms build-engine"):
        check_engine_for_runtime(engine, ORIN_JP6)
    assert check_engine_for_runtime(engine, ORIN_JP6, verify_sha256=False)  # the hash check can be skipped
    other = tmp_path / "step_fp16.engine"
    other.write_bytes(b"x")
    manifest_path(other).write_text(manifest_path(engine).read_text())
    with pytest.raises(EngineManifestError, match="field 'engine.file': describes 'step_int8.engine'"):
        check_engine_for_runtime(other, ORIN_JP6)
    manifest_path(engine).unlink()
    with pytest.raises(EngineManifestError, match="no engine manifest beside step_int8.engine"):
        check_engine_for_runtime(engine, ORIN_JP6)
    with pytest.raises(EngineManifestError, match="no such engine file"):
        check_engine_for_runtime(tmp_path / "missing.engine", ORIN_JP6)


@pytest.mark.parametrize("edit, field", [
    (lambda d: d.pop("precision"), "(top level)"),
    (lambda d: d["device"].update(compute_capability="eight"), "device.compute_capability"),
    (lambda d: d.update(tensorrt_version="ten"), "tensorrt_version"),
    (lambda d: d["engine"].update(sha256="xyz"), "engine.sha256"),
    (lambda d: d.update(precision="int4"), "precision"),
])
def test_malformed_manifests_name_the_field(tmp_path: Path, edit, field: str) -> None:
    engine = _engine(tmp_path)
    data = json.loads(manifest_path(engine).read_text())
    edit(data)
    manifest_path(engine).write_text(json.dumps(data))
    with pytest.raises(EngineManifestError, match=re.escape(f"step_int8.engine.json: field '{field}'")):
        check_engine_for_runtime(engine, ORIN_JP6)
    manifest_path(engine).write_text("{not json")
    with pytest.raises(EngineManifestError, match="not valid JSON"):
        check_engine_for_runtime(engine, ORIN_JP6)


def test_mismatches_include_the_jetson_module() -> None:
    l4t = "# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref, EABI: aarch64, DATE: Tue Aug  1 2023"
    engine = EngineManifest("e", "a" * 64, 1, "int8", "8.5.2.2", "Orin", "8.7", "/m", "g", "b" * 64,
                            device_model="NVIDIA Jetson AGX Orin Developer Kit", l4t_release=l4t, sm_count=16)
    agx = replace(ORIN_JP5, model="NVIDIA Jetson AGX Orin Developer Kit", l4t_release=l4t, sm_count=16)
    assert mismatches(engine, agx) == []
    nano = replace(agx, model="NVIDIA Jetson Orin Nano Developer Kit", sm_count=4)
    assert mismatches(engine, nano) == ["Jetson model 'NVIDIA Jetson AGX Orin Developer Kit' vs "
                                        "'NVIDIA Jetson Orin Nano Developer Kit'", "SM count 16 vs 4"]
    # The same L4T revision from another build: the lines are shown, not two equal "R35.4.1".
    rebuilt = replace(agx, l4t_release=l4t.replace("33958178", "34000000"))
    assert mismatches(engine, rebuilt) == [f"L4T {l4t} vs {rebuilt.l4t_release}"]
    # Off a Jetson (nothing readable) vs an engine from one: every missing fact is a difference.
    assert mismatches(engine, ORIN_JP5) == ["Jetson model 'NVIDIA Jetson AGX Orin Developer Kit' vs not recorded",
                                            "L4T R35.4.1 vs not recorded", "SM count 16 vs not recorded"]


def test_format_2_requires_the_module_fields_and_format_1_still_loads(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    data = json.loads(manifest_path(engine).read_text())
    assert data["format_version"] == 2 and data["device"]["sm_count"] is None  # recorded as unknown
    del data["device"]["sm_count"]
    manifest_path(engine).write_text(json.dumps(data))
    with pytest.raises(EngineManifestError, match="field 'device': 'sm_count' is a required property"):
        load(engine)
    data["format_version"] = 1
    del data["device"]["model"], data["device"]["l4t_release"]
    manifest_path(engine).write_text(json.dumps(data))
    old = load(engine)
    assert old.format_version == 1 and not old.identity_recorded
    assert check_engine_for_runtime(engine, ORIN_JP6).precision == "int8"  # nothing to compare off a Jetson


def test_device_files_are_read_under_a_root(tmp_path: Path) -> None:
    assert read_device_model(tmp_path) is None and read_l4t_release(tmp_path) is None  # not a Jetson
    (tmp_path / "proc/device-tree").mkdir(parents=True)
    (tmp_path / "proc/device-tree/model").write_bytes(b"NVIDIA Jetson Orin NX Engineering Reference Developer Kit\x00")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/nv_tegra_release").write_text(
        "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, DATE: Wed Jan  8 2025\n"
        "# KERNEL_VARIANT: oot\nTARGET_USERSPACE_LIB_DIR=nvidia\n")
    assert read_device_model(tmp_path) == "NVIDIA Jetson Orin NX Engineering Reference Developer Kit"
    line = read_l4t_release(tmp_path)
    assert line == "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, DATE: Wed Jan  8 2025"
    assert l4t_short(line) == "R36.4.3" and l4t_short("custom BSP") == "custom BSP" and l4t_short(None) == "?"


def test_query_device_reads_the_module_and_the_sm_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """query_device with a fake tensorrt and pycuda, and the Jetson files under a fake root."""
    (tmp_path / "proc/device-tree").mkdir(parents=True)
    (tmp_path / "proc/device-tree/model").write_bytes(b"NVIDIA Jetson AGX Orin Developer Kit\x00")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/nv_tegra_release").write_text("# R36 (release), REVISION: 4.3, GCID: 1\n# KERNEL_VARIANT: oot\n")

    class Device:
        def __init__(self, index: int) -> None:
            assert index == 0

        def compute_capability(self) -> tuple[int, int]:
            return 8, 7

        def name(self) -> str:
            return "Orin"

        def get_attribute(self, attribute: str) -> int:
            return {"MULTIPROCESSOR_COUNT": 16}[attribute]

    driver = types.ModuleType("pycuda.driver")
    driver.init = lambda: None  # type: ignore[attr-defined]
    driver.Device = Device  # type: ignore[attr-defined]
    driver.get_version = lambda: (12, 6, 0)  # type: ignore[attr-defined]
    driver.device_attribute = types.SimpleNamespace(MULTIPROCESSOR_COUNT="MULTIPROCESSOR_COUNT")  # type: ignore[attr-defined]
    pycuda = types.ModuleType("pycuda")
    pycuda.driver = driver  # type: ignore[attr-defined]
    trt = types.ModuleType("tensorrt")
    trt.__version__ = "10.3.0.30"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pycuda", pycuda)
    monkeypatch.setitem(sys.modules, "pycuda.driver", driver)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    info = query_device(root=tmp_path)
    assert info == DeviceInfo("10.3.0.30", "Orin", "8.7", "12.6", model="NVIDIA Jetson AGX Orin Developer Kit",
                              l4t_release="# R36 (release), REVISION: 4.3, GCID: 1", sm_count=16)
    assert info.describe() == ("TensorRT 10.3.0.30 on Orin (compute 8.7, 16 SMs) in NVIDIA Jetson AGX Orin "
                               "Developer Kit, L4T R36.4.3")


def test_query_device_through_cuda_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prop = types.SimpleNamespace(name=b"Orin\x00", major=8, minor=7, multiProcessorCount=8)
    runtime = types.ModuleType("cuda.bindings.runtime")
    runtime.cudaGetDeviceProperties = lambda index: (0, prop)  # type: ignore[attr-defined]
    runtime.cudaRuntimeGetVersion = lambda: (0, 12060)  # type: ignore[attr-defined]
    bindings = types.ModuleType("cuda.bindings")
    bindings.runtime = runtime  # type: ignore[attr-defined]
    cuda = types.ModuleType("cuda")
    cuda.bindings = bindings  # type: ignore[attr-defined]
    trt = types.ModuleType("tensorrt")
    trt.__version__ = "10.3.0.30"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pycuda", None)  # not installed: ImportError
    monkeypatch.setitem(sys.modules, "pycuda.driver", None)
    for name, module in (("cuda", cuda), ("cuda.bindings", bindings), ("cuda.bindings.runtime", runtime),
                         ("tensorrt", trt)):
        monkeypatch.setitem(sys.modules, name, module)
    info = query_device(root=tmp_path)  # an empty root: not a Jetson
    assert (info.gpu_name, info.compute_capability, info.cuda_version, info.sm_count) == ("Orin", "8.7", "12.6", 8)
    assert info.model is None and info.l4t_release is None


def test_querying_a_machine_without_tensorrt_says_why() -> None:
    """Here only tensorrt-stubs are installed (an empty namespace): no device to query."""
    with pytest.raises(DeviceQueryError, match="TensorRT|tensorrt"):
        query_device()
