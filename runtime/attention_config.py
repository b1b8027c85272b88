"""Every number the attention monitor uses, each with where its default comes from.

The monitor (runtime/attention.py) contains no magic numbers: it reads them from an
``AttentionConfig``. The defaults form the ``euro_ncap`` profile, the rules the industry
tests against (SPEC.md, "Attention alerts"); other profiles (``eu_addw``,
``openpilot``, ``nhtsa``, ``kia``) change only the numbers their source defines.

Sources cited below:

* Euro NCAP 2023-2026 Safe Driving / Driver Engagement protocol (occupant status
  monitoring): long distraction >= 3 s; visual attention time-sharing (VATS) >= 10 s
  off-road within 30 s, reset after >= 2 s back on the road; unresponsive driver: not
  back on the road within 3 s of a warning, or away >= 6 s; "cannot see the driver" must
  be indicated within 10 s.
* EU ADDW, Commission Delegated Regulation (EU) 2023/2590: warn after 6 s of distraction
  at 20-50 km/h, within 3.5 s above 50 km/h.
* NHTSA visual-manual distraction guidelines (2013): single glances <= 2 s, total
  eyes-off-road time <= 12 s per task.
* openpilot (comma.ai) driver monitoring, ``selfdrive/monitoring/helpers.py``:
  ``_POSE_PITCH_THRESHOLD = 0.3133`` rad (17.95 deg, looking down), ``_POSE_YAW_THRESHOLD
  = 0.4020`` rad (23.03 deg), no limit on looking up, a learned per-driver neutral
  (``_POSE_CALIB_MIN_SPEED = 13`` m/s, 60 s of samples), alerts at 3 / 5 / 11 s
  (``_DISTRACTED_TIME = 11``, pre 8 s and prompt 6 s before terminal).
* Kia/Hyundai driver attention warning: 10 s off-road within 30 s above 20 km/h; clears
  after 2 s looking forward.
* Soukupova & Cech (2016), "Real-time eye blink detection using facial landmarks": the
  eye aspect ratio (EAR) and a closed-eye threshold of about 0.2.
* Dinges & Grace (1998), FHWA-MCRT-98-006 "PERCLOS: a valid psychophysiological measure
  of alertness": proportion of time the eyes are >= 80 % closed over 1 min; about 15 %
  marks a drowsy driver (Wierwille et al. 1994).
* Caffier et al. (2003), blink duration: alert blinks ~0.1-0.4 s, drowsy blinks longer.

Numbers marked "engineering" are our choices; the comment says why. All angles are in
degrees in the dms-head-v1 convention (dms/angles.py): pitch > 0 up, yaw > 0 towards the
driver's right. All times are seconds of the sample clock, speeds km/h.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable

SEVERITIES: tuple[str, ...] = ("prewarning", "warning", "critical")


class ConfigError(ValueError):
    """A configuration value that is missing, of the wrong type, or inconsistent."""


def _check(cond: bool, where: str, msg: str) -> None:
    if not cond:
        raise ConfigError(f"attention config: {where}: {msg}")


def _positive(value: float | None, where: str, allow_none: bool = False, allow_zero: bool = False) -> None:
    if value is None:
        _check(allow_none, where, "must be a number, got None")
        return
    _check(isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value),
           where, f"must be a finite number, got {value!r}")
    _check(value > 0 or (allow_zero and value == 0), where, f"must be {'>= 0' if allow_zero else '> 0'}, got {value}")


@dataclass(frozen=True)
class ZoneBox:
    """A gaze zone as a box of head-pose offsets from the driver's neutral pose.

    Offsets, not absolute angles, so that one table fits every driver and camera mount
    once the neutral is learned. Written for a left-hand-drive car; right-hand drive
    mirrors yaw (zones.py). Bounds are inclusive; the first matching box wins.
    """

    name: str
    pitch_min: float
    pitch_max: float
    yaw_min: float
    yaw_max: float
    driving_related: bool  # mirrors, cluster, shoulder checks: part of driving, yet away from the road

    def contains(self, d_pitch: float, d_yaw: float) -> bool:
        return self.pitch_min <= d_pitch <= self.pitch_max and self.yaw_min <= d_yaw <= self.yaw_max


# Head-pose offsets (not gaze): the head turns only part of a gaze shift ("owl" vs
# "lizard"), so each box starts where head pose leaves the on-road cone. Engineering
# values for a mid-size left-hand-drive car, checked in this order after the road cone.
DEFAULT_ZONES: tuple[ZoneBox, ...] = (
    ZoneBox("cluster", -40.0, -18.0, -15.0, 15.0, True),        # straight down behind the wheel
    ZoneBox("infotainment", -50.0, -10.0, 15.0, 45.0, False),   # down and to the centre console
    ZoneBox("rear_mirror", 5.0, 35.0, 15.0, 45.0, True),        # up and right, windscreen centre
    ZoneBox("left_mirror", -20.0, 10.0, -65.0, -23.0, True),    # driver's door mirror
    ZoneBox("right_mirror", -20.0, 10.0, 45.0, 75.0, True),     # across the cabin
    ZoneBox("left_shoulder", -30.0, 30.0, -150.0, -65.0, True),  # blind-spot check
    ZoneBox("right_shoulder", -30.0, 30.0, 75.0, 150.0, True),
    ZoneBox("lap", -90.0, -40.0, -90.0, 90.0, False),           # phone in the lap, feet
)


@dataclass(frozen=True)
class ZoneConfig:
    """The on-road cone and the other zones, as offsets from the learned neutral pose."""

    # openpilot _POSE_YAW_THRESHOLD 0.4020 rad = 23.03 deg either side.
    road_yaw_deg: float = 23.0
    # openpilot _POSE_PITCH_THRESHOLD 0.3133 rad = 17.95 deg below neutral.
    road_pitch_down_deg: float = 18.0
    # openpilot sets no upper limit; ours is bounded so a look at the sun visor or roof
    # counts as away. 25 deg = openpilot's pre-calibration _PITCH_NATURAL_THRESHOLD 0.449 rad.
    road_pitch_up_deg: float = 25.0
    # Engineering: once away, the head must come this far back inside the cone to count as
    # on the road again, so a head resting on the cone's edge does not flicker in and out.
    hysteresis_deg: float = 2.0
    # "left" (driver on the left, LHD: continental Europe, US) or "right" (UK, Japan):
    # right-hand drive mirrors yaw and swaps left/right zone names.
    driver_side: str = "left"
    zones: tuple[ZoneBox, ...] = DEFAULT_ZONES
    # Euro NCAP measures time away from the forward road, so mirror and cluster glances
    # count (a 4 s stare into a mirror is 4 s not watching the road). False treats them
    # as attentive, the looser reading some OEMs use (Mulhall et al., Seeing Machines 2023,
    # show it changes alert rates).
    driving_related_counts_off_road: bool = True

    def validate(self, where: str = "zones") -> None:
        for name in ("road_yaw_deg", "road_pitch_down_deg", "road_pitch_up_deg"):
            _positive(getattr(self, name), f"{where}.{name}")
        _positive(self.hysteresis_deg, f"{where}.hysteresis_deg", allow_zero=True)
        _check(self.hysteresis_deg < min(self.road_yaw_deg, self.road_pitch_down_deg, self.road_pitch_up_deg),
               f"{where}.hysteresis_deg", "must be smaller than every half-width of the road cone")
        _check(self.driver_side in ("left", "right"), f"{where}.driver_side",
               f"must be 'left' or 'right', got {self.driver_side!r}")
        for i, z in enumerate(self.zones):
            _check(z.pitch_min <= z.pitch_max and z.yaw_min <= z.yaw_max, f"{where}.zones[{i}] ({z.name})",
                   "min bounds must not exceed max bounds")
            _check(z.name not in ("road", "off_road", "no_face"), f"{where}.zones[{i}]",
                   f"{z.name!r} is a reserved zone name")


@dataclass(frozen=True)
class NeutralConfig:
    """Learning the driver's own forward-looking pose online."""

    # Installation value, not a rule: the pose of a driver looking down the road as the
    # camera sees it, set per vehicle from the camera mount. Used until a neutral is
    # learned (openpilot's _PITCH/_YAW_NATURAL_OFFSET play this part). 0 = camera straight ahead.
    prior_pitch_deg: float = 0.0
    prior_yaw_deg: float = 0.0
    prior_roll_deg: float = 0.0
    # Drivers look at the road most of the time at speed; openpilot learns above 13 m/s
    # (47 km/h). Engineering: 20 km/h, the speed gate's default, so urban trips learn too;
    # the median below tolerates the glances that lower speeds bring.
    min_speed_kmh: float = 20.0
    # Engineering: 10 s of qualifying samples. The median ignores glances as long as they
    # fill < 50 % of that time. openpilot waits for 60 s (_POSE_OFFSET_MIN_COUNT).
    learn_s: float = 10.0
    # Engineering: only poses this close to the prior are used, which keeps mirror,
    # infotainment and shoulder glances out while allowing a ~15 deg error in the mount.
    gate_pitch_deg: float = 20.0
    gate_yaw_deg: float = 30.0
    # Engineering: the same gate for roll. The neutral's roll matters although the zones
    # compare only pitch and yaw: offsets are the rotation R_neutral^T R_pose, so a neutral
    # rolled by r turns a yaw of y into a pitch offset of about y sin r (a 40 deg mirror
    # glance against a neutral learned 20 deg rolled reads 14 deg of pitch), and the nod
    # detector reads that pitch. Without it a head resting against the door or a hand
    # (tilted 12-35 deg, synth/motion.py) or a sideways neck stretch (28-42 deg) through the
    # first 10 s at speed became the neutral (measured: a 22 deg roll learned, 19 deg off
    # the driver's posture). 15 deg passes postural roll, tracker noise and a camera mount
    # rolled by a few degrees: over 520 synthetic drives with 2.5 deg tracker noise, 10 deg
    # left 2 drivers unlearned after 2 min, 15 deg none.
    gate_roll_deg: float = 15.0
    # A gap longer than this between samples counts as this much time (a stalled feed
    # must not complete learning in one jump). Engineering: 10 frames at 20 Hz.
    max_gap_s: float = 0.5
    # A new driver needs a stop and an empty seat: the face gone this long while slower
    # than relearn_max_speed_kmh starts learning again. Engineering: a driver swap takes
    # well over 10 s; 5 km/h allows creeping in a car park.
    relearn_absent_s: float = 10.0
    relearn_max_speed_kmh: float = 5.0

    def validate(self, where: str = "neutral") -> None:
        for name in ("learn_s", "gate_pitch_deg", "gate_yaw_deg", "gate_roll_deg", "max_gap_s", "relearn_absent_s"):
            _positive(getattr(self, name), f"{where}.{name}")
        _positive(self.min_speed_kmh, f"{where}.min_speed_kmh", allow_zero=True)
        _positive(self.relearn_max_speed_kmh, f"{where}.relearn_max_speed_kmh", allow_zero=True)


