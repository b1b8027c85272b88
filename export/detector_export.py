"""Head detector -> ONNX, checked, with its manifest: what the runtime's HeadDetector loads.

Exported like the pose model's step graph (export.onnx_export): batch norm folded into the
convs, torch's TorchScript exporter (dynamo=False), opset 17 (the newest TensorRT 8.5
parses), IR version 8, batch 1 and static shapes, constants folded (export.onnx_fold), then
the onnx checker and the TensorRT readiness check (export.trt_readiness), so the same
backends (ONNX Runtime everywhere, TensorRT on the car) run it. Files are written only
after ONNX Runtime has matched PyTorch on every parity frame.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from dms.detector_manifest import DetectorManifest
from dms.manifest import MANIFEST_NAME
from export.onnx_export import ONNX_IR_VERSION, ONNX_OPSET, PRODUCER, ExportError
from export.onnx_fold import fold_constants
from export.trt_readiness import ReadinessReport, check_model
from model.detector import HeadDetectorNet
from model.fold import count_batchnorm, fold_batchnorm

DETECTOR_FILE = "detector.onnx"
INPUT_NAME = "image"
OUTPUT_NAMES = ("box", "presence")
# Box outputs are shares of the frame: 1e-4 is 0.06 px of a 640 px frame, far below what
# matters and far above float32 kernel differences (~1e-7, measured in tests); a wiring
# error (wrong softmax axis, unfolded BN) shows as >= 1e-2.
BOX_TOLERANCE = 1e-4
# Presence is a logit; 1e-3 moves the score by < 2.5e-4.
PRESENCE_TOLERANCE = 1e-3


@dataclass
class DetectorParity:
    frames: int
    max_box_diff: float
    max_presence_diff: float
    ort_ms_per_frame: float       # median, 1 thread, batch 1
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _prepare(net: HeadDetectorNet) -> HeadDetectorNet:
    net = copy.deepcopy(net).to(device="cpu", dtype=torch.float32)
    folded = fold_batchnorm(net)
    assert isinstance(folded, HeadDetectorNet)
    if count_batchnorm(folded):
        raise ExportError("a batch norm layer did not fold into its conv (fold_batchnorm folds Conv2d -> "
                          "BatchNorm2d pairs inside nn.Sequential only)")
    return folded


def export_graph(net: HeadDetectorNet, opset: int = ONNX_OPSET) -> onnx.ModelProto:
    """The folded, checked detector graph of `net` (left untouched)."""
    folded = _prepare(net)
    image = torch.zeros(1, 1, *folded.config.input_size)
    with tempfile.TemporaryDirectory(prefix="dms-detector-") as tmp:
        path = Path(tmp) / DETECTOR_FILE
        with warnings.catch_warnings():
            # The TorchScript exporter is chosen on purpose, as in export.onnx_export.
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            with torch.no_grad():
                torch.onnx.export(folded, (image,), str(path), dynamo=False, opset_version=opset,
                                  input_names=[INPUT_NAME], output_names=list(OUTPUT_NAMES), dynamic_axes=None,
                                  do_constant_folding=True, export_params=True,
                                  keep_initializers_as_inputs=False, training=torch.onnx.TrainingMode.EVAL)
        proto = onnx.load(str(path))
    proto = fold_constants(proto)
    proto.ir_version = ONNX_IR_VERSION
    proto.producer_name = PRODUCER
    proto.producer_version = torch.__version__
    proto.doc_string = "dms head detector: gray full frame in, head box (cx, cy, side) and presence logit out"
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, {"dms.model": "head-detector",
                                        "dms.config": json.dumps(folded.config.to_dict(), sort_keys=True)})
    got_in = [i.name for i in proto.graph.input]
    got_out = [o.name for o in proto.graph.output]
    if got_in != [INPUT_NAME] or got_out != list(OUTPUT_NAMES):
        raise ExportError(f"exported graph has inputs {got_in} and outputs {got_out}; "
                          f"expected {[INPUT_NAME]} and {list(OUTPUT_NAMES)}")
    onnx.checker.check_model(proto, full_check=True)
    return proto


def check_detector_parity(net: HeadDetectorNet, onnx_model: bytes, frames: np.ndarray) -> DetectorParity:
    """Run PyTorch (the unfolded eval model) and ONNX Runtime (1 thread) on the same
    preprocessed frames [N, 1, H, W] float32, one at a time, and compare."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(onnx_model, opts, providers=["CPUExecutionProvider"])
    ref = copy.deepcopy(net).cpu().float().eval()
    box_diff = pres_diff = 0.0
    times = []
    with torch.no_grad():
        for x in frames:
            tb, tp = ref(torch.from_numpy(x[None]))
            t0 = time.perf_counter()
            ob, op = sess.run(list(OUTPUT_NAMES), {INPUT_NAME: x[None]})
            times.append(time.perf_counter() - t0)
            box_diff = max(box_diff, float(np.abs(ob - tb.numpy()).max()))
            pres_diff = max(pres_diff, float(np.abs(op - tp.numpy()).max()))
    return DetectorParity(frames=len(frames), max_box_diff=box_diff, max_presence_diff=pres_diff,
                          ort_ms_per_frame=float(np.median(times) * 1e3),
                          passed=box_diff <= BOX_TOLERANCE and pres_diff <= PRESENCE_TOLERANCE)


