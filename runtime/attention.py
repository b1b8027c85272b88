"""The attention monitor: head-pose samples in, alert updates out.

Pure and deterministic: it reads only the samples (timestamp, frame index, pose or no
face, optional landmarks, vehicle speed) and its config, never the wall clock, so a
recorded track always yields the same alerts, and every rule can be tested as a timeline
with hand-computed times. Writing events durably is the caller's job (runtime/events.py):
log each update, then report it.

Time model. A sample's state holds until the next sample. A glance starts at its first
off-road sample, and its duration at a later sample t is t - start (the long-distraction
clock may start up to 0.2 s earlier, see below). Every rule fires on
the first sample whose timestamp satisfies it (duration >= threshold, with 1 us of float
tolerance), and only on a sample that still shows the behaviour, so the latency is at
most one frame period at any frame rate and an alert never fires on a sample where the
driver is already back on the road.

The rules (numbers from attention_config.py, Euro NCAP by default):

* on road: the head inside a cone around the driver's learned neutral pose (zones.py);
  mirror and cluster glances count as away unless configured otherwise;
* a glance ends only after ``return_confirm_s`` back on the road; shorter on-road blips
  are tracking noise and belong to the glance (so one glance is never two);
* long distraction: one glance >= 3 s. One event per glance; it escalates in place
  (pre-warning -> warning -> critical) and closes, with its end time, when the glance ends.
  Its clock starts at the onset of the head movement that led off the road, at most 0.2 s
  before the first off-road sample: the gaze leaves the road as the head starts to turn,
  but the head pose crosses the cone's edge only late in the turn. The onset is the first
  of the consecutive samples up to the exit that each moved >= 30 deg/s (over the last
  0.1 s) towards where the head left the road; a slow drift across the edge is not
  backdated, nor is a jump between two samples. Event detail ``onset_t``;
* VATS: >= 10 s of glances within the last 30 s, reset by >= 2 s back on the road. The
  event lasts until that reset. A glance that has reached a long-distraction warning is
  not counted again by VATS (one glance, one alert), and while a distraction event is
  open no second one starts; it escalates instead;
* unresponsive (critical): the behaviour that was warned about continues 3 s after the
  warning, or lasts >= 6 s; never on the warning's own sample;
* no face / untrusted tracking: during a glance whose last seen pose lay >= 10 deg beyond
  the on-road cone, it continues the glance (the driver has not been seen back on the
  road: openpilot counts no face like distraction, and a driver turned to the back seat
  often loses the face); lost nearer the road (a hand raised to the face as the head comes
  back from a mirror), it counts like a return: the glance ends where the face was lost
  once that has lasted the 0.2 s return confirmation. From the road it is not a
  distraction. Either way, >= 5 s of it raises "monitoring_unavailable" (Euro NCAP: say so
  within 10 s), which ends once the face is back for 0.5 s;
* speed gate: below the gate no alert starts or escalates and alert clocks do not run;
  a clock starts at the later of the behaviour's start and the gate opening, so a glance
  that began at a standstill warns 3 s after the car passes 20 km/h, not at once. An
  event already open when the gate closes stays open until its behaviour ends;
* drowsiness (landmarks): a continuous eye closure >= 1.5 s (critical per the
  unresponsive rule), PERCLOS >= 15 % over 60 s; head only: repeated nods (a slow sink
  straight down, then a fast recovery; drowsiness.NodDetector). Eyes are judged only while
  the head is on the road (looking down lowers the eyelids).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Sequence, Union

import numpy as np

from runtime.attention_config import SEVERITIES, AttentionConfig
from runtime.drowsiness import EyeClosureTracker, NodDetector, PerclosWindow, eye_aspect_ratio
from runtime.zones import NO_FACE, ROAD, TIME_EPS, NeutralLearner, Pose, ZoneClassifier, relative_pose

LONG_DISTRACTION = "long_distraction"
VATS = "visual_time_sharing"
UNAVAILABLE = "monitoring_unavailable"
EYES_CLOSED = "eyes_closed"
DROWSY_PERCLOS = "drowsy_perclos"
NODDING = "nodding"
EVENT_TYPES: tuple[str, ...] = (LONG_DISTRACTION, VATS, UNAVAILABLE, EYES_CLOSED, DROWSY_PERCLOS, NODDING)

PHASES: tuple[str, ...] = ("start", "escalate", "end")


class SampleError(ValueError):
    """A sample the monitor cannot use; the message names the frame and the field."""


@dataclass(frozen=True)
class Sample:
    """One frame's worth of input.

    pose: (pitch, yaw, roll) in degrees (dms-head-v1), or None for "no face".
    speed_kmh: None = not known for this frame; the last known speed holds (0 before any).
    landmarks: 68 iBUG points, crop-normalised, flat [136] (x0, y0, x1, y1, ...), or None.
    trusted: False when the tracker has a face but does not trust it (low confidence,
        IR-opaque glasses): treated exactly like no face.
    """

    t: float
    frame: int
    pose: tuple[float, float, float] | None
    speed_kmh: float | None = None
    landmarks: Sequence[float] | np.ndarray | None = None
    trusted: bool = True


@dataclass(frozen=True)
class AlertUpdate:
    """One change to an alert: it started, escalated, or ended.

    start_t/start_frame: when the behaviour began (the glance's first off-road sample, the
    first glance VATS counted, the first frame without a face ...); alert_t: when the rule
    fired; end_t: when the behaviour ended (the driver's first sample back on the road),
    None until the "end" update. duration_s = end_t - start_t, or t - start_t while open.
    frames: (first, last) frame of the behaviour so far, inclusive.
    """

    phase: str
    alert_id: int
    type: str
    severity: str
    t: float
    frame: int
    start_t: float
    start_frame: int
    alert_t: float
    alert_frame: int
    end_t: float | None
    frames: tuple[int, int]
    duration_s: float
    escalations: tuple[tuple[str, float, int, str], ...]
    speed_kmh: float
    max_speed_kmh: float
    zone: str | None
    pose: dict[str, Any]
    detail: dict[str, Any]

    def event_fields(self) -> dict[str, Any]:
        """The fields of an event record (runtime/events.py adds id, seq, model hash)."""
        return {
            "phase": self.phase,
            "alert_no": self.alert_id,
            "type": self.type,
            "severity": self.severity,
            "t": self.t,
            "frame": self.frame,
            "start_t": self.start_t,
            "end_t": self.end_t,
            "duration_s": self.duration_s,
            "alert_t": self.alert_t,
            "frame_range": [self.frames[0], self.frames[1]],
            "escalations": [{"severity": s, "t": t, "frame": f, "rule": r} for s, t, f, r in self.escalations],
            "speed_kmh": self.speed_kmh,
            "max_speed_kmh": self.max_speed_kmh,
            "zone": self.zone,
            "pose": self.pose,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class StateChange:
    """Not an alert: something the monitor learned or switched (neutral learned, gate open ...)."""

    t: float
    frame: int
    name: str
    detail: dict[str, Any] = field(default_factory=dict)


Output = Union[AlertUpdate, StateChange]


class _PoseStats:
    """Summary of the poses an alert covers: mean pose, peak offset, dominant zone."""

    def __init__(self) -> None:
        self.n = 0
        self.sum_pose = [0.0, 0.0, 0.0]
        self.sum_offset = [0.0, 0.0]
        self.peak: tuple[float, float] = (0.0, 0.0)
        self._peak_mag = -1.0
        self.zones: dict[str, int] = {}

    def copy(self) -> "_PoseStats":
        other = _PoseStats()
        other.n, other.sum_pose, other.sum_offset = self.n, list(self.sum_pose), list(self.sum_offset)
        other.peak, other._peak_mag, other.zones = self.peak, self._peak_mag, dict(self.zones)
        return other

    def add(self, zone: str, pose: Pose | None, offset: tuple[float, float] | None) -> None:
        self.zones[zone] = self.zones.get(zone, 0) + 1
        if pose is None or offset is None:
            return
        self.n += 1
        for i in range(3):
            self.sum_pose[i] += pose[i]
        self.sum_offset[0] += offset[0]
        self.sum_offset[1] += offset[1]
        mag = math.hypot(offset[0], offset[1])
        if mag > self._peak_mag:
            self._peak_mag, self.peak = mag, (offset[0], offset[1])

    def zone(self) -> str | None:
        """The most frequent zone; "no_face" only when the face was never seen (a glance to
        the lap that loses the face is still a glance to the lap)."""
        seen = {z: n for z, n in self.zones.items() if z != NO_FACE}
        if seen:
            return max(sorted(seen.items()), key=lambda kv: kv[1])[0]
        return NO_FACE if self.zones else None

    def summary(self, neutral: Pose) -> dict[str, Any]:
        out: dict[str, Any] = {"neutral": [round(v, 3) for v in neutral], "samples": self.n}
        if self.n:
            out["mean"] = [round(v / self.n, 3) for v in self.sum_pose]
            out["mean_offset"] = [round(v / self.n, 3) for v in self.sum_offset]
            out["peak_offset"] = [round(v, 3) for v in self.peak]
        return out


class _Event:
    """An open alert, mutable while it lasts; snapshots go out as AlertUpdate."""

    def __init__(self, alert_id: int, type_: str, severity: str, t: float, frame: int, start_t: float,
                 start_frame: int, speed: float, stats: _PoseStats, rule: str) -> None:
        self.alert_id = alert_id
        self.type = type_
        self.severity = severity
        self.start_t, self.start_frame = start_t, start_frame
        self.alert_t, self.alert_frame = t, frame
        self.last_frame = frame
        self.escalations: list[tuple[str, float, int, str]] = [(severity, t, frame, rule)]
        self.speed = speed
        self.max_speed = speed
        self.stats = stats
        self.detail: dict[str, Any] = {}
        self.warned_t: float | None = t if SEVERITIES.index(severity) >= 1 else None
        self.glance_id: int | None = None

    def escalate(self, severity: str, t: float, frame: int, rule: str) -> None:
        self.severity = severity
        self.escalations.append((severity, t, frame, rule))
        if severity == "warning" or (severity == "critical" and self.warned_t is None):
            self.warned_t = t

    def snapshot(self, phase: str, t: float, frame: int, neutral: Pose, end_t: float | None = None) -> AlertUpdate:
        end = end_t if phase == "end" else None
        duration = (end if end is not None else t) - self.start_t
        return AlertUpdate(
            phase=phase, alert_id=self.alert_id, type=self.type, severity=self.severity, t=t, frame=frame,
            start_t=self.start_t, start_frame=self.start_frame, alert_t=self.alert_t, alert_frame=self.alert_frame,
            end_t=end, frames=(self.start_frame, self.last_frame), duration_s=round(duration, 6),
            escalations=tuple(self.escalations), speed_kmh=self.speed, max_speed_kmh=self.max_speed,
            zone=self.stats.zone(), pose=self.stats.summary(neutral), detail=dict(self.detail))


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity)


class AttentionMonitor:
    """Feeds on samples, returns alert updates. One instance per camera/driver seat."""

    def __init__(self, config: AttentionConfig | None = None) -> None:
        self.config = config if config is not None else AttentionConfig()
        self.config.validate()
        c = self.config
        self.classifier = ZoneClassifier(c.zones)
        self.learner = NeutralLearner(c.neutral)
        self._prev_t: float | None = None
        self._prev_frame: int | None = None
        self._speed: float | None = None
        self.gate_open = False
        self._gate_since: float | None = None
        self._next_alert = 1
        # glance state
        self._in_glance = False
        self._glance_id = 0
        self._glance_start = 0.0
        self._glance_frame = 0
        self._glance_stats = _PoseStats()
        self._glance_excluded = False   # covered by a long-distraction warning: VATS skips it
        self._glance_onset = 0.0        # the long-distraction clock's start (head movement onset)
        self._on_road_since: float | None = None   # first of the current run of visible on-road samples
        # first of the current run of samples that do not show the glance: on the road, or the
        # face lost near the road. The glance ends here once the run lasts return_confirm_s.
        self._returned_since: float | None = None
        self._prev_off = False          # the last visible sample was away (cone hysteresis)
        self._last_offset: tuple[float, float] | None = None   # of the last visible sample
        # recent visible samples (t, d_pitch, d_yaw) for the movement onset, back to
        # onset_backdate_s + onset_speed_window_s
        self._recent: deque[tuple[float, float, float]] = deque()
        # VATS: segments of counted glance time [start, end) (end None = open), with start frames
        self._segments: list[list[Any]] = []
        # availability
        self._lost_since: float | None = None
        self._lost_frame = 0
        self._back_since: float | None = None
        # drowsiness
        d = c.drowsiness
        self._eyes = EyeClosureTracker(d.ear_closed, d.ear_open)
        self._perclos = PerclosWindow(d.perclos_window_s)
        self._nods = NodDetector(d.nod_depth_deg, d.nod_recover_deg, d.nod_max_s, d.nod_window_s,
                                 d.nod_min_descent_s, d.nod_max_return_s, d.nod_bottom_fraction,
                                 d.nod_max_side_deg)
        self._closure_frame = 0
        # open events
        self.distraction: _Event | None = None
        self.unavailable: _Event | None = None
        self.eyes_closed: _Event | None = None
        self.perclos: _Event | None = None
        self.nodding: _Event | None = None
        self.zone: str = NO_FACE

    # ------------------------------------------------------------------ public helpers
    @property
    def neutral(self) -> Pose:
        return self.learner.neutral

    def active_alerts(self) -> list[AlertUpdate]:
        """Snapshots of the open alerts (for an overlay), as of the last sample."""
        t = self._prev_t if self._prev_t is not None else 0.0
        f = self._prev_frame if self._prev_frame is not None else 0
        return [e.snapshot("open", t, f, self.neutral) for e in self._open_events()]

    def glance_duration(self) -> float:
        """How long the current glance has lasted (0 on the road)."""
        if not self._in_glance or self._prev_t is None:
            return 0.0
        end = self._returned_since if self._returned_since is not None else self._prev_t
        return end - self._glance_start

    def driver_changed(self) -> None:
        """A new driver (seat memory, key fob ...): learn the neutral pose again."""
        self.learner.restart()

    def run(self, samples: Iterable[Sample]) -> list[Output]:
        out: list[Output] = []
        for s in samples:
            out.extend(self.update(s))
        return out

    # ------------------------------------------------------------------ the step
    def update(self, sample: Sample) -> list[Output]:
        """Consume one sample; return what changed, in the order it happened."""
        c = self.config
        t, frame = self._validate(sample)
        out: list[Output] = []

        # 1. speed and the gate
        if sample.speed_kmh is not None:
            self._speed = float(sample.speed_kmh)
        speed = self._speed if self._speed is not None else 0.0
        g = c.speed_gate
        if not self.gate_open and speed >= g.min_speed_kmh:
            self.gate_open, self._gate_since = True, t
            out.append(StateChange(t, frame, "speed_gate_open", {"speed_kmh": speed}))
        elif self.gate_open and speed < g.min_speed_kmh - g.hysteresis_kmh:
            self.gate_open, self._gate_since = False, None
            out.append(StateChange(t, frame, "speed_gate_closed", {"speed_kmh": speed}))
            pending = self._in_glance and self._returned_since is not None
            self._close_segment(self._returned_since if pending and self._returned_since is not None else t)

        # 2. the neutral pose
        visible = sample.pose is not None and sample.trusted
        pose: Pose | None = None
        if visible:
            assert sample.pose is not None
            pose = (float(sample.pose[0]), float(sample.pose[1]), float(sample.pose[2]))
        learned = self.learner.update(t, pose, speed)
        if learned is not None:
            name = "neutral_learned" if learned.kind == "learned" else "neutral_relearn"
            out.append(StateChange(t, frame, name, {"neutral": list(learned.neutral)}))
            self._recent.clear()        # offsets from the old neutral

        # 3. where the driver looks: "on", "off" or "unknown"
        offset: tuple[float, float] | None = None
        if pose is not None:
            dp, dy, _ = relative_pose(pose, self.learner.neutral)
            offset = (dp, dy)
            zone = self.classifier.zone(dp, dy, was_off_road=self._prev_off)
            off = self.classifier.counts_off_road(zone)
            self._prev_off = zone != ROAD
            cls = "off" if off else "on"
            self._last_offset = offset
            self._recent.append((t, dp, dy))
            horizon = t - c.long_distraction.onset_backdate_s - c.long_distraction.onset_speed_window_s
            while len(self._recent) >= 2 and self._recent[1][0] <= horizon:
                self._recent.popleft()   # keep one sample at or before the horizon
        else:
            zone, cls = NO_FACE, "unknown"
            self._recent.clear()         # an onset is only judged over samples that were seen
        self.zone = zone

        # 4. glances
        if cls == "off":
            self._on_road_since = self._returned_since = None
            if not self._in_glance:
                self._in_glance = True
                self._glance_id += 1
                self._glance_start, self._glance_frame = t, frame
                self._glance_onset = self._movement_onset(t)
                self._glance_stats = _PoseStats()
                self._glance_excluded = False
        elif cls == "unknown":
            self._on_road_since = None
            if self._in_glance and self._returned_since is None and not self._lost_far():
                self._returned_since = t     # lost near the road: as good as a return
        else:
            if self._on_road_since is None:
                self._on_road_since = t
            if self._returned_since is None:
                self._returned_since = t
        if (self._in_glance and self._returned_since is not None
                and t - self._returned_since >= c.glance.return_confirm_s - TIME_EPS):
            out.extend(self._end_glance(t, frame))
        ongoing = self._in_glance and self._returned_since is None   # this sample shows the glance
        if ongoing:
            self._glance_stats.add(zone, pose, offset)
            if self.distraction is not None and self.distraction.glance_id == self._glance_id:
                self.distraction.last_frame = frame

        # 5. availability
        out.extend(self._availability(t, frame, visible, speed))

        # 6. VATS reset after enough time back on the road
        if (self._on_road_since is not None and t - self._on_road_since >= c.vats.reset_on_road_s - TIME_EPS
                and (self._segments or (self.distraction is not None and self.distraction.type == VATS))):
            self._segments = []
            if self.distraction is not None and self.distraction.type == VATS:
                ev, self.distraction = self.distraction, None
                out.append(ev.snapshot("end", t, frame, self.neutral, end_t=self._on_road_since))

        # 7. distraction rules
        if ongoing:
            if self.gate_open and c.vats.enabled and not self._glance_excluded and not self._open_segment():
                self._segments.append([t, None, frame])
            if self.distraction is not None:
                self.distraction.stats.add(zone, pose, offset)
                self.distraction.max_speed = max(self.distraction.max_speed, speed)
            if self.gate_open:
                out.extend(self._distraction_rules(t, frame, speed, zone, pose, offset))
        elif self.distraction is not None:
            self.distraction.max_speed = max(self.distraction.max_speed, speed)

        # 8. drowsiness
        if c.drowsiness.enabled:
            out.extend(self._drowsiness(sample, t, frame, cls, offset, speed))

        self._prev_t, self._prev_frame = t, frame
        return out

    # ------------------------------------------------------------------ pieces
    def _validate(self, s: Sample) -> tuple[float, int]:
        try:
            frame = int(s.frame)
        except (TypeError, ValueError):
            raise SampleError(f"sample frame index {s.frame!r} is not an integer") from None
        try:
            t = float(s.t)
        except (TypeError, ValueError):
            raise SampleError(f"frame {frame}: timestamp {s.t!r} is not a number") from None
        if not math.isfinite(t):
            raise SampleError(f"frame {frame}: timestamp {t} is not finite")
        if self._prev_t is not None and t <= self._prev_t:
            raise SampleError(f"frame {frame}: timestamp {t} s is not after the previous sample's "
                              f"{self._prev_t} s (frame {self._prev_frame}); samples must arrive in time order")
        if s.pose is not None:
            if len(s.pose) != 3 or not all(isinstance(v, (int, float, np.floating, np.integer)) and math.isfinite(v)
                                           for v in s.pose):
                raise SampleError(f"frame {frame}: pose must be 3 finite numbers (pitch, yaw, roll), got {s.pose!r}")
        if s.speed_kmh is not None and (not math.isfinite(float(s.speed_kmh)) or float(s.speed_kmh) < 0):
            raise SampleError(f"frame {frame}: speed_kmh must be a finite number >= 0, got {s.speed_kmh!r}")
        if s.landmarks is not None:
            n = np.size(s.landmarks)
            if n != 136:
                raise SampleError(f"frame {frame}: landmarks must hold 136 values (68 x, y pairs), got {n}")
        return t, frame

    def _new_event(self, type_: str, severity: str, t: float, frame: int, start_t: float, start_frame: int,
                   speed: float, stats: _PoseStats, rule: str) -> _Event:
        ev = _Event(self._next_alert, type_, severity, t, frame, start_t, start_frame, speed, stats, rule)
        self._next_alert += 1
        return ev

    def _open_events(self) -> list[_Event]:
        return [e for e in (self.distraction, self.unavailable, self.eyes_closed, self.perclos, self.nodding)
                if e is not None]

    def _open_segment(self) -> bool:
        return bool(self._segments) and self._segments[-1][1] is None

    def _close_segment(self, end: float) -> None:
        if self._open_segment():
            seg = self._segments[-1]
            seg[1] = max(seg[0], end)
            if seg[1] <= seg[0]:
                self._segments.pop()

    def _lost_far(self) -> bool:
        """Whether the face was lost at a far pose (the glance then continues unseen)."""
        return self._last_offset is not None and self.classifier.far_from_road(
            self._last_offset[0], self._last_offset[1], self.config.glance.face_lost_far_margin_deg)

    def _movement_onset(self, t: float) -> float:
        """When the head movement that took the head off the road at ``t`` began (>= t - onset_backdate_s).

        A sample is part of the movement when, since the sample ``onset_speed_window_s``
        before it, the head moved >= ``onset_speed_deg_s`` towards where it left the road
        (the exit sample's offset direction). The onset is the earliest sample of the unbroken
        run of such samples that ends at the exit. A sample's state holds until the next, so a
        head that jumped between two samples moved at the later one: a step is not backdated.
        """
        ld = self.config.long_distraction
        h = self._recent
        if ld.onset_backdate_s <= 0 or len(h) < 2 or h[-1][0] != t:
            return t
        norm = math.hypot(h[-1][1], h[-1][2])
        if norm <= 0.0:
            return t
        up, uy = h[-1][1] / norm, h[-1][2] / norm
        limit = t - ld.onset_backdate_s
        onset = t
        j = len(h) - 1                  # baseline of sample i: the latest one >= window before it
        for i in range(len(h) - 1, 0, -1):
            ti, pi, yi = h[i]
            j = min(j, i - 1)
            while j >= 0 and h[j][0] > ti - ld.onset_speed_window_s + TIME_EPS:
                j -= 1
            if j < 0:
                break                   # not seen long enough to judge
            tj, pj, yj = h[j]
            if ((pi - pj) * up + (yi - yj) * uy) / (ti - tj) < ld.onset_speed_deg_s - 1e-9:
                break
            onset = ti
            if ti <= limit + TIME_EPS:
                break                   # older samples could only be clamped to the limit
        return max(onset, limit)

    def _end_glance(self, t: float, frame: int) -> list[Output]:
        """The driver has been back long enough: the glance ended at _returned_since."""
        assert self._returned_since is not None
        end = self._returned_since
        self._close_segment(end)
        self._in_glance = False
        out: list[Output] = []
        ev = self.distraction
        if ev is not None and ev.type == LONG_DISTRACTION and ev.glance_id == self._glance_id:
            self.distraction = None
            ev.detail["glance_s"] = round(end - self._glance_start, 6)
            out.append(ev.snapshot("end", t, frame, self.neutral, end_t=end))
        elif ev is not None and ev.type == VATS:
            ev.detail["longest_glance_s"] = round(max(ev.detail.get("longest_glance_s", 0.0),
                                                      end - self._glance_start), 6)
        return out

    def _vats_cumulative(self, t: float) -> float:
        lo = t - self.config.vats.window_s
        total = 0.0
        for start, end, _ in self._segments:
            e = t if end is None else end
            total += max(0.0, min(e, t) - max(start, lo))
        return total

    def _gated_glance_clock(self, t: float) -> float:
        """The one-glance clock (long distraction, "away" escalation): from the movement onset."""
        assert self._gate_since is not None
        return t - max(self._glance_onset, self._gate_since)

    def _distraction_rules(self, t: float, frame: int, speed: float, zone: str, pose: Pose | None,
                           offset: tuple[float, float] | None) -> list[Output]:
        c = self.config
        out: list[Output] = []
        clock = self._gated_glance_clock(t)
        ld = c.long_distraction
        ev = self.distraction
        # long distraction: start, or escalate within the same glance
        if ld.enabled and (ev is None or (ev.type == LONG_DISTRACTION and ev.glance_id == self._glance_id)):
            level = None
            if clock >= ld.warning_at(speed) - TIME_EPS:
                level = "warning"
            elif ld.prewarning_s is not None and clock >= ld.prewarning_s - TIME_EPS:
                level = "prewarning"
            if level is not None and ev is None:
                ev = self._new_event(LONG_DISTRACTION, level, t, frame, self._glance_start, self._glance_frame,
                                     speed, self._glance_stats.copy(), "long_distraction")
                ev.detail["onset_t"] = round(self._glance_onset, 6)
                ev.glance_id = self._glance_id
                ev.last_frame = frame
                self.distraction = ev
                out.append(ev.snapshot("start", t, frame, self.neutral))
            elif level is not None and ev is not None and _rank(level) > _rank(ev.severity):
                ev.escalate(level, t, frame, "long_distraction")
                out.append(ev.snapshot("escalate", t, frame, self.neutral))
            if ev is not None and ev.type == LONG_DISTRACTION and ev.warned_t is not None and not self._glance_excluded:
                # one glance, one alert: time already warned about is not counted again by VATS
                self._glance_excluded = True
                self._segments = []
        # VATS: start, or take over a pre-warning that has not yet become a warning
        if c.vats.enabled and not self._glance_excluded:
            cumulative = self._vats_cumulative(t)
            if cumulative >= c.vats.budget_s - TIME_EPS:
                lo = t - c.vats.window_s
                first = next((s for s in self._segments if (s[1] if s[1] is not None else t) > lo), None)
                start_t, start_frame = (first[0], first[2]) if first is not None else (self._glance_start,
                                                                                      self._glance_frame)
                if ev is None:
                    ev = self._new_event(VATS, "warning", t, frame, start_t, start_frame, speed,
                                         self._glance_stats.copy(), "vats")
                    ev.glance_id = self._glance_id
                    ev.last_frame = frame
                    ev.detail["cumulative_s"] = round(cumulative, 6)
                    self.distraction = ev
                    out.append(ev.snapshot("start", t, frame, self.neutral))
                elif ev.severity == "prewarning":
                    # the pre-warned glance tips the time-sharing budget: the warning comes from
                    # VATS, and the event becomes a VATS event (it now lasts until the 2 s reset)
                    ev.type = VATS
                    ev.detail.pop("onset_t", None)     # VATS sums what the zones saw
                    ev.start_t, ev.start_frame = min(ev.start_t, start_t), min(ev.start_frame, start_frame)
                    ev.detail["cumulative_s"] = round(cumulative, 6)
                    ev.escalate("warning", t, frame, "vats")
                    out.append(ev.snapshot("escalate", t, frame, self.neutral))
        # unresponsive: critical
        ev = self.distraction
        if ev is not None and ev.severity != "critical" and ev.warned_t is not None and ev.warned_t < t:
            u = c.unresponsive
            same = ev.glance_id == self._glance_id
            after = u.after_warning_s is not None and same and t - ev.warned_t >= u.after_warning_s - TIME_EPS
            away = u.away_s is not None and clock >= u.away_s - TIME_EPS
            if after or away:
                ev.escalate("critical", t, frame, "unresponsive_after_warning" if after else "unresponsive_away")
                out.append(ev.snapshot("escalate", t, frame, self.neutral))
        if ev is not None and ev.type == VATS:
            ev.last_frame = frame
            ev.detail["cumulative_s"] = round(max(ev.detail.get("cumulative_s", 0.0), self._vats_cumulative(t)), 6)
        return out

    def _availability(self, t: float, frame: int, visible: bool, speed: float) -> list[Output]:
        a = self.config.availability
        out: list[Output] = []
        if visible:
            if self._lost_since is not None:
                if self._back_since is None:
                    self._back_since = t
                if t - self._back_since >= a.available_confirm_s - TIME_EPS:
                    back = self._back_since
                    self._lost_since = self._back_since = None
                    if self.unavailable is not None:
                        ev, self.unavailable = self.unavailable, None
                        out.append(ev.snapshot("end", t, frame, self.neutral, end_t=back))
            return out
        self._back_since = None
        if self._lost_since is None:
            self._lost_since, self._lost_frame = t, frame
        if self.unavailable is not None:
            self.unavailable.last_frame = frame
            self.unavailable.max_speed = max(self.unavailable.max_speed, speed)
            return out
        if self.gate_open:
            assert self._gate_since is not None
            if t - max(self._lost_since, self._gate_since) >= a.unavailable_after_s - TIME_EPS:
                stats = _PoseStats()
                stats.add(NO_FACE, None, None)
                ev = self._new_event(UNAVAILABLE, "warning", t, frame, self._lost_since, self._lost_frame, speed,
                                     stats, "unavailable")
                ev.warned_t = None  # "cannot see the driver" is a status, not a warning to respond to
                ev.detail["during_glance"] = self._in_glance
                self.unavailable = ev
                out.append(ev.snapshot("start", t, frame, self.neutral))
        return out

    def _drowsiness(self, sample: Sample, t: float, frame: int, cls: str, offset: tuple[float, float] | None,
                    speed: float) -> list[Output]:
        c = self.config
        d = c.drowsiness
        out: list[Output] = []
        # eyes are judged only with landmarks and the head on the road
        ear: float | None = None
        if cls == "on" and sample.landmarks is not None:
            ear = eye_aspect_ratio(np.asarray(sample.landmarks, dtype=np.float64))
            if not math.isfinite(ear):
                ear = None
        was_closed_since = self._eyes.closed_since
        shows_closed, opened_at = self._eyes.update(t, ear)
        if self._eyes.closed_since is not None and self._eyes.closed_since != was_closed_since:
            self._closure_frame = frame
        self._perclos.update(t, None if ear is None else self._eyes.closed)
        if opened_at is not None and self.eyes_closed is not None:
            ev, self.eyes_closed = self.eyes_closed, None
            out.append(ev.snapshot("end", t, frame, self.neutral, end_t=opened_at))
        if shows_closed:
            assert self._eyes.closed_since is not None
            ev_c = self.eyes_closed
            if ev_c is not None:
                ev_c.last_frame = frame
                ev_c.max_speed = max(ev_c.max_speed, speed)
            if self.gate_open:
                assert self._gate_since is not None
                clock = t - max(self._eyes.closed_since, self._gate_since)
                if ev_c is None and clock >= d.eye_closure_warning_s - TIME_EPS:
                    ev_c = self._new_event(EYES_CLOSED, "warning", t, frame, self._eyes.closed_since,
                                           self._closure_frame, speed, _PoseStats(), "eye_closure")
                    ev_c.detail["ear"] = round(ear, 4) if ear is not None else None
                    self.eyes_closed = ev_c
                    out.append(ev_c.snapshot("start", t, frame, self.neutral))
                elif ev_c is not None and ev_c.severity != "critical" and ev_c.warned_t is not None \
                        and ev_c.warned_t < t:
                    u = c.unresponsive
                    after = u.after_warning_s is not None and t - ev_c.warned_t >= u.after_warning_s - TIME_EPS
                    away = u.away_s is not None and clock >= u.away_s - TIME_EPS
                    if after or away:
                        ev_c.escalate("critical", t, frame,
                                      "unresponsive_after_warning" if after else "unresponsive_away")
                        out.append(ev_c.snapshot("escalate", t, frame, self.neutral))
        # PERCLOS
        value, observed = self._perclos.value(t)
        if self.perclos is not None:
            self.perclos.last_frame = frame
            self.perclos.max_speed = max(self.perclos.max_speed, speed)
            if value is None or value < d.perclos_clear:
                ev, self.perclos = self.perclos, None
                ev.detail["perclos_end"] = None if value is None else round(value, 4)
                out.append(ev.snapshot("end", t, frame, self.neutral, end_t=t))
            else:
                ev = self.perclos
                ev.detail["perclos_max"] = round(max(ev.detail["perclos_max"], value), 4)
        elif (self.gate_open and value is not None and observed >= d.perclos_min_observed_s - TIME_EPS
              and value >= d.perclos_warning - 1e-9):
            # the drowsy state starts when PERCLOS crosses the threshold (it has no sharper onset)
            ev = self._new_event(DROWSY_PERCLOS, "warning", t, frame, t, frame, speed, _PoseStats(), "perclos")
            ev.detail.update({"perclos": round(value, 4), "perclos_max": round(value, 4),
                              "observed_s": round(observed, 3)})
            self.perclos = ev
            out.append(ev.snapshot("start", t, frame, self.neutral))
        # nodding (head only)
        if offset is None:
            self._nods.update(t, None)
        else:
            self._nods.update(t, offset[0], offset[1])
        count = self._nods.count(t)
        if self.nodding is not None:
            self.nodding.last_frame = frame
            if count < d.nods_for_warning:
                ev, self.nodding = self.nodding, None
                out.append(ev.snapshot("end", t, frame, self.neutral, end_t=t))
            else:
                self.nodding.detail["nods"] = max(self.nodding.detail["nods"], count)
        elif self.gate_open and count >= d.nods_for_warning:
            first_start = self._nods.nods[-count][0]
            ev = self._new_event(NODDING, "warning", t, frame, first_start, frame, speed, _PoseStats(), "nodding")
            ev.detail["nods"] = count
            self.nodding = ev
            out.append(ev.snapshot("start", t, frame, self.neutral))
        return out


# ---------------------------------------------------------------------- feeding helpers


def samples_from_arrays(times: Sequence[float] | np.ndarray, poses: Sequence[Sequence[float]] | np.ndarray,
                        speeds: Sequence[float] | np.ndarray | float | None = None,
                        face_present: Sequence[bool] | np.ndarray | None = None,
                        frames: Sequence[int] | np.ndarray | None = None,
                        landmarks: Sequence[Any] | np.ndarray | None = None) -> Iterator[Sample]:
    """Samples from per-frame arrays (a MotionTrack's times, pose_vehicle, speed_kmh ...).

    speeds: one value per frame, a single constant, or None (unknown). face_present False
    turns that frame's pose into "no face". frames default to 0, 1, 2 ...
    """
    n = len(times)
    if len(poses) != n:
        raise ValueError(f"poses: {len(poses)} frames, times has {n}")
    for name, arr in (("face_present", face_present), ("frames", frames), ("landmarks", landmarks)):
        if arr is not None and len(arr) != n:
            raise ValueError(f"{name}: {len(arr)} frames, times has {n}")
    if speeds is not None and not isinstance(speeds, (int, float)) and len(speeds) != n:
        raise ValueError(f"speeds: {len(speeds)} frames, times has {n}")
    for i in range(n):
        present = True if face_present is None else bool(face_present[i])
        p = poses[i]
        if isinstance(speeds, (int, float)) or speeds is None:
            sp = None if speeds is None else float(speeds)
        else:
            sp = float(speeds[i])
        yield Sample(
            t=float(times[i]),
            frame=int(frames[i]) if frames is not None else i,
            pose=(float(p[0]), float(p[1]), float(p[2])) if present else None,
            speed_kmh=sp,
            landmarks=None if landmarks is None or not present else landmarks[i],
        )


def samples_from_track(track: Any, face_present: Sequence[bool] | np.ndarray | None = None) -> Iterator[Sample]:
    """Samples from a synth.track.MotionTrack (duck-typed: times, pose_vehicle, speed_kmh).

    The track's pose is vehicle-relative, so the monitor's prior neutral (0, 0, 0) is exact.
    """
    return samples_from_arrays(track.times, track.pose_vehicle, track.speed_kmh, face_present=face_present)


def alerts(outputs: Iterable[Output]) -> list[AlertUpdate]:
    """Only the alert updates of a monitor's output."""
    return [o for o in outputs if isinstance(o, AlertUpdate)]
