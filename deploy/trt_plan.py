"""Which graph, flags and calibration table to build a TensorRT engine with, per TensorRT
version: a pure function, so the whole version dispatch is tested on a machine without
TensorRT (deploy.engine_build makes the calls; this module decides what they are).

The rules (SPEC.md, "Deployment facts"):

* TensorRT >= 10.12 (JetPack 7) and 11: a *strongly typed* network from the graph that
  carries the precision itself: the FP16 graph, or the INT8 Q/DQ graph. The FP16/INT8
  builder flags are deprecated from 10.12 and removed in 11, and implicit INT8
  (calibrators) is deprecated from 10.1 and removed in 11, so neither is used. On 11
  every network is strongly typed and the creation flag is ignored, so it is not set.
* TensorRT 8.5 to 10.11 (JetPack 5.1 = 8.5.2, JetPack 6.1/6.2 = 10.3.0): the same graphs
  with the legacy flags (FP16 for the FP16 graph; INT8 *and* FP16 for the Q/DQ graph:
  8.x/10.x need INT8 for explicit quantization, and FP16 lets the layers the graph leaves
  unquantized run in FP16 instead of FP32 - "enabling both INT8 and FP16 is allowed (and
  encouraged)", NVIDIA/TensorRT#2086). When a model has no Q/DQ graph, INT8 falls back to
  implicit quantization of the FP32 graph with the calibration table written for *this*
  TensorRT release (calibration.trt_table: TensorRT ignores a table from another
  version). 8.x parses ONNX only into an EXPLICIT_BATCH network; 10.x ignores the flag
  (deprecated), so it is set on 8.x alone.
* Older than 8.5: refused (the runtime needs named I/O tensors and execute_async_v3).

DLA (`--dla N`), per release (docs.nvidia.com/deeplearning/tensorrt/11.4.1/inference-library/
work-with-dla.html and .../11.3.0/inference-library/work-with-dla.html):

* TensorRT 8.5 to 10.7 (JetPack 5.1 and 6.x on Xavier / Orin): DLA runs implicit
  quantization only - "DLA does not support explicit quantization" (TensorRT 8.x developer
  guide, "Working with DLA"; NVIDIA/TensorRT#2222: "if you convert it to implicit
  quantization, it would work with DLA"; NVIDIA/Model-Optimizer#1661: "DLA still only
  supports IQ"). So INT8 on DLA is built from the FP32 graph with this release's
  calibration table, never from the Q/DQ graph, with FP16 set beside INT8: a tensor
  without a usable scale "forces either that region to run in FP16 or a GPU fallback"
  (Model-Optimizer#1661), and with FP16 set it stays on the DLA. GPU_FALLBACK always.
* TensorRT 10.8 to 10.x: no DLA ("TensorRT 10.7 was the last 10.x release that supported
  DLA"); JetPack 7.0/7.1 ship 10.13 for Jetson Thor, which has no DLA.
* TensorRT 11.0 to 11.4.0: no DLA on Jetson ("DLA was unavailable in TensorRT 11.0 through
  11.3 ... TensorRT 11.4.0 supported DLA only on Windows on ARM").
* TensorRT 11.4.1+: DLA on Jetson AGX Orin with JetPack 7.2.2+, strongly typed: the
  precision comes from the graph's tensor types, as on the GPU (Thor still has none; the
  builder's DLA core count refuses it at build time).

Flags are carried as TensorRT member *names* ("STRONGLY_TYPED", "FP16"), not numbers:
enum values moved between releases (STRONGLY_TYPED is 1 on 10.x and 0 on 11).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

Precision = Literal["fp32", "fp16", "int8"]
PRECISIONS: tuple[Precision, ...] = get_args(Precision)
Api = Literal["strongly-typed", "legacy"]

# Where JetPack installs trtexec (it is not on PATH there): the L4T TensorRT packages.
TRTEXEC = "/usr/src/tensorrt/bin/trtexec"
# Bytes per MiB: trtexec's --memPoolSize takes MiB on every supported release.
MIB = 1 << 20


class PlanError(ValueError):
    """No valid build for this TensorRT version, precision and model; says what to do."""


@dataclass(frozen=True, order=True)
class TrtVersion:
    """A TensorRT release, compared by (major, minor, patch); the build number is kept for
    the record only (engines are refused across releases, not across builds)."""

    major: int
    minor: int
    patch: int = 0
    build: int = field(default=0, compare=False)

    @classmethod
    def parse(cls, text: str) -> TrtVersion:
        """'10.3.0.30' -> TrtVersion(10, 3, 0, 30); '8.5' -> TrtVersion(8, 5, 0)."""
        parts = text.strip().split(".")
        try:
            nums = [int(p) for p in parts]
        except ValueError:
            raise PlanError(f"TensorRT version must look like 10.3.0 or 8.5.2.2, got {text!r}") from None
        if not 2 <= len(nums) <= 4 or min(nums) < 0:
            raise PlanError(f"TensorRT version must look like 10.3.0 or 8.5.2.2, got {text!r}")
        nums += [0] * (4 - len(nums))
        return cls(nums[0], nums[1], nums[2], nums[3])

    @property
    def release(self) -> str:
        """'10.3.0': the part that must match between builder and runtime."""
        return f"{self.major}.{self.minor}.{self.patch}"

    def __str__(self) -> str:
        return self.release + (f".{self.build}" if self.build else "")


MIN_SUPPORTED = TrtVersion(8, 5, 0)
STRONGLY_TYPED_FROM = TrtVersion(10, 12, 0)   # FP16/INT8 flags deprecated from here
ALWAYS_STRONGLY_TYPED_FROM = TrtVersion(11, 0, 0)
EXPLICIT_BATCH_UNTIL = TrtVersion(10, 0, 0)   # 10.0 made every network explicit batch
DLA_GONE_FROM = TrtVersion(10, 8, 0)          # 10.7 was the last 10.x release with DLA
DLA_BACK_FROM = TrtVersion(11, 4, 1)          # DLA on Jetson AGX Orin again (JetPack 7.2.2+)


def dla_unavailable(version: TrtVersion) -> str | None:
    """Why TensorRT `version` cannot build for DLA at all, or None when it can (module
    docstring: the DLA rules and their sources). Whether *this device* has DLA cores
    (Orin Nano and Thor have none) is the builder's to say (engine_build)."""
    if DLA_GONE_FROM <= version < ALWAYS_STRONGLY_TYPED_FROM:
        return (f"TensorRT {version.release} has no DLA (10.7 was the last 10.x release with DLA; "
                "JetPack 7.0/7.1 ship 10.13 for Jetson Thor, which has none)")
    if ALWAYS_STRONGLY_TYPED_FROM <= version < DLA_BACK_FROM:
        return (f"TensorRT {version.release} has no DLA on Jetson (none in 11.0 to 11.3, 11.4.0 only on "
                "Windows on ARM; 11.4.1 brings it back for Jetson AGX Orin on JetPack 7.2.2+)")
    return None


