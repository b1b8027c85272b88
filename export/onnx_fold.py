"""Constant folding for static-shape ONNX graphs, in plain onnx (no torch, no onnxruntime).

Why it exists: torch's exporter folds only what hangs off initializers. ``tensor.chunk``
in the GRU and LSTM cells exports as Shape -> Gather -> Div -> Mul -> Slice, because the
exporter writes the split points as if the width could change at run time. With batch 1
and static shapes every one of those values is known at export time; left in the graph
they are int64 shape arithmetic that TensorRT 8.5 evaluates with shape layers (casting
int64 down to int32) and that the readiness check refuses. This pass replaces every
Shape/Size of a statically shaped tensor by its value and evaluates every node whose
inputs are all constant (onnx's reference evaluator), then drops what became unused.

Never folded: Q/DQ (INT8 weights must stay int8 behind a DequantizeLinear for TensorRT's
explicit quantisation), random ops, control flow, and nodes that produce graph outputs.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference
from onnx.reference import ReferenceEvaluator

# Ops whose value must not be computed at export time, whatever their inputs.
NEVER_FOLD = frozenset({
    "QuantizeLinear", "DequantizeLinear",              # explicit quantisation for TensorRT
    "RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike",
    "Bernoulli", "Multinomial",                         # not deterministic
    "If", "Loop", "Scan",                               # subgraphs
})


def static_shape(value_info: onnx.ValueInfoProto) -> list[int] | None:
    """The dims of a tensor value_info when every one is a positive number, else None."""
    t = value_info.type
    if not t.HasField("tensor_type") or not t.tensor_type.HasField("shape"):
        return None
    dims = []
    for d in t.tensor_type.shape.dim:
        if not d.HasField("dim_value") or d.dim_value < 1:
            return None
        dims.append(int(d.dim_value))
    return dims


# Initializers above this many elements reach shape inference as shapes only (graph inputs
# with their type), small ones with their values (data propagation needs those). Shape
# inference on the full VGG16 graph (671 MB of weights) takes ~5 s a call; on the
# skeleton, milliseconds.
SKELETON_MAX_ELEMENTS = 4096


def infer_shapes(model: onnx.ModelProto, strict: bool = True) -> onnx.GraphProto:
    """onnx shape inference (data propagation on) run on a weightless skeleton of `model`;
    returns the inferred graph (value_info filled), without the big weights."""
    g = model.graph
    inputs = list(g.input)
    small = []
    names = {i.name for i in g.input}
    for init in g.initializer:
        if init.name in names:
            continue
        if int(np.prod(init.dims)) <= SKELETON_MAX_ELEMENTS:
            small.append(init)
        else:
            inputs.append(helper.make_tensor_value_info(init.name, init.data_type, list(init.dims)))
    graph = helper.make_graph(list(g.node), g.name, inputs, list(g.output), initializer=small)
    skeleton = helper.make_model(graph, opset_imports=list(model.opset_import), ir_version=model.ir_version,
                                 functions=list(model.functions))
    return shape_inference.infer_shapes(skeleton, strict_mode=strict, data_prop=True).graph


def with_inferred_shapes(model: onnx.ModelProto, strict: bool = True) -> onnx.ModelProto:
    """`model` itself (modified in place and returned) with value_info from infer_shapes."""
    inferred = infer_shapes(model, strict)
    del model.graph.value_info[:]
    model.graph.value_info.extend(inferred.value_info)
    outputs = {o.name: o for o in inferred.output}
    for out in model.graph.output:
        out.CopyFrom(outputs[out.name])
    return model


def _known_shapes(model: onnx.ModelProto) -> dict[str, list[int]]:
    g = infer_shapes(model)
    out: dict[str, list[int]] = {}
    for vi in [*g.input, *g.value_info, *g.output]:
        shape = static_shape(vi)
        if shape is not None:
            out[vi.name] = shape
    for init in model.graph.initializer:
        out[init.name] = list(init.dims)
    return out


def _opset(model: onnx.ModelProto) -> int:
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return int(imp.version)
    raise ValueError("model imports no default-domain (ai.onnx) opset")


def _shape_value(node: onnx.NodeProto, shape: list[int]) -> np.ndarray:
    if node.op_type == "Size":
        return np.array(int(np.prod(shape)), dtype=np.int64)
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    start, end = int(attrs.get("start", 0)), attrs.get("end")
    return np.array(shape[start:None if end is None else int(end)], dtype=np.int64)


def _evaluate(node: onnx.NodeProto, feeds: dict[str, np.ndarray], opset: int) -> list[np.ndarray]:
    """Run one node on constant inputs with onnx's reference implementation."""
    inputs = [helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(arr.dtype), arr.shape)
              for name, arr in feeds.items()]
    names = [name for name in node.output if name]
    outputs = [helper.make_empty_tensor_value_info(name) for name in names]
    graph = helper.make_graph([node], "fold", inputs, outputs)
    single = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    results = ReferenceEvaluator(single).run(names, feeds)
    if isinstance(results, dict):
        results = [results[name] for name in names]
    return [np.asarray(r) for r in results]


