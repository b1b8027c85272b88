"""Will TensorRT on the car parse this ONNX graph? Checked here, off the car, in seconds.

An engine is built on the Jetson itself (a plan file is tied to GPU and TensorRT version),
minutes into a flash or a first boot, where an unsupported op or a dynamic dimension is
expensive to discover. This module refuses such graphs at export time, naming the node,
its op and the TensorRT version that would fail:

* every op is in the ONNX parser's support list of each target TensorRT version and the
  graph's opset is in the range each parses;
* no int64 shape arithmetic is left (Shape -> Gather -> ... -> Reshape chains): with batch 1
  and static shapes it is all constant, and left in the graph it becomes shape layers and
  int64 -> int32 casts on TensorRT 8.5;
* no symbolic or unknown dimension on any input, output or intermediate tensor (an engine
  for the car has one static profile);
* every QuantizeLinear / DequantizeLinear is symmetric int8 with zero point 0, the only
  quantisation TensorRT accepts (operators.md: "`y_zero_point` must be 0").

Only onnx is imported: the check runs wherever the runtime does (a Jetson has no torch).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

from export.names import STEP_ROLE
from export.onnx_fold import infer_shapes

# ---- the targets -------------------------------------------------------------------------
# Operators each TensorRT release's ONNX parser supports ("Y" rows of onnx-tensorrt's
# docs/operators.md for that release).
#
# TensorRT 8.5 (JetPack 5.1): onnx-tensorrt branch release/8.5-GA, docs/operators.md:
# "TensorRT 8.5 supports operators up to Opset 17."
TRT_8_5_OPS = frozenset({
    "Abs", "Acos", "Acosh", "Add", "And", "ArgMax", "ArgMin", "Asin", "Asinh", "Atan", "Atanh",
    "AveragePool", "BatchNormalization", "Cast", "Ceil", "Celu", "Clip", "Concat", "Constant",
    "ConstantOfShape", "Conv", "ConvTranspose", "Cos", "Cosh", "CumSum", "DepthToSpace",
    "DequantizeLinear", "Div", "Dropout", "Einsum", "Elu", "Equal", "Erf", "Exp", "Expand",
    "EyeLike", "Flatten", "Floor", "GRU", "Gather", "GatherElements", "GatherND", "Gemm",
    "GlobalAveragePool", "GlobalLpPool", "GlobalMaxPool", "Greater", "GreaterOrEqual",
    "GridSample", "HardSigmoid", "HardSwish", "Identity", "If", "ImageScaler",
    "InstanceNormalization", "IsNaN", "LRN", "LSTM", "LeakyRelu", "Less", "LessOrEqual", "Log",
    "LogSoftmax", "Loop", "LpNormalization", "LpPool", "MatMul", "Max", "MaxPool", "Mean",
    "MeanVarianceNormalization", "Min", "Mod", "Mul", "Neg", "NonMaxSuppression", "NonZero",
    "Not", "OneHot", "Or", "PRelu", "Pad", "ParametricSoftplus", "Pow", "QuantizeLinear", "RNN",
    "RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Range",
    "Reciprocal", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax",
    "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSum", "ReduceSumSquare", "Relu", "Reshape",
    "Resize", "ReverseSequence", "RoiAlign", "Round", "ScaledTanh", "Scan", "Scatter",
    "ScatterElements", "ScatterND", "Selu", "Shape", "Shrink", "Sigmoid", "Sign", "Sin", "Sinh",
    "Size", "Slice", "Softmax", "Softplus", "Softsign", "SpaceToDepth", "Split", "Sqrt",
    "Squeeze", "Sub", "Sum", "Tan", "Tanh", "ThresholdedRelu", "Tile", "TopK", "Transpose",
    "Trilu", "Unsqueeze", "Upsample", "Where", "Xor",
})
# TensorRT 10.15: onnx-tensorrt docs/operators.md at the 10.15 GA release ("supports
# operators in the inclusive range of opset 9 to opset 24"): every 8.5 op, plus these.
_ADDED_BY_10_15 = frozenset({
    "Attention", "BlackmanWindow", "CastLike", "DeformConv", "Gelu", "GroupNormalization",
    "HammingWindow", "HannWindow", "Hardmax", "IsInf", "LayerNormalization", "Mish",
    "RMSNormalization", "RotaryEmbedding", "STFT", "TensorScatter",
})
TRT_10_15_OPS = TRT_8_5_OPS | _ADDED_BY_10_15
# Earlier 10.x releases: the 10.15 list minus what onnx-tensorrt's docs/Changelog.md says
# came later (BlackmanWindow/HammingWindow/HannWindow 10.4, STFT 10.5, Attention 10.14,
# RotaryEmbedding/RMSNormalization/TensorScatter 10.15). Gelu, Mish and CastLike have no
# changelog entry we could date, so they count as unsupported before 10.13 (refusing a
# graph that would parse is the cheap mistake; the reverse costs an engine build on the car).
TRT_10_13_OPS = TRT_10_15_OPS - {"Attention", "RotaryEmbedding", "RMSNormalization", "TensorScatter"}
TRT_10_3_OPS = TRT_10_13_OPS - {"BlackmanWindow", "HammingWindow", "HannWindow", "STFT",
                                "Gelu", "Mish", "CastLike"}


@dataclass(frozen=True)
class TrtTarget:
    """One TensorRT release the car may run, with what its ONNX parser accepts."""

    version: str
    platform: str
    min_opset: int
    max_opset: int
    ops: frozenset[str]
    source: str


TARGETS: tuple[TrtTarget, ...] = (
    TrtTarget("8.5", "JetPack 5.1", 7, 17, TRT_8_5_OPS,
              "onnx-tensorrt release/8.5-GA docs/operators.md ('up to Opset 17'; "
              "backward compatible to opset 7 per the TensorRT developer guide)"),
    # 10.0's operators.md: "inclusive range of opset 9 to opset 20"; used for 10.3 and 10.13
    # because later 10.x lists only widened it (10.15: 9 to 24) and we could not read theirs.
    TrtTarget("10.3", "JetPack 6.1/6.2", 9, 20, TRT_10_3_OPS,
              "onnx-tensorrt docs/operators.md (10.0: opset 9-20; 10.15 list less the ops "
              "docs/Changelog.md dates after 10.3)"),
    TrtTarget("10.13", "JetPack 7.x", 9, 20, TRT_10_13_OPS,
              "onnx-tensorrt docs/operators.md (10.15 list less the ops docs/Changelog.md "
              "dates 10.14/10.15)"),
    # TensorRT's ONNX opset guide for 11.x: ONNX 1.20, opsets 9 to 25, operator list =
    # onnx-tensorrt operators.md; the newest list we could read is 10.15's.
    TrtTarget("11", "JetPack 7.2.2+", 9, 25, TRT_10_15_OPS,
              "TensorRT 11.x ONNX opset guide (opset 9-25) + onnx-tensorrt operators.md (10.15)"),
)

# Inputs that TensorRT treats as shape tensors or requires to be build-time constants:
# op -> input indices. Computed at run time they mean shape arithmetic in the engine.
SHAPE_INPUTS: dict[str, tuple[int, ...]] = {
    "Reshape": (1,), "Expand": (1,), "Tile": (1,), "Slice": (1, 2, 3, 4), "Unsqueeze": (1,),
    "Squeeze": (1,), "ConstantOfShape": (0,), "Range": (0, 1, 2), "Pad": (1, 3),
    "Resize": (1, 2, 3), "Upsample": (1,), "Split": (1,), "TopK": (1,), "OneHot": (1,),
    "CumSum": (1,), "ReduceSum": (1,), "ReduceMean": (1,), "ReduceMax": (1,), "ReduceMin": (1,),
    "ReduceProd": (1,), "ReduceL1": (1,), "ReduceL2": (1,), "ReduceLogSum": (1,),
    "ReduceLogSumExp": (1,), "ReduceSumSquare": (1,),
}
SHAPE_OPS = frozenset({"Shape", "Size"})
STANDARD_DOMAINS = ("", "ai.onnx")
# Graph I/O types every target binds directly (TensorRT 8.5 casts int64 I/O to int32 and
# has no double; 10.x binds int64 as int64: the same engine code would not fit both).
PORTABLE_IO_TYPES = {TensorProto.FLOAT: "float32", TensorProto.FLOAT16: "float16",
                     TensorProto.INT32: "int32", TensorProto.INT8: "int8",
                     TensorProto.UINT8: "uint8", TensorProto.BOOL: "bool"}
# The manifest's dtype names (dms.manifest) for the ONNX element types it allows.
MANIFEST_DTYPES = {TensorProto.FLOAT: "float32", TensorProto.FLOAT16: "float16",
                   TensorProto.INT8: "int8", TensorProto.INT32: "int32",
                   TensorProto.INT64: "int64", TensorProto.UINT8: "uint8"}
# How many producers a shape-arithmetic message walks back through (enough to show
# Shape -> Gather -> Unsqueeze -> Concat -> Reshape; longer chains end in "...").
MAX_CHAIN = 6


@dataclass(frozen=True)
class Issue:
    """One reason TensorRT would refuse (or mis-build) the graph."""

    check: str        # operator | opset | shape-arithmetic | dynamic-shape | quantization | io-dtype | checker | manifest
    message: str      # names the node (and op) or the tensor
    node: str = ""
    op: str = ""


@dataclass
class ReadinessReport:
    source: str
    opset: int = 0
    ops: list[str] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    targets: tuple[str, ...] = tuple(t.version for t in TARGETS)

    @property
    def ok(self) -> bool:
        return not self.issues

    def lines(self) -> list[str]:
        return [f"{self.source}: {i.message}" for i in self.issues]

    def summary(self) -> str:
        versions = ", ".join(self.targets)
        if self.ok:
            return (f"{self.source}: TensorRT-ready for {versions} (opset {self.opset}, "
                    f"{len(self.ops)} op types: {', '.join(self.ops)})")
        n = len(self.issues)
        return "\n".join([f"{self.source}: NOT TensorRT-ready ({n} problem{'s' if n > 1 else ''}, "
                          f"targets {versions}):", *("  " + line for line in self.lines())])


def _node_label(node: onnx.NodeProto, index: int) -> str:
    return f"node '{node.name}' ({node.op_type})" if node.name else f"node #{index} ({node.op_type})"


class _Graph:
    """Indexes of one graph: producers, constants, inferred types and shapes."""

    def __init__(self, model: onnx.ModelProto, inferred: onnx.GraphProto) -> None:
        g = model.graph
        self.model = model
        self.inferred = inferred
        self.inputs = {i.name for i in g.input}
        self.initializers = {t.name: t for t in g.initializer if t.name not in self.inputs}
        self.producer: dict[str, tuple[int, onnx.NodeProto]] = {}
        for idx, node in enumerate(g.node):
            for out in node.output:
                if out:
                    self.producer[out] = (idx, node)
        self.value_info = {vi.name: vi for vi in [*inferred.input, *inferred.value_info, *inferred.output]}

    def is_constant(self, name: str) -> bool:
        if name in self.initializers:
            return True
        prod = self.producer.get(name)
        return prod is not None and prod[1].op_type == "Constant"

    def constant_value(self, name: str) -> np.ndarray | None:
        if name in self.initializers:
            return numpy_helper.to_array(self.initializers[name])
        prod = self.producer.get(name)
        if prod is not None and prod[1].op_type == "Constant":
            for attr in prod[1].attribute:
                if attr.name == "value":
                    return numpy_helper.to_array(attr.t)
        return None

    def elem_type(self, name: str) -> int | None:
        if name in self.initializers:
            return int(self.initializers[name].data_type)
        prod = self.producer.get(name)
        if prod is not None and prod[1].op_type == "Constant":
            for attr in prod[1].attribute:
                if attr.name == "value":
                    return int(attr.t.data_type)
        vi = self.value_info.get(name)
        if vi is not None and vi.type.HasField("tensor_type"):
            return int(vi.type.tensor_type.elem_type)
        return None

    def chain(self, name: str) -> list[tuple[int, onnx.NodeProto]]:
        """The run-time producers of `name`, walking back (source first)."""
        out: list[tuple[int, onnx.NodeProto]] = []
        current = name
        while len(out) < MAX_CHAIN and current in self.producer and not self.is_constant(current):
            idx, node = self.producer[current]
            out.append((idx, node))
            if node.op_type in SHAPE_OPS:
                break
            nxt = [i for i in node.input if i and not self.is_constant(i)]
            if not nxt:
                break
            current = nxt[0]
        out.reverse()
        return out


def _opset(model: onnx.ModelProto) -> int:
    for imp in model.opset_import:
        if imp.domain in STANDARD_DOMAINS:
            return int(imp.version)
    return 0


def _check_opset(model: onnx.ModelProto, opset: int, targets: tuple[TrtTarget, ...]) -> list[Issue]:
    issues = []
    for t in targets:
        if not t.min_opset <= opset <= t.max_opset:
            issues.append(Issue("opset", f"opset {opset} is outside TensorRT {t.version} ({t.platform})'s "
                                         f"range {t.min_opset}-{t.max_opset} [{t.source}]"))
    for imp in model.opset_import:
        if imp.domain not in STANDARD_DOMAINS:
            issues.append(Issue("opset", f"imports opset domain '{imp.domain}': TensorRT parses only ai.onnx "
                                         "(anything else needs a plugin)"))
    return issues


def _check_ops(model: onnx.ModelProto, targets: tuple[TrtTarget, ...]) -> list[Issue]:
    issues = []
    for idx, node in enumerate(model.graph.node):
        label = _node_label(node, idx)
        if node.domain not in STANDARD_DOMAINS:
            issues.append(Issue("operator", f"{label}: op from domain '{node.domain}' needs a TensorRT plugin",
                                node.name, node.op_type))
            continue
        missing = [t for t in targets if node.op_type not in t.ops]
        if missing:
            where = ", ".join(f"{t.version} ({t.platform})" for t in missing)
            issues.append(Issue("operator", f"{label}: op {node.op_type} is not supported by the ONNX parser of "
                                            f"TensorRT {where} [{missing[0].source}]", node.name, node.op_type))
    return issues


def _check_shape_arithmetic(model: onnx.ModelProto, graph: _Graph) -> list[Issue]:
    issues: list[Issue] = []
    covered: set[int] = set()
    for idx, node in enumerate(model.graph.node):
        for pos in SHAPE_INPUTS.get(node.op_type, ()):
            if pos >= len(node.input) or not node.input[pos] or graph.is_constant(node.input[pos]):
                continue
            name = node.input[pos]
            chain = graph.chain(name)
            covered.update(i for i, _ in chain)
            covered.add(idx)
            steps = [f"{n.op_type} '{n.name or '#' + str(i)}'" for i, n in chain]
            if len(chain) == MAX_CHAIN and chain[0][1].op_type not in SHAPE_OPS:
                steps.insert(0, "...")
            origin = " -> ".join(steps) if steps else (f"graph input '{name}'" if name in graph.inputs else f"'{name}'")
            issues.append(Issue(
                "shape-arithmetic",
                f"{_node_label(node, idx)}: input {pos} '{name}' (a shape/axes/size operand) is computed at "
                f"run time by {origin} -> {node.op_type} '{node.name or '#' + str(idx)}'; export with static "
                "shapes and fold constants so it becomes an initializer",
                node.name, node.op_type))
    for idx, node in enumerate(model.graph.node):
        if idx in covered:
            continue
        if node.op_type in SHAPE_OPS:
            issues.append(Issue("shape-arithmetic",
                                f"{_node_label(node, idx)}: reads a tensor's shape at run time; with static "
                                "shapes it is a constant (fold constants)", node.name, node.op_type))
            continue
        int64_outs = [o for o in node.output if o and graph.elem_type(o) == TensorProto.INT64]
        if int64_outs and node.op_type != "Constant":
            issues.append(Issue("shape-arithmetic",
                                f"{_node_label(node, idx)}: computes int64 tensor '{int64_outs[0]}' at run time "
                                "(shape arithmetic; TensorRT 8.5 casts it to int32)", node.name, node.op_type))
    return issues


def _dims_problem(vi: onnx.ValueInfoProto) -> str | None:
    t = vi.type
    if not t.HasField("tensor_type"):
        return "is not a tensor"
    if not t.tensor_type.HasField("shape"):
        return "has no shape (unknown rank)"
    for i, d in enumerate(t.tensor_type.shape.dim):
        if d.HasField("dim_param") and d.dim_param:
            return f"dimension {i} is symbolic ('{d.dim_param}')"
        if not d.HasField("dim_value"):
            return f"dimension {i} is unknown"
        if d.dim_value < 1:
            return f"dimension {i} is {d.dim_value}"
    return None


def _check_static_shapes(model: onnx.ModelProto, graph: _Graph) -> list[Issue]:
    issues: list[Issue] = []
    g = model.graph
    for kind, items in (("graph input", graph.inferred.input), ("graph output", graph.inferred.output)):
        for vi in items:
            if vi.name in graph.initializers:
                continue
            problem = _dims_problem(vi)
            if problem:
                issues.append(Issue("dynamic-shape", f"{kind} '{vi.name}': {problem}; TensorRT engines for the "
                                                     "car are built with static shapes (batch 1)"))
    io = {vi.name for vi in [*g.input, *g.output]}
    for idx, node in enumerate(g.node):
        if node.op_type == "Constant":
            continue
        for out in node.output:
            if not out or out in io:
                continue
            vi = graph.value_info.get(out)
            problem = "has no inferred shape" if vi is None else _dims_problem(vi)
            if problem:
                issues.append(Issue("dynamic-shape", f"{_node_label(node, idx)}: output '{out}' {problem}",
                                    node.name, node.op_type))
    return issues


def _check_quantization(model: onnx.ModelProto, graph: _Graph) -> list[Issue]:
    issues: list[Issue] = []
    for idx, node in enumerate(model.graph.node):
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear"):
            continue
        label = _node_label(node, idx)

        def bad(text: str) -> None:
            issues.append(Issue("quantization", f"{label}: {text}; TensorRT accepts only symmetric int8 "
                                                "quantisation (zero point 0)", node.name, node.op_type))

        scale = node.input[1] if len(node.input) > 1 else ""
        scale_value = graph.constant_value(scale) if scale else None
        if scale_value is None:
            bad(f"scale '{scale}' is not a constant")
        elif not np.all(np.isfinite(scale_value)) or np.any(scale_value <= 0):
            bad(f"scale '{scale}' has values <= 0 or not finite (min {float(np.min(scale_value)):g})")
        zp = node.input[2] if len(node.input) > 2 else ""
        if not zp:
            if node.op_type == "QuantizeLinear":
                bad("no zero point: ONNX then quantises to uint8")
            elif graph.elem_type(node.input[0]) not in (None, TensorProto.INT8):
                bad(f"input '{node.input[0]}' is not int8")
            continue
        zp_type = graph.elem_type(zp)
        zp_value = graph.constant_value(zp)
        if zp_value is None:
            bad(f"zero point '{zp}' is not a constant")
        elif zp_type != TensorProto.INT8:
            bad(f"zero point '{zp}' is {TensorProto.DataType.Name(zp_type or 0).lower()}, not int8")
        elif np.any(zp_value != 0):
            nonzero = zp_value.reshape(-1)[np.flatnonzero(zp_value.reshape(-1))[0]]
            bad(f"zero point '{zp}' is {int(nonzero)}, not 0")
    return issues


def _check_io_types(model: onnx.ModelProto) -> list[Issue]:
    issues = []
    for kind, items in (("graph input", model.graph.input), ("graph output", model.graph.output)):
        for vi in items:
            et = vi.type.tensor_type.elem_type if vi.type.HasField("tensor_type") else 0
            if et not in PORTABLE_IO_TYPES:
                issues.append(Issue("io-dtype", f"{kind} '{vi.name}' is {TensorProto.DataType.Name(et).lower()}: "
                                                "TensorRT 8.5 and 10.x bind it differently (keep I/O float32)"))
    return issues


def check_model(model: onnx.ModelProto, source: str = "model",
                targets: tuple[TrtTarget, ...] = TARGETS) -> ReadinessReport:
    """Run every check on an in-memory model; never raises for a bad graph, reports it."""
    report = ReadinessReport(source, opset=_opset(model), targets=tuple(t.version for t in targets))
    report.ops = sorted({n.op_type for n in model.graph.node})
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:
        report.issues.append(Issue("checker", f"onnx checker: {str(exc).strip().splitlines()[0]}"))
    try:
        inferred = infer_shapes(model, strict=True)
    except Exception as exc:  # noqa: BLE001 - onnx raises several types; all mean "does not infer"
        report.issues.append(Issue("dynamic-shape", f"shape inference failed: {str(exc).strip().splitlines()[0]}"))
        inferred = infer_shapes(model, strict=False)
    graph = _Graph(model, inferred)
    report.issues += _check_opset(model, report.opset, targets)
    report.issues += _check_ops(model, targets)
    report.issues += _check_shape_arithmetic(model, graph)
    report.issues += _check_static_shapes(model, graph)
    report.issues += _check_quantization(model, graph)
    report.issues += _check_io_types(model)
    return report


def check_onnx_file(path: Path | str, targets: tuple[TrtTarget, ...] = TARGETS) -> ReadinessReport:
    path = Path(path)
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError and OS errors alike
        report = ReadinessReport(str(path))
        report.issues.append(Issue("checker", f"not a readable ONNX file ({type(exc).__name__}: {exc})"))
        return report
    return check_model(model, str(path), targets)


def _check_against_manifest(model: onnx.ModelProto, manifest_io: dict[str, list[dict[str, object]]]) -> list[Issue]:
    """The runtime binds tensors by the manifest: its names, shapes and dtypes must be the graph's."""
    issues = []
    for kind, items in (("inputs", model.graph.input), ("outputs", model.graph.output)):
        graph_io = {vi.name: vi for vi in items}
        for i, spec in enumerate(manifest_io[kind]):
            name = str(spec["name"])
            vi = graph_io.get(name)
            if vi is None:
                issues.append(Issue("manifest", f"manifest field '{kind}[{i}].name': the graph has no "
                                                f"{kind[:-1]} '{name}' (it has {sorted(graph_io)})"))
                continue
            shape = [d.dim_value for d in vi.type.tensor_type.shape.dim]
            if shape != spec["shape"]:
                issues.append(Issue("manifest", f"manifest field '{kind}[{i}].shape': {spec['shape']} but the "
                                                f"graph's '{name}' is {shape}"))
            dtype = MANIFEST_DTYPES.get(vi.type.tensor_type.elem_type)
            if dtype != spec["dtype"]:
                issues.append(Issue("manifest", f"manifest field '{kind}[{i}].dtype': {spec['dtype']} but the "
                                                f"graph's '{name}' is {dtype}"))
        extra = sorted(set(graph_io) - {str(s["name"]) for s in manifest_io[kind]})
        if extra:
            issues.append(Issue("manifest", f"manifest field '{kind}': graph {kind[:-1]} '{extra[0]}' is not listed"))
    return issues


def check_path(path: Path | str, targets: tuple[TrtTarget, ...] = TARGETS) -> list[ReadinessReport]:
    """Check an .onnx file, or every .onnx file a model folder's manifest lists.

    A model folder's manifest is loaded with its sha256 checks (dms.manifest raises
    ManifestError naming the file), and the step graph's I/O must match the manifest.
    """
    from dms.manifest import load_manifest

    path = Path(path)
    if path.is_dir():
        manifest = load_manifest(path, verify_files=True)
        io = manifest.to_dict()
        reports = []
        onnx_files = [rel for rel in manifest.files if rel.endswith(".onnx")]
        if not onnx_files:
            report = ReadinessReport(str(path))
            report.issues.append(Issue("manifest", "manifest field 'files': lists no .onnx file"))
            return [report]
        for rel in onnx_files:
            report = check_onnx_file(path / rel, targets)
            if manifest.files[rel].get("role") == STEP_ROLE and report.opset:
                report.issues += _check_against_manifest(onnx.load(str(path / rel)), io)
            reports.append(report)
        return reports
    if path.suffix != ".onnx":
        raise FileNotFoundError(f"{path}: expected a model folder (with manifest.json) or an .onnx file")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    return [check_onnx_file(path, targets)]
