"""INT8 Q/DQ and FP16 step graphs that TensorRT builds, from one set of calibration ranges.

Why precision lives in the ONNX: TensorRT's INT8 calibrators are deprecated since 10.1
and gone in 11, and its FP16/INT8 builder flags are deprecated since 10.12 (SPEC.md,
"Deployment facts"). An explicitly quantised graph (QuantizeLinear/DequantizeLinear with
int8 zero point 0) builds on 8.5, 10.x and 11 alike, and an FP16 graph builds as a
strongly typed network. The implicit path of JetPack 5/6 gets a calibration table
(calibration.trt_table) written from the very same ranges.

INT8 settings (onnxruntime.quantization.quantize_static):
* QuantFormat.QDQ, activations and weights QInt8, ActivationSymmetric / WeightSymmetric:
  TensorRT accepts only symmetric int8 with zero point 0 (onnx-tensorrt operators.md).
* per_channel=True: one weight scale per output channel (Conv axis 0, Gemm per output),
  which TensorRT supports for weights (opset >= 13) and which keeps small channels from
  being rounded to zero by a large neighbour.
* QuantizeBias=False: ORT would otherwise store biases as int32 behind a DequantizeLinear;
  TensorRT 8.5's parser dequantizes int8 only, and it fuses float biases into the kernel.
* OpTypesToExcludeOutputQuantization=["Gemm"]: the pose/landmark heads are Gemms whose
  outputs are the graph's outputs; an int8 pose with a 90-degree range has 0.7-degree
  steps, more than the whole INT8 error budget (0.3 deg). The FC layers' Gemm outputs stay
  quantised anyway, because the recurrent Add that consumes them quantises its inputs.
* Graph inputs and outputs stay float32 (Q/DQ nodes inside), which is what TensorRT's
  explicit quantisation expects and what lets the runtime bind every precision alike.

Calibration ranges: ORT's calibrators (create_calibrator) over every float tensor of the
FP32 graph, fed the stratified frames with their real hidden states.
* percentile (the default): the 99.999th percentile of |x| (ORT's default) on 2048 bins:
  clips only the 1-in-100,000 outliers, because the extreme activations of a regression
  network are the extreme poses (shoulder checks, phone in the lap) the alerts care about.
* minmax: the observed extremes, no clipping. No moving average: it averages per-batch
  extremes, and our batches are single frames.
* entropy: KL-divergence threshold search (TensorRT's algorithm, GTC 2017 S7310, which
  ORT's get_entropy_threshold cites) on a 2048-bin histogram (TensorRT's bin count),
  candidates quantised into 255 bins (the levels of symmetric int8: -127..127); ORT's
  default of 128 bins / 128 quantised bins leaves one candidate, the full range, i.e.
  min-max under another name. Not the default, measured: on the edge model after 500
  stage-1 steps (val MAE 2.96 deg), 512 frames, 14 held-out tracks x 60 s, INT8 added
  +3.42 deg MAE (max deviation 57 deg) with entropy, +0.009 with percentile and +0.004
  with minmax (FP16: +0.0004). ORT's search runs on a two-sided histogram, and on every
  post-ReLU tensor (half the values exactly 0) it picks its smallest candidate, 255 of
  2048 bins: 1/8 of the observed maximum, clipping most of the activations' range.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from calibration import DEFAULT_METHOD, METHODS

# See the module docstring for each number's and choice's reason.
ENTROPY_BINS = 2048
ENTROPY_QUANTIZED_BINS = 255
PERCENTILE = 99.999
PERCENTILE_BINS = 2048
INT8_EXTRA_OPTIONS: dict[str, Any] = {
    "ActivationSymmetric": True,
    "WeightSymmetric": True,
    "QuantizeBias": False,
    "OpTypesToExcludeOutputQuantization": ["Gemm"],
}


class QuantizeError(RuntimeError):
    """A precision graph that must not ship (fails a check); the message names the file."""


@dataclass(frozen=True)
class QuantConfig:
    method: str = DEFAULT_METHOD
    entropy_bins: int = ENTROPY_BINS
    entropy_quantized_bins: int = ENTROPY_QUANTIZED_BINS
    percentile: float = PERCENTILE
    percentile_bins: int = PERCENTILE_BINS
    per_channel: bool = True

    def validate(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method: must be one of {METHODS}, got {self.method!r}")
        if self.entropy_quantized_bins < 3 or self.entropy_bins < self.entropy_quantized_bins:
            raise ValueError(f"entropy_bins ({self.entropy_bins}) must be >= entropy_quantized_bins "
                             f"({self.entropy_quantized_bins}) >= 3")
        if not 50.0 < self.percentile <= 100.0:
            raise ValueError(f"percentile: must be in (50, 100], got {self.percentile}")

    def calibrator_options(self) -> dict[str, Any]:
        """create_calibrator's extra_options for the method (symmetric: TensorRT's kind)."""
        if self.method == "entropy":
            return {"symmetric": True, "num_bins": self.entropy_bins, "num_quantized_bins": self.entropy_quantized_bins}
        if self.method == "percentile":
            return {"symmetric": True, "num_bins": self.percentile_bins, "percentile": self.percentile}
        return {"symmetric": True, "moving_average": False}

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["quantize_static"] = {"quant_format": "QDQ", "activation_type": "QInt8", "weight_type": "QInt8",
                                "per_channel": self.per_channel, "extra_options": INT8_EXTRA_OPTIONS}
        return d


def _ort_method(method: str) -> Any:
    from onnxruntime.quantization import CalibrationMethod

    return {"entropy": CalibrationMethod.Entropy, "percentile": CalibrationMethod.Percentile,
            "minmax": CalibrationMethod.MinMax}[method]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """ORT's calibrators print progress to stdout and warn on the root logger about
    "pre-processing" (shape inference our export already did); keep the CLI's output ours."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.setLevel(level)


