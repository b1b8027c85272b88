"""Where the loop's results go: per-frame pose (CSV or JSON lines), an annotated MP4 (head
box, network window, head axes, angles, alerts) and a PNG of the pose tracks.

Each sink writes as frames arrive (nothing is held back but the PNG's decimated tracks),
flushes at close, and closes cleanly whatever stopped the loop. Angles are degrees,
(pitch, yaw, roll), camera-relative (dms-head-v1); ``net_*`` is the network's own output
(relative to the viewing ray for a "ray" model).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from dms.angles import euler_to_matrix
from runtime.pipeline import FrameResult

POSE_FIELDS = ("frame", "t", "found", "source", "detector_ran", "coasting", "reset",
               "pitch", "yaw", "roll", "net_pitch", "net_yaw", "net_roll",
               "win_x0", "win_y0", "win_side", "head_cx", "head_cy", "alerts",
               "true_pitch", "true_yaw", "true_roll", "target")


def _r(v: float | None, nd: int = 3) -> float | None:
    return None if v is None or not math.isfinite(v) else round(float(v), nd)


def pose_record(r: FrameResult) -> dict[str, Any]:
    """One frame as a flat record (None where there is nothing)."""
    pose = r.pose or (None, None, None)
    net = r.pose_net or (None, None, None)
    truth = r.truth or {}
    tp = truth.get("pose_camera") or (None, None, None)
    w = r.window
    return {
        "frame": r.index, "t": round(r.t, 6), "found": r.located is not None,
        "source": r.located.source if r.located else None, "detector_ran": r.detector_ran,
        "coasting": r.coasting, "reset": r.reset,
        "pitch": _r(pose[0]), "yaw": _r(pose[1]), "roll": _r(pose[2]),
        "net_pitch": _r(net[0]), "net_yaw": _r(net[1]), "net_roll": _r(net[2]),
        "win_x0": w.x0 if w else None, "win_y0": w.y0 if w else None, "win_side": w.side if w else None,
        "head_cx": _r(r.located.centre[0], 2) if r.located else None,
        "head_cy": _r(r.located.centre[1], 2) if r.located else None,
        "alerts": ";".join(f"{a.type}:{a.phase}:{a.severity}" for a in r.alerts) or None,
        "true_pitch": _r(tp[0]), "true_yaw": _r(tp[1]), "true_roll": _r(tp[2]),
        "target": truth.get("target"),
    }


class PoseWriter:
    """Per-frame records to ``path``: CSV (header, empty cells for none) when it ends in
    .csv, else JSON lines."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.format = "csv" if self.path.suffix.lower() == ".csv" else "jsonl"
        self._fh: TextIO | None = open(self.path, "w", newline="")
        self._csv = csv.DictWriter(self._fh, POSE_FIELDS) if self.format == "csv" else None
        if self._csv is not None:
            self._csv.writeheader()
        self.rows = 0

    def write(self, result: FrameResult) -> None:
        assert self._fh is not None
        rec = pose_record(result)
        if self._csv is not None:
            self._csv.writerow({k: ("" if v is None else v) for k, v in rec.items()})
        else:
            self._fh.write(json.dumps(rec) + "\n")
        self.rows += 1

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def draw_axes(img: np.ndarray, origin: tuple[float, float], pose: tuple[float, float, float], length: float) -> None:
    """Head axes from the camera-relative pose (as synth.preview draws them): red = nose
    (x, towards the camera at rest: a dot), green = right ear (y), blue = down (z)."""
    import cv2

    r = euler_to_matrix(pose)
    o = (int(round(origin[0])), int(round(origin[1])))
    for col, color in ((0, (0, 0, 255)), (1, (0, 255, 0)), (2, (255, 0, 0))):
        axis = r[:, col]
        end = (int(round(o[0] - axis[1] * length)), int(round(o[1] + axis[2] * length)))
        cv2.line(img, o, end, color, 2, cv2.LINE_AA)


