"""The TensorRT calls that turn a BuildPlan into a serialized engine, and nothing else.

Every decision (graph, flags, calibration table) is made in deploy.trt_plan; this module
only executes it, so it stays small enough to read against the TensorRT Python API of
8.5, 10.3 and 10.12+ (all three share these calls: Builder, create_network(flags),
OnnxParser.parse_from_file, IBuilderConfig.set_flag / set_memory_pool_limit /
default_device_type / DLA_core / create_timing_cache / set_timing_cache,
build_serialized_network). `tensorrt` is imported when a build starts, so the module
imports anywhere; tests substitute a fake module in sys.modules to check the call order.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast

from deploy.trt_plan import BuildPlan

if TYPE_CHECKING:
    import tensorrt as trt

E = TypeVar("E")


class EngineBuildError(RuntimeError):
    """TensorRT could not build the engine; carries TensorRT's own messages."""


@dataclass
class BuildOutput:
    engine: bytes
    timing_cache: bytes | None   # the updated cache, when the plan names a cache file
    dla_cores: int               # what the builder reported (for the error on a bad --dla)


def _member(enum: type[E], name: str) -> E:
    """An enum member by name, with an error that says which TensorRT lacks it."""
    member = getattr(enum, name, None)
    if member is None:
        raise EngineBuildError(f"this TensorRT has no {enum.__name__}.{name}: "
                               "the plan was made for another release")
    return cast(E, member)


def _table_calibrator(table: bytes) -> trt.IInt8Calibrator:
    """An entropy calibrator that never sees data: TensorRT reads the cached table and
    skips calibration (the legacy implicit-INT8 path of TensorRT 8.5 and 10.3)."""
    import tensorrt as trt

    class TableCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)

        def get_batch_size(self) -> int:
            return 1

        # TensorRT's contract is "return None when out of data"; the stubs say list[int].
        def get_batch(self, names: list[str]) -> list[int] | None:  # type: ignore[override]
            return None

        def read_calibration_cache(self) -> bytes:
            return table

        def write_calibration_cache(self, cache: object) -> None:
            return None  # the table came from `dms calibrate`; nothing new to keep

    return TableCalibrator()


def build_serialized_engine(plan: BuildPlan, model_dir: Path,
                            log: Callable[[str], None] = print) -> BuildOutput:
    """Build `plan` with the TensorRT in this Python; EngineBuildError with TensorRT's messages."""
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    for name in plan.network_flags:
        flags |= 1 << int(_member(trt.NetworkDefinitionCreationFlag, name))
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    graph = Path(model_dir) / plan.graph
    if not parser.parse_from_file(str(graph)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise EngineBuildError(f"{graph}: TensorRT's ONNX parser refused it:\n  " + "\n  ".join(errors))

    config = builder.create_builder_config()
    for name in plan.builder_flags:
        config.set_flag(_member(trt.BuilderFlag, name))
    if plan.workspace_bytes is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, plan.workspace_bytes)
    if plan.dla_core is not None:
        cores = builder.num_DLA_cores
        if plan.dla_core >= cores:
            raise EngineBuildError(f"--dla {plan.dla_core}: this device has {cores} DLA core(s)"
                                   + (" (Orin Nano has none; drop --dla)" if cores == 0 else ""))
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = plan.dla_core
    calibrator = None  # held here until the build returns: TensorRT calls back into it
    if plan.calibration_table is not None:
        calibrator = _table_calibrator((Path(model_dir) / plan.calibration_table).read_bytes())
        config.int8_calibrator = calibrator
    if plan.timing_cache is not None:
        previous = plan.timing_cache.read_bytes() if plan.timing_cache.is_file() else b""
        cache = config.create_timing_cache(previous)
        if not config.set_timing_cache(cache, False):
            log(f"warning: {plan.timing_cache}: TensorRT did not take this timing cache (another "
                "release or device); timing from scratch")

    log(f"building {plan.precision} engine from {graph.name} with TensorRT {trt.__version__} "
        f"({plan.api}; this takes minutes on a Jetson)")
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EngineBuildError(f"{graph}: TensorRT returned no engine (its log above says why)")
    timing = None
    if plan.timing_cache is not None:
        timing = bytes(config.get_timing_cache().serialize())
    del calibrator  # only now may it go
    return BuildOutput(engine=bytes(serialized), timing_cache=timing, dla_cores=builder.num_DLA_cores)


def write_atomic(path: Path, data: bytes) -> None:
    """Write via a temporary file and rename: a crash mid-write leaves the old file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
