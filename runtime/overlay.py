"""What the annotated video draws on a frame: head box, network window, head axes,
angles, and the alerts that are active on that frame.

The loop reports an alert as updates (start, escalate, end) on the frames where its state
changes; a driver looking at a warning lamp, or a reviewer scrubbing through the clip,
sees the alert for as long as it is active. AlertBoard turns the updates back into that
state: an alert is on screen from its start to its end, with its current level and how
long the behaviour has lasted, and an ended alert stays (grey) for a moment so that a
reviewer can read how long it lasted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dms.angles import euler_to_matrix
from runtime.pipeline import FrameResult


@dataclass(frozen=True)
class OverlayConfig:
    """ended_shown_s: how long an ended alert stays on screen (greyed) with its final
    duration: one second is long enough to read at 30 fps playback and short enough not
    to be mistaken for a live alert. max_rows: alerts listed at once (the rest counted)."""

    ended_shown_s: float = 1.0
    max_rows: int = 5


# BGR colours per level: amber for a pre-warning, orange for a warning, red for critical,
# as on instrument-cluster tell-tales (ISO 2575: amber = caution, red = warning/danger).
SEVERITY_BGR: dict[str, tuple[int, int, int]] = {"prewarning": (0, 200, 255), "warning": (0, 128, 255),
                                                 "critical": (0, 0, 255)}
ENDED_BGR = (170, 170, 170)


@dataclass
class ShownAlert:
    """One alert as the overlay shows it: its latest update, and whether it has ended."""

    update: Any                  # runtime.attention.AlertUpdate (start, escalate or end)
    ended: bool = False

    def label(self, t: float) -> str:
        a = self.update
        if self.ended:
            return f"{a.type} ended after {a.duration_s:.1f} s"
        return f"{a.type.upper()} {a.severity} {max(0.0, t - a.start_t):4.1f} s"


class AlertBoard:
    """The alerts active on each frame, rebuilt from the loop's updates.

    Feed every frame's result in order (update()); active(t) lists what is on screen then,
    oldest first. Alerts are keyed by alert_id, so a run of VATS and a long distraction at
    the same time show as two rows."""

    def __init__(self, config: OverlayConfig | None = None) -> None:
        self.config = config or OverlayConfig()
        self._shown: dict[int, ShownAlert] = {}

    def update(self, alerts: list[Any], t: float) -> list[ShownAlert]:
        for a in alerts:
            self._shown[a.alert_id] = ShownAlert(a, ended=a.phase == "end")
        for key in [k for k, s in self._shown.items()
                    if s.ended and t - s.update.t > self.config.ended_shown_s]:
            del self._shown[key]
        return self.active()

    def active(self) -> list[ShownAlert]:
        return sorted(self._shown.values(), key=lambda s: (s.ended, s.update.alert_id))


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


def _draw_alert_rows(img: np.ndarray, shown: list[ShownAlert], t: float, max_rows: int) -> None:
    """One filled banner per alert under the info line: legible over any background."""
    import cv2

    font, scale, thick = cv2.FONT_HERSHEY_SIMPLEX, 0.55, 2
    y = 30
    for s in shown[:max_rows]:
        text = s.label(t)
        (tw, th), base = cv2.getTextSize(text, font, scale, thick)
        color = ENDED_BGR if s.ended else SEVERITY_BGR.get(s.update.severity, (0, 0, 255))
        cv2.rectangle(img, (4, y), (14 + tw, y + th + base + 6), color, -1)
        cv2.putText(img, text, (9, y + th + 3), font, scale, (0, 0, 0), thick, cv2.LINE_AA)
        y += th + base + 10
    if len(shown) > max_rows:
        cv2.putText(img, f"+{len(shown) - max_rows} more", (9, y + 14), font, 0.5, (0, 0, 255), 1, cv2.LINE_AA)


def annotate(r: FrameResult, shown: list[ShownAlert] | None = None, config: OverlayConfig | None = None) -> np.ndarray:
    """The frame in BGR with the head box, window, axes, angles and alerts drawn on it.
    shown: the alerts active on this frame (AlertBoard); without it, only this frame's
    updates are drawn (a single frame out of context)."""
    import cv2

    cfg = config or OverlayConfig()
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
    if shown is None:
        shown = [ShownAlert(a, ended=a.phase == "end") for a in r.alerts]
    _draw_alert_rows(img, shown, r.t, cfg.max_rows)
    return img
