"""Alert accuracy: does the attention monitor warn when the rules say it must, and only then?

`dms evaluate-alerts` (runtime/alert_eval_cli.py) runs the monitor (runtime/attention.py)
over synthetic drives (synth/motion.py) whose every frame carries what the driver attends
to, derives from those labels when a warning is *due*, and scores the monitor's warnings
against the due events: recall, precision, latency after the due time, and false alerts
per hour of normal driving, with 95 % confidence bounds. Pure numpy (matplotlib only for
the optional PNG, imported where it is drawn); no torch.

Why the ground truth comes from labels and the monitor from head pose
----------------------------------------------------------------------
The labels say where the driver *looks* (the gaze target, switching when the planned gaze
is half way, synth/motion.py's label rule). The monitor sees only head pose, as the product
does. Scoring one against the other measures the whole chain: how well head pose stands in
for gaze, the cone and zone geometry, the learned neutral, the debouncing, and the rule
timing. The due times are computed here by a separate, deliberately simple implementation
of the written rules (intervals and sums, no state machine shared with the monitor), so a
bug in the monitor's bookkeeping cannot hide itself by also being in the reference. Only the
rule *numbers* (3 s, 10 s in 30 s, 2 s reset, the 20 km/h gate) come from the profile under
test, so `--profile eu_addw` is scored against the ADDW numbers.

The ground-truth rules (`due_events`)
------------------------------------
* Off road: every frame whose label is not in the on-road set. The on-road set is
  {"road"}; mirror, cluster and shoulder glances are off the forward road, as the monitor's
  default (`zones.driving_related_counts_off_road = True`) and Euro NCAP's "away from the
  forward road" read it. Routine ones are short (0.3-1.6 s in the motion model), so on
  their own they never make a long distraction; they do add to the VATS budget, and a
  mirror glance that runs straight into a phone glance without a look back at the road is
  one off-road interval. With `driving_related_counts_off_road = False` in the profile,
  driving-related targets count as on road here too (the looser OEM reading).
* Adjacent off-road labels (phone -> other) form one interval: the driver never looked back.
  Labels are exact, so no debounce is applied (the monitor's 0.2 s return confirmation
  exists for tracking noise, which labels do not have).
* Speed gate: open from the first frame at >= the gate speed, closed from the first frame
  below gate - hysteresis (the profile's numbers); a frame's state holds until the next.
* Long distraction: an off-road interval [a, b) whose gated clock reaches the threshold:
  clock = t - max(a, gate opening); due at the first t <= b where clock >= threshold, i.e.
  at a + 3.0 s for a glance that began at speed and lasted >= 3.0 s (exactly 3.0 s is due,
  at its last instant; 2.97 s is not). Speed-dependent thresholds (EU ADDW) use the speed
  at that instant.
* VATS: off-road time inside the speed gate, summed over the last 30 s, counting only
  since the last reset; a reset is >= 2 s continuously on the road. Due when the sum
  reaches 10 s; one due per episode (the next needs a reset first).
* One glance, one alert (the monitor's documented interplay, which Euro NCAP's separate
  test scenarios leave open): when a glance becomes a long-distraction due and no VATS
  episode is running, the VATS sum restarts from zero and the rest of that glance is not
  counted; a long distraction inside a running VATS episode is still a due event (it is
  then "covered" by the open VATS alert, see matching).

Matching (`match_events`)
-------------------------
The monitor's alert time is when it reaches "warning" (a pre-warning is not a warning;
pre-warning-only alerts are counted apart and are neither hits nor false alerts). Only
distraction alerts (long distraction, VATS) are scored; the match ignores their type,
because the monitor by design raises one alert per episode (a long glance inside an open
VATS alert escalates that alert instead of starting another).
* An alert matches a due event if its warning time lies in [due - early, due + late]:
  [-1 s, +2 s] for a long distraction, [-2.5 s, +2.5 s] for VATS (MATCH_* constants say
  why); pairs are taken closest first, each alert and each due at most once.
  latency = warning time - due time (negative = early).
* A due event left unmatched is "covered" when a *matched* alert was already warning and
  still open at the due time (one alert serving an LD and a VATS due of one episode); it
  counts as found but has no latency.
* Everything else is a miss; every unmatched alert is a false alert.

Verdicts (`verdicts`)
--------------------
Per pose condition, "pass" compares the point estimate with the target and "demonstrated"
the one-sided 95 % bound (Clopper-Pearson lower bound for recall, exact Poisson upper bound
for the false-alert rate). Latency is judged on its 95th percentile over the matched
scripted long distractions (the maximum is printed beside it). The "noisy" condition is the
realistic figure; "perfect" isolates the rules and the zone geometry from estimation error.
False alerts are counted per hour *at speed* (gate open: no alert can happen below it), and
broken down by cause: near the threshold (a labelled glance within 0.5 s of the rule's
length), face lost (the monitor continued a glance it could not see), other.

Pose input (`PoseErrorModel`)
-----------------------------
"perfect": the track's vehicle-relative head pose, exactly. "noisy": what a CNN + RNN
tracker reports: the pose seen from a real camera mount (installation scatter included),
plus a per-drive bias, plus temporally correlated estimation noise that grows towards
profile views, with the face lost beyond a near-profile angle and behind a hand. The
monitor is configured with the *nominal* mount's neutral (the installation value) and must
learn the rest online, as in a car.

The sets
--------
(a) scripted long distractions (`scripted_owl`): one 3.2-8 s glance at the phone,
    infotainment, passenger, sun visor or floor per drive, at 30-130 km/h, after routine
    mirror and cluster glances, by "owl" drivers whose heads point at the target. Recall
    and latency targets are measured here.
    `scripted_lizard`: the same drives by "lizard" drivers (eyes move, the head barely):
    a head-pose-only monitor cannot see them; reported as a known limitation, never in a
    target figure. `scripted_vats`: VATS build-ups (6 short glances), for VATS latency.
(b) normal driving (`normal`): random drives (generate_track) by alert drivers whose
    behaviour durations are capped below the 3 s limit: mirror, cluster, shoulder checks,
    short infotainment and phone glances, stretches, head resting, yawns, hands at the face,
    a blocked camera. The false-alert target is measured here, per hour at speed.
(c) random drives (`random`): generate_track with its default, realistic mix (long phone
    glances, drowsy drivers, all subject styles): precision and recall against the
    label-derived due events.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
from numpy.typing import NDArray

from dms.angles import euler_to_matrix, matrix_to_euler
from runtime.attention import LONG_DISTRACTION, VATS, AlertUpdate, AttentionMonitor, StateChange, samples_from_arrays
from runtime.attention_config import SEVERITIES, AttentionConfig, profile
from synth.camera import MOUNTS, Camera
from synth.motion import (
    MotionConfig, ScriptedBehaviour, SubjectStyle, generate_track, scripted_track, vats_buildup,
)
from synth.track import ATTENTION_TARGETS, DRIVING_RELATED_TARGETS, OCCLUDERS, ON_ROAD_TARGETS, MotionTrack

FloatArray = NDArray[np.float64]

# ---------------------------------------------------------------------------------------
# Targets (the attention issue, item 3) and how they are judged
# ---------------------------------------------------------------------------------------

# Recall on scripted long distractions (owl drivers): the issue's >= 0.99.
TARGET_RECALL = 0.99
# Latency after the due time: the issue's <= 0.2 s, judged on the 95th percentile of the
# matched alerts (the maximum is reported beside it). Why p95: under estimation noise the
# maximum of n samples keeps growing with n and is no stable specification figure; p95 is
# the worst a driver meets in practice. A perfect-pose maximum above target is flagged too.
TARGET_LATENCY_S = 0.2
LATENCY_STAT = "p95"
# False alerts per hour of normal driving: the issue's <= 0.5.
TARGET_FALSE_ALERTS_PER_HOUR = 0.5
# One-sided 95 % bounds (Clopper-Pearson for recall, exact Poisson for false-alert rates):
# "demonstrated" means the bound, not only the point estimate, meets the target.
CONFIDENCE = 0.95

# ---------------------------------------------------------------------------------------
# Matching
# ---------------------------------------------------------------------------------------

# An alert may come this much before its due time and still be its alert: for large turns
# the head crosses the cone edge before the gaze label switches (the label switches at the
# gaze shift's midpoint), and estimation noise near the cone edge can start a glance a few
# frames early; 1 s covers both with margin and is a third of the 3 s rule, so an alert
# that early still belongs to the same glance.
MATCH_EARLY_S = 1.0
# ... and this much after: ten times the latency target, so a late alert is measured as
# late (its latency shows) instead of becoming a miss plus a false alert; beyond it the
# alert is a different behaviour's (the next rule, 6 s "away", sits 3 s later).
MATCH_LATE_S = 2.0
# VATS sums many glances, and each glance's head-pose interval differs from its gaze label
# by up to ~0.3 s (the head leaves the cone after the gaze label switches and comes back
# after the gaze does; measured: the long-distraction latencies reached 0.37 s with perfect
# pose before that clock was backdated to the head-movement onset, and VATS sums the zone
# intervals, not backdated). Over a build-up of 6-8 glances that adds up to +-2 s either way, so the VATS window
# is wider: the alert still belongs to the same build-up (the budget is 10 s), and a
# warning 1.5 s "early" because the head stayed away longer than the eyes is not a false
# alert plus a miss.
MATCH_EARLY_VATS_S = 2.5
MATCH_LATE_VATS_S = 2.5

# Float tolerance for the ground truth's time comparisons (frame times are sums of 1/fps);
# far below a frame. Chosen independently of the monitor's own.
GT_TIME_EPS = 1e-6

# Distraction alerts are the scored ones; the others are counted per hour.
SCORED_TYPES: tuple[str, ...] = (LONG_DISTRACTION, VATS)

# ---------------------------------------------------------------------------------------
# The sets
# ---------------------------------------------------------------------------------------

# Frame rate of the synthetic drives: the dataset's (synth), and a typical DMS camera rate.
FPS = 30.0
# Length of one random drive: long enough that learning the neutral (10 s at speed) is a
# small part of it, short enough for many drivers per hour of evaluation.
TRACK_S = 600.0
# Scripted long distractions: the 3.2-8 s, longer than 3 s by at least 0.2 s (so a
# head-pose monitor has a fair chance) and past the 6 s critical escalation.
SCRIPTED_DURATION_S = (3.2, 8.0)
# At speed: above the 20 km/h gate with its hysteresis, up to motorway speeds.
SCRIPTED_SPEED_KMH = (30.0, 130.0)
# The long glance starts after the neutral has been learned (10 s of road at speed) and a
# routine mirror and cluster glance, which the learner must ignore.
SCRIPTED_LEAD_IN_S = (14.0, 18.0)
SCRIPTED_MIRROR_AT_S = (4.0, 5.0)
SCRIPTED_CLUSTER_AT_S = (8.5, 9.5)
# After the long glance: back on the road, a mirror check 1.5-2.5 s later, then road until
# the end, so every alert has time to close.
SCRIPTED_AFTER_GAP_S = (1.5, 2.5)
SCRIPTED_TAIL_S = 5.0
# Glance kinds for the long distractions: the brief's phone / infotainment / passenger /
# other ("look_up" = sun visor, "reach_down" = floor, both labelled "other"), in rotation.
SCRIPTED_KINDS: tuple[str, ...] = ("phone", "infotainment", "passenger", "look_up", "reach_down")
# Routine glances (synth/motion.py's medians for mirror and cluster glances).
ROUTINE_MIRROR_S = 0.8
ROUTINE_CLUSTER_S = 0.7
ROUTINE_MIRRORS: tuple[str, ...] = ("rear_mirror", "left_mirror", "right_mirror")
# VATS build-ups: six glances of 1.8-2.4 s with 0.5-1.5 s on the road between them: each
# under the 3 s limit, gaps under the 2 s reset, 10.8-14.4 s in all (>= the 10 s budget).
VATS_GLANCES = 6
VATS_GLANCE_S = (1.8, 2.4)
VATS_GAP_S = (0.5, 1.5)
VATS_TARGETS: tuple[str, ...] = ("infotainment", "phone", "passenger")
# Scripted VATS drives per scripted long-distraction drive (a side measurement).
VATS_SHARE = 1.0 / 3.0
# Normal driving: every behaviour's labelled duration capped here. NHTSA's visual-manual
# guideline wants 85 % of glances <= 2 s; 2.5 s is a generous "normal" ceiling that keeps
# a 0.5 s margin below the 3 s rule, more than the ~0.2 s by which head pose and the gaze
# label can disagree about a glance's length (see the FP breakdown for near-misses).
NORMAL_MAX_GLANCE_S = 2.5
# An unmatched alert whose off-road run is within this of the rule's threshold is a
# "near-threshold" false alert (label/head timing ambiguity) in the breakdown.
NEAR_THRESHOLD_S = 0.5
# An unmatched alert that fired on a sample without a face, or whose glance went this long
# without one, is put down to the face being lost (the monitor continues a glance while it
# cannot see the driver, if the face was lost at a far pose): longer than tracking blips and the 0.2 s return confirmation, a
# third of the 3 s rule.
FACE_LOST_CAUSE_S = 1.0

# Set codes for seed derivation (stable: changing one must not reshuffle the others).
SET_CODES: dict[str, int] = {"scripted_owl": 1, "scripted_lizard": 1, "scripted_vats": 2, "normal": 3, "random": 4}

# ---------------------------------------------------------------------------------------
# The pose error model
# ---------------------------------------------------------------------------------------

# Random error per axis (deg, std): the 2-3 deg. Its MAE is 0.80 x std = 2.0 deg;
# the published VGG16 + RNN BIWI MAE of 3.07 deg (SPEC.md) also holds a per-subject bias,
# modelled apart (BIAS_SD_DEG) because the learned neutral absorbs it.
NOISE_DEG = 2.5
# Correlation time of the error (s): the recurrent tracker smooths, so errors persist over
# several frames (an AR(1) / Ornstein-Uhlenbeck process). Estimate; 0.3 s = 9 frames at 30 fps.
NOISE_CORR_S = 0.3
# The error grows towards profile views: x (1 + gain * angle / 90 deg) away from the camera
# axis, i.e. doubled in profile. Estimate, in line with per-frame error growing with |yaw|
# on AFLW2000-style benchmarks.
LARGE_ANGLE_GAIN = 1.0
# Per-drive constant error (deg, std per axis): subject-dependent bias of the network.
BIAS_SD_DEG = 2.0
# Beyond this angle between the head's forward axis and the camera the face detector loses
# the face (a near-profile view; estimate for a 50 deg DMS lens).
FACE_LOST_BEYOND_DEG = 80.0
# Camera mount (synth/camera.py): the dataset's default; installation scatter from
# Camera.mount_preset(rng=...) (a few cm, ~2 deg roll).
MOUNT = "steering_column"
# The error AR(1) kernel is truncated at this many correlation times (e^-6 < 0.3 %).
KERNEL_CORR_TIMES = 6.0


@dataclass(frozen=True)
class PoseErrorModel:
    """What the monitor is fed: perfect head pose, or a model of the tracker's output.

    Why a model and not the trained network: the alert logic must be judged on thousands of
    hours; a model with the measured error size isolates the alert logic's sensitivity to
    it (and `--noise-deg` sweeps it).
    """

    name: str = "noisy"
    perfect: bool = False
    noise_deg: float = NOISE_DEG
    corr_s: float = NOISE_CORR_S
    large_angle_gain: float = LARGE_ANGLE_GAIN
    bias_sd_deg: float = BIAS_SD_DEG
    mount: str = MOUNT
    mount_scatter: bool = True
    face_lost_beyond_deg: float | None = FACE_LOST_BEYOND_DEG
    hand_hides_face: bool = True   # a hand in front of the face: the tracker has no face

    @classmethod
    def exact(cls) -> PoseErrorModel:
        return cls(name="perfect", perfect=True, noise_deg=0.0, bias_sd_deg=0.0, mount_scatter=False,
                   face_lost_beyond_deg=None, hand_hides_face=False)

    def validate(self) -> None:
        if self.mount not in MOUNTS:
            raise ValueError(f"pose model: mount {self.mount!r} is not one of {sorted(MOUNTS)}")
        for name in ("noise_deg", "corr_s", "large_angle_gain", "bias_sd_deg"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"pose model: {name} must be a finite number >= 0, got {v}")


@dataclass
class MonitorInput:
    """One drive as the monitor sees it, and what it takes to judge the learned neutral."""

    poses: FloatArray          # [T, 3] deg
    present: NDArray[np.bool_]  # [T] False = no face
    prior: tuple[float, float, float]
    true_neutral: tuple[float, float, float]


def ar1_noise(rng: np.random.Generator, n: int, fps: float, corr_s: float, k: int = 3) -> FloatArray:
    """Unit-variance noise [n, k] with autocorrelation exp(-lag / corr_s): an exponential
    kernel over white noise (AR(1) without a Python loop), normalised to std 1."""
    if n == 0:
        return np.zeros((0, k))
    if corr_s <= 0:
        return rng.standard_normal((n, k))
    rho = math.exp(-1.0 / (fps * corr_s))
    taps = max(1, int(math.ceil(KERNEL_CORR_TIMES * corr_s * fps)))
    kernel = rho ** np.arange(taps)
    kernel /= math.sqrt(float(np.sum(kernel ** 2)))
    white = rng.standard_normal((n + taps - 1, k))
    return np.stack([np.convolve(white[:, j], kernel, mode="valid") for j in range(k)], axis=1)


def monitor_input(track: MotionTrack, model: PoseErrorModel, rng: np.random.Generator,
                  style_neutral: Sequence[float] = (0.0, 0.0, 0.0)) -> MonitorInput:
    """The head pose the monitor receives for a drive under `model`."""
    pose_v = track.pose_vehicle.astype(np.float64)
    n = len(pose_v)
    if model.perfect:
        neutral = (float(style_neutral[0]), float(style_neutral[1]), float(style_neutral[2]))
        return MonitorInput(pose_v, np.ones(n, dtype=bool), (0.0, 0.0, 0.0), neutral)
    model.validate()
    nominal = Camera.mount_preset(model.mount)
    cam = Camera.mount_preset(model.mount, rng=rng) if model.mount_scatter else nominal
    p0 = nominal.head_pose_in_camera(np.eye(3))
    prior = (float(p0[0]), float(p0[1]), float(p0[2]))
    pose_c = cam.head_pose_in_camera(euler_to_matrix(pose_v))
    # angle between the head's forward axis and the camera axis: cos = R[0, 0] of the
    # camera-relative rotation (x out of the nose, towards the camera at zero pose)
    fwd = np.clip(np.cos(np.radians(pose_c[:, 0])) * np.cos(np.radians(pose_c[:, 1])), -1.0, 1.0)
    off_axis = np.degrees(np.arccos(fwd))
    scale = model.noise_deg * (1.0 + model.large_angle_gain * np.minimum(off_axis, 90.0) / 90.0)
    bias = rng.normal(0.0, model.bias_sd_deg, 3) if model.bias_sd_deg > 0 else np.zeros(3)
    noise = ar1_noise(rng, n, track.fps, model.corr_s) * scale[:, None]
    observed = pose_c + bias[None, :] + noise
    present = np.ones(n, dtype=bool)
    if model.face_lost_beyond_deg is not None:
        present &= off_axis <= model.face_lost_beyond_deg
    if model.hand_hides_face:
        present &= track.occluder != OCCLUDERS.index("hand")
    true_neutral = cam.head_pose_in_camera(euler_to_matrix(np.asarray(style_neutral, dtype=np.float64))) + bias
    return MonitorInput(observed, present, prior,
                        (float(true_neutral[0]), float(true_neutral[1]), float(true_neutral[2])))


# ---------------------------------------------------------------------------------------
# Ground truth: due events from the labels
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DueRules:
    """The rule numbers the ground truth applies: the profile's, none of the monitor's code."""

    long_enabled: bool = True
    long_s: float = 3.0
    long_s_by_speed: tuple[tuple[float, float], ...] = ()
    vats_enabled: bool = True
    vats_budget_s: float = 10.0
    vats_window_s: float = 30.0
    vats_reset_s: float = 2.0
    gate_kmh: float = 20.0
    gate_hysteresis_kmh: float = 2.0
    on_road_targets: frozenset[str] = ON_ROAD_TARGETS

    @classmethod
    def from_config(cls, cfg: AttentionConfig) -> DueRules:
        on_road = frozenset(ON_ROAD_TARGETS)
        if not cfg.zones.driving_related_counts_off_road:
            on_road = on_road | DRIVING_RELATED_TARGETS
        ld, v, g = cfg.long_distraction, cfg.vats, cfg.speed_gate
        return cls(long_enabled=ld.enabled, long_s=ld.warning_s, long_s_by_speed=tuple(ld.warning_s_by_speed),
                   vats_enabled=v.enabled, vats_budget_s=v.budget_s, vats_window_s=v.window_s,
                   vats_reset_s=v.reset_on_road_s, gate_kmh=g.min_speed_kmh, gate_hysteresis_kmh=g.hysteresis_kmh,
                   on_road_targets=on_road)

    def long_threshold(self, speed_kmh: float) -> float:
        chosen = self.long_s
        for from_kmh, seconds in self.long_s_by_speed:
            if speed_kmh >= from_kmh:
                chosen = seconds
        return chosen


@dataclass(frozen=True)
class DueEvent:
    """A moment the rules say the driver must be warned. t: the due time (s);
    start_t: when the behaviour began (the glance, or the episode's first counted glance)."""

    kind: str
    t: float
    start_t: float
    target: str


def runs_of(mask: NDArray[np.bool_]) -> list[tuple[int, int]]:
    """Maximal runs of True as (first frame, end frame exclusive)."""
    m = np.asarray(mask, dtype=bool)
    if m.size == 0:
        return []
    edges = np.diff(np.concatenate([[0], m.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(int(a), int(b)) for a, b in zip(starts, ends)]


def gate_mask(speed_kmh: NDArray[Any], open_kmh: float, hysteresis_kmh: float) -> NDArray[np.bool_]:
    """Per frame: is the speed gate open? Opens at >= open_kmh, closes below open - hysteresis,
    otherwise keeps its state; closed before the first opening."""
    v = np.asarray(speed_kmh, dtype=np.float64)
    event = np.where(v >= open_kmh, 1, np.where(v < open_kmh - hysteresis_kmh, 0, -1))
    idx = np.where(event >= 0, np.arange(len(v)), 0)
    last = np.maximum.accumulate(idx) if len(v) else idx
    state = event[last]
    return np.asarray(state == 1, dtype=bool)


def off_road_mask(target: NDArray[Any], on_road_targets: Iterable[str]) -> NDArray[np.bool_]:
    on = [ATTENTION_TARGETS.index(name) for name in on_road_targets if name in ATTENTION_TARGETS]
    return ~np.isin(np.asarray(target), on)


def _window_sum(pieces: Sequence[tuple[float, float]], t: float, lo: float) -> float:
    """Counted time of `pieces` inside (max(t - window, ...), t]: lo is that lower bound."""
    return sum(max(0.0, min(e, t) - max(s, lo)) for s, e in pieces)


def _long_due(s: float, e: float, rules: DueRules, speed: NDArray[Any], fps: float) -> float | None:
    """First instant in [s, e] where the clock started at s reaches the threshold."""
    if not rules.long_s_by_speed:
        return s + rules.long_s if e - s >= rules.long_s - GT_TIME_EPS else None
    n = len(speed)
    levels = sorted({rules.long_s, *(w for _, w in rules.long_s_by_speed)})
    frames = np.arange(int(math.ceil(s * fps - GT_TIME_EPS)), int(math.floor(e * fps + GT_TIME_EPS)) + 1)
    candidates = sorted({*(s + w for w in levels), *(frames / fps).tolist()})
    for tau in candidates:
        if tau > e + GT_TIME_EPS:
            break
        i = min(int(math.floor(tau * fps + GT_TIME_EPS)), n - 1)
        if tau - s >= rules.long_threshold(float(speed[i])) - GT_TIME_EPS:
            return float(tau)
    return None


def _dominant(target: NDArray[Any], a: int, b: int) -> str:
    vals = np.asarray(target[a:max(b, a + 1)])
    counts = np.bincount(vals.astype(np.int64), minlength=len(ATTENTION_TARGETS))
    counts[ATTENTION_TARGETS.index("road")] = 0
    return ATTENTION_TARGETS[int(np.argmax(counts))] if counts.any() else "road"


def due_events(target: NDArray[Any], speed_kmh: NDArray[Any], fps: float, rules: DueRules) -> list[DueEvent]:
    """Every warning the labels make due, in time order (the rules in the module docstring)."""
    off = off_road_mask(target, rules.on_road_targets)
    gate = gate_mask(speed_kmh, rules.gate_kmh, rules.gate_hysteresis_kmh)
    gate_runs = runs_of(gate)
    out: list[DueEvent] = []
    pieces: list[tuple[float, float]] = []   # counted VATS time since the last reset
    since = 0.0                              # the last reset
    vats_active = False
    prev_end = 0.0                           # the drive starts on the road
    for a, b in runs_of(off):
        a_t, b_t = a / fps, b / fps
        if a_t - prev_end >= rules.vats_reset_s - GT_TIME_EPS:
            pieces, since, vats_active = [], prev_end, False
        gated = [(max(a, g0) / fps, min(b, g1) / fps) for g0, g1 in gate_runs if g0 < b and g1 > a]
        ld_t: float | None = None
        if rules.long_enabled:
            for s, e in gated:
                ld_t = _long_due(s, e, rules, speed_kmh, fps)
                if ld_t is not None:
                    break
        found: list[DueEvent] = []
        if rules.vats_enabled:
            for s, e in gated:
                if ld_t is not None and not vats_active:
                    e = min(e, ld_t)          # time after the long-distraction due is not counted
                if e <= s:
                    continue
                pieces.append((s, e))
                if vats_active:
                    continue
                lo_at = lambda t: max(t - rules.vats_window_s, since)  # noqa: E731
                if _window_sum(pieces, e, lo_at(e)) < rules.vats_budget_s - GT_TIME_EPS:
                    continue
                lo, hi = s, e                  # the windowed sum never falls inside a piece: bisect
                for _ in range(80):            # (on the exact budget; the tolerance only admits e)
                    mid = 0.5 * (lo + hi)
                    if _window_sum(pieces, mid, lo_at(mid)) >= rules.vats_budget_s:
                        hi = mid
                    else:
                        lo = mid
                t_v = round(hi, 9)
                first = next((p for p in pieces if p[1] > lo_at(t_v)), (s, e))
                found.append(DueEvent(VATS, t_v, first[0], _dominant(target, a, int(math.ceil(t_v * fps)))))
                vats_active = True
        if ld_t is not None:
            found.append(DueEvent(LONG_DISTRACTION, round(ld_t, 9), a_t,
                                  _dominant(target, a, int(math.ceil(ld_t * fps - GT_TIME_EPS)))))
            if not vats_active:
                pieces, since = [], ld_t      # one glance, one alert
        out.extend(sorted(found, key=lambda d: d.t))
        prev_end = b_t
        if pieces:                            # forget what no window can reach any more
            horizon = b_t - rules.vats_window_s
            pieces = [p for p in pieces if p[1] > horizon]
    return out


# ---------------------------------------------------------------------------------------
# The monitor's alerts
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertRecord:
    """One distraction alert as scored: t is when it reached "warning" (the driver is warned),
    end_t when it closed (None: still open at the end of the drive)."""

    alert_id: int
    kind: str
    t: float
    start_t: float
    end_t: float | None


@dataclass
class MonitorRun:
    alerts: list[AlertRecord]
    prewarning_only: int
    other_alerts: dict[str, int]
    neutral_learned_t: float | None
    neutral: tuple[float, float, float]
    seconds: float
    frames: int


def collect_alerts(updates: Iterable[AlertUpdate]) -> tuple[list[AlertRecord], int, dict[str, int]]:
    """Distraction alerts (warning time, type then, span); pre-warning-only alerts counted;
    other alert types counted by their starts."""
    first_warn: dict[int, tuple[str, float, float]] = {}
    ends: dict[int, float | None] = {}
    seen_distraction: set[int] = set()
    other: dict[str, int] = {}
    for u in updates:
        if u.type in SCORED_TYPES or u.alert_id in seen_distraction:
            seen_distraction.add(u.alert_id)
            if u.alert_id not in first_warn and SEVERITIES.index(u.severity) >= SEVERITIES.index("warning"):
                warn_t = next(t for sev, t, _, _ in u.escalations if SEVERITIES.index(sev) >= 1)
                first_warn[u.alert_id] = (u.type, warn_t, u.start_t)
            if u.phase == "end":
                ends[u.alert_id] = u.end_t
        elif u.phase == "start":
            other[u.type] = other.get(u.type, 0) + 1
    records = [AlertRecord(i, k, t, s, ends.get(i)) for i, (k, t, s) in first_warn.items()]
    records.sort(key=lambda r: r.t)
    return records, len(seen_distraction - set(first_warn)), other


def run_monitor(config: AttentionConfig, track: MotionTrack, inp: MonitorInput) -> MonitorRun:
    cfg = config
    if inp.prior != (cfg.neutral.prior_pitch_deg, cfg.neutral.prior_yaw_deg, cfg.neutral.prior_roll_deg):
        cfg = replace(cfg, neutral=replace(cfg.neutral, prior_pitch_deg=inp.prior[0], prior_yaw_deg=inp.prior[1],
                                           prior_roll_deg=inp.prior[2]))
    monitor = AttentionMonitor(cfg)
    samples = samples_from_arrays(track.times, inp.poses, track.speed_kmh, face_present=inp.present)
    t0 = time.perf_counter()
    outputs = monitor.run(samples)
    seconds = time.perf_counter() - t0
    learned = next((o.t for o in outputs if isinstance(o, StateChange) and o.name == "neutral_learned"), None)
    records, pre, other = collect_alerts(o for o in outputs if isinstance(o, AlertUpdate))
    return MonitorRun(records, pre, other, learned, monitor.neutral, seconds, len(track))


# ---------------------------------------------------------------------------------------
# Matching and metrics
# ---------------------------------------------------------------------------------------


@dataclass
class MatchResult:
    """Indices into the due and alert lists of one drive."""

    pairs: list[tuple[int, int, float]]     # (due, alert, latency s)
    covered: list[int]
    missed: list[int]
    false_alerts: list[int]


def match_windows(early_s: float = MATCH_EARLY_S, late_s: float = MATCH_LATE_S,
                  vats_early_s: float = MATCH_EARLY_VATS_S, vats_late_s: float = MATCH_LATE_VATS_S,
                  ) -> dict[str, tuple[float, float]]:
    return {LONG_DISTRACTION: (early_s, late_s), VATS: (vats_early_s, vats_late_s)}


def match_events(dues: Sequence[DueEvent], alerts: Sequence[AlertRecord],
                 windows: dict[str, tuple[float, float]] | None = None) -> MatchResult:
    """Closest-first one-to-one matching within [due - early, due + late] of the due's kind
    (module docstring)."""
    win = windows if windows is not None else match_windows()

    def inside(d: DueEvent, a: AlertRecord) -> bool:
        early, late = win[d.kind]
        return d.t - early - GT_TIME_EPS <= a.t <= d.t + late + GT_TIME_EPS

    cand = sorted((abs(a.t - d.t), i, j) for i, d in enumerate(dues) for j, a in enumerate(alerts) if inside(d, a))
    due_used: dict[int, int] = {}
    alert_used: set[int] = set()
    for _, i, j in cand:
        if i in due_used or j in alert_used:
            continue
        due_used[i] = j
        alert_used.add(j)
    pairs = sorted((i, j, alerts[j].t - dues[i].t) for i, j in due_used.items())
    covered, missed = [], []

    def open_at(a: AlertRecord, t: float) -> bool:
        return a.t <= t and (a.end_t is None or a.end_t >= t - GT_TIME_EPS)

    for i, d in enumerate(dues):
        if i in due_used:
            continue
        if any(open_at(alerts[j], d.t) for j in alert_used):
            covered.append(i)
        else:
            missed.append(i)
    false_alerts = [j for j in range(len(alerts)) if j not in alert_used]
    return MatchResult(pairs, covered, missed, false_alerts)


def poisson_upper(k: int, confidence: float = CONFIDENCE) -> float:
    """One-sided upper confidence bound on a Poisson mean after observing k events (exact:
    the lambda with P(X <= k) = 1 - confidence). k = 0 gives -ln(0.05) = 3.00 at 95 %."""
    alpha = 1.0 - confidence

    def cdf(lam: float) -> float:
        if lam <= 0:
            return 1.0
        logs = [i * math.log(lam) - lam - math.lgamma(i + 1) for i in range(k + 1)]
        m = max(logs)
        return min(1.0, math.exp(m) * sum(math.exp(x - m) for x in logs))

    lo, hi = 0.0, float(k) + 10.0 * math.sqrt(k + 1.0) + 10.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if cdf(mid) > alpha:
            lo = mid
        else:
            hi = mid
    return hi


def binomial_lower(successes: int, n: int, confidence: float = CONFIDENCE) -> float:
    """One-sided Clopper-Pearson lower bound on a proportion: the p with P(X >= x | p) =
    1 - confidence. All n of n gives (1 - confidence)^(1/n): 300/300 -> 0.990."""
    if n <= 0 or successes <= 0:
        return 0.0
    alpha = 1.0 - confidence

    def upper_tail(p: float) -> float:
        if p <= 0:
            return 0.0
        if p >= 1:
            return 1.0
        logs = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * math.log(p)
                + (n - i) * math.log1p(-p) for i in range(successes, n + 1)]
        m = max(logs)
        return min(1.0, math.exp(m) * sum(math.exp(x - m) for x in logs))

    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if upper_tail(mid) < alpha:
            lo = mid
        else:
            hi = mid
    return lo


def latency_stats(latencies: Sequence[float]) -> dict[str, float | None]:
    if not latencies:
        return {"n": 0, "mean": None, "min": None, "p50": None, "p95": None, "max": None,
                "over_target": None}
    x = np.asarray(latencies, dtype=np.float64)
    return {"n": int(len(x)), "mean": float(x.mean()), "min": float(x.min()), "p50": float(np.percentile(x, 50)),
            "p95": float(np.percentile(x, 95)), "max": float(x.max()),
            "over_target": float(np.mean(x > TARGET_LATENCY_S + GT_TIME_EPS))}


# ---------------------------------------------------------------------------------------
# Drives
# ---------------------------------------------------------------------------------------


@dataclass
class Drive:
    """One synthetic drive of a set, with what it takes to reproduce it."""

    set_name: str
    index: int
    seed: int
    track: MotionTrack
    style_neutral: tuple[float, float, float]
    kind: str
    note: dict[str, Any] = field(default_factory=dict)


def derived_seed(seed: int, set_name: str, index: int) -> int:
    """A stable 32-bit seed per (run seed, set, drive): drives do not shift when counts change."""
    return int(np.random.SeedSequence([seed, SET_CODES[set_name], index]).generate_state(1)[0])


def _owl_like(style: SubjectStyle, lizard: bool = False) -> SubjectStyle:
    """Keep a sampled driver's posture, seat and speed, make the eye-head split owl or lizard."""
    pure = SubjectStyle.lizard() if lizard else SubjectStyle.owl()
    return replace(style, head_gain=pure.head_gain, eye_only_range_deg=pure.eye_only_range_deg, drowsiness=0.0)


def scripted_long_distraction(seed: int, index: int, fps: float = FPS, lizard: bool = False) -> Drive:
    """(a): routine mirror and cluster glances, then one long glance at speed."""
    s = derived_seed(seed, "scripted_owl", index)
    rng = np.random.default_rng(s)
    kind = SCRIPTED_KINDS[index % len(SCRIPTED_KINDS)]
    dur = float(rng.uniform(*SCRIPTED_DURATION_S))
    lead = float(rng.uniform(*SCRIPTED_LEAD_IN_S))
    speed = float(rng.uniform(*SCRIPTED_SPEED_KMH))
    m1, m2 = (ROUTINE_MIRRORS[int(rng.integers(len(ROUTINE_MIRRORS)))] for _ in range(2))
    after = lead + dur + float(rng.uniform(*SCRIPTED_AFTER_GAP_S))
    script = [
        ScriptedBehaviour("mirror_check", float(rng.uniform(*SCRIPTED_MIRROR_AT_S)), ROUTINE_MIRROR_S, m1),
        ScriptedBehaviour("cluster_glance", float(rng.uniform(*SCRIPTED_CLUSTER_AT_S)), ROUTINE_CLUSTER_S),
        ScriptedBehaviour(kind, lead, dur),
        ScriptedBehaviour("mirror_check", after, ROUTINE_MIRROR_S, m2),
    ]
    style = _owl_like(SubjectStyle.sample(rng), lizard)
    track = scripted_track(script, fps, duration_s=lead + dur + SCRIPTED_TAIL_S, subject_style=style, seed=s,
                           speed_kmh=speed)
    name = "scripted_lizard" if lizard else "scripted_owl"
    return Drive(name, index, s, track, style.neutral_offset_deg, kind,
                 {"start_s": lead, "duration_s": dur, "speed_kmh": speed})


def scripted_vats(seed: int, index: int, fps: float = FPS) -> Drive:
    """VATS build-up: six short glances at one target with short road gaps between."""
    s = derived_seed(seed, "scripted_vats", index)
    rng = np.random.default_rng(s)
    target = VATS_TARGETS[index % len(VATS_TARGETS)]
    glance = float(rng.uniform(*VATS_GLANCE_S))
    gap = float(rng.uniform(*VATS_GAP_S))
    lead = float(rng.uniform(*SCRIPTED_LEAD_IN_S))
    speed = float(rng.uniform(*SCRIPTED_SPEED_KMH))
    script = [
        ScriptedBehaviour("mirror_check", float(rng.uniform(*SCRIPTED_MIRROR_AT_S)), ROUTINE_MIRROR_S,
                          ROUTINE_MIRRORS[int(rng.integers(len(ROUTINE_MIRRORS)))]),
        ScriptedBehaviour("cluster_glance", float(rng.uniform(*SCRIPTED_CLUSTER_AT_S)), ROUTINE_CLUSTER_S),
        *vats_buildup(lead, VATS_GLANCES, glance, gap, target),
    ]
    end = lead + VATS_GLANCES * glance + (VATS_GLANCES - 1) * gap
    style = _owl_like(SubjectStyle.sample(rng))
    track = scripted_track(script, fps, duration_s=end + SCRIPTED_TAIL_S, subject_style=style, seed=s,
                           speed_kmh=speed)
    return Drive("scripted_vats", index, s, track, style.neutral_offset_deg, f"vats_{target}",
                 {"start_s": lead, "glance_s": glance, "gap_s": gap, "speed_kmh": speed})


def normal_driving_config(max_glance_s: float = NORMAL_MAX_GLANCE_S) -> MotionConfig:
    """The default behaviour mix with every labelled behaviour shorter than max_glance_s:
    no long tails, stretches capped; drowsiness is switched off through the driver style."""
    base = MotionConfig()
    timings = {}
    for k, t in base.timings.items():
        if k.endswith("_gap"):
            timings[k] = t                    # road time between glances: not off-road
        else:
            timings[k] = replace(t, p_long=0.0, max_s=min(t.max_s, max_glance_s), min_s=min(t.min_s, max_glance_s),
                                 median_s=min(t.median_s, max_glance_s))
    stretch = (min(base.stretch_s[0], max_glance_s), min(base.stretch_s[1], max_glance_s))
    return replace(base, timings=timings, stretch_s=stretch)


def normal_drive(seed: int, index: int, duration_s: float = TRACK_S, fps: float = FPS) -> Drive:
    """(b): an alert driver's routine drive."""
    s = derived_seed(seed, "normal", index)
    style = replace(SubjectStyle.sample(np.random.default_rng([s, 1])), drowsiness=0.0)
    track = generate_track(s, duration_s, fps, config=normal_driving_config(), subject_style=style)
    return Drive("normal", index, s, track, style.neutral_offset_deg, "normal",
                 {"head_gain": style.head_gain, "eye_only_range_deg": style.eye_only_range_deg})


def random_drive(seed: int, index: int, duration_s: float = TRACK_S, fps: float = FPS) -> Drive:
    """(c): generate_track as the dataset uses it (its own sampled driver)."""
    s = derived_seed(seed, "random", index)
    style = SubjectStyle.sample(np.random.default_rng([s, 0x5717]))   # generate_track's own draw
    track = generate_track(s, duration_s, fps, subject_style=style)
    return Drive("random", index, s, track, style.neutral_offset_deg, "random",
                 {"head_gain": style.head_gain, "eye_only_range_deg": style.eye_only_range_deg,
                  "drowsiness": style.drowsiness})


# ---------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvalConfig:
    """What to evaluate. Defaults size the sets so that a clean result is *demonstrated* at
    95 %: 300 of 300 scripted hits bound recall at >= 0.990; 10 h with no false alert bound
    the rate at <= 0.30 / h (one false alert: 0.47 / h)."""

    profile: str = "euro_ncap"
    normal_hours: float = 10.0
    random_hours: float = 5.0
    scripted: int = 300
    lizard: bool = True
    vats: bool = True
    noise_deg: float = NOISE_DEG
    noise_corr_s: float = NOISE_CORR_S
    mount: str = MOUNT
    seed: int = 0
    fps: float = FPS
    track_s: float = TRACK_S
    early_s: float = MATCH_EARLY_S
    late_s: float = MATCH_LATE_S
    vats_early_s: float = MATCH_EARLY_VATS_S
    vats_late_s: float = MATCH_LATE_VATS_S

    def windows(self) -> dict[str, tuple[float, float]]:
        return match_windows(self.early_s, self.late_s, self.vats_early_s, self.vats_late_s)

    def pose_models(self) -> list[PoseErrorModel]:
        return [PoseErrorModel.exact(),
                PoseErrorModel(noise_deg=self.noise_deg, corr_s=self.noise_corr_s, mount=self.mount)]

    def attention_config(self) -> AttentionConfig:
        return profile(self.profile)

    def drive_plan(self) -> list[tuple[str, int]]:
        """(set, number of drives) in evaluation order."""
        n_normal = int(math.ceil(self.normal_hours * 3600.0 / self.track_s - 1e-9)) if self.normal_hours > 0 else 0
        n_random = int(math.ceil(self.random_hours * 3600.0 / self.track_s - 1e-9)) if self.random_hours > 0 else 0
        n_vats = int(round(self.scripted * VATS_SHARE)) if self.vats else 0
        plan = [("scripted_owl", self.scripted), ("scripted_lizard", self.scripted if self.lizard else 0),
                ("scripted_vats", n_vats), ("normal", n_normal), ("random", n_random)]
        return [(name, n) for name, n in plan if n > 0]


def make_drive(cfg: EvalConfig, set_name: str, index: int) -> Drive:
    if set_name == "scripted_owl":
        return scripted_long_distraction(cfg.seed, index, cfg.fps)
    if set_name == "scripted_lizard":
        return scripted_long_distraction(cfg.seed, index, cfg.fps, lizard=True)
    if set_name == "scripted_vats":
        return scripted_vats(cfg.seed, index, cfg.fps)
    if set_name == "normal":
        return normal_drive(cfg.seed, index, cfg.track_s, cfg.fps)
    if set_name == "random":
        return random_drive(cfg.seed, index, cfg.track_s, cfg.fps)
    raise ValueError(f"unknown set {set_name!r}")


@dataclass
class DriveResult:
    drive: Drive
    condition: str
    dues: list[DueEvent]
    run: MonitorRun
    match: MatchResult
    hours: float
    hours_at_speed: float
    neutral_error_deg: float | None
    longest_off_road_s: float
    input: MonitorInput | None = None   # kept only for the example plot
    # alert index -> (s without a face in [start, warning), no face on the warning sample)
    false_alert_no_face: dict[int, tuple[float, bool]] = field(default_factory=dict)


def _angle_between(a: Sequence[float], b: Sequence[float]) -> float:
    rel = euler_to_matrix(np.asarray(a, dtype=np.float64)).T @ euler_to_matrix(np.asarray(b, dtype=np.float64))
    return float(np.degrees(np.arccos(np.clip((np.trace(rel) - 1.0) / 2.0, -1.0, 1.0))))


def evaluate_drive(drive: Drive, model: PoseErrorModel, attention: AttentionConfig, rules: DueRules,
                   cfg: EvalConfig, dues: list[DueEvent] | None = None, keep_input: bool = False) -> DriveResult:
    track = drive.track
    if dues is None:
        dues = due_events(track.target, track.speed_kmh, track.fps, rules)
    rng = np.random.default_rng([drive.seed, 0xE7A1, 0 if model.perfect else 1])
    inp = monitor_input(track, model, rng, drive.style_neutral)
    run = run_monitor(attention, track, inp)
    match = match_events(dues, run.alerts, cfg.windows())
    gate = gate_mask(track.speed_kmh, rules.gate_kmh, rules.gate_hysteresis_kmh)
    off = off_road_mask(track.target, rules.on_road_targets)
    longest = max(((b - a) for a, b in runs_of(off)), default=0) / track.fps
    err = _angle_between(run.neutral, inp.true_neutral) if run.neutral_learned_t is not None else None
    no_face: dict[int, tuple[float, bool]] = {}
    for j in match.false_alerts:
        a = run.alerts[j]
        lo, hi = int(math.floor(a.start_t * track.fps + GT_TIME_EPS)), int(math.floor(a.t * track.fps + GT_TIME_EPS))
        unseen_at_warning = not bool(inp.present[min(hi, len(track) - 1)])
        no_face[j] = (float(np.sum(~inp.present[lo:hi])) / track.fps, unseen_at_warning)   # [start, warning)
    return DriveResult(drive, model.name, dues, run, match, len(track) / track.fps / 3600.0,
                       float(gate.sum()) / track.fps / 3600.0, err, longest, inp if keep_input else None, no_face)


def _run_length_at(track: MotionTrack, rules: DueRules, t0: float, t1: float) -> tuple[float, str]:
    """The longest off-road label run overlapping [t0, t1] (for the false-alert breakdown)."""
    off = off_road_mask(track.target, rules.on_road_targets)
    best, name = 0.0, "road"
    for a, b in runs_of(off):
        if a / track.fps <= t1 + GT_TIME_EPS and b / track.fps >= t0 - GT_TIME_EPS:
            if (b - a) / track.fps > best:
                best, name = (b - a) / track.fps, _dominant(track.target, a, b)
    return best, name


def summarize(results: Sequence[DriveResult], rules: DueRules) -> dict[str, Any]:
    """Metrics for one (set, condition)."""
    n_due = sum(len(r.dues) for r in results)
    matched = sum(len(r.match.pairs) for r in results)
    covered = sum(len(r.match.covered) for r in results)
    n_alerts = sum(len(r.run.alerts) for r in results)
    fa = sum(len(r.match.false_alerts) for r in results)
    hours = sum(r.hours for r in results)
    at_speed = sum(r.hours_at_speed for r in results)
    found = matched + covered
    by_kind: dict[str, dict[str, int]] = {}
    for r in results:
        for i, d in enumerate(r.dues):
            k = by_kind.setdefault(d.kind, {"due": 0, "found": 0})
            k["due"] += 1
            k["found"] += int(i not in r.match.missed)
    other: dict[str, int] = {}
    for r in results:
        for k2, v in r.run.other_alerts.items():
            other[k2] = other.get(k2, 0) + v
    latencies = [lat for r in results for _, _, lat in r.match.pairs]
    by_target: dict[str, list[float]] = {}
    for r in results:
        for i, _, lat in r.match.pairs:
            by_target.setdefault(r.dues[i].target, []).append(lat)
    missed_by_target: dict[str, int] = {}
    for r in results:
        for i in r.match.missed:
            missed_by_target[r.dues[i].target] = missed_by_target.get(r.dues[i].target, 0) + 1
    misses, falses = [], []
    causes = {"near_threshold": 0, "face_lost": 0, "other": 0}
    threshold = rules.long_s
    for r in results:
        for i in r.match.missed:
            d = r.dues[i]
            misses.append({"drive": r.drive.index, "seed": r.drive.seed, "kind": d.kind, "due_t": round(d.t, 4),
                           "start_t": round(d.start_t, 4), "target": d.target, "script": r.drive.kind})
        for j in r.match.false_alerts:
            a = r.run.alerts[j]
            run_s, run_target = _run_length_at(r.drive.track, rules, a.start_t, a.t)
            no_face_s, unseen_at_warning = r.false_alert_no_face.get(j, (0.0, False))
            if a.kind == LONG_DISTRACTION and run_s >= threshold - NEAR_THRESHOLD_S:
                cause = "near_threshold"
            elif unseen_at_warning or no_face_s >= FACE_LOST_CAUSE_S - GT_TIME_EPS:
                cause = "face_lost"
            else:
                cause = "other"
            causes[cause] += 1
            falses.append({"drive": r.drive.index, "seed": r.drive.seed, "kind": a.kind, "t": round(a.t, 4),
                           "start_t": round(a.start_t, 4), "label_run_s": round(run_s, 4),
                           "label_target": run_target, "no_face_s": round(no_face_s, 4), "cause": cause})
    neutral_errors = [r.neutral_error_deg for r in results if r.neutral_error_deg is not None]
    learned_t = [r.run.neutral_learned_t for r in results if r.run.neutral_learned_t is not None]
    frames = sum(r.run.frames for r in results)
    seconds = sum(r.run.seconds for r in results)
    rate_h = at_speed if at_speed > 0 else hours
    return {
        "drives": len(results),
        "hours": hours,
        "hours_at_speed": at_speed,
        "due": n_due,
        "due_by_kind": by_kind,
        "alerts": n_alerts,
        "matched": matched,
        "covered": covered,
        "missed": n_due - found,
        "recall": found / n_due if n_due else None,
        "recall_lower95": binomial_lower(found, n_due) if n_due else None,
        "precision": (n_alerts - fa) / n_alerts if n_alerts else None,
        "false_alerts": fa,
        "false_alert_causes": causes,
        "false_alerts_per_hour": fa / rate_h if rate_h > 0 else None,
        "false_alerts_per_hour_upper95": poisson_upper(fa) / rate_h if rate_h > 0 else None,
        "prewarning_only": sum(r.run.prewarning_only for r in results),
        "latency": latency_stats(latencies),
        "latencies": [round(x, 6) for x in latencies],
        "latency_by_target": {k: latency_stats(v) for k, v in sorted(by_target.items())},
        "missed_by_target": dict(sorted(missed_by_target.items())),
        "other_alerts": other,
        "other_alerts_per_hour": {k2: v / rate_h for k2, v in other.items()} if rate_h > 0 else {},
        "longest_off_road_s": max((r.longest_off_road_s for r in results), default=0.0),
        "neutral_learned": len(learned_t),
        "neutral_learned_t_median": float(np.median(learned_t)) if learned_t else None,
        "neutral_error_deg_median": float(np.median(neutral_errors)) if neutral_errors else None,
        "neutral_error_deg_max": float(np.max(neutral_errors)) if neutral_errors else None,
        "monitor_frames": frames,
        "monitor_seconds": seconds,
        "misses": misses[:MAX_LISTED],
        "false_alert_list": falses[:MAX_LISTED],
    }


# How many misses / false alerts the JSON lists per (set, condition): enough to reproduce
# and inspect, bounded so a broken monitor does not write a huge report.
MAX_LISTED = 200


def verdicts(summary: dict[str, dict[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Pass/fail per target and pose condition (point estimate; the bound says "demonstrated")."""
    out: list[dict[str, Any]] = []
    for cond in summary.get("scripted_owl", {}) or summary.get("normal", {}):
        owl = summary.get("scripted_owl", {}).get(cond)
        normal = summary.get("normal", {}).get(cond)
        if owl is not None:
            rec, lo = owl["recall"], owl["recall_lower95"]
            out.append({"condition": cond, "target": "recall, scripted long distractions", "goal": f">= {TARGET_RECALL}",
                        "measured": rec, "bound95": lo, "pass": rec is not None and rec >= TARGET_RECALL,
                        "demonstrated": lo is not None and lo >= TARGET_RECALL})
            lat = owl["latency"]
            val = lat[LATENCY_STAT]
            out.append({"condition": cond, "target": f"latency {LATENCY_STAT} (max {_fmt(lat['max'], 3)} s)",
                        "goal": f"<= {TARGET_LATENCY_S} s", "measured": val, "bound95": None,
                        "pass": val is not None and val <= TARGET_LATENCY_S + GT_TIME_EPS,
                        "demonstrated": val is not None and val <= TARGET_LATENCY_S + GT_TIME_EPS})
        if normal is not None:
            rate, ub = normal["false_alerts_per_hour"], normal["false_alerts_per_hour_upper95"]
            out.append({"condition": cond, "target": "false alerts / h at speed, normal driving",
                        "goal": f"<= {TARGET_FALSE_ALERTS_PER_HOUR}", "measured": rate, "bound95": ub,
                        "pass": rate is not None and rate <= TARGET_FALSE_ALERTS_PER_HOUR,
                        "demonstrated": ub is not None and ub <= TARGET_FALSE_ALERTS_PER_HOUR})
    return out


@dataclass
class Report:
    config: EvalConfig
    summary: dict[str, dict[str, dict[str, Any]]]
    verdicts: list[dict[str, Any]]
    files: dict[str, str]
    wall_s: float
    command: str = ""

    @property
    def passed(self) -> bool:
        return all(v["pass"] for v in self.verdicts)


def evaluate(cfg: EvalConfig, out_dir: Path | None = None, progress: bool = True, png: bool = True,
             command: str = "") -> Report:
    """Run every set under every pose condition; write alert_eval.{md,json,png} to out_dir."""
    from tqdm import tqdm

    t_start = time.perf_counter()
    attention = cfg.attention_config()
    rules = DueRules.from_config(attention)
    models = cfg.pose_models()
    plan = cfg.drive_plan()
    results: dict[str, dict[str, list[DriveResult]]] = {name: {m.name: [] for m in models} for name, _ in plan}
    example: dict[str, DriveResult] = {}
    total = sum(n for _, n in plan)
    with tqdm(total=total, unit="drive", disable=not progress, smoothing=0.05) as bar:
        for set_name, n in plan:
            bar.set_description(set_name)
            for i in range(n):
                drive = make_drive(cfg, set_name, i)
                dues = due_events(drive.track.target, drive.track.speed_kmh, drive.track.fps, rules)
                for model in models:
                    r = evaluate_drive(drive, model, attention, rules, cfg, dues,
                                       keep_input=set_name == "scripted_owl" and i == 0)
                    results[set_name][model.name].append(r)
                    if set_name == "scripted_owl" and i == 0:
                        example[model.name] = r
                bar.update(1)
    summary = {s: {c: summarize(rs, rules) for c, rs in conds.items()} for s, conds in results.items()}
    report = Report(cfg, summary, verdicts(summary), {}, 0.0, command)
    report.wall_s = time.perf_counter() - t_start
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        if png:
            try:
                report.files["png"] = str(write_png(out_dir / "alert_eval.png", summary, example, attention))
            except ImportError:   # matplotlib is in the cpu/train extras, not the Jetson core
                pass
        report.files["markdown"] = str(out_dir / "alert_eval.md")
        report.files["json"] = str(out_dir / "alert_eval.json")
        Path(report.files["markdown"]).write_text(to_markdown(report))
        Path(report.files["json"]).write_text(json.dumps(to_json(report), indent=1))
    return report


# ---------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    return f"{v:.{digits}f}"


SET_TITLES: dict[str, str] = {
    "scripted_owl": "(a) scripted long distractions, owl",
    "scripted_lizard": "(a') same, lizard (known limitation)",
    "scripted_vats": "scripted VATS build-ups, owl",
    "normal": "(b) normal driving",
    "random": "(c) random drives",
}


def to_markdown(report: Report) -> str:
    cfg = report.config
    lines = ["# Alert accuracy (`dms evaluate-alerts`)", ""]
    if report.command:
        lines += [f"Command: `{report.command}`", ""]
    lines += [f"Profile `{cfg.profile}`, seed {cfg.seed}, {cfg.fps:g} fps. Pose conditions: `perfect` (exact vehicle "
              f"head pose) and `noisy` ({cfg.noise_deg:g} deg error, {cfg.noise_corr_s:g} s correlation, growing to 2x "
              f"in profile, {BIAS_SD_DEG:g} deg per-drive bias, `{cfg.mount}` mount with installation scatter, face "
              f"lost beyond {FACE_LOST_BEYOND_DEG:g} deg or behind a hand). Matching windows [due - {cfg.early_s:g} s, "
              f"due + {cfg.late_s:g} s] (long distraction), [due - {cfg.vats_early_s:g} s, due + {cfg.vats_late_s:g} s] "
              f"(VATS); latency = warning time - due time. Rates per hour at speed "
              f"(speed gate open). Wall time {report.wall_s:.1f} s.", ""]
    lines += ["## Targets", "",
              "| condition | target | goal | measured | 95 % bound | pass | demonstrated |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for v in report.verdicts:
        lines.append(f"| {v['condition']} | {v['target']} | {v['goal']} | {_fmt(v['measured'])} | "
                     f"{_fmt(v['bound95'])} | {'PASS' if v['pass'] else 'FAIL'} | {_fmt(v['demonstrated'])} |")
    lines += ["", "## Sets", "",
              "| set | pose | drives | hours at speed | due (LD/VATS) | alerts | found | missed | recall (95 % low) "
              "| precision | latency p50 / p95 / max s | false alerts (/h, 95 % up) | other alerts /h |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for set_name, conds in report.summary.items():
        for cond, s in conds.items():
            bk = s["due_by_kind"]
            lat = s["latency"]
            other = ", ".join(f"{k} {v:.2f}" for k, v in sorted(s["other_alerts_per_hour"].items())) or "-"
            lines.append(
                f"| {SET_TITLES.get(set_name, set_name)} | {cond} | {s['drives']} | {s['hours_at_speed']:.2f} | "
                f"{bk.get(LONG_DISTRACTION, {}).get('due', 0)}/{bk.get(VATS, {}).get('due', 0)} | {s['alerts']} | "
                f"{s['matched']}+{s['covered']} | {s['missed']} | {_fmt(s['recall'])} ({_fmt(s['recall_lower95'])}) | "
                f"{_fmt(s['precision'])} | {_fmt(lat['p50'])} / {_fmt(lat['p95'])} / {_fmt(lat['max'])} | "
                f"{s['false_alerts']} ({_fmt(s['false_alerts_per_hour'], 2)}, "
                f"{_fmt(s['false_alerts_per_hour_upper95'], 2)}) | {other} |")
    lines += ["", "found = matched + covered (a due event inside an already-warning matched alert). "
              "LD = long distraction. Other alerts are not scored (unavailable, drowsiness).", ""]
    lines += ["## Diagnostics", "",
              "| set | pose | false alerts: near threshold / face lost / other | longest off-road label run s "
              "| neutral learned (median t s) "
              "| learned neutral vs road posture, median / max deg | monitor frames/s |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for set_name, conds in report.summary.items():
        for cond, s in conds.items():
            fps = s["monitor_frames"] / s["monitor_seconds"] if s["monitor_seconds"] > 0 else None
            fc = s["false_alert_causes"]
            lines.append(f"| {set_name} | {cond} | {fc['near_threshold']} / {fc['face_lost']} / {fc['other']} | "
                         f"{s['longest_off_road_s']:.2f} | {s['neutral_learned']}/{s['drives']} "
                         f"({_fmt(s['neutral_learned_t_median'], 1)}) | {_fmt(s['neutral_error_deg_median'], 2)} / "
                         f"{_fmt(s['neutral_error_deg_max'], 2)} | {_fmt(fps, 0)} |")
    lines += ["", "## Latency and misses by labelled target", "",
              "| set | pose | target | matched | missed | latency p50 / p95 / max s |",
              "| --- | --- | --- | --- | --- | --- |"]
    for set_name, conds in report.summary.items():
        for cond, s in conds.items():
            targets = sorted(set(s["latency_by_target"]) | set(s["missed_by_target"]))
            for tg in targets:
                lat = s["latency_by_target"].get(tg, latency_stats([]))
                lines.append(f"| {set_name} | {cond} | {tg} | {lat['n']} | {s['missed_by_target'].get(tg, 0)} | "
                             f"{_fmt(lat['p50'])} / {_fmt(lat['p95'])} / {_fmt(lat['max'])} |")
    lines += ["", f"False-alert causes: near threshold = a long-distraction alert on a labelled off-road run within "
              f"{NEAR_THRESHOLD_S:g} s of the threshold (head/gaze timing ambiguity rather than a spurious glance); "
              f"face lost = no face on the warning sample or >= {FACE_LOST_CAUSE_S:g} s of the glance (the monitor "
              "continues a glance it cannot see); other = pose error or zone geometry. "
              "Learned neutral vs road posture: angle between the monitor's learned neutral and the driver's "
              "nominal road posture as the camera sees it (with the drive's bias); postural sway and drift make "
              "it 1-3 deg even with perfect pose.", ""]
    return "\n".join(lines) + "\n"


def to_json(report: Report) -> dict[str, Any]:
    return {
        "schema": "dms-alert-eval-v1",
        "command": report.command,
        "config": dataclasses.asdict(report.config),
        "pose_models": [dataclasses.asdict(m) for m in report.config.pose_models()],
        "matching": {k: {"early_s": e, "late_s": lt} for k, (e, lt) in report.config.windows().items()},
        "targets": {"recall": TARGET_RECALL, "latency_s": TARGET_LATENCY_S, "latency_stat": LATENCY_STAT,
                    "false_alerts_per_hour": TARGET_FALSE_ALERTS_PER_HOUR, "confidence": CONFIDENCE},
        "verdicts": report.verdicts,
        "passed": report.passed,
        "sets": report.summary,
        "files": report.files,
        "wall_s": report.wall_s,
    }


def write_png(path: Path, summary: dict[str, dict[str, dict[str, Any]]], example: dict[str, DriveResult],
              attention: AttentionConfig) -> Path:
    """Latency histogram (scripted long distractions) and one example drive's pose with its
    labelled off-road runs, due events and warnings."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 1, figsize=(11, 8))
    ax = axes[0]
    owl = summary.get("scripted_owl", {})
    all_lat = [x for s in owl.values() for x in s["latencies"]]
    if all_lat:
        lo, hi = min(all_lat + [0.0]) - 0.02, max(all_lat + [TARGET_LATENCY_S]) + 0.02
        bins = np.linspace(lo, hi, 40)
        for cond, s in owl.items():
            ax.hist(s["latencies"], bins=bins, alpha=0.6, label=f"{cond} (n={len(s['latencies'])})")
    ax.axvline(TARGET_LATENCY_S, color="r", ls="--", label=f"target {TARGET_LATENCY_S} s")
    ax.set_xlabel("warning time - due time (s)")
    ax.set_ylabel("scripted long distractions")
    ax.set_title("Alert latency, scripted long distractions (owl drivers)")
    ax.legend()
    ax = axes[1]
    ex = example.get("noisy") or next(iter(example.values()), None)
    if ex is not None:
        track = ex.drive.track
        t = track.times
        z = attention.zones
        off = off_road_mask(track.target, ON_ROAD_TARGETS)
        for a, b in runs_of(off):
            ax.axvspan(a / track.fps, b / track.fps, color="0.85", lw=0)
        ax.plot(t, track.pose_vehicle[:, 0], color="C0", lw=1.2, label="pitch, vehicle (perfect)")
        ax.plot(t, track.pose_vehicle[:, 1], color="C1", lw=1.2, label="yaw, vehicle (perfect)")
        inp = ex.input
        if inp is not None and ex.condition != "perfect":
            rel = matrix_to_euler(euler_to_matrix(np.asarray(ex.run.neutral)).T @ euler_to_matrix(inp.poses))
            rel[~inp.present] = np.nan
            ax.plot(t, rel[:, 0], color="C0", lw=0.6, alpha=0.6, label="pitch seen - learned neutral (noisy)")
            ax.plot(t, rel[:, 1], color="C1", lw=0.6, alpha=0.6, label="yaw seen - learned neutral (noisy)")
        for v in (z.road_yaw_deg, -z.road_yaw_deg, -z.road_pitch_down_deg):
            ax.axhline(v, color="0.5", ls=":", lw=0.8)
        for d in ex.dues:
            ax.axvline(d.t, color="r", ls="--", lw=1.0)
        for a_rec in ex.run.alerts:
            ax.plot([a_rec.t], [0.0], marker="v", color="g", ms=10)
        ax.plot([], [], color="r", ls="--", label="due (labels)")
        ax.plot([], [], marker="v", color="g", ls="", label=f"warning ({ex.condition} pose)")
        ax.set_title(f"Example: scripted drive 0 ({ex.drive.kind}); grey = labelled off road; dotted = road cone "
                     f"(yaw +-{z.road_yaw_deg:g}, pitch -{z.road_pitch_down_deg:g} deg)")
        ax.set_xlabel("t (s)")
        ax.set_ylabel("deg")
        ax.legend(fontsize=7, ncol=2, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def print_summary(report: Report) -> str:
    """The few lines a terminal needs: the verdicts and where the files are."""
    lines = []
    for v in report.verdicts:
        bound = f", 95 % bound {_fmt(v['bound95'])}" if v["bound95"] is not None else ""
        lines.append(f"[{'PASS' if v['pass'] else 'FAIL'}] {v['condition']:>7}: {v['target']}: "
                     f"{_fmt(v['measured'])} (goal {v['goal']}{bound})")
    for k, p in report.files.items():
        lines.append(f"{k}: {p}")
    return "\n".join(lines)


__all__ = [
    "AlertRecord", "DueEvent", "DueRules", "EvalConfig", "MatchResult", "PoseErrorModel", "Report", "ar1_noise",
    "binomial_lower", "collect_alerts", "due_events", "evaluate", "gate_mask", "match_events", "monitor_input",
    "normal_driving_config", "poisson_upper", "print_summary", "runs_of", "scripted_long_distraction",
]
