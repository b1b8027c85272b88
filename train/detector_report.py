"""The head detector's training report: curves and examples as PNGs, figures as JSON and
markdown. What a person looks at to decide whether the shipped detector is good enough."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from train.detector_metrics import DetectorMetrics, cxcys_to_xyxy

LOSS_KEYS = ("loss", "l1", "giou", "presence", "where")
VAL_KEYS = ("val_mean_iou", "val_iou_ge_0_5", "val_presence_auc", "val_presence_accuracy")


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure  # lazy: matplotlib is only needed for plots

    return Figure(figsize=(width, height), layout="constrained")


def plot_curves(path: Path | str, history: Sequence[Mapping[str, float]], best_step: int | None = None) -> Path:
    """Training losses (log scale) and validation figures against the step."""
    fig = _figure(11.0, 4.0)
    ax_loss, ax_val = fig.subplots(1, 2)
    steps = [h["step"] for h in history]
    for k in LOSS_KEYS:
        ys = [h.get(k, math.nan) for h in history]
        if any(y > 0 for y in ys):
            ax_loss.plot(steps, ys, label=k, lw=2 if k == "loss" else 1)
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("step")
    ax_loss.set_title("training loss (weighted total and terms, unweighted)")
    ax_loss.legend(fontsize=8)
    for k in VAL_KEYS:
        ys = [h.get(k, math.nan) for h in history]
        if any(not math.isnan(y) for y in ys):
            ax_val.plot(steps, ys, label=k.removeprefix("val_"), marker=".")
    if best_step is not None:
        ax_val.axvline(best_step, color="gray", ls="--", lw=1, label="kept")
    ax_val.set_ylim(0, 1.02)
    ax_val.set_xlabel("step")
    ax_val.set_title("validation subjects")
    ax_val.legend(fontsize=8, loc="lower right")
    path = Path(path)
    fig.savefig(path, dpi=110)
    return path


def plot_examples(path: Path | str, images: np.ndarray, true_box: np.ndarray, pred_box: np.ndarray,
                  score: np.ndarray, kind_names: Sequence[str], threshold: float, cols: int = 6) -> Path:
    """A grid of frames: true box green, predicted box red (dashed when the score is below
    the threshold, i.e. the runtime would say "no head"), score and frame kind on top."""
    n = len(images)
    rows = max(1, -(-n // cols))
    h, w = images.shape[1:3]
    fig = _figure(cols * 2.2, rows * 1.9)
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    from matplotlib.patches import Rectangle

    for ax in axes:
        ax.axis("off")
    for i in range(n):
        ax = axes[i]
        ax.imshow(images[i], cmap="gray", vmin=0, vmax=255)
        if kind_names[i] == "head":
            x0, y0, x1, y1 = cxcys_to_xyxy(true_box[i], (w, h))[0]
            ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ec="lime", lw=1))
        x0, y0, x1, y1 = cxcys_to_xyxy(pred_box[i], (w, h))[0]
        ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ec="red", lw=1,
                               ls="-" if score[i] >= threshold else "--"))
        ax.set_title(f"{kind_names[i]} {score[i]:.2f}", fontsize=7)
    path = Path(path)
    fig.savefig(path, dpi=110)
    return path


def _pct(x: float | None) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f} %"


def _f(x: float | None, digits: int = 3) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def metrics_table(results: Mapping[str, DetectorMetrics]) -> str:
    names = list(results)
    rows = [
        ("frames (with a head)", lambda m: f"{m.frames} ({m.head_frames})"),
        ("mean IoU", lambda m: _f(m.mean_iou)),
        ("IoU >= 0.5", lambda m: _pct(m.iou_ge_0_5)),
        ("IoU >= 0.7", lambda m: _pct(m.iou_ge_0_7)),
        ("centre error / head side: mean", lambda m: _f(m.centre_error_mean)),
        ("centre error / head side: median", lambda m: _f(m.centre_error_median)),
        ("centre error / head side: p95", lambda m: _f(m.centre_error_p95)),
        ("side error (|pred/true - 1|)", lambda m: _f(m.side_error_mean)),
        ("mean IoU, face occluded (frames)", lambda m: f"{_f(m.occluded_mean_iou)} ({m.occluded_frames})"),
        ("presence AUC", lambda m: _f(m.presence_auc, 4)),
        ("presence accuracy", lambda m: _pct(m.presence_accuracy)),
        ("missed heads", lambda m: _pct(m.miss_rate)),
        ("false presence (no head)", lambda m: _pct(m.false_presence)),
    ]
    kinds = sorted({k for m in results.values() for k in m.false_presence_by_kind})
    def by_kind(kind: str) -> Callable[[DetectorMetrics], str]:
        return lambda m: _pct(m.false_presence_by_kind.get(kind))

    for k in kinds:
        rows.append((f"  false presence: {k}", by_kind(k)))
    out = ["| | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names)]
    for label, fn in rows:
        out.append(f"| {label} | " + " | ".join(fn(results[n]) for n in names) + " |")
    return "\n".join(out)


def write_report(out_dir: Path | str, results: Mapping[str, DetectorMetrics], info: Mapping[str, Any]) -> tuple[Path, Path]:
    """report.json (every figure and setting) and report.md (the tables a person reads)."""
    out_dir = Path(out_dir)
    data = {"results": {k: m.to_dict() for k, m in results.items()}, **info}
    json_path = out_dir / "report.json"
    json_path.write_text(json.dumps(data, indent=1, default=float) + "\n")
    lines = [
        "# Head detector: training report",
        "",
        f"Data: `{info.get('data', '?')}` (content hash `{str(info.get('data_hash', '?'))[:12]}`); "
        f"held-out subjects: test {info.get('test_subjects')}, validation {info.get('val_subjects')}.",
        f"Command: `{info.get('command', '?')}`",
        f"Training: {info.get('steps')} steps in {info.get('train_seconds', 0):.0f} s "
        f"({info.get('threads')} thread), kept step {info.get('best_step')}.",
        f"Model: {info.get('params')} parameters, {info.get('mflops', 0):.2f} MFLOPs per frame "
        f"(a multiply-add = 2), input {info.get('input')}; ONNX {info.get('onnx_bytes', 0) / 1024:.0f} KiB, "
        f"ONNX Runtime {info.get('ort_ms_per_frame', float('nan')):.3f} ms per frame (1 thread, median).",
        "",
        "Frames with a head are the synthetic set's stored full frames; frames without one are the "
        "same cabins rendered with an empty seat or with the driver's head out of view (\"headless\"), "
        "and covered lenses made from frames with a head (every 10th). IoU and centre error are "
        "measured in full-frame pixels.",
        f"Presence threshold: {info.get('threshold')}.",
        "",
        metrics_table(results),
        "",
        "![training curves](curves.png)",
        "",
        "![test examples: true box green, predicted red (dashed = below threshold)](examples.png)",
        "",
    ]
    md_path = out_dir / "report.md"
    md_path.write_text("\n".join(lines))
    return json_path, md_path
