"""PyTorch -> ONNX: the one-step graph with the recurrent state as explicit inputs/outputs.

The runtime calls the graph once per frame and carries the state itself, so the graph is
exactly ``HeadPoseNet.step`` (single pass, patent step 6): inputs ``image`` [1, C, H, W]
and ``state_0`` ... (one per recurrent layer), outputs ``pose`` [1, 3] (``landmarks``
[1, 136] for landmark/joint heads) and ``state_0_out`` .... Batch 1 and static shapes:
the car processes one camera frame at a time, and TensorRT builds its fastest engine
for one fixed shape.

Exporter: torch's TorchScript-based exporter (``dynamo=False``). SPEC.md records that the
dynamo exporter has silently produced wrong GRU graphs; our cells are plain Linear ops and
the tracer records them as Gemm/MatMul/Add/Sigmoid/Tanh. Every export is then proven by
the parity check (export.parity) against the unfolded PyTorch model over a 300-frame clip.
No whole-clip graph is written: it would need Loop/Scan (which TensorRT handles poorly) or
a fixed clip length, and offline evaluation loops the step graph just as the car does.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx
import torch

from dms.manifest import MANIFEST_NAME, ModelManifest, TensorSpec
from export.names import IMAGE_INPUT, STEP_FILE, STEP_ROLE, state_input, state_output
from export.onnx_fold import fold_constants
from export.parity import PARITY_FRAMES, ParityReport, check_parity
from export.trt_readiness import ReadinessReport, check_model
from model.config import ModelConfig
from model.fold import count_batchnorm, fold_batchnorm
from model.network import HeadPoseNet

# ONNX opset 17: the newest opset TensorRT 8.5 (JetPack 5.1) parses -- onnx-tensorrt
# release/8.5-GA docs/operators.md: "TensorRT 8.5 supports operators up to Opset 17" --
# and inside TensorRT 10.x's "inclusive range of opset 9 to opset 20" (10.0; 10.15: 9-24)
# and 11.x's 9-25 (TensorRT ONNX opset guide). >= 13 also gives per-channel Q/DQ (axis)
# for INT8 calibration. export.trt_readiness.TARGETS keeps the per-version ranges.
ONNX_OPSET = 17
# The IR version that ONNX 1.12 (TensorRT 8.5's bundled onnx) pairs with opset 17; newer
# onnx packages may stamp newer IR versions that older readers reject.
ONNX_IR_VERSION = 8
PRODUCER = "dms-export"


class ExportError(RuntimeError):
    """An export that must not ship: wrong graph, failed parity or readiness check."""


def model_name(cfg: ModelConfig) -> str:
    """A readable default name, e.g. 'edge-fcrnn-pose' (backbone, cell, head)."""
    cell = {"none": "cnn", "fc": "fcrnn"}.get(cfg.cell, cfg.cell)
    return f"{cfg.backbone}-{cell}-{cfg.head}"


def io_names(model: HeadPoseNet) -> tuple[list[str], list[str]]:
    """(input names, output names) of the step graph, in forward()'s flat order."""
    n = len(model.state_sizes)
    inputs = [IMAGE_INPUT, *(state_input(i) for i in range(n))]
    outputs = [*model.config.outputs, *(state_output(i) for i in range(n))]
    return inputs, outputs


def _prepare(model: HeadPoseNet) -> HeadPoseNet:
    """A CPU float32 eval copy with batch norm folded into the convs."""
    p = next(model.parameters())
    if p.device.type != "cpu" or p.dtype != torch.float32:
        # .to() moves a module in place: copy first so the caller's model stays where it was.
        model = copy.deepcopy(model).to(device="cpu", dtype=torch.float32)
    folded = fold_batchnorm(model)  # a copy, in eval mode
    assert isinstance(folded, HeadPoseNet)
    left = count_batchnorm(folded)
    if left:
        names = [n for n, m in folded.named_modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        raise ExportError(f"batch norm layer '{names[0]}' did not fold into a conv ({left} left): "
                          "fold_batchnorm folds Conv2d -> BatchNorm2d pairs inside nn.Sequential only")
    return folded


def export_step_graph(model: HeadPoseNet, opset: int = ONNX_OPSET) -> onnx.ModelProto:
    """The folded, checked one-step graph of `model` (which is left untouched)."""
    net = _prepare(model)
    cfg = net.config
    image = torch.zeros(1, cfg.in_channels, *cfg.input_size)
    states = net.init_state(1)
    inputs, outputs = io_names(net)
    with tempfile.TemporaryDirectory(prefix="dms-export-") as tmp:
        path = Path(tmp) / STEP_FILE
        with warnings.catch_warnings():
            # We choose the TorchScript exporter on purpose (see the module docstring).
            warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*",
                                    category=DeprecationWarning)
            warnings.filterwarnings("ignore", message=".*feature will be removed.*", category=DeprecationWarning)
            # HeadPoseNet._check_state compares state shapes in Python: with static export
            # shapes that comparison is the same constant for every input.
            warnings.filterwarnings("ignore", message="Converting a tensor to a Python boolean",
                                    category=torch.jit.TracerWarning, module=r"model\.network")
            with torch.no_grad():
                torch.onnx.export(
                    net, (image, *states), str(path), dynamo=False, opset_version=opset,
                    input_names=inputs, output_names=outputs, dynamic_axes=None,
                    do_constant_folding=True, export_params=True, keep_initializers_as_inputs=False,
                    training=torch.onnx.TrainingMode.EVAL)
        proto = onnx.load(str(path))
    proto = fold_constants(proto)
    proto.ir_version = ONNX_IR_VERSION
    proto.producer_name = PRODUCER
    proto.producer_version = torch.__version__
    proto.doc_string = (f"dms step graph: {model_name(cfg)}; one frame + recurrent state in, "
                        "outputs + new state out (export.onnx_export)")
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, {"dms.model": model_name(cfg),
                                        "dms.config": json.dumps(cfg.to_dict(), sort_keys=True)})
    got_in = [i.name for i in proto.graph.input]
    got_out = [o.name for o in proto.graph.output]
    if got_in != inputs or got_out != outputs:
        raise ExportError(f"exported graph has inputs {got_in} and outputs {got_out}; expected {inputs} and {outputs}")
    # full_check runs strict shape inference too (and fold_constants already filled value_info).
    onnx.checker.check_model(proto, full_check=True)
    return proto