# Each pass can make shapes further down static (a Slice whose bounds were just folded
# now has an inferred output shape), which lets the next pass fold more; a recurrent
# layer per pass in the worst case, so a handful of passes is plenty.
MAX_PASSES = 16


def fold_constants(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of `model` with shape arithmetic and constant subgraphs evaluated.

    Needs static shapes to fold Shape nodes (what export produces); on a graph with
    symbolic dims those stay, and the readiness check names them.
    """
    model = onnx.ModelProto.FromString(model.SerializeToString())
    for _ in range(MAX_PASSES):
        if not _fold_once(model):
            break
    return with_inferred_shapes(model)


def _fold_once(model: onnx.ModelProto) -> bool:
    """One pass in place; True when something was folded."""
    graph = model.graph
    opset = _opset(model)
    shapes = _known_shapes(model)
    overridable = {i.name for i in graph.input}  # an initializer that is also an input is not constant
    inits = {init.name: init for init in graph.initializer if init.name not in overridable}
    folded: dict[str, np.ndarray] = {}
    graph_outputs = {o.name for o in graph.output}

    def value(name: str) -> np.ndarray:
        if name not in folded:
            folded[name] = numpy_helper.to_array(inits[name])
        return folded[name]

    kept: list[onnx.NodeProto] = []
    for node in graph.node:
        foldable = (node.domain in ("", "ai.onnx") and node.op_type not in NEVER_FOLD
                    and not any(o in graph_outputs for o in node.output))
        if foldable and node.op_type in ("Shape", "Size") and node.input[0] in shapes:
            folded[node.output[0]] = _shape_value(node, shapes[node.input[0]])
            continue
        if foldable and all(not name or name in inits or name in folded for name in node.input):
            feeds = {name: value(name) for name in node.input if name}
            for name, result in zip([o for o in node.output if o], _evaluate(node, feeds, opset)):
                folded[name] = result
            continue
        kept.append(node)
    if len(kept) == len(graph.node):
        return False

    # Keep only what the remaining nodes and the graph outputs still read.
    kept = _drop_dead(kept, graph_outputs)
    used = {name for node in kept for name in node.input if name} | graph_outputs
    # Drop unused initializers in place (copying the rest would copy every weight).
    for i in reversed(range(len(graph.initializer))):
        name = graph.initializer[i].name
        if name not in used and name not in overridable:
            del graph.initializer[i]
    have = {init.name for init in graph.initializer}
    graph.initializer.extend(numpy_helper.from_array(np.ascontiguousarray(folded[name]), name)
                             for name in sorted(used - have) if name in folded)
    del graph.node[:]
    graph.node.extend(kept)
    del graph.value_info[:]
    return True


def _drop_dead(nodes: list[onnx.NodeProto], graph_outputs: set[str]) -> list[onnx.NodeProto]:
    """Remove nodes none of whose outputs is read (walking back from the outputs)."""
    live: list[onnx.NodeProto] = []
    needed = set(graph_outputs)
    for node in reversed(nodes):
        if any(o in needed for o in node.output if o):
            live.append(node)
            needed.update(name for name in node.input if name)
    live.reverse()
    return live
