"""`dms build-engine` as a function: model folder -> engine + engine manifest (+ timing cache).

Order of work: verify the model folder (every file's sha256), ask the device for its
TensorRT release and GPU, plan the build for that release (deploy.trt_plan), skip it when
asked to and the engine on disk is current (the boot-time unit does this on every start),
build (deploy.engine_build), then write the engine and its manifest atomically, engine
first, so that a manifest never describes an engine that is not there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from deploy.device import DeviceInfo
from deploy.engine_build import BuildOutput, build_serialized_engine, write_atomic
from deploy.engine_manifest import (DeviceSource, EngineManifest, EngineManifestError, built_with,
                                    check_engine_for_runtime, load, manifest_path, resolve_device, save,
                                    utc_now)
from deploy.model_graphs import model_graphs
from deploy.trt_plan import (BuildOptions, BuildPlan, TrtVersion, engine_file_name, format_command, plan_build,
                             trtexec_command)
from dms.manifest import ModelManifest, load_manifest, sha256_file

class Builder(Protocol):
    """What builds a plan (build_serialized_engine; tests pass fakes). A Protocol, not a
    Callable[...] alias: that would be subscripted at import, which Python 3.8 (JetPack 5.1)
    cannot do with collections.abc.Callable."""

    def __call__(self, plan: BuildPlan, model_dir: Path, log: Callable[[str], None]) -> BuildOutput: ...


@dataclass
class EngineResult:
    engine_path: Path
    manifest_path: Path
    plan: BuildPlan
    trtexec: str
    built: bool                     # False: the engine on disk was current (--if-stale)
    reason: str = ""                # why it was (re)built, or why it was kept
    manifest: EngineManifest | None = field(default=None, repr=False)


def plan_for(model_dir: Path, options: BuildOptions, version: TrtVersion) -> tuple[ModelManifest, BuildPlan]:
    """Verify MODEL_DIR and plan its build for `version` (no TensorRT needed)."""
    manifest = load_manifest(model_dir, verify_files=True)
    return manifest, plan_build(version, options, model_graphs(manifest, model_dir))


def _file_sha(manifest: ModelManifest, rel: str | None) -> str | None:
    return None if rel is None else str(manifest.files[rel]["sha256"])


def stale_reason(engine_path: Path, plan: BuildPlan, model: ModelManifest, device: DeviceInfo) -> str | None:
    """None when the engine on disk is what this plan would build on this device;
    otherwise what differs (missing, another device or Jetson module, another graph or
    options, or a manifest too old to say which module built it)."""
    if not engine_path.is_file():
        return "no engine yet"
    try:
        recorded = load(engine_path)
    except EngineManifestError as exc:
        return str(exc)
    if not recorded.identity_recorded:
        return (f"{manifest_path(engine_path)}: engine manifest format {recorded.format_version} (an older dms) "
                "records no Jetson model, L4T release or SM count, so an engine from another module (a cloned "
                "SD card) cannot be told apart: rebuilding to record them")
    try:
        current = check_engine_for_runtime(engine_path, device)
    except EngineManifestError as exc:
        return str(exc)
    wanted: dict[str, Any] = {
        "precision": plan.precision, "dla_core": plan.dla_core, "onnx": plan.graph,
        "onnx_sha256": _file_sha(model, plan.graph), "calibration_table": plan.calibration_table,
        "calibration_table_sha256": _file_sha(model, plan.calibration_table),
    }
    have = {k: getattr(current, k) for k in wanted}
    diff = [f"{k} {have[k]} -> {wanted[k]}" for k in wanted if have[k] != wanted[k]]
    recorded_plan = current.build.get("plan", {})
    for key in ("builder_flags", "network_flags", "workspace_bytes"):
        value = getattr(plan, key)
        value = list(value) if isinstance(value, tuple) else value
        if isinstance(recorded_plan, dict) and recorded_plan.get(key) != value:
            diff.append(f"{key} {recorded_plan.get(key)} -> {value}")
    return "; ".join(diff) if diff else None


def build_engine(model_dir: Path, options: BuildOptions, out_dir: Path | None = None, *,
                 device: DeviceSource = None, if_stale: bool = False,
                 log: Callable[[str], None] = print, builder: Builder = build_serialized_engine) -> EngineResult:
    """Build MODEL_DIR's engine for this device into OUT_DIR (default: MODEL_DIR)."""
    model_dir = Path(model_dir).resolve()
    out_dir = model_dir if out_dir is None else Path(out_dir)
    here = resolve_device(device)
    model, plan = plan_for(model_dir, options, TrtVersion.parse(here.tensorrt_version))
    engine_path = out_dir / engine_file_name(plan.precision, plan.dla_core)
    trtexec = format_command(trtexec_command(plan, model_dir, engine_path))
    reason = stale_reason(engine_path, plan, model, here) if if_stale else "requested"
    if reason is None:
        return EngineResult(engine_path, manifest_path(engine_path), plan, trtexec, built=False,
                            reason="up to date for this device, model and options")
    for note in plan.notes:
        log(f"note: {note}")
    log(f"equivalent trtexec command (to profile on the target):\n  {trtexec}")
    output = builder(plan, model_dir, log)
    write_atomic(engine_path, output.engine)
    if output.timing_cache is not None and plan.timing_cache is not None:
        write_atomic(plan.timing_cache, output.timing_cache)
    record = EngineManifest(
        engine_file=engine_path.name, engine_sha256=sha256_file(engine_path),
        engine_bytes=engine_path.stat().st_size, precision=plan.precision, dla_core=plan.dla_core,
        tensorrt_version=here.tensorrt_version, gpu_name=here.gpu_name,
        compute_capability=here.compute_capability, cuda_version=here.cuda_version,
        device_model=here.model, l4t_release=here.l4t_release, sm_count=here.sm_count,
        model_dir=str(model_dir), model_name=str(model.model.get("name", "")), onnx=plan.graph,
        onnx_sha256=str(_file_sha(model, plan.graph)), calibration_table=plan.calibration_table,
        calibration_table_sha256=_file_sha(model, plan.calibration_table),
        build={"plan": plan.to_dict(), "trtexec": trtexec,
               "options": {"precision": options.precision, "dla_core": options.dla_core,
                           "workspace_mb": options.workspace_mb,
                           "timing_cache": None if options.timing_cache is None else str(options.timing_cache)}},
        built_at=utc_now(), built_with=built_with(),
    )
    path = save(record, engine_path)
    return EngineResult(engine_path, path, plan, trtexec, built=True, reason=reason, manifest=record)