@dataclass(frozen=True)
class SpeedGateConfig:
    """No alerts below this speed (parking, queues): the ADDW and Kia floor."""

    # EU ADDW (2023/2590) operates from 20 km/h; Kia's attention warning above 20 km/h.
    min_speed_kmh: float = 20.0
    # Engineering: the gate closes only below min - 2 km/h, so a car hovering at the
    # threshold does not open and close it (each opening restarts the alert clocks).
    hysteresis_kmh: float = 2.0

    def validate(self, where: str = "speed_gate") -> None:
        _positive(self.min_speed_kmh, f"{where}.min_speed_kmh", allow_zero=True)
        _positive(self.hysteresis_kmh, f"{where}.hysteresis_kmh", allow_zero=True)


@dataclass(frozen=True)
class GlanceConfig:
    """What makes one glance: the debounce that stops one glance becoming two."""

    # Engineering: the driver is back on the road only after this long on it. Shorter
    # on-road runs are tracking noise inside a glance (4-6 frames at 20-30 Hz) and count
    # as part of it; real on-road glances last longer (ISO 15007 glance durations).
    return_confirm_s: float = 0.2
    # Engineering: a face lost during a glance continues the glance (openpilot counts no
    # face like distraction: a head turned beyond the detector, towards the back seat, loses
    # the face) only if the last pose seen lay this far beyond the on-road cone. Lost nearer
    # the cone, the head may have been on its way back (a hand raised to the face just as a
    # mirror glance ends: in `dms evaluate-alerts` every face-lost false alert of normal
    # driving had the face lost within 3 deg of the cone's edge), so the loss ends the
    # glance instead, as a return would. 10 deg is 4x the tracker's 2.5 deg error (SPEC.md:
    # BIWI MAE ~3 deg) and 1-3 frames at 30 fps of a head returning at 100-300 deg/s (the
    # head-movement main sequence, Zangemeister et al. 1981).
    face_lost_far_margin_deg: float = 10.0

    def validate(self, where: str = "glance") -> None:
        _positive(self.return_confirm_s, f"{where}.return_confirm_s", allow_zero=True)
        _positive(self.face_lost_far_margin_deg, f"{where}.face_lost_far_margin_deg", allow_zero=True)