@dataclass(frozen=True)
class JetPack:
    """A JetPack release and the TensorRT/CUDA it ships (SPEC.md's version table)."""

    name: str
    tensorrt: TrtVersion
    cuda: str


JETPACKS: tuple[JetPack, ...] = (
    JetPack("JetPack 5.1.x", TrtVersion(8, 5, 2), "11.4"),
    JetPack("JetPack 6.1/6.2", TrtVersion(10, 3, 0), "12.6"),
    JetPack("JetPack 7.x", TrtVersion(10, 13, 0), "13.0"),
)


def jetpack_for(version: TrtVersion) -> JetPack | None:
    """The JetPack that ships this TensorRT major.minor, if it is one we know."""
    for jp in JETPACKS:
        if (jp.tensorrt.major, jp.tensorrt.minor) == (version.major, version.minor):
            return jp
    return None


@dataclass(frozen=True)
class ModelGraphs:
    """The graphs a model folder offers, as paths relative to it (roles in its manifest)."""

    fp32: str
    fp16: str | None = None
    int8_qdq: str | None = None
    tables: Mapping[str, str] = field(default_factory=dict)  # TensorRT release "8.5.2" -> file


@dataclass(frozen=True)
class BuildOptions:
    """What `dms build-engine` was asked for.

    precision: int8 by default, the product's target on Jetson (README: "INT8/FP16
      TensorRT engines"); fp16 and fp32 are there for accuracy comparison and profiling.
    dla_core: None = GPU only. DLA runs FP16/INT8 layers only, so fp32 on DLA is refused;
      layers DLA cannot run fall back to the GPU (GPU_FALLBACK). Refused on the TensorRT
      releases without DLA (dla_unavailable); INT8 on DLA before TensorRT 11 is implicit
      (FP32 graph + calibration table), never the Q/DQ graph.
    workspace_mb: None = TensorRT's default (the device's memory); on a shared Jetson a
      cap keeps the build from starving the rest of the car's software.
    timing_cache: a file read before and written after the build, so rebuilds (after a
      JetPack update, or per device on a production line) skip kernel timing.
    """

    precision: Precision = "int8"
    dla_core: int | None = None
    workspace_mb: int | None = None
    timing_cache: Path | None = None

    def validate(self) -> None:
        if self.precision not in PRECISIONS:
            raise PlanError(f"precision: must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.dla_core is not None and self.dla_core < 0:
            raise PlanError(f"dla_core: must be >= 0, got {self.dla_core}")
        if self.workspace_mb is not None and self.workspace_mb < 1:
            raise PlanError(f"workspace_mb: must be >= 1 MiB, got {self.workspace_mb}")


@dataclass(frozen=True)
class BuildPlan:
    """Everything engine_build needs, decided; `notes` say why when a fallback was taken."""

    tensorrt: TrtVersion
    precision: Precision
    api: Api
    graph: str                          # relative to the model folder
    network_flags: tuple[str, ...]      # trt.NetworkDefinitionCreationFlag member names
    builder_flags: tuple[str, ...]      # trt.BuilderFlag member names
    calibration_table: str | None       # implicit INT8 only (legacy)
    dla_core: int | None
    workspace_bytes: int | None
    timing_cache: Path | None
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "tensorrt": str(self.tensorrt), "precision": self.precision, "api": self.api,
            "graph": self.graph, "network_flags": list(self.network_flags),
            "builder_flags": list(self.builder_flags), "calibration_table": self.calibration_table,
            "dla_core": self.dla_core, "workspace_bytes": self.workspace_bytes,
            "timing_cache": None if self.timing_cache is None else str(self.timing_cache),
            "notes": list(self.notes),
        }