@dataclass
class DetectorExport:
    model_dir: Path
    onnx_path: Path
    manifest_path: Path
    parity: DetectorParity
    readiness: ReadinessReport


def export_detector(net: HeadDetectorNet, out_dir: Path | str, frames: np.ndarray, *,
                    presence_threshold: float = 0.5, training: dict[str, Any] | None = None,
                    extra: dict[str, Any] | None = None, force: bool = False) -> DetectorExport:
    """Export, check (TensorRT readiness, then parity on `frames`, preprocessed [N, 1, H, W])
    and only then write detector.onnx and manifest.json."""
    out_dir = Path(out_dir)
    if (out_dir / MANIFEST_NAME).exists() and not force:
        raise ExportError(f"{out_dir}: already holds a model ({MANIFEST_NAME}); pass force=True to replace it")
    proto = export_graph(net)
    onnx_path = out_dir / DETECTOR_FILE
    readiness = check_model(proto, str(onnx_path))
    if not readiness.ok:
        raise ExportError(readiness.summary())
    data = proto.SerializeToString()
    parity = check_detector_parity(net, data, frames)
    if not parity.passed:
        raise ExportError(f"{onnx_path}: ONNX Runtime differs from PyTorch (box {parity.max_box_diff:.2e} > "
                          f"{BOX_TOLERANCE:.0e} or presence {parity.max_presence_diff:.2e} > {PRESENCE_TOLERANCE:.0e})")
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = onnx_path.with_name(onnx_path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, onnx_path)
    cfg = net.config
    manifest = DetectorManifest(onnx=DETECTOR_FILE, height=cfg.input_size[0], width=cfg.input_size[1],
                                mean=cfg.pixel_mean, scale=cfg.pixel_scale, input_name=INPUT_NAME,
                                box_output=OUTPUT_NAMES[0], presence_output=OUTPUT_NAMES[1],
                                presence_threshold=presence_threshold, config=cfg.to_dict(),
                                training=dict(training or {}))
    manifest.add_file(out_dir, DETECTOR_FILE, role="detector graph")
    manifest.extra = {"export": {"opset": ONNX_OPSET,
                                 "exporter": f"torch.onnx TorchScript (dynamo=False), torch {torch.__version__}",
                                 "batchnorm_folded": True, "parity": parity.to_dict(),
                                 "tensorrt_ready": list(readiness.targets)},
                      **(extra or {})}
    manifest_path = manifest.save(out_dir)
    return DetectorExport(out_dir, onnx_path, manifest_path, parity, readiness)