@dataclass(frozen=True)
class LongDistractionConfig:
    """One continuous glance away from the road."""

    enabled: bool = True
    # Off by default: Euro NCAP defines no pre-warning, and from 2026 false alarms on the
    # road cost points. When wanted, NHTSA's single-glance limit (<= 2 s) is the natural
    # value: a visual cue before the warning. The openpilot profile uses 3 s.
    prewarning_s: float | None = None
    # Euro NCAP long distraction: >= 3 s.
    warning_s: float = 3.0
    # Speed-dependent warning time as ((from_kmh, warning_s), ...), ascending; the entry
    # with the highest from_kmh <= speed applies. Empty: warning_s at every speed.
    # EU ADDW: ((20, 6.0), (50, 3.5)).
    warning_s_by_speed: tuple[tuple[float, float], ...] = ()
    # Engineering: the glance clock starts at the onset of the head movement that led off
    # the road, at most this long before the first off-road sample. The gaze leaves the road
    # as the head starts turning (the head starts with the gaze shift, Freedman 2008; in
    # driving it often leads, Land 1992), but the head pose crosses the cone's edge only late
    # in the turn, most for targets just beyond the edge (infotainment, cluster): measured in
    # `dms evaluate-alerts`, warnings came up to 0.37 s (p95 0.27 s) after the gaze-label due
    # time against the 0.2 s latency target. 0.2 s removes most of that lag while
    # bounding what backdating can add to any glance: a normal glance (<= 2.5 s) is not
    # pushed to 3 s; labelled glances of 2.8-3.0 s now may warn. 0 switches backdating off.
    # Only this clock (the 3 s warning and the 6 s "away" escalation of one glance) is
    # backdated; VATS sums what the zones saw.
    onset_backdate_s: float = 0.2
    # Engineering: a sample shows the head moving off the road when, over the last
    # onset_speed_window_s, it moved at least this fast (deg/s) towards where it left the
    # road. 30 deg/s is 10x postural sway (~1-3 deg at ~0.25 Hz, a few deg/s) and a third of
    # the peak speed of the slowest glance-sized head turns (~90 deg/s for 15 deg, main
    # sequence, Zangemeister et al. 1981): a slow drift across the edge is not backdated.
    onset_speed_deg_s: float = 30.0
    # Engineering: speeds over 0.1 s (3 frames at 30 fps), not frame to frame: a 2.5 deg
    # tracker error (the 2-3 deg), correlated over 0.3 s as `dms evaluate-alerts`
    # models it, moves ~35 deg/s between frames at 30 fps but ~13 deg/s over 0.1 s, while a head
    # slowing down on a target just past the cone's edge still covers 5+ deg in 0.1 s.
    onset_speed_window_s: float = 0.1

    def warning_at(self, speed_kmh: float) -> float:
        chosen = self.warning_s
        for from_kmh, seconds in self.warning_s_by_speed:
            if speed_kmh >= from_kmh:
                chosen = seconds
        return chosen

    def validate(self, where: str = "long_distraction") -> None:
        _positive(self.prewarning_s, f"{where}.prewarning_s", allow_none=True)
        _positive(self.warning_s, f"{where}.warning_s")
        _positive(self.onset_backdate_s, f"{where}.onset_backdate_s", allow_zero=True)
        _positive(self.onset_speed_deg_s, f"{where}.onset_speed_deg_s")
        _positive(self.onset_speed_window_s, f"{where}.onset_speed_window_s")
        last = -math.inf
        for i, entry in enumerate(self.warning_s_by_speed):
            _check(len(entry) == 2, f"{where}.warning_s_by_speed[{i}]", "must be (from_kmh, warning_s)")
            _positive(entry[0], f"{where}.warning_s_by_speed[{i}][0]", allow_zero=True)
            _positive(entry[1], f"{where}.warning_s_by_speed[{i}][1]")
            _check(entry[0] > last, f"{where}.warning_s_by_speed", "speeds must be strictly ascending")
            last = entry[0]
        if self.prewarning_s is not None:
            lowest = min([self.warning_s] + [s for _, s in self.warning_s_by_speed])
            _check(self.prewarning_s < lowest, f"{where}.prewarning_s", "must be shorter than every warning time")


