"""The real-face yardstick's report: markdown (what people read), JSON (what the next
change is compared against), a scatter PNG and a contact sheet of the worst faces.

The contact sheets show real photos: they are written to the report folder (runs/...,
git-ignored) and must never be committed; models/default carries the markdown and JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from train.real_eval import FaceResult

ANGLES = ("pitch", "yaw", "roll")
# Shown in every table so nobody mistakes the teacher's row for ours.
TEACHER_NOTE = ("teacher: MediaPipe Face Landmarker (facial transformation matrix), an off-the-shelf "
                "real-face estimator, NOT ours; scored only on the faces it finds")
MODE_TITLES = {"runtime": "ours, runtime crop (detector/Haar, as in the car)",
               "labels": "ours, crop from the labels (the training framing)",
               "teacher": "teacher (MediaPipe, not ours)",
               "runtime@teacher": "ours, runtime crop, on the faces the teacher found",
               "labels@teacher": "ours, label crop, on the faces the teacher found"}


def _f(v: float | None, digits: int = 1) -> str:
    return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.{digits}f}"


def markdown(summary: dict[str, Any]) -> str:
    rows: dict[str, dict[str, Any]] = summary["rows"]
    lines = [f"# Real-face yardstick: {summary['model']} on {summary['data']}", "",
             f"Command: `{summary['command']}`", "",
             f"Format {summary['format']}; {summary['faces_scored']} faces scored, {len(summary['dropped'])} left out "
             f"by the field's protocol (any |label angle| > {summary['config']['max_abs_deg']:g} deg"
             + (f": {', '.join(summary['dropped'])}" if summary["dropped"] else "") + "). "
             f"Backend {summary['backend']} {summary['precision']}; each still shown for "
             f"{summary['config']['frames_per_still']} frame(s) from a fresh state; angles dms-head-v1, "
             "camera-relative, degrees. Errors are over the faces found.", "",
             "| crop | found | MAE pitch | MAE yaw | MAE roll | MAE | median | p90 | geodesic mean / median | "
             "bias p/y/r | corr p/y/r |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, r in rows.items():
        bias = "/".join(_f(v) for v in r.get("bias", [None] * 3))
        corr = "/".join(_f(v, 2) for v in r.get("correlation", [None] * 3))
        lines.append(f"| {MODE_TITLES.get(key, key)} | {r['found']}/{r['total']} | {_f(r['pitch']['mae'])} | "
                     f"{_f(r['yaw']['mae'])} | {_f(r['roll']['mae'])} | **{_f(r['overall']['mae'])}** | "
                     f"{_f(r['overall']['median'])} | {_f(r['overall']['p90'])} | {_f(r['geodesic']['mae'])} / "
                     f"{_f(r['geodesic']['median'])} | {bias} | {corr} |")
    lines += ["", "MAE, median and p90 are over the per-face mean of the three angle errors; geodesic: the "
              "angle of the rotation between the predicted and the true head orientation (convention-free: "
              "per-angle errors of one estimate differ between AFLW's angle order and dms-head-v1's)."]
    if "teacher" in rows:
        lines += ["", TEACHER_NOTE + "."]
    lines += ["", "MAE p/y/r by the label's |yaw|:", "",
              "| crop | " + " | ".join(f"{b['yaw_from']:g}-{b['yaw_to']:g}" for b in next(iter(rows.values()))["yaw_bins"])
              + " |", "|---|" + "---|" * len(next(iter(rows.values()))["yaw_bins"])]
    for key, r in rows.items():
        cells = []
        for b in r["yaw_bins"]:
            mae = "/".join(_f(v) for v in b["mae"]) if b["mae"] else "-"
            cells.append(f"{b['found']}/{b['total']}: {mae}")
        lines.append(f"| {MODE_TITLES.get(key, key)} | " + " | ".join(cells) + " |")
    crop = summary.get("crop_agreement", {})
    if crop.get("faces"):
        lines += ["", f"Runtime window vs label window over {crop['faces']} faces: side ratio median "
                  f"{crop['side_ratio']['median']:.2f} (p10 {crop['side_ratio']['p10']:.2f}, p90 "
                  f"{crop['side_ratio']['p90']:.2f}); centre offset median {crop['centre_offset']['median']:.2f} "
                  f"label-window sides (p90 {crop['centre_offset']['p90']:.2f}); {crop['off_the_face']} window(s) "
                  "centred off the face (> 0.5 sides away)."]
    worst = summary.get("worst", {})
    images = summary.get("images", True)
    for mode, names in worst.items():
        sheet = f" (contact sheet: `worst_{mode}.png`, real photos: never commit it)" if images else ""
        lines += ["", f"Worst {len(names)} ({MODE_TITLES.get(mode, mode)}): " + ", ".join(names) + sheet + "."]
    if images:
        lines += ["", "Plots: `scatter.png` (predicted vs true per angle)."]
    return "\n".join(lines) + "\n"


def scatter_png(path: Path, faces: Mapping[str, Sequence[FaceResult]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4.6))
    markers = {"runtime": ("o", "tab:blue"), "labels": ("s", "tab:orange"), "teacher": ("x", "0.4")}
    for k, name in enumerate(ANGLES):
        ax = axes[k]
        lim = 5.0
        for mode, rows in faces.items():
            found = [f for f in rows if f.pred is not None]
            if not found:
                continue
            t = np.array([f.truth[k] for f in found])
            p = np.array([f.pred[k] for f in found if f.pred is not None])
            m, c = markers.get(mode, (".", None))
            ax.scatter(t, p, s=16, marker=m, color=c, alpha=0.75, label=MODE_TITLES.get(mode, mode))
            lim = max(lim, float(np.abs(t).max()), float(np.abs(p).max()))
        lim = min(lim * 1.05, 180.0)
        ax.plot([-lim, lim], [-lim, lim], color="k", lw=0.8)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_xlabel(f"label {name} (deg)")
        ax.set_ylabel(f"predicted {name} (deg)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="upper left")
    fig.suptitle("predicted vs labelled head pose (dms-head-v1, camera-relative)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


TILE = 200


def _tile(face: FaceResult) -> np.ndarray:
    """The face's neighbourhood with the label window (green), the network window
    (yellow), the true axes (left half) and the predicted axes (right half)."""
    import cv2

    from runtime.overlay import draw_axes

    img = cv2.imread(str(face.image), cv2.IMREAD_COLOR)
    if img is None:
        return np.zeros((TILE + 36, 2 * TILE, 3), np.uint8)
    lx, ly, ls = face.label_window
    pad = int(ls * 0.35)
    x0, y0, side = lx - pad, ly - pad, ls + 2 * pad
    big = cv2.copyMakeBorder(img, side, side, side, side, cv2.BORDER_CONSTANT)
    region = big[y0 + side:y0 + 2 * side, x0 + side:x0 + 2 * side]
    scale = TILE / side
    region = cv2.resize(region, (TILE, TILE), interpolation=cv2.INTER_AREA)

    def box(im: np.ndarray, win: tuple[int, int, int], color: tuple[int, int, int]) -> None:
        a = (int((win[0] - x0) * scale), int((win[1] - y0) * scale))
        b = (int((win[0] + win[2] - x0) * scale), int((win[1] + win[2] - y0) * scale))
        cv2.rectangle(im, a, b, color, 1)

    centre = (TILE / 2, TILE / 2)
    left, right = region.copy(), region.copy()
    box(left, face.label_window, (0, 200, 0))
    draw_axes(left, centre, face.truth, TILE * 0.3)
    if face.window is not None:
        box(right, face.window, (0, 220, 220))
    if face.pred is not None:
        draw_axes(right, centre, face.pred, TILE * 0.3)
    tile = np.zeros((TILE + 36, 2 * TILE, 3), np.uint8)
    tile[:TILE, :TILE] = left
    tile[:TILE, TILE:] = right
    err = face.errors()
    text1 = f"{face.name}  err {np.nanmean(err):.0f}" if face.pred is not None else f"{face.name}  not found"
    text2 = "true " + " ".join(f"{v:+.0f}" for v in face.truth)
    if face.pred is not None:
        text2 += "  pred " + " ".join(f"{v:+.0f}" for v in face.pred)
    cv2.putText(tile, text1, (4, TILE + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
    cv2.putText(tile, text2, (4, TILE + 30), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (200, 200, 200), 1, cv2.LINE_AA)
    return tile


def worst_faces(faces: Sequence[FaceResult], n: int) -> list[FaceResult]:
    """The n largest mean errors; faces not found first (they are the worst of all)."""
    def key(f: FaceResult) -> float:
        return float("inf") if f.pred is None else float(np.mean(f.errors()))

    return sorted(faces, key=key, reverse=True)[:n]


def contact_sheet(path: Path, faces: Sequence[FaceResult], cols: int = 3) -> None:
    import cv2

    tiles = [_tile(f) for f in faces]
    if not tiles:
        return
    rows = -(-len(tiles) // cols)
    h, w = tiles[0].shape[:2]
    sheet = np.zeros((rows * h, cols * w, 3), np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        sheet[r * h:(r + 1) * h, c * w:(c + 1) * w] = t
    cv2.imwrite(str(path), sheet)


def write_report(out: Path, summary: dict[str, Any], faces: Mapping[str, Sequence[FaceResult]],
                 worst: int, png: bool = True, per_face: bool = True) -> list[Path]:
    """report.md, report.json, scatter.png and worst_<mode>.png in out; returns the paths.
    per_face=False leaves the per-face rows (the dataset's labels, in effect) out of the
    JSON: for a report committed beside a model, where third-party labels must not go."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    summary = dict(summary)
    summary["images"] = png
    summary["worst"] = {m: [f.name for f in worst_faces(rows, worst)] for m, rows in faces.items() if m != "teacher"}
    md = out / "report.md"
    md.write_text(markdown(summary))
    js = out / "report.json"
    rows_out = {"per_face": {m: [f.to_dict() for f in rows] for m, rows in faces.items()}} if per_face else {}
    js.write_text(json.dumps({**summary, **rows_out}, indent=1) + "\n")
    written += [md, js]
    if png:
        scatter_png(out / "scatter.png", faces)
        written.append(out / "scatter.png")
        for mode, rows in faces.items():
            if mode == "teacher":
                continue
            p = out / f"worst_{mode}.png"
            contact_sheet(p, worst_faces(rows, worst))
            written.append(p)
    return written