def _release_table(graphs: ModelGraphs, version: TrtVersion, why: str, tail: str = "") -> str:
    """The calibration table written for exactly this release (TensorRT ignores others),
    or a PlanError: `why` + the releases the model has tables for + `tail`."""
    table = graphs.tables.get(version.release)
    if table is None:
        have = ", ".join(sorted(graphs.tables)) or "none"
        raise PlanError(_calibrate_hint(why + have) + tail)
    return table


def _calibrate_hint(what: str) -> str:
    return f"{what} (write it with `dms calibrate MODEL_DIR --data DATA`)"


def plan_build(version: TrtVersion, options: BuildOptions, graphs: ModelGraphs) -> BuildPlan:
    """Decide the build for `version`; PlanError says why none is possible and what to do."""
    options.validate()
    if version < MIN_SUPPORTED:
        raise PlanError(f"TensorRT {version} is too old: the runtime needs {MIN_SUPPORTED.release} or newer "
                        "(JetPack 5.1+) for named I/O tensors and execute_async_v3")
    precision = options.precision
    dla = options.dla_core is not None
    if dla:
        missing = dla_unavailable(version)
        if missing is not None:
            raise PlanError(f"--dla {options.dla_core}: {missing}; drop --dla to build for the GPU")
    if dla and precision == "fp32":
        raise PlanError("DLA runs FP16 and INT8 layers only: use --precision fp16 or int8 with --dla, "
                        "or drop --dla for an FP32 engine on the GPU")
    notes: list[str] = []
    table: str | None = None
    builder_flags: list[str] = []
    if version >= STRONGLY_TYPED_FROM:
        api: Api = "strongly-typed"
        network_flags: tuple[str, ...] = () if version >= ALWAYS_STRONGLY_TYPED_FROM else ("STRONGLY_TYPED",)
        if version >= ALWAYS_STRONGLY_TYPED_FROM:
            notes.append(f"TensorRT {version.major} networks are always strongly typed")
        if dla:
            notes.append(f"DLA on TensorRT {version.release} is strongly typed: the graph's tensor types "
                         "decide the precision (Jetson AGX Orin on JetPack 7.2.2+; Thor has no DLA)")
        if precision == "fp32":
            graph = graphs.fp32
        elif precision == "fp16":
            if graphs.fp16 is None:
                raise PlanError(_calibrate_hint(f"TensorRT {version} builds FP16 from the FP16 graph "
                                                "(strongly typed), and this model has none"))
            graph = graphs.fp16
        else:
            if graphs.int8_qdq is None:
                raise PlanError(_calibrate_hint(
                    f"TensorRT {version} builds INT8 only from the Q/DQ graph (implicit INT8 with a "
                    "calibration table is deprecated from 10.1 and removed in 11), and this model has none"))
            graph = graphs.int8_qdq
    else:
        api = "legacy"
        network_flags = ("EXPLICIT_BATCH",) if version < EXPLICIT_BATCH_UNTIL else ()
        if precision == "fp32":
            graph = graphs.fp32
        elif precision == "fp16":
            builder_flags.append("FP16")
            if graphs.fp16 is not None:
                graph = graphs.fp16
            else:
                graph = graphs.fp32
                notes.append("no FP16 graph: the FP32 graph is built with the FP16 flag "
                             "(TensorRT picks the precision per layer)")
        elif dla:
            # DLA before TensorRT 11: implicit quantization only (module docstring).
            builder_flags += ["INT8", "FP16"]
            table = _release_table(
                graphs, version,
                f"INT8 on DLA with TensorRT {version.release} needs the calibration table written for "
                f"{version.release} (DLA does not run Q/DQ graphs before TensorRT 11, and TensorRT "
                "ignores tables from other releases); this model has tables for: ",
                "; or use --precision fp16 with --dla, or drop --dla")
            graph = graphs.fp32
            notes.append(f"DLA INT8: implicit quantization of the FP32 graph with {table}"
                         + (" (the Q/DQ graph is not used: DLA does not support explicit quantization "
                            "before TensorRT 11)" if graphs.int8_qdq is not None else "")
                         + "; FP16 for layers without a scale, GPU fallback for layers DLA cannot run")
        else:
            builder_flags.append("INT8")
            if graphs.int8_qdq is not None:
                graph = graphs.int8_qdq
                # Q/DQ fixes which layers run INT8; FP16 lets the rest run FP16, not FP32.
                builder_flags.append("FP16")
                if graphs.tables:
                    notes.append("the Q/DQ graph is used; the calibration tables are not needed")
            else:
                table = _release_table(
                    graphs, version,
                    f"INT8 on TensorRT {version.release} needs the Q/DQ graph or a calibration table "
                    f"written for {version.release} (TensorRT ignores tables from other releases); "
                    "this model has no Q/DQ graph and tables for: ")
                graph = graphs.fp32
                notes.append(f"no Q/DQ graph: implicit INT8 from the FP32 graph and {table}")
    if dla:
        builder_flags.append("GPU_FALLBACK")
    return BuildPlan(
        tensorrt=version, precision=precision, api=api, graph=graph,
        network_flags=network_flags, builder_flags=tuple(builder_flags), calibration_table=table,
        dla_core=options.dla_core,
        workspace_bytes=None if options.workspace_mb is None else options.workspace_mb * MIB,
        timing_cache=options.timing_cache, notes=tuple(notes),
    )