@dataclass(frozen=True)
class VatsConfig:
    """Visual attention time-sharing: many short glances that add up."""

    enabled: bool = True
    # Euro NCAP VATS: >= 10 s off-road, cumulative, within a 30 s window.
    budget_s: float = 10.0
    window_s: float = 30.0
    # Euro NCAP / Kia: the accumulation resets after >= 2 s back on the road.
    reset_on_road_s: float = 2.0

    def validate(self, where: str = "vats") -> None:
        for name in ("budget_s", "window_s", "reset_on_road_s"):
            _positive(getattr(self, name), f"{where}.{name}")
        _check(self.budget_s <= self.window_s, f"{where}.budget_s", "must not exceed window_s")


@dataclass(frozen=True)
class UnresponsiveConfig:
    """When a warning escalates to critical (Euro NCAP unresponsive driver)."""

    # Euro NCAP: not back on the road within 3 s of a warning.
    after_warning_s: float | None = 3.0
    # Euro NCAP: or away >= 6 s in one go (never on the same sample as the warning).
    away_s: float | None = 6.0

    def validate(self, where: str = "unresponsive") -> None:
        _positive(self.after_warning_s, f"{where}.after_warning_s", allow_none=True)
        _positive(self.away_s, f"{where}.away_s", allow_none=True)


