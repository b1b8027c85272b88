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
    # A gap longer than this between samples counts as this much time (a stalled feed
    # must not complete learning in one jump). Engineering: 10 frames at 20 Hz.
    max_gap_s: float = 0.5
    # A new driver needs a stop and an empty seat: the face gone this long while slower
    # than relearn_max_speed_kmh starts learning again. Engineering: a driver swap takes
    # well over 10 s; 5 km/h allows creeping in a car park.
    relearn_absent_s: float = 10.0
    relearn_max_speed_kmh: float = 5.0

    def validate(self, where: str = "neutral") -> None:
        for name in ("learn_s", "gate_pitch_deg", "gate_yaw_deg", "max_gap_s", "relearn_absent_s"):
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

    def validate(self, where: str = "glance") -> None:
        _positive(self.return_confirm_s, f"{where}.return_confirm_s", allow_zero=True)


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

    def warning_at(self, speed_kmh: float) -> float:
        chosen = self.warning_s
        for from_kmh, seconds in self.warning_s_by_speed:
            if speed_kmh >= from_kmh:
                chosen = seconds
        return chosen

    def validate(self, where: str = "long_distraction") -> None:
        _positive(self.prewarning_s, f"{where}.prewarning_s", allow_none=True)
        _positive(self.warning_s, f"{where}.warning_s")
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
    # Nodding (head-only), all engineering: the pitch sinks >= 15 deg below neutral taking
    # >= 0.5 s to reach its deepest point, jerks back above -5 deg within 0.5 s of it, 3 s
    # at most in all; 2 such nods in 60 s raise a drowsiness warning. Conversational nods
    # are 5-10 deg; a deliberate look at the lap drops in ~0.2-0.3 s (as fast as it returns),
    # a dozing head sinks slowly and snaps back.
    nod_depth_deg: float = 15.0
    nod_recover_deg: float = 5.0
    nod_min_descent_s: float = 0.5
    nod_max_return_s: float = 0.5
    nod_max_s: float = 3.0
    nods_for_warning: int = 2
    nod_window_s: float = 60.0

    def validate(self, where: str = "drowsiness") -> None:
        for name in ("ear_closed", "ear_open", "eye_closure_warning_s", "perclos_window_s", "perclos_warning",
                     "perclos_clear", "perclos_min_observed_s", "nod_depth_deg", "nod_recover_deg", "nod_max_s",
                     "nod_window_s", "nod_min_descent_s", "nod_max_return_s"):
            _positive(getattr(self, name), f"{where}.{name}")
        _check(self.ear_open >= self.ear_closed, f"{where}.ear_open", "must be >= ear_closed")
        _check(self.perclos_clear <= self.perclos_warning < 1.0, f"{where}.perclos_clear",
               "need perclos_clear <= perclos_warning < 1")
        _check(self.perclos_min_observed_s <= self.perclos_window_s, f"{where}.perclos_min_observed_s",
               "must not exceed perclos_window_s")
        _check(self.nod_recover_deg < self.nod_depth_deg, f"{where}.nod_recover_deg", "must be < nod_depth_deg")
        _check(self.nod_min_descent_s < self.nod_max_s, f"{where}.nod_min_descent_s", "must be < nod_max_s")
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