def engine_file_name(precision: Precision, dla_core: int | None = None) -> str:
    """'step_int8.engine', 'step_fp16_dla0.engine': one engine per precision and core."""
    return f"step_{precision}" + ("" if dla_core is None else f"_dla{dla_core}") + ".engine"


def trtexec_command(plan: BuildPlan, model_dir: Path, engine_path: Path,
                    trtexec: str = TRTEXEC) -> list[str]:
    """The trtexec command line that builds the same engine, for integrators who profile
    with trtexec (drop --saveEngine and add --loadEngine=... to time an existing engine)."""
    cmd = [trtexec, f"--onnx={model_dir / plan.graph}", f"--saveEngine={engine_path}"]
    if "STRONGLY_TYPED" in plan.network_flags:
        cmd.append("--stronglyTyped")
    if "FP16" in plan.builder_flags:
        cmd.append("--fp16")
    if "INT8" in plan.builder_flags:
        cmd.append("--int8")
    if plan.calibration_table is not None:
        cmd.append(f"--calib={model_dir / plan.calibration_table}")
    if plan.dla_core is not None:
        cmd += [f"--useDLACore={plan.dla_core}", "--allowGPUFallback"]
    if plan.workspace_bytes is not None:
        cmd.append(f"--memPoolSize=workspace:{plan.workspace_bytes // MIB}")
    if plan.timing_cache is not None:
        cmd.append(f"--timingCacheFile={plan.timing_cache}")
    return cmd


def format_command(cmd: list[str]) -> str:
    return shlex.join(cmd)
