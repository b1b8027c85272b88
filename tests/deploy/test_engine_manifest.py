"""The engine manifest and the runtime's refusal of engines built elsewhere."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from deploy.device import DeviceInfo, DeviceQueryError, query_device
from deploy.engine_manifest import (EngineManifest, EngineManifestError, EngineMismatchError,
                                    check_engine_for_runtime, manifest_path, mismatches, save)
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


def test_querying_a_machine_without_tensorrt_says_why() -> None:
    """Here only tensorrt-stubs are installed (an empty namespace): no device to query."""
    with pytest.raises(DeviceQueryError, match="TensorRT|tensorrt"):
        query_device()
