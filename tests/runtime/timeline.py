"""Timelines for the attention tests: what the driver does, second by second.

A timeline is a list of segments (seconds, what). Frame k is sampled at t = k / fps, so a
segment from a to b holds the frames with a <= k / fps < b. The monitor's time model (a
sample's state holds until the next sample) makes a glance whose off-road frames span
[a, b) last b - a seconds once it ends, and t - a at an off-road frame t while it lasts.
All segment edges in the tests sit on the 20 Hz grid (multiples of 0.05 s).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from runtime.attention import AlertUpdate, AttentionMonitor, Output, Sample, alerts
from runtime.attention_config import AttentionConfig

# Head poses (pitch, yaw, roll) relative to the road; the learned neutral stays (0, 0, 0).
ROAD = (0.0, 0.0, 0.0)
ROAD_LEFT = (0.0, -10.0, 0.0)         # scanning the road: still inside the 23 deg cone
LAP = (-50.0, 0.0, 0.0)               # phone in the lap
INFOTAINMENT = (-25.0, 30.0, 0.0)
LEFT_MIRROR = (-5.0, -40.0, 0.0)
CLUSTER = (-25.0, 0.0, 0.0)
NOD_DOWN = (-20.0, 0.0, 0.0)          # the head dropped while dozing
NO_FACE = None


@dataclass
class Seg:
    """One stretch of the timeline. pose None = no face; a callable gets the seconds since
    the segment's start (ramps)."""

    seconds: float
    pose: tuple[float, float, float] | None | Callable[[float], tuple[float, float, float] | None]
    speed: float | None = None        # None: the timeline's speed
    ear: float | None = None          # eye aspect ratio -> synthetic landmarks; None: no landmarks
    trusted: bool = True


def eye_landmarks(ear: float) -> np.ndarray:
    """68 crop-normalised points whose eyes have exactly this EAR (h / w, see drowsiness.py)."""
    pts = np.tile([0.5, 0.5], (68, 1)).astype(np.float64)
    w = 0.12
    h = ear * w
    for base, x0 in ((36, 0.28), (42, 0.60)):
        y = 0.40
        pts[base + 0] = (x0, y)                 # p1 corner
        pts[base + 1] = (x0 + w / 3, y - h / 2)  # p2 upper lid
        pts[base + 2] = (x0 + 2 * w / 3, y - h / 2)
        pts[base + 3] = (x0 + w, y)             # p4 corner
        pts[base + 4] = (x0 + 2 * w / 3, y + h / 2)  # p5 lower lid
        pts[base + 5] = (x0 + w / 3, y + h / 2)  # p6
    return pts.reshape(136)


def timeline(segments: Sequence[Seg | tuple[Any, ...]], fps: float = 20.0, speed: float = 80.0,
             jitter: float = 0.0, seed: int = 0) -> list[Sample]:
    """Samples for consecutive segments starting at t = 0.

    jitter: uniform +- seconds added to each timestamp (order kept), for rate tests.
    """
    rng = np.random.default_rng(seed)
    out: list[Sample] = []
    start = 0.0
    k = 0
    for seg in segments:
        s = seg if isinstance(seg, Seg) else Seg(*seg)
        end = start + s.seconds
        while True:
            t = k / fps
            if t >= end - 1e-9:
                break
            tj = t + (rng.uniform(-jitter, jitter) if jitter else 0.0)
            pose = s.pose(t - start) if callable(s.pose) else s.pose
            out.append(Sample(t=tj, frame=k, pose=pose, speed_kmh=s.speed if s.speed is not None else speed,
                              landmarks=eye_landmarks(s.ear) if s.ear is not None and pose is not None else None,
                              trusted=s.trusted))
            k += 1
        start = end
    return out


def run(segments: Sequence[Seg | tuple[Any, ...]], config: AttentionConfig | None = None, **kw: Any) -> list[Output]:
    return AttentionMonitor(config).run(timeline(segments, **kw))


def summary(outputs: Sequence[Output]) -> list[tuple[str, str, str, float]]:
    """(phase, type, severity, t) per alert update, times rounded to the microsecond."""
    return [(a.phase, a.type, a.severity, round(a.t, 6)) for a in alerts(outputs)]


def by_type(outputs: Sequence[Output], type_: str) -> list[AlertUpdate]:
    return [a for a in alerts(outputs) if a.type == type_]


def state_changes(outputs: Sequence[Output], name: str) -> list[Output]:
    return [o for o in outputs if not isinstance(o, AlertUpdate) and getattr(o, "name", None) == name]


# 12 s on the road first: the monitor learns the neutral (10 s of samples at speed) from
# the road pose, so every later offset equals the pose itself.
WARMUP = Seg(12.0, ROAD)