class FeedReader:
    """A rewindable CalibrationDataReader over prepared feeds (image + real states)."""

    def __init__(self, feeds: list[dict[str, np.ndarray]]) -> None:
        self.feeds = feeds
        self.index = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.index >= len(self.feeds):
            return None
        self.index += 1
        return self.feeds[self.index - 1]

    def rewind(self) -> None:
        self.index = 0

    def __len__(self) -> int:
        return len(self.feeds)

    def set_range(self, start_index: int, end_index: int) -> None:  # the CalibrationDataReader API
        self.feeds = self.feeds[start_index:end_index]
        self.index = 0


def _reader(feeds: list[dict[str, np.ndarray]]) -> Any:
    """FeedReader as a real onnxruntime CalibrationDataReader subclass (its isinstance checks)."""
    from onnxruntime.quantization import CalibrationDataReader

    class _Reader(FeedReader, CalibrationDataReader):
        pass

    return _Reader(feeds)


@dataclass
class Ranges:
    """Per tensor (min, max) from the calibrator, and the TensorsData it came from."""

    method: str
    tensors: dict[str, tuple[float, float]]
    data: Any   # onnxruntime.quantization.calibrate.TensorsData

    def amax(self) -> dict[str, float]:
        return {k: max(abs(lo), abs(hi)) for k, (lo, hi) in self.tensors.items()}

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method,
                "tensors": {k: {"min": lo, "max": hi, "amax": max(abs(lo), abs(hi))}
                            for k, (lo, hi) in self.tensors.items()}}


def compute_ranges(fp32_path: Path, feeds: list[dict[str, np.ndarray]], cfg: QuantConfig) -> Ranges:
    """Calibrate every float tensor of the FP32 graph (inputs, states, every node output)."""
    from onnxruntime.quantization.calibrate import create_calibrator

    cfg.validate()
    if not feeds:
        raise QuantizeError("no calibration frames")
    with tempfile.TemporaryDirectory(prefix="dms-calib-") as tmp, _quiet():
        calibrator = create_calibrator(Path(fp32_path), None, augmented_model_path=str(Path(tmp) / "augmented.onnx"),
                                       calibrate_method=_ort_method(cfg.method),
                                       extra_options=cfg.calibrator_options())
        calibrator.collect_data(_reader(feeds))
        data = calibrator.compute_data()
        del calibrator
    # MinMax returns 1-element arrays, the histogram methods 0-d ones.
    tensors = {name: (float(np.min(td.range_value[0])), float(np.max(td.range_value[1]))) for name, td in data.items()}
    return Ranges(cfg.method, tensors, data)


def _supports_range_cache() -> bool:
    from onnxruntime.quantization import calibrate, quantize_static

    return ("calibration_cache_path" in inspect.signature(quantize_static).parameters
            and hasattr(calibrate, "save_tensors_data"))