@dataclass(frozen=True)
class AvailabilityConfig:
    """No face, or a face the tracker does not trust: the driver cannot be monitored."""

    # Euro NCAP: must be indicated within 10 s. Engineering: 5 s leaves room for detector
    # latency and frame jitter while ignoring the 1-3 s a hand on the wheel hides the face.
    unavailable_after_s: float = 5.0
    # Engineering: the face must be back this long before "unavailable" ends, so a face
    # that flickers in and out is one unavailable event, not many.
    available_confirm_s: float = 0.5

    def validate(self, where: str = "availability") -> None:
        _positive(self.unavailable_after_s, f"{where}.unavailable_after_s")
        _positive(self.available_confirm_s, f"{where}.available_confirm_s", allow_zero=True)


@dataclass(frozen=True)
class DrowsinessConfig:
    """Eye closure, PERCLOS and nodding. Eye rules need landmarks; nodding needs pose only."""

    enabled: bool = True
    # Soukupova & Cech 2016: EAR ~0.2 separates closed from open eyes.
    ear_closed: float = 0.20
    # Engineering: reopening needs EAR >= 0.22 (hysteresis against landmark jitter).
    ear_open: float = 0.22
    # Long eye closure warning. Caffier et al. 2003: alert blinks last 0.1-0.4 s and drowsy
    # ones up to ~1 s; engineering: 1.5 s is beyond any blink, with margin for EAR noise.
    # Escalation to critical follows the unresponsive rule (3 s after this warning).
    eye_closure_warning_s: float = 1.5
    # Dinges & Grace 1998: PERCLOS over 1 min; ~15 % closed marks a drowsy driver.
    perclos_window_s: float = 60.0
    perclos_warning: float = 0.15
    # Engineering: the drowsy event ends once PERCLOS falls below 10 % (hysteresis).
    perclos_clear: float = 0.10
    # Engineering: PERCLOS is judged only once this much eye data lies in the window
    # (a 2 s closure in the first 3 s of a trip is not 66 % PERCLOS).
    perclos_min_observed_s: float = 30.0
    # Nodding (head only), all engineering. A dozing head sinks slowly, often rests, then
    # jerks back up as the driver wakes (synth/motion.py: 15-40 deg over 1-3 s, eyes shut
    # 1.5-5 s, back in 0.25-0.45 s); a look at the cluster, the console or the lap is a fast
    # head movement (main sequence, ~0.3-0.5 s for 15-50 deg, Zangemeister et al. 1981) that
    # holds, then returns. So a nod: the pitch offset sinks below -nod_recover_deg, goes at
    # least nod_depth_deg deep (conversational nods are 5-10 deg) and comes back above
    # -nod_recover_deg within nod_max_s; it took >= nod_min_descent_s to reach the bottom of
    # the drop, came back from the bottom within nod_max_return_s, and pointed straight
    # down. nods_for_warning nods within nod_window_s raise a drowsiness warning.
    nod_depth_deg: float = 15.0
    nod_recover_deg: float = 5.0
    # The bottom of the drop is reached at the first sample at least this fraction of the
    # deepest offset deep (and left at the last one). Measuring the descent to the single
    # deepest sample was the bug that made ~9 nodding alerts per hour of normal driving
    # (`dms evaluate-alerts`): in a held look-down, sway and tracker noise put the deepest
    # sample anywhere in the hold, so a fast cluster glance held 0.5 s "took 0.5 s to sink".
    # 0.7 is past the steep part of a smooth movement (a minimum-jerk step covers 70 % of
    # its amplitude at 61 % of its duration), and the 30 % left (>= 4.5 deg of a 15 deg
    # drop) is ~2x the tracker's error, so noise on the hold does not move the bottom.
    nod_bottom_fraction: float = 0.7
    # Time from -nod_recover_deg to the bottom, measured on synthetic drives: a nod takes
    # 0.3-1.0 s (p5-p95, median 0.6 s), a look down 0.07-0.27 s (p1-p95; 0.03-0.47 s with
    # 2.5 deg tracker noise). 0.4 s keeps ~75 % of single nods (two are needed).
    nod_min_descent_s: float = 0.4
    nod_max_return_s: float = 0.5
    # The drop may include a rest with the eyes shut: synthetic nods spend 1.2-4.3 s (p5-p95)
    # below -nod_recover_deg; the former 3 s missed half of them.
    nod_max_s: float = 5.0
    # A dozing head falls forward under its own weight: at the bottom the head must point
    # within this angle of straight down (atan(|d_yaw| / |d_pitch|)). Looks at the console
    # (~52 deg from straight down), phone (~16-20 deg, with the yaw noise on top) or a
    # mirror are turns towards a target. Synthetic nods drift 2 deg in yaw (std).
    nod_max_side_deg: float = 20.0
    nods_for_warning: int = 2
    nod_window_s: float = 60.0

    def validate(self, where: str = "drowsiness") -> None:
        for name in ("ear_closed", "ear_open", "eye_closure_warning_s", "perclos_window_s", "perclos_warning",
                     "perclos_clear", "perclos_min_observed_s", "nod_depth_deg", "nod_recover_deg", "nod_max_s",
                     "nod_window_s", "nod_min_descent_s", "nod_max_return_s", "nod_bottom_fraction",
                     "nod_max_side_deg"):
            _positive(getattr(self, name), f"{where}.{name}")
        _check(self.ear_open >= self.ear_closed, f"{where}.ear_open", "must be >= ear_closed")
        _check(self.perclos_clear <= self.perclos_warning < 1.0, f"{where}.perclos_clear",
               "need perclos_clear <= perclos_warning < 1")
        _check(self.perclos_min_observed_s <= self.perclos_window_s, f"{where}.perclos_min_observed_s",
               "must not exceed perclos_window_s")
        _check(self.nod_recover_deg < self.nod_depth_deg, f"{where}.nod_recover_deg", "must be < nod_depth_deg")
        _check(self.nod_min_descent_s < self.nod_max_s, f"{where}.nod_min_descent_s", "must be < nod_max_s")
        _check(self.nod_bottom_fraction <= 1.0, f"{where}.nod_bottom_fraction", "must be <= 1")
        _check(self.nod_max_side_deg <= 90.0, f"{where}.nod_max_side_deg", "must be <= 90")
        _check(isinstance(self.nods_for_warning, int) and self.nods_for_warning >= 1, f"{where}.nods_for_warning",
               "must be an integer >= 1")


