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
from typing import Any, Sequence, TextIO

import numpy as np

from runtime.overlay import AlertBoard, OverlayConfig, annotate
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


class VideoSink:
    """Annotated MP4 (mp4v) at the source's rate; opened at the first frame (its size).
    Active alerts stay drawn from their start to their end (runtime.overlay.AlertBoard)."""

    def __init__(self, path: str | Path, fps: float, overlay: OverlayConfig | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fps = fps
        self.overlay = overlay or OverlayConfig()
        self.board = AlertBoard(self.overlay)
        self._writer: Any = None
        self.frames = 0

    def write(self, result: FrameResult) -> None:
        import cv2

        img = annotate(result, self.board.update(result.alerts, result.t), self.overlay)
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


# Alert spans the pose-track PNG keeps (oldest dropped first on endless streams).
MAX_PLOTTED_ALERTS = 2000


# Timeline label layout: characters of 6.5 pt text across the 11 in figure's time axis,
# and the gap under which a repeat of the same behaviour shares its predecessor's label.
TIMELINE_CHARS_ACROSS = 190
REPEAT_GAP_S = 5.0


def scripted_lanes(events: Sequence[tuple[str, float, float]], end_s: float) -> list[tuple[int, bool]]:
    """(lane, labelled) per event: a repeat of the previous behaviour soon after it (the
    glances of one VATS build-up) stays in its lane unlabelled; any other event takes the
    lowest lane whose last bar and label end before it starts, so no two labels overlap."""
    span = max([end_s] + [e for _, _, e in events] + [1.0]) - min([0.0] + [s for _, s, _ in events])
    char_s = span / TIMELINE_CHARS_ACROSS
    lane_free: list[float] = []
    out: list[tuple[int, bool]] = []
    previous: tuple[str, float, int] | None = None
    for label, start, end in events:
        if previous is not None and previous[0] == label and start - previous[1] < REPEAT_GAP_S:
            lane = previous[2]
            lane_free[lane] = max(lane_free[lane], end)
            out.append((lane, False))
        else:
            lane = next((k for k, free in enumerate(lane_free) if free <= start), len(lane_free))
            if lane == len(lane_free):
                lane_free.append(0.0)
            lane_free[lane] = max(end, start + len(label) * char_s)
            out.append((lane, True))
        previous = (label, end, lane)
    return out


class TrackPlot:
    """PNG of pitch / yaw / roll over time (with the truth when the source knows it), the
    alerts as shaded spans (behaviour start to end, a line where the rule fired) and, when
    given, the scripted events on a timeline under the tracks, so that a reviewer sees at
    a glance which behaviour raised which alert.

    Memory stays bounded on endless streams: past ``capacity`` points every other point is
    dropped and only every 2nd, 4th ... frame is kept from then on. events: (label,
    start_s, end_s) of what the drive is known to contain (a scripted drive)."""

    def __init__(self, path: str | Path, capacity: int = 20000,
                 events: Sequence[tuple[str, float, float]] = ()) -> None:
        self.path = Path(path)
        self.capacity = capacity
        self.events = sorted(events, key=lambda e: e[1])
        self._data = np.full((capacity, 7), np.nan)      # t, pose x3, truth x3
        self._n = 0
        self._stride = 1
        self._seen = 0
        self._without_pose = 0
        self._last_t = float("nan")
        self._alerts: dict[int, dict[str, Any]] = {}

    def write(self, result: FrameResult) -> None:
        self._seen += 1
        self._last_t = result.t
        self._without_pose += result.pose is None
        for a in result.alerts:                          # every update, whatever the decimation
            span = self._alerts.setdefault(a.alert_id, {"type": a.type, "start": a.start_t, "fired": a.alert_t,
                                                        "end": None, "severity": a.severity})
            span["severity"] = a.severity
            if a.phase == "end":
                span["end"] = a.end_t
            if len(self._alerts) > MAX_PLOTTED_ALERTS:
                del self._alerts[next(iter(self._alerts))]
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

    def title(self) -> str:
        gaps = f"; gaps: {self._without_pose} of {self._seen} frames without a pose" if self._without_pose else ""
        return f"head pose tracks, {len(self._alerts)} alert(s){gaps}"

    def close(self) -> None:
        if self._n == 0:
            return
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        d = self._data[: self._n]
        types = sorted({s["type"] for s in self._alerts.values()})
        colors = {t: plt.get_cmap("tab10")(k % 10) for k, t in enumerate(types)}
        spans = [(s, s["end"] if s["end"] is not None else self._last_t) for s in self._alerts.values()]
        fig, axes = plt.subplots(4, 1, figsize=(11, 8.5), sharex=True, gridspec_kw={"height_ratios": [3, 3, 3, 2]})
        for k, name in enumerate(("pitch", "yaw", "roll")):
            ax = axes[k]
            for s, end in spans:
                ax.axvspan(s["start"], end, color=colors[s["type"]], alpha=0.15, lw=0)
                ax.axvline(s["fired"], color=colors[s["type"]], lw=1.0, ls="--")
            if np.isfinite(d[:, 4 + k]).any():
                ax.plot(d[:, 0], d[:, 4 + k], color="0.6", lw=1.5, label="truth")
            ax.plot(d[:, 0], d[:, 1 + k], lw=1.0, label="estimate (camera-relative)")
            ax.set_ylabel(f"{name} (deg)")
            ax.grid(alpha=0.3)
        axes[0].legend(loc="upper right", fontsize=8)
        self._timeline(axes[3], spans, colors)
        axes[-1].set_xlabel("time (s, source clock)")
        fig.suptitle(self.title())
        fig.tight_layout()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(self.path, dpi=100)
        plt.close(fig)
        self._n = 0

    def _timeline(self, ax: Any, spans: list[tuple[dict[str, Any], float]], colors: dict[str, Any]) -> None:
        """Scripted events (grey, labelled) above the alerts (coloured by type, the dot
        where the rule fired), on one shared time axis."""
        lanes = scripted_lanes(self.events, self._last_t)
        for (label, start, end), (lane, labelled) in zip(self.events, lanes):
            y = 1.0 + 0.4 * lane
            ax.broken_barh([(start, max(end - start, 0.05))], (y - 0.12, 0.24), color="0.55")
            if labelled:
                ax.text(start, y + 0.15, label, fontsize=6.5, va="bottom")
        top = 1.0 + 0.4 * max((lane for lane, _ in lanes), default=0)
        for s, end in spans:
            ax.broken_barh([(s["start"], max(end - s["start"], 0.05))], (-0.15, 0.3), color=colors[s["type"]])
            ax.plot([s["fired"]], [0.0], "k.", ms=4)
        for t, c in colors.items():
            ax.plot([], [], color=c, lw=6, label=t)
        if colors:
            ax.legend(loc="lower right", fontsize=7, ncol=min(3, len(colors)))
        ax.set_yticks([0.0, (1.0 + top) / 2] if self.events else [0.0], ["alerts", "scripted"] if self.events else ["alerts"])
        ax.set_ylim(-0.5, top + 0.55 if self.events else 0.5)
        ax.grid(alpha=0.3, axis="x")