def quantize_int8(fp32_path: Path, out_path: Path, feeds: list[dict[str, np.ndarray]], ranges: Ranges,
                  cfg: QuantConfig) -> None:
    """Write the INT8 Q/DQ graph from the ranges compute_ranges found, passed in through
    quantize_static's calibration cache (microsoft/onnxruntime PR #28221), so that the Q/DQ
    scales and the TensorRT table are the same numbers and calibration runs once.

    An onnxruntime without that cache would recalibrate inside quantize_static with its
    own histogram settings (128 bins for entropy: no threshold search at all), and the
    INT8 graph would disagree with the tables: refused rather than shipped inconsistent.
    """
    from onnxruntime import __version__ as ort_version
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    if not _supports_range_cache():
        raise QuantizeError(f"onnxruntime {ort_version}: quantize_static has no calibration_cache_path "
                            "(added by microsoft/onnxruntime PR #28221); calibration needs it to keep the "
                            "INT8 graph and the TensorRT tables on one set of ranges: upgrade onnxruntime")
    from onnxruntime.quantization.calibrate import save_tensors_data

    with tempfile.TemporaryDirectory(prefix="dms-quant-") as tmp, _quiet():
        cache = Path(tmp) / "ranges.json"
        save_tensors_data(ranges.data, cache)
        quantize_static(str(fp32_path), str(out_path), _reader(feeds), quant_format=QuantFormat.QDQ,
                        per_channel=cfg.per_channel, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                        calibrate_method=_ort_method(cfg.method), extra_options=dict(INT8_EXTRA_OPTIONS),
                        calibration_cache_path=str(cache))


def topological_sort(model: onnx.ModelProto) -> onnx.ModelProto:
    """Order nodes so each comes after its inputs' producers (in place; returned).

    onnxruntime.transformers.float16 appends the input Casts at the end of the node list,
    which onnx.checker (and TensorRT's parser, which reads nodes in order) refuse.
    """
    g = model.graph
    ready = {i.name for i in g.input} | {t.name for t in g.initializer} | {""}
    pending, ordered = list(g.node), []
    while pending:
        rest = []
        for node in pending:
            if all(i in ready for i in node.input):
                ordered.append(node)
                ready.update(node.output)
            else:
                rest.append(node)
        if len(rest) == len(pending):
            missing = sorted({i for n in rest for i in n.input if i not in ready})
            raise QuantizeError(f"graph has a cycle or an undefined input ('{missing[0]}')")
        pending = rest
    del g.node[:]
    g.node.extend(ordered)
    return model


def convert_fp16(fp32: onnx.ModelProto) -> onnx.ModelProto:
    """The FP16 graph with float32 inputs and outputs (keep_io_types): TensorRT builds it as
    a strongly typed network, and the runtime binds the same float32 buffers for every
    precision. Uses onnxruntime.transformers.float16, which ships with onnxruntime (no
    onnxconverter-common needed)."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    with _quiet():
        model = convert_float_to_float16(fp32, keep_io_types=True)
    topological_sort(model)
    # Re-infer every intermediate type from scratch: the converter leaves a mix of
    # converted and stale value_info entries.
    del model.graph.value_info[:]
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    model.producer_name = fp32.producer_name
    model.ir_version = fp32.ir_version
    return model


def io_signature(model: onnx.ModelProto) -> list[tuple[str, str, tuple[int, ...], int]]:
    """(kind, name, shape, elem_type) of every graph input and output."""
    out = []
    for kind, items in (("input", model.graph.input), ("output", model.graph.output)):
        for vi in items:
            tt = vi.type.tensor_type
            out.append((kind, vi.name, tuple(int(d.dim_value) for d in tt.shape.dim), int(tt.elem_type)))
    return out


def check_precision_graph(model: onnx.ModelProto, fp32: onnx.ModelProto, source: str,
                          expect_qdq: bool) -> Any:
    """TensorRT readiness (ops, opset, static shapes, Q/DQ symmetric with zero point 0,
    onnx.checker) and the FP32 graph's exact I/O (names, shapes, float32). Raises
    QuantizeError naming the file; returns the ReadinessReport."""
    from export.trt_readiness import check_model

    report = check_model(model, source)
    if not report.ok:
        raise QuantizeError(report.summary())
    want, got = io_signature(fp32), io_signature(model)
    if got != want:
        diff = next(((w, g) for w, g in zip(want, got) if w != g), (want, got))
        raise QuantizeError(f"{source}: graph I/O {diff[1]} differs from the FP32 graph's {diff[0]} "
                            "(inputs and outputs must stay float32 with the same names and shapes)")
    qdq = [n for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    if expect_qdq and not qdq:
        raise QuantizeError(f"{source}: no QuantizeLinear/DequantizeLinear node: nothing was quantised")
    if not expect_qdq and qdq:
        raise QuantizeError(f"{source}: unexpected Q/DQ nodes in a float graph")
    return report


def qdq_scales(model: onnx.ModelProto) -> dict[str, float]:
    """Per-tensor activation scales of the Q/DQ graph: QuantizeLinear input -> scale."""
    from onnx import numpy_helper

    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    out = {}
    for node in model.graph.node:
        if node.op_type == "QuantizeLinear" and node.input[1] in inits:
            scale = inits[node.input[1]]
            if scale.size == 1:
                out[node.input[0]] = float(scale.reshape(()))
    return out