def build_manifest(model: HeadPoseNet, name: str | None = None,
                   training: dict[str, Any] | None = None) -> ModelManifest:
    """The manifest for `model`'s step graph (files are added once written)."""
    cfg = model.config
    h, w = cfg.input_size
    sizes = model.state_sizes
    inputs = [TensorSpec(IMAGE_INPUT, [1, cfg.in_channels, h, w], "float32",
                         "face crop after preprocess: (pixel / 255 - mean) * scale")]
    outputs = [TensorSpec("pose", [1, n], "float32", "pitch, yaw, roll in degrees (dms-head-v1)")
               if out == "pose" else
               TensorSpec(out, [1, n], "float32", "68 iBUG landmarks, (x, y) crop-normalised")
               for out, n in cfg.outputs.items()]
    states = []
    for i, n in enumerate(sizes):
        inputs.append(TensorSpec(state_input(i), [1, n], "float32", f"layers.{i} state from the previous frame"))
        outputs.append(TensorSpec(state_output(i), [1, n], "float32", f"layers.{i} state for the next frame"))
        states.append({"input": state_input(i), "output": state_output(i), "shape": [1, n], "layer": f"layers.{i}"})
    return ModelManifest(
        model={"name": name or model_name(cfg), "backbone": cfg.backbone, "head": cfg.head,
               "cell": cfg.cell, "pose_frame": cfg.pose_frame, "config": cfg.to_dict()},
        preprocess={"height": h, "width": w, "channels": cfg.in_channels,
                    "color": "gray" if cfg.in_channels == 1 else "rgb",
                    "mean": [cfg.pixel_mean], "scale": [cfg.pixel_scale], "layout": "NCHW"},
        inputs=inputs, outputs=outputs, states=states, training=dict(training or {}))


@dataclass
class ExportResult:
    model_dir: Path
    step_path: Path
    manifest_path: Path
    parity: ParityReport
    readiness: ReadinessReport


def export_model(model: HeadPoseNet, out_dir: Path | str, *, name: str | None = None,
                 training: dict[str, Any] | None = None, parity_frames: int = PARITY_FRAMES,
                 force: bool = False) -> ExportResult:
    """Export, check (TensorRT readiness, then parity with PyTorch) and only then write
    step.onnx and manifest.json, so that a folder with a manifest always holds a graph
    that passed both checks."""
    out_dir = Path(out_dir)
    if (out_dir / MANIFEST_NAME).exists() and not force:
        raise ExportError(f"{out_dir}: already holds a model ({MANIFEST_NAME}); pass --force to replace it")
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"{out_dir}: exists and is not a folder")
    proto = export_step_graph(model)
    step_path = out_dir / STEP_FILE
    readiness = check_model(proto, str(step_path))
    if not readiness.ok:
        raise ExportError(readiness.summary())
    data = proto.SerializeToString()
    parity = check_parity(model, data, frames=parity_frames)
    if not parity.passed:
        raise ExportError(f"{step_path}: {parity.summary()}")

    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = step_path.with_name(step_path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, step_path)
    manifest = build_manifest(model, name, training)
    manifest.add_file(out_dir, STEP_FILE, role=STEP_ROLE)
    manifest.extra["export"] = {
        "opset": ONNX_OPSET,
        "exporter": f"torch.onnx TorchScript (dynamo=False), torch {torch.__version__}",
        "batchnorm_folded": True,
        "parity": parity.to_dict(),
        "tensorrt_ready": list(readiness.targets),
    }
    manifest_path = manifest.save(out_dir)
    return ExportResult(out_dir, step_path, manifest_path, parity, readiness)