@dataclass(frozen=True)
class AttentionConfig:
    """All the monitor's thresholds. Defaults = the Euro NCAP profile."""

    profile: str = "euro_ncap"
    zones: ZoneConfig = field(default_factory=ZoneConfig)
    neutral: NeutralConfig = field(default_factory=NeutralConfig)
    speed_gate: SpeedGateConfig = field(default_factory=SpeedGateConfig)
    glance: GlanceConfig = field(default_factory=GlanceConfig)
    long_distraction: LongDistractionConfig = field(default_factory=LongDistractionConfig)
    vats: VatsConfig = field(default_factory=VatsConfig)
    unresponsive: UnresponsiveConfig = field(default_factory=UnresponsiveConfig)
    availability: AvailabilityConfig = field(default_factory=AvailabilityConfig)
    drowsiness: DrowsinessConfig = field(default_factory=DrowsinessConfig)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        for f in dataclasses.fields(self):
            sub = getattr(self, f.name)
            if hasattr(sub, "validate"):
                sub.validate(f.name)
        _check(self.vats.reset_on_road_s >= self.glance.return_confirm_s, "vats.reset_on_road_s",
               "must be >= glance.return_confirm_s (a reset needs a completed return)")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: "AttentionConfig | None" = None) -> "AttentionConfig":
        """Overrides on top of ``base`` (default: euro_ncap); unknown keys are errors."""
        return _merge(base if base is not None else cls(), data, "")


