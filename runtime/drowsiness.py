"""Drowsiness cues: eye closure from landmarks (EAR), PERCLOS, long closures, and nodding.

Head pose catches a driver who turns away ("owl"); a driver who falls asleep facing the
road keeps an on-road head pose, so these cues need the eyes (68 iBUG landmarks) or the
characteristic nod of a head that drops and jerks back up.

Everything here is a small, clock-free state machine fed with sample timestamps, so the
attention monitor stays deterministic. Conventions shared with the distraction rules:

* a sample's state holds until the next sample (piecewise constant), so the closed time
  between samples at t0 (closed) and t1 (open) is t1 - t0;
* unknown samples (no landmarks, or the head turned away so the eyelids cannot be judged)
  neither start nor end a closure; the closure's clock keeps running, but an alert fires
  only on a sample that actually shows closed eyes.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Sequence

import numpy as np
from numpy.typing import ArrayLike

from dms.landmarks import GROUPS, as_points

# iBUG eye points in order p1..p6: p1 outer/inner corner, p2 p3 upper lid, p4 other corner,
# p5 p6 lower lid (Soukupova & Cech 2016, Fig. 1).
_RIGHT_EYE = list(range(*GROUPS["right_eye"]))
_LEFT_EYE = list(range(*GROUPS["left_eye"]))

# Float tolerance for time comparisons (sample times are sums of float frame periods), as
# runtime.zones.TIME_EPS: far below any frame period.
_EPS = 1e-6


def _ear(points: np.ndarray) -> float:
    p1, p2, p3, p4, p5, p6 = points
    width = float(np.linalg.norm(p1 - p4))
    if width <= 0.0 or not math.isfinite(width):
        return math.nan
    return float((np.linalg.norm(p2 - p6) + np.linalg.norm(p3 - p5)) / (2.0 * width))


def eye_aspect_ratios(landmarks: ArrayLike) -> tuple[float, float]:
    """(right eye, left eye) EAR from one face's landmarks ([136] or [68, 2]).

    Crop-normalised coordinates are fine: the face crop is square, so the ratio of
    vertical to horizontal distances is the same as in pixels. NaN for a degenerate eye.
    """
    pts = as_points(landmarks)
    if pts.shape != (68, 2):
        raise ValueError(f"landmarks for one face must be [136] or [68, 2], got {np.shape(landmarks)}")
    return _ear(pts[_RIGHT_EYE]), _ear(pts[_LEFT_EYE])


def eye_aspect_ratio(landmarks: ArrayLike) -> float:
    """Mean EAR of both eyes: ~0.25-0.35 open, < 0.2 closed. NaN when it cannot be measured."""
    right, left = eye_aspect_ratios(landmarks)
    return (right + left) / 2.0


class EyeClosureTracker:
    """Continuous eye closure with EAR hysteresis (closed < ear_closed, open again >= ear_open)."""

    def __init__(self, ear_closed: float, ear_open: float) -> None:
        self.ear_closed = ear_closed
        self.ear_open = ear_open
        self.closed_since: float | None = None
        self.closed = False

    def update(self, t: float, ear: float | None) -> tuple[bool, float | None]:
        """Feed one sample; returns (this sample shows closed eyes, end time of a closure that just ended).

        ``ear`` None or NaN = unknown: the closure (if any) carries on, nothing is shown.
        """
        if ear is None or not math.isfinite(ear):
            return False, None
        if self.closed:
            if ear >= self.ear_open:
                self.closed = False
                self.closed_since = None
                return False, t
            return True, None
        if ear < self.ear_closed:
            self.closed = True
            self.closed_since = t
            return True, None
        return False, None

    def duration(self, t: float) -> float:
        return 0.0 if self.closed_since is None else t - self.closed_since


class PerclosWindow:
    """PERCLOS: the fraction of observed time in the last ``window_s`` with the eyes closed.

    Only observed time counts (samples with an eye state); each sample's state holds until
    the next sample, capped at ``max_hold_s`` so a stalled feed does not count as minutes of
    closure.
    """

    def __init__(self, window_s: float, max_hold_s: float = 0.5) -> None:
        self.window_s = window_s
        self.max_hold_s = max_hold_s
        self._intervals: deque[tuple[float, float, bool]] = deque()
        self._last: tuple[float, bool | None] | None = None
        # running totals over the whole intervals in the deque: O(1) per sample at any rate
        self._observed = 0.0
        self._closed = 0.0

    def update(self, t: float, closed: bool | None) -> None:
        if self._last is not None:
            t0, state = self._last
            if state is not None and t > t0:
                b = min(t, t0 + self.max_hold_s)
                self._intervals.append((t0, b, state))
                self._observed += b - t0
                if state:
                    self._closed += b - t0
        self._last = (t, closed)
        lo = t - self.window_s
        while self._intervals and self._intervals[0][1] <= lo:
            a, b, state = self._intervals.popleft()
            self._observed -= b - a
            if state:
                self._closed -= b - a
        if not self._intervals:
            self._observed = self._closed = 0.0  # no drift left behind

    def value(self, t: float) -> tuple[float | None, float]:
        """(PERCLOS or None when nothing was observed, observed seconds) over [t - window, t].

        Intervals end at or before the latest sample and only the oldest one can straddle
        the window's start, so trimming it is all the clipping needed.
        """
        observed, closed = self._observed, self._closed
        if self._intervals:
            a, b, state = self._intervals[0]
            cut = max(0.0, min(b, t - self.window_s) - a)
            observed -= cut
            if state:
                closed -= cut
        observed, closed = max(observed, 0.0), min(max(closed, 0.0), max(observed, 0.0))
        return (closed / observed if observed > 1e-9 else None), observed


class NodDetector:
    """Head-only drowsiness cue: the head sinks slowly, well below neutral, then jerks back up.

    A dip starts when the pitch offset falls below -recover_deg and ends when it is back
    above -recover_deg. It is a nod if it went deeper than -depth_deg, lasted at most
    ``max_s``, and has a nod's shape:

    * slow sink: from the start to the *bottom* of the drop (the first sample at least
      ``bottom_fraction`` of the deepest offset deep) took >= ``min_descent_s``;
    * fast recovery: from the last sample at the bottom back above -recover_deg within
      ``max_return_s``;
    * straight down: over the bottom samples the head points within ``max_side_deg`` of
      straight down (a dozing head falls forward; glances turn towards a target).

    Why the bottom and not the deepest sample: a glance at the cluster or the lap drops
    fast and holds, and sway and tracker noise put the single deepest sample anywhere in
    that hold, which made a fast look-down held for 0.5 s read as a 0.5 s sink. Where it
    rests between reaching and leaving the bottom is not judged: a dozing head may rest
    with the eyes shut. Pose alone stays a weak cue; with landmarks, eye closure is the
    stronger one.
    """

    def __init__(self, depth_deg: float, recover_deg: float, max_s: float, window_s: float,
                 min_descent_s: float = 0.4, max_return_s: float = 0.5, bottom_fraction: float = 0.7,
                 max_side_deg: float = 20.0) -> None:
        self.depth_deg = depth_deg
        self.recover_deg = recover_deg
        self.max_s = max_s
        self.window_s = window_s
        self.min_descent_s = min_descent_s
        self.max_return_s = max_return_s
        self.bottom_fraction = bottom_fraction
        self.max_side_deg = max_side_deg
        self._down_since: float | None = None
        # the dip so far: (t, d_pitch, d_yaw); emptied once it outlasts max_s (no nod then)
        self._dip: list[tuple[float, float, float]] = []
        self.nods: deque[tuple[float, float]] = deque()  # (start, end) of completed nods

    def update(self, t: float, d_pitch: float | None, d_yaw: float = 0.0) -> bool:
        """Feed one sample's offset from neutral (pitch None: no face). True when a nod completes."""
        while self.nods and self.nods[0][1] < t - self.window_s - _EPS:
            self.nods.popleft()
        if d_pitch is None:
            return False
        eps = _EPS
        if self._down_since is None:
            if d_pitch < -self.recover_deg:
                self._down_since = t
                self._dip = [(t, d_pitch, d_yaw)]
            return False
        if d_pitch < -self.recover_deg:
            if t - self._down_since > self.max_s + eps:
                self._dip = []               # too long for a nod: wait for the head to come back
            else:
                self._dip.append((t, d_pitch, d_yaw))
            return False
        start, dip = self._down_since, self._dip
        self._down_since, self._dip = None, []
        if not dip or t - start > self.max_s + eps:
            return False
        deepest = min(p for _, p, _ in dip)
        if deepest > -self.depth_deg:
            return False
        level = self.bottom_fraction * deepest
        bottom = [s for s in dip if s[1] <= level]
        reached, left = bottom[0][0], bottom[-1][0]
        if reached - start < self.min_descent_s - eps or t - left > self.max_return_s + eps:
            return False
        pitch = sorted(p for _, p, _ in bottom)[len(bottom) // 2]
        yaw = sorted(y for _, _, y in bottom)[len(bottom) // 2]
        if math.degrees(math.atan2(abs(yaw), -pitch)) > self.max_side_deg + eps:
            return False
        self.nods.append((start, t))
        return True

    def count(self, t: float) -> int:
        """Nods that completed within the last window_s (inclusive, with float tolerance)."""
        return sum(1 for _, end in self.nods if end >= t - self.window_s - _EPS)


def ears_from_sequence(landmarks: Sequence[ArrayLike]) -> list[float]:
    """EAR per frame of a landmark sequence (for reports and tests)."""
    return [eye_aspect_ratio(lm) for lm in landmarks]
