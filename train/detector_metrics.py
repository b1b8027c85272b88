"""How well the head detector does: box overlap, centre error, presence. Pure numpy.

Boxes are (cx, cy, side) as shares of the frame (model.detector); IoU and centre error are
computed in full-frame pixels, where a square head box is square.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


def cxcys_to_xyxy(box: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    """[N, 3] (cx, cy, side) shares -> [N, 4] (x0, y0, x1, y1) pixels of a (w, h) frame."""
    w, h = frame_size
    b = np.asarray(box, np.float64).reshape(-1, 3)
    cx, cy, half = b[:, 0] * w, b[:, 1] * h, b[:, 2] * h / 2
    return np.column_stack([cx - half, cy - half, cx + half, cy + half])


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of [N, 4] xyxy boxes."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    area = lambda x: np.clip(x[:, 2] - x[:, 0], 0, None) * np.clip(x[:, 3] - x[:, 1], 0, None)  # noqa: E731
    return inter / np.maximum(area(a) + area(b) - inter, 1e-12)


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties); None when one
    class is missing."""
    scores, labels = np.asarray(scores, np.float64), np.asarray(labels, bool)
    pos, neg = int(labels.sum()), int((~labels).sum())
    if not pos or not neg:
        return None
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):                       # average ranks over ties
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[labels].sum() - pos * (pos + 1) / 2) / (pos * neg))


@dataclass
class DetectorMetrics:
    """Box figures on frames with a head; presence figures on all frames.

    centre_error: |predicted - true centre| in pixels over the true head side.
    miss_rate: frames with a head scored below the threshold (the runtime would drop them).
    false_presence: frames without a head scored at or above it, overall and per kind.
    """

    frames: int
    head_frames: int
    mean_iou: float
    iou_ge_0_5: float
    iou_ge_0_7: float
    centre_error_mean: float
    centre_error_median: float
    centre_error_p95: float
    side_error_mean: float          # |predicted / true side - 1|
    presence_auc: float | None
    presence_accuracy: float
    miss_rate: float
    false_presence: float | None
    false_presence_by_kind: dict[str, float] = field(default_factory=dict)
    threshold: float = 0.5
    occluded_mean_iou: float | None = None
    occluded_frames: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate_predictions(pred_box: np.ndarray, score: np.ndarray, true_box: np.ndarray, kind: np.ndarray,
                         kinds: tuple[str, ...], frame_size: tuple[int, int], threshold: float = 0.5,
                         occluded: np.ndarray | None = None) -> DetectorMetrics:
    """kind 0 = a head in the frame (box figures); the others are named by `kinds`."""
    kind = np.asarray(kind)
    present = kind == 0
    score = np.asarray(score, np.float64).ravel()
    p = cxcys_to_xyxy(pred_box[present], frame_size)
    t = cxcys_to_xyxy(true_box[present], frame_size)
    ious = iou(p, t)
    side = t[:, 3] - t[:, 1]
    centre_err = np.hypot((p[:, 0] + p[:, 2] - t[:, 0] - t[:, 2]) / 2,
                          (p[:, 1] + p[:, 3] - t[:, 1] - t[:, 3]) / 2) / np.maximum(side, 1e-9)
    side_err = np.abs((p[:, 3] - p[:, 1]) / np.maximum(side, 1e-9) - 1)
    said = score >= threshold
    by_kind = {kinds[k]: float(said[kind == k].mean()) for k in sorted(set(kind.tolist()) - {0})}
    occ = np.asarray(occluded, bool)[present] if occluded is not None else np.zeros(int(present.sum()), bool)
    nan = float("nan")
    return DetectorMetrics(
        frames=len(kind), head_frames=int(present.sum()),
        mean_iou=float(ious.mean()) if len(ious) else nan,
        iou_ge_0_5=float((ious >= 0.5).mean()) if len(ious) else nan,
        iou_ge_0_7=float((ious >= 0.7).mean()) if len(ious) else nan,
        centre_error_mean=float(centre_err.mean()) if len(ious) else nan,
        centre_error_median=float(np.median(centre_err)) if len(ious) else nan,
        centre_error_p95=float(np.percentile(centre_err, 95)) if len(ious) else nan,
        side_error_mean=float(side_err.mean()) if len(ious) else nan,
        presence_auc=roc_auc(score, present),
        presence_accuracy=float((said == present).mean()),
        miss_rate=float((~said[present]).mean()) if present.any() else nan,
        false_presence=float(said[~present].mean()) if (~present).any() else None,
        false_presence_by_kind=by_kind, threshold=threshold,
        occluded_mean_iou=float(ious[occ].mean()) if occ.any() else None, occluded_frames=int(occ.sum()))