def _merge(obj: Any, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"attention config: {where or 'top level'}: expected an object, got {type(data).__name__}")
    known = {f.name: f for f in dataclasses.fields(obj)}
    changes: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else key
        if key not in known:
            raise ConfigError(f"attention config: {path}: unknown field (known: {', '.join(sorted(known))})")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current) and not isinstance(current, type):
            changes[key] = _merge(current, value, path)
        elif key == "zones" and isinstance(value, (list, tuple)):
            try:
                changes[key] = tuple(z if isinstance(z, ZoneBox) else ZoneBox(**z) for z in value)
            except TypeError as exc:
                raise ConfigError(f"attention config: {path}: {exc}") from None
        elif key == "warning_s_by_speed" and isinstance(value, (list, tuple)):
            changes[key] = tuple(tuple(v) for v in value)
        else:
            if isinstance(current, bool) and not isinstance(value, bool):
                raise ConfigError(f"attention config: {path}: expected true/false, got {value!r}")
            if isinstance(current, (int, float)) and not isinstance(current, bool) and value is not None and (
                    isinstance(value, bool) or not isinstance(value, (int, float))):
                raise ConfigError(f"attention config: {path}: expected a number, got {value!r}")
            changes[key] = value
    try:
        return dataclasses.replace(obj, **changes)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"attention config: {where or 'top level'}: {exc}") from None


