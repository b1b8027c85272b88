"""The head detector of our own, at run time: full frame in, the driver's head box out.

Loads the folder `dms train-detector` exports (detector.onnx + manifest.json, see
dms.detector_manifest), checks every file's sha256, and runs the graph with ONNX Runtime.
Any frame size: the frame is turned gray and shrunk to the network's input with
cv2.INTER_AREA (what the training frames went through), and the box is mapped back to the
frame's own pixels. Below the presence threshold it returns None: "no head", which the
attention monitor counts as the driver not being seen.

Never imports torch (a Jetson runtime has none).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Sequence

import cv2
import numpy as np

from dms.detector_manifest import DetectorManifest, load_detector_manifest
from dms.manifest import ManifestError
from runtime.detection import Detection


class Session(Protocol):
    """What the detector needs of an inference session (onnxruntime.InferenceSession's run)."""

    def run(self, output_names: Sequence[str] | None, input_feed: dict[str, np.ndarray]) -> Sequence[Any]: ...


@dataclass(frozen=True)
class HeadDetectorConfig:
    """threshold: presence score (sigmoid of the presence logit) below which locate()
        returns None. None = the manifest's presence_threshold, the one the training report
        measured its miss and false-presence rates at (0.5 for the shipped model).
    threads: ONNX Runtime intra-op threads; 1 keeps the detector off the pose network's
        cores and measured ~0.2 ms per frame on one core (models/head_detector/report.md).
    """

    threshold: float | None = None
    threads: int = 1


def _sigmoid(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-x)))


class HeadDetector:
    """Localiser (runtime.detection) backed by the head-detector network."""

    name = "detector"

    def __init__(self, session: Session, manifest: DetectorManifest, threshold: float | None = None) -> None:
        self.session = session
        self.manifest = manifest
        self.threshold = manifest.presence_threshold if threshold is None else float(threshold)
        self.input_size = (manifest.height, manifest.width)
        self._outputs = [manifest.box_output, manifest.presence_output]

    @classmethod
    def load(cls, model_dir: Path | str, threads: int = 1, threshold: float | None = None) -> HeadDetector:
        """Refuses a missing folder, a malformed manifest or an altered file with an error
        (dms.manifest.ManifestError) that names the file."""
        import onnxruntime as ort

        model_dir = Path(model_dir)
        if not model_dir.is_dir():
            raise ManifestError(f"{model_dir}: head-detector folder missing (export one with `dms train-detector`)")
        manifest = load_detector_manifest(model_dir, verify_files=True)
        path = model_dir / manifest.onnx
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL    # as runtime.backends' ONNX Runtime backend
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3                                # errors only
        try:
            session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise ManifestError(f"{path}: ONNX Runtime cannot load it ({type(exc).__name__}: {exc})") from exc
        have_in = {i.name for i in session.get_inputs()}
        have_out = {o.name for o in session.get_outputs()}
        for side, name, have in (("input", manifest.input_name, have_in), ("output", manifest.box_output, have_out),
                                 ("output", manifest.presence_output, have_out)):
            if name not in have:
                raise ManifestError(f"{path}: has no {side} '{name}' that the manifest names ({side}s: {sorted(have)})")
        return cls(session, manifest, threshold)

    def preprocess(self, frame: np.ndarray) -> np.ndarray:
        """uint8 gray [H, W] (or [H, W, 1]) or BGR [H, W, 3] (BGRA [H, W, 4]) -> [1, 1, h, w] float32."""
        if frame.dtype != np.uint8:
            raise ValueError(f"frame must be uint8, got {frame.dtype}")
        if frame.ndim == 3 and frame.shape[2] == 1:
            frame = frame[:, :, 0]
        if frame.ndim == 3 and frame.shape[2] in (3, 4):
            frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY if frame.shape[2] == 3 else cv2.COLOR_BGRA2GRAY)
        if frame.ndim != 2 or min(frame.shape) < 1:
            raise ValueError(f"frame must be gray [H, W] or BGR [H, W, 3], got shape {frame.shape}")
        h, w = self.input_size
        small = frame if frame.shape == (h, w) else cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
        m = self.manifest
        return ((small.astype(np.float32) / 255.0 - m.mean) * m.scale)[None, None]

    def detect(self, frame: np.ndarray) -> Detection:
        """The head box whatever the score (locate() applies the threshold)."""
        fh, fw = frame.shape[:2]
        box, presence = self.session.run(self._outputs, {self.manifest.input_name: self.preprocess(frame)})
        cx, cy, side = (float(v) for v in np.asarray(box, np.float64).reshape(3))
        h, w = self.input_size
        # side is a share of the input height; in the input the box is square, so back in
        # the frame its width and height scale with each axis's own resize factor.
        half_w = side * h * (fw / w) / 2
        half_h = side * fh / 2
        x, y = cx * fw, cy * fh
        score = _sigmoid(float(np.asarray(presence).reshape(-1)[0]))
        return Detection(x - half_w, y - half_h, x + half_w, y + half_h, score, self.name)

    def locate(self, frame: np.ndarray) -> Detection | None:
        det = self.detect(frame)
        return det if det.score >= self.threshold else None