def annotate(r: FrameResult) -> np.ndarray:
    """The frame in BGR with the head box, window, axes, angles and alerts drawn on it."""
    import cv2

    img = cv2.cvtColor(r.image, cv2.COLOR_GRAY2BGR) if r.image.ndim == 2 else r.image.copy()
    h = img.shape[0]
    if r.window is not None:
        x0, y0, x1, y1 = (int(v) for v in r.window.box)
        cv2.rectangle(img, (x0, y0), (x1, y1), (0, 200, 255), 1)
    if r.located is not None:
        cx, cy = r.located.centre
        cv2.drawMarker(img, (int(cx), int(cy)), (0, 255, 255), cv2.MARKER_CROSS, 10, 1)
    if r.pose is not None and r.window is not None:
        draw_axes(img, r.window.centre, r.pose, r.window.side * 0.4)
        text = f"pitch {r.pose[0]:+6.1f} yaw {r.pose[1]:+6.1f} roll {r.pose[2]:+6.1f}"
    else:
        text = "no face" if r.located is None else "face, no pose"
    cv2.putText(img, text, (8, h - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 255, 255), 1, cv2.LINE_AA)
    src = r.located.source if r.located else "-"
    info = f"t {r.t:7.2f}s  {src}{'  coast' if r.coasting else ''}{'  reset:' + r.reset if r.reset else ''}"
    cv2.putText(img, info, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 0), 1, cv2.LINE_AA)
    for k, a in enumerate(r.alerts):
        cv2.putText(img, f"{a.type} {a.phase} {a.severity}", (8, 42 + 20 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.55,
                    (0, 0, 255), 2, cv2.LINE_AA)
    return img


class VideoSink:
    """Annotated MP4 (mp4v) at the source's rate; opened at the first frame (its size)."""

    def __init__(self, path: str | Path, fps: float) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fps = fps
        self._writer: Any = None
        self.frames = 0

    def write(self, result: FrameResult) -> None:
        import cv2

        img = annotate(result)
        if self._writer is None:
            h, w = img.shape[:2]
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter.fourcc(*"mp4v"), self.fps, (w, h))
            if not self._writer.isOpened():
                raise RuntimeError(f"{self.path}: OpenCV could not open an MP4 writer")
            self._size = (w, h)
        if (img.shape[1], img.shape[0]) != self._size:   # a re-opened camera in another mode
            img = cv2.resize(img, self._size, interpolation=cv2.INTER_AREA)
        self._writer.write(img)
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None


class TrackPlot:
    """PNG of pitch / yaw / roll over time (with the truth when the source knows it).
    Memory stays bounded on endless streams: past ``capacity`` points every other point is
    dropped and only every 2nd, 4th ... frame is kept from then on."""

    def __init__(self, path: str | Path, capacity: int = 20000) -> None:
        self.path = Path(path)
        self.capacity = capacity
        self._data = np.full((capacity, 7), np.nan)      # t, pose x3, truth x3
        self._n = 0
        self._stride = 1
        self._seen = 0

    def write(self, result: FrameResult) -> None:
        self._seen += 1
        if (self._seen - 1) % self._stride:
            return
        if self._n == self.capacity:
            self._data[: self._n // 2] = self._data[: self._n: 2][: self._n // 2]
            self._n //= 2
            self._stride *= 2
        row = self._data[self._n]
        row[:] = np.nan
        row[0] = result.t
        if result.pose is not None:
            row[1:4] = result.pose
        if result.truth is not None and result.truth.get("pose_camera") is not None:
            row[4:7] = result.truth["pose_camera"]
        self._n += 1

    def close(self) -> None:
        if self._n == 0:
            return
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        d = self._data[: self._n]
        fig, axes = plt.subplots(3, 1, figsize=(10, 7), sharex=True)
        for k, name in enumerate(("pitch", "yaw", "roll")):
            ax = axes[k]
            if np.isfinite(d[:, 4 + k]).any():
                ax.plot(d[:, 0], d[:, 4 + k], color="0.6", lw=1.5, label="truth")
            ax.plot(d[:, 0], d[:, 1 + k], lw=1.0, label="estimate (camera-relative)")
            ax.set_ylabel(f"{name} (deg)")
            ax.grid(alpha=0.3)
        axes[0].legend(loc="upper right", fontsize=8)
        axes[-1].set_xlabel("time (s, source clock)")
        fig.suptitle("head pose tracks (gaps: no face)")
        fig.tight_layout()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(self.path, dpi=100)
        plt.close(fig)
        self._n = 0