# ---------------------------------------------------------------------------------------
# Profiles: the same monitor under another rule book.


def euro_ncap() -> AttentionConfig:
    """Euro NCAP 2023-2026 (the default): 3 s long distraction, 10 s in 30 s VATS."""
    return AttentionConfig()


def eu_addw() -> AttentionConfig:
    """EU ADDW (Reg. 2023/2590): 6 s at 20-50 km/h, 3.5 s above 50 km/h; no VATS rule.

    ``away_s`` is off: with a 6 s warning an "away >= 6 s" critical would coincide with it.
    """
    return AttentionConfig(
        profile="eu_addw",
        long_distraction=LongDistractionConfig(prewarning_s=None, warning_s=6.0,
                                               warning_s_by_speed=((20.0, 6.0), (50.0, 3.5))),
        vats=VatsConfig(enabled=False),
        unresponsive=UnresponsiveConfig(after_warning_s=3.0, away_s=None),
    )


def openpilot() -> AttentionConfig:
    """openpilot's escalation: pre-alert 3 s, prompt 5 s, terminal 11 s; learns over 60 s at 47 km/h."""
    return AttentionConfig(
        profile="openpilot",
        neutral=NeutralConfig(min_speed_kmh=46.8, learn_s=60.0),
        long_distraction=LongDistractionConfig(prewarning_s=3.0, warning_s=5.0),
        vats=VatsConfig(enabled=False),
        unresponsive=UnresponsiveConfig(after_warning_s=6.0, away_s=11.0),
    )


def nhtsa() -> AttentionConfig:
    """NHTSA visual-manual guideline read as alerts: warn at a 2 s glance, 12 s in 30 s total.

    NHTSA gives 12 s per task, not per window; 30 s (Euro NCAP's window) is our reading.
    """
    return AttentionConfig(
        profile="nhtsa",
        long_distraction=LongDistractionConfig(prewarning_s=None, warning_s=2.0),
        vats=VatsConfig(budget_s=12.0, window_s=30.0, reset_on_road_s=2.0),
    )


def kia() -> AttentionConfig:
    """Kia/Hyundai: 10 s in 30 s above 20 km/h, clears after 2 s forward; no single-glance rule.

    ``away_s`` is off: a continuous 10 s glance reaches the VATS warning already "away >= 6 s".
    """
    return AttentionConfig(
        profile="kia",
        long_distraction=LongDistractionConfig(enabled=False, prewarning_s=None, warning_s=3.0),
        vats=VatsConfig(budget_s=10.0, window_s=30.0, reset_on_road_s=2.0),
        speed_gate=SpeedGateConfig(min_speed_kmh=20.0),
        unresponsive=UnresponsiveConfig(after_warning_s=3.0, away_s=None),
    )


PROFILES: dict[str, Callable[[], AttentionConfig]] = {
    "euro_ncap": euro_ncap,
    "eu_addw": eu_addw,
    "openpilot": openpilot,
    "nhtsa": nhtsa,
    "kia": kia,
}


def profile(name: str) -> AttentionConfig:
    try:
        return PROFILES[name]()
    except KeyError:
        raise ConfigError(f"attention config: unknown profile {name!r} (known: {', '.join(PROFILES)})") from None
