"""Motion tracks that look like driving: what the driver's head, eyes, mouth and hands do,
frame by frame, with the ground truth of what the driver attends to (synth.track contract).

Why a behavioural model rather than random poses: the recurrent tracker learns the
dynamics of real head motion (long steady road fixations, fast but smooth turns to
mirrors, slow drowsy drops and jerky recoveries), and the alert evaluation needs glances
whose off-road durations are known to the frame. Both come from one plan.

The model, in four layers:

1. **Where things are.** Every target is a point in the vehicle frame V of synth/camera.py
   (x forward, y to the driver's right, z down; metres from the driver's eyes) for a
   left-hand-drive car; its gaze direction (pitch, yaw) follows from the geometry.
   Right-hand drive is the mirror image of the whole track (yaw and roll negated,
   left/right targets swapped), exactly as a right-hand-drive cabin is the mirror image
   of a left-hand-drive one.
2. **Eyes and head.** A gaze shift of amplitude A is made by the eyes alone when it is
   small; beyond an eye-only range the head takes a growing share (about 60-80 % of large
   shifts) and the eyes do the rest, never settling more than ~35 deg into the orbit
   (Freedman & Sparks 1997; Freedman 2008; Stahl 1999; in driving: Land 1992).
   Per-subject gains make "owls" (head movers) and "lizards" (eye movers), as Fridman et
   al. (2016) found in real drivers.
3. **Smooth movement.** Every head, gaze, eyelid and speed change is a minimum-jerk
   step (Flash & Hogan 1985): position, velocity and acceleration are continuous and the
   peak speed of a step is 1.875 A / D. Steps superpose (Flash & Hogan 1987), so a glance
   cut short reverses smoothly. Head step durations come from a saturating main sequence
   (peak speed rises with amplitude; Zangemeister, Lehman & Stark 1981), capped by a peak
   velocity and a peak acceleration. Road fixations carry slow sway, postural drift and a
   small tremor; the eyes scan the road scene with small saccades.
4. **Behaviour.** A Poisson-like schedule of behaviours (mirror checks, cluster and
   infotainment glances, phone in the lap, lane changes with shoulder checks, passenger
   glances, looks up/down, stretches, head resting, yawns, nodding off) modulated by the
   vehicle speed (more phone use when stopped, no shoulder checks), plus overlays
   (talking, hand to the face, phone calls, a hand blocking the camera) and blinks.

The label rule (documented, exact): a glance's label switches to its target at the frame
where the planned gaze is half way from the road to the target (the minimum-jerk
midpoint, which is also its peak-speed instant), and back to "road" at the frame where the
return shift is half way. Outbound and return shifts of one glance have the same
duration, so the labelled interval has the length of the ISO 15007 glance duration
(from the moment the gaze starts moving towards the target to the moment it starts moving
away), shifted by half a gaze-shift (<= ~0.2 s). For eye closures ("eyes_closed") the
label switches when the lids are half closed / half open. Blinks never change the label.
In scripted tracks these frames are exactly round(start_s * fps) and
round((start_s + duration_s) * fps).

Sources (cited by key in MotionConfig):
  [Freedman97]  Freedman & Sparks, Eye-head coordination during head-unrestrained gaze
                shifts in rhesus monkeys, J. Neurophysiol. 77:2328-2348 (1997): no head
                contribution below ~20 deg, linear growth beyond, eye amplitude saturating
                near 35 deg.
  [Freedman08]  Freedman, Coordination of the eyes and head during visual orienting, Exp.
                Brain Res. 190:369-387 (2008), a review of the same rules in humans.
  [Stahl99]     Stahl, Amplitude of human head movements associated with horizontal
                saccades, Exp. Brain Res. 126:41-54 (1999): an individual "eye-only range",
                head amplitude growing linearly beyond it.
  [Land92]      Land, Predictable eye-head coordination during driving, Nature 359:318-320
                (1992): large gaze shifts in driving are made with the head.
  [Fridman16]   Fridman, Lee, Reimer, Victor, "Owl" and "lizard": patterns of head pose and
                eye pose in driver gaze classification, IET Comput. Vis. 10:308-314 (2016).
  [Zangemeister81] Zangemeister, Lehman, Stark, Simulation of head movement trajectories:
                model and fit to main sequence, Biol. Cybern. 41:19-32 (1981): head peak
                velocity grows with amplitude and saturates; 100-400 deg/s for large turns.
  [FlashHogan85] Flash & Hogan, The coordination of arm movements, J. Neurosci. 5:1688
                (1985), minimum-jerk profiles; superposition of modified movements:
                Flash & Henis, J. Cogn. Neurosci. 3:220 (1991).
  [ISO15007]    ISO 15007-1:2014 / ISO 15007:2020, glance duration definition.
  [NHTSA13]     NHTSA Visual-Manual Driver Distraction Guidelines (2013): single glances
                <= 2 s (85 % of glances), total eyes-off-road <= 12 s per task.
  [Klauer06]    Klauer et al., The impact of driver inattention on near-crash/crash risk
                (100-Car study), DOT HS 810 594 (2006): glances > 2 s double the risk.
  [Victor15]    Victor et al., Analysis of naturalistic driving study data: safer glances,
                driver inattention and crash risk, SHRP2 S2-S08A-RW-1 (2015).
  [Taoka90]     Taoka, Duration of drivers' glances at mirrors and displays, ITE J. 60(10)
                (1990): log-normal-like glance-time distributions, mirror glances ~0.5-1.2 s.
  [Bentivoglio97] Bentivoglio et al., Analysis of blink rate patterns in normal subjects,
                Mov. Disord. 12:1028-1034 (1997): ~17/min at rest, ~26/min talking,
                ~4.5/min reading.
  [Caffier03]   Caffier, Erdmann, Ullsperger, Experimental evaluation of eye-blink
                parameters as a drowsiness measure, Eur. J. Appl. Physiol. 89:319 (2003):
                blink durations lengthen with drowsiness.
  [Evinger94]   Evinger et al., Eyeblinks accompany gaze shifts..., Exp. Brain Res.
                100:337 (1994): large gaze shifts often carry a blink.
  [Ding17]      Ding et al., Temporal modulations in speech and music, Neurosci. Biobehav.
                Rev. 81:181 (2017): the speech envelope peaks at ~4-5 Hz (syllable rate).
  [Provine86]   Provine, Yawning as a stereotyped action pattern, Ethology 72:109 (1986):
                yawns last ~6 s.
  [Ferrario02]  Ferrario et al., Active range of motion of the head and cervical spine,
                J. Orthop. Res. 20:122 (2002): flexion/extension, rotation and lateral
                bending ranges that the +-60 / +-90 / +-40 deg limits stay inside (yaw
                beyond the neck's ~75 deg comes from turning the trunk in the seat).
  [AASHTO]      AASHTO Green Book: 3.4 m/s^2 is a comfortable deceleration for most drivers.
  [Dinges98]    Dinges & Grace, PERCLOS: a valid psychophysiological measure of alertness,
                FHWA-MCRT-98-006 (1998): slow eyelid closures and long closures mark
                drowsiness.
  [estimate]    An engineering estimate, chosen to be consistent with the sources above
                and with ordinary driving; tune it with data when there is some.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np
from numpy.typing import NDArray

from dms.angles import mirror_side
from synth.track import ATTENTION_TARGETS, OCCLUDERS, MotionTrack, TrackEvent

FloatArray = NDArray[np.float64]

ROAD = "road"


# --------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """A duration distribution: log-normal around a median, clipped, with an optional
    uniform long tail. Why log-normal: naturalistic glance durations are right-skewed and
    close to log-normal [Taoka90, Victor15]; the tail is where the crash risk is [Klauer06]."""

    median_s: float
    sigma: float              # standard deviation of ln(duration)
    min_s: float
    max_s: float
    p_long: float = 0.0       # probability of drawing from the long tail instead
    long_s: tuple[float, float] = (0.0, 0.0)

    def draw(self, rng: np.random.Generator) -> float:
        if self.p_long > 0.0 and rng.random() < self.p_long:
            return float(rng.uniform(*self.long_s))
        d = self.median_s * math.exp(self.sigma * float(rng.standard_normal()))
        return float(min(max(d, self.min_s), self.max_s))


@dataclass(frozen=True)
class Place:
    """Something the driver looks at: its label and where it is.

    point_m: (x forward, y right, z down) in metres from the driver's eyes, vehicle frame V,
    left-hand-drive car. Only the direction matters. jitter_deg: per-glance scatter
    (pitch, yaw) of where on it the driver looks (a mirror is ~10 deg wide, the lap wider).
    """

    label: str
    point_m: tuple[float, float, float]
    jitter_deg: tuple[float, float] = (1.0, 1.5)

    def gaze(self) -> tuple[float, float]:
        """(pitch, yaw) in degrees of the direction to the point."""
        x, y, z = self.point_m
        return math.degrees(math.atan2(-z, math.hypot(x, y))), math.degrees(math.atan2(y, x))


def _default_places() -> dict[str, Place]:
    # Typical compact/midsize sedan, left-hand drive [estimate]: mirror-to-mirror width
    # ~2.0 m, the driver's eyes ~0.38 m left of the car's centre line, exterior mirrors
    # ~0.85 m ahead of and ~0.12 m below the eyes, the interior mirror at the top of the
    # windscreen (synth/camera.py mounts a camera there, ~0.6 m ahead), cluster ~0.75 m
    # ahead and 0.3 m down, the centre stack on the car's centre line. Resulting gaze
    # directions (pitch, yaw): left mirror (-6.5, -36), right mirror (-4, +58; the far
    # door mirror is "over 50-70 deg" off axis, cf. Nagata & Kuriyama SAE 850330),
    # interior mirror (+16, +32), cluster (-22, 0), infotainment (-22, +28),
    # phone in the lap (-61, +18), passenger (0, +72), blind spots (-5, -+117),
    # sun visor (+41, +8), floor / footwell (-62, +21).
    return {
        "road": Place("road", (50.0, 0.0, 0.0), (0.0, 0.0)),
        "left_mirror": Place("left_mirror", (0.85, -0.62, 0.12), (1.0, 1.5)),
        "right_mirror": Place("right_mirror", (0.85, 1.38, 0.12), (1.0, 1.5)),
        "rear_mirror": Place("rear_mirror", (0.60, 0.38, -0.20), (1.0, 1.5)),
        "cluster": Place("cluster", (0.75, 0.0, 0.30), (1.5, 2.5)),
        "infotainment": Place("infotainment", (0.70, 0.38, 0.33), (2.0, 3.0)),
        "phone": Place("phone", (0.30, 0.10, 0.58), (3.0, 5.0)),
        "passenger": Place("passenger", (0.25, 0.76, 0.0), (3.0, 8.0)),
        "left_shoulder": Place("left_shoulder", (-0.5, -1.0, 0.10), (3.0, 8.0)),
        "right_shoulder": Place("right_shoulder", (-0.5, 1.0, 0.10), (3.0, 8.0)),
        "sun_visor": Place("other", (0.35, 0.05, -0.32), (3.0, 6.0)),
        "floor": Place("other", (0.40, 0.15, 0.80), (4.0, 8.0)),
    }


def _default_timings() -> dict[str, Timing]:
    return {
        # Mirror glances ~0.5-1.2 s [Taoka90; brief]. Label interval (ISO glance length).
        "mirror_check": Timing(0.8, 0.30, 0.40, 1.6),
        # Cluster (speedometer) glances ~0.5-1.0 s [Taoka90; estimate].
        "cluster_glance": Timing(0.7, 0.30, 0.35, 1.4),
        # Infotainment: median 1.2 s, ~15 % of glances over 2 s, the tail to 3.5 s: a task
        # at the edge of the NHTSA 85th-percentile <= 2 s criterion [NHTSA13; Victor15].
        "infotainment": Timing(1.2, 0.35, 0.50, 3.0, p_long=0.08, long_s=(2.0, 3.5)),
        # Phone in the lap: longer, a quarter of them in the >= 2.5 s tail that makes
        # Euro NCAP long distractions [Klauer06; Victor15; estimate].
        "phone": Timing(1.5, 0.45, 0.60, 6.0, p_long=0.25, long_s=(2.5, 6.0)),
        # Shoulder (blind-spot) checks: short and fast [estimate].
        "shoulder_check": Timing(0.5, 0.25, 0.30, 1.0),
        "passenger": Timing(0.9, 0.35, 0.40, 2.0),
        "look_up": Timing(1.0, 0.35, 0.50, 2.5),
        "reach_down": Timing(1.8, 0.40, 0.80, 4.0),
        # Road time between the glances of one infotainment / phone task [estimate].
        "task_road_gap": Timing(1.0, 0.40, 0.50, 2.5),
        # Road time between the mirror and the shoulder check of a lane change [estimate].
        "lane_change_gap": Timing(0.5, 0.40, 0.25, 1.2),
    }


def _default_rates() -> dict[str, float]:
    # Starts per minute of driving for a nominal subject (SubjectStyle scales them)
    # [estimate]: with these, mirrors take a few percent of the time, infotainment and
    # phone tasks a few percent more, as in naturalistic baselines [Victor15]; the rare,
    # extreme behaviours are frequent enough that 20 two-minute tracks cover the pose range.
    return {
        "mirror_check": 3.0,
        "cluster_glance": 2.0,
        "infotainment": 0.6,     # a task: 1-4 glances
        "phone": 0.3,            # a task: 1-4 glances
        "lane_change": 0.4,      # mirror + shoulder check
        "shoulder_check": 0.1,   # alone (merging, pulling out)
        "passenger": 0.2,        # x3 while talking
        "look_up": 0.1,          # sun visor / overhead console
        "reach_down": 0.12,      # something on the floor / footwell
        "stretch": 0.25,         # neck stretch: roll, extension or flexion
        "head_rest": 0.08,       # head tilted resting against the door / a hand
        "yawn": 0.15,            # x(1 + 3 drowsiness)
        "nodding_off": 0.4,      # x drowsiness
        "microsleep": 0.4,       # x drowsiness
    }


def _default_overlay_rates() -> dict[str, float]:
    # Overlays run beside the gaze schedule, per minute [estimate].
    return {
        "talking": 0.6,          # x talkativeness
        "occlusion": 0.3,        # a hand to the face: rubbing eyes, scratching, chin on hand
        "phone_call": 0.03,      # phone held at the ear (occluder "phone") while talking
        "camera_blocked": 0.03,  # a hand at 12 o'clock on the wheel in front of the camera
    }


@dataclass
class MotionConfig:
    """Every number that shapes a track, with its source key (see the module docstring).

    Angles in degrees (pitch, yaw, roll) in dms-head-v1 relative to the vehicle; times in
    seconds; rates per minute.
    """

    # --- where things are -----------------------------------------------------------
    places: dict[str, Place] = field(default_factory=_default_places)  # [estimate], see _default_places
    right_hand_drive: bool = False            # mirrors the whole track (see module docstring)

    # --- eyes and head ----------------------------------------------------------------
    # Gaze shifts smaller than this are made by the eyes alone [Freedman97: ~20 deg in
    # monkeys; Stahl99: an individual eye-only range, often 10-20 deg in humans].
    eye_only_range_deg: float = 10.0
    # Beyond it the head moves this many degrees per degree of gaze [Freedman97; Stahl99;
    # estimate]: gives 60 % of a 37 deg mirror shift, 70 % of a 60 deg shift, ~75 % of a
    # shoulder check - "roughly 60-80 % of large shifts, less for small ones".
    head_slope: float = 0.85
    # The eyes settle at most this far into the orbit; the head makes up the rest
    # [Freedman97: eye amplitude saturates near 35 deg].
    eye_settle_max_deg: float = 35.0
    # Hard range of the eye in the orbit while the head catches up (soft-limited)
    # [Freedman08: oculomotor range ~ +-50-55 deg].
    eye_range_max_deg: float = 50.0
    # Head onset relative to gaze onset; 0 = together. [Freedman08: -50..+100 ms depending
    # on the task; Land92: in driving the head often leads.]
    head_latency_s: float = 0.0
    # Per-glance scatter of head roll [estimate].
    glance_roll_std_deg: float = 2.5
    # Where the head settles back on the road differs a little each time [estimate].
    road_return_jitter_deg: tuple[float, float, float] = (0.8, 0.8, 0.5)

    # --- head dynamics: main sequence Vp(A) = vmax (1 - exp(-A / a0)), D = 1.875 A / Vp --
    head_vmax_deg_s: float = 300.0            # [Zangemeister81; natural, not maximal, speed]
    head_v_amp_const_deg: float = 45.0        # a0 [Zangemeister81 main-sequence shape; estimate]
    head_speed_jitter: float = 0.15           # per-movement log-normal sd [estimate]
    # No head step is planned faster than this (tests check the whole track against it);
    # large turns land at ~150-350 deg/s [Zangemeister81; brief: 100-400 deg/s].
    head_peak_velocity_limit_deg_s: float = 400.0
    # Peak acceleration cap, D >= sqrt(5.77 A / a_max) [estimate, order of the fastest
    # voluntary head movements, Zangemeister81].
    head_peak_accel_limit_deg_s2: float = 4000.0
    head_min_duration_s: float = 0.15         # [estimate]
    # Gaze shift (eye + head) duration D = base + per_deg * A: ~150 ms for a mirror,
    # ~350 ms for a shoulder check [Freedman08: head-free gaze shifts 100-400 ms].
    gaze_duration_base_s: float = 0.05
    gaze_duration_per_deg_s: float = 0.0025

    # --- pose limits (soft: smooth compression above `soft_knee` of the limit) --------
    # Issue: yaw +-90, pitch +-60, roll +-40 [Ferrario02 active ranges, trunk for yaw].
    pitch_limits_deg: tuple[float, float] = (-60.0, 60.0)
    yaw_limit_deg: float = 90.0
    roll_limit_deg: float = 40.0
    soft_knee: float = 0.85

    # --- small motion on the road -----------------------------------------------------
    # Sway: slow, ~1-3 deg (std per axis, pitch/yaw/roll), corner frequency [estimate].
    sway_std_deg: tuple[float, float, float] = (0.8, 1.2, 0.6)
    sway_corner_hz: float = 0.25
    # Postural drift over minutes (slouching, seat shifts) [estimate].
    drift_std_deg: tuple[float, float, float] = (1.2, 1.2, 0.8)
    drift_corner_hz: float = 0.01
    # Physiological tremor / ride vibration, smooth at 30 fps [estimate].
    tremor_std_deg: float = 0.08
    tremor_corner_hz: float = 3.0
    # The eyes scan the road scene (lead car, signs, the far road) with small saccades;
    # spread (pitch, yaw) and fixation durations [estimate; ISO15007: fixations 0.1-2 s].
    road_scan_std_deg: tuple[float, float] = (1.5, 3.5)
    road_scan_max_deg: tuple[float, float] = (5.0, 10.0)
    road_fixation: Timing = Timing(0.5, 0.45, 0.15, 2.0)

    # --- behaviour schedule -------------------------------------------------------------
    rates_per_min: dict[str, float] = field(default_factory=_default_rates)
    overlay_rates_per_min: dict[str, float] = field(default_factory=_default_overlay_rates)
    timings: dict[str, Timing] = field(default_factory=_default_timings)
    # Which mirror a mirror check goes to: interior most, the near door mirror next [estimate].
    mirror_weights: dict[str, float] = field(
        default_factory=lambda: {"rear_mirror": 0.45, "left_mirror": 0.35, "right_mirror": 0.20})
    # A lane change in a left-hand-drive car (traffic on the right) goes left more often:
    # overtaking [estimate]. The mirror and shoulder check are on the same side.
    lane_change_left_share: float = 0.6
    # Glances of one infotainment / phone task: 1 + Poisson(mean) [estimate].
    task_extra_glances_mean: float = 1.3
    task_max_glances: int = 4
    # Road time between behaviours, on top of the Poisson wait [estimate].
    min_road_between_s: tuple[float, float] = (0.6, 1.5)
    # Below this the car counts as stopped, and rates change: more phone and screen use at
    # a red light, no lane changes [estimate; naturalistic phone use rises when stopped].
    stopped_below_kmh: float = 3.0
    stopped_rate_multiplier: dict[str, float] = field(default_factory=lambda: {
        "phone": 3.0, "infotainment": 2.0, "lane_change": 0.0, "shoulder_check": 0.0,
        "mirror_check": 0.5, "nodding_off": 0.0, "microsleep": 0.0})
    talking_passenger_multiplier: float = 3.0
    # Scales the rates of the extreme-pose behaviours (stretch, look_up, reach_down,
    # head_rest): raise it for a dataset that needs more of the pose range.
    extreme_rate_scale: float = 1.0
    # Scales the rates of the large-yaw behaviours (shoulder checks, alone and in lane
    # changes; looks at the passenger). With 1.0 a drive keeps |yaw| within 53 deg on 99 %
    # of its frames and beyond 60 on 0.5 % (measured on a 120k-frame set), which is
    # realistic but leaves a network almost no profiles to learn from: on real faces it
    # then reads a 75 deg turn as 35. Raise it for training sets, not for alert tests.
    wide_yaw_rate_scale: float = 1.0

    # --- specific behaviours ------------------------------------------------------------
    # Extra head pitch when reaching for the floor: the trunk leans forward [estimate].
    reach_trunk_pitch_deg: tuple[float, float] = (8.0, 15.0)
    # Neck stretches [Ferrario02 ranges; estimate]: variant probabilities, amplitudes, length.
    stretch_variants: dict[str, float] = field(
        default_factory=lambda: {"roll": 0.5, "extension": 0.3, "flexion": 0.2})
    stretch_roll_deg: tuple[float, float] = (28.0, 42.0)   # near the ~45 deg lateral-bending range
    stretch_extension_deg: tuple[float, float] = (30.0, 55.0)
    stretch_flexion_deg: tuple[float, float] = (40.0, 60.0)
    stretch_s: tuple[float, float] = (1.0, 3.0)
    stretch_move_s: tuple[float, float] = (0.7, 1.2)   # slow, deliberate [estimate]
    # Head resting against the door (towards the driver's left in LHD) [estimate].
    head_rest_roll_deg: tuple[float, float] = (12.0, 35.0)
    head_rest_s: tuple[float, float] = (4.0, 20.0)
    head_rest_hand_prob: float = 0.3
    # Nodding off: lids close, the head drops slowly 15-40 deg over 1-3 s, then a fast jerk
    # back up as the eyes open [brief; Dinges98; estimate for the kinematics].
    nod_closure_s: tuple[float, float] = (1.5, 5.0)
    nod_drop_deg: tuple[float, float] = (15.0, 40.0)
    nod_drop_s: tuple[float, float] = (1.0, 3.0)
    nod_roll_deg: float = 10.0                         # drift of roll while dropping, +-
    nod_lid_close_s: tuple[float, float] = (0.3, 0.6)  # slow lid closure [Dinges98]
    nod_recovery_s: tuple[float, float] = (0.25, 0.45)
    nod_overshoot_deg: tuple[float, float] = (0.0, 6.0)
    # Microsleep: a long eye closure with only a small sag of the head [Dinges98; estimate].
    microsleep_s: tuple[float, float] = (0.5, 2.5)
    microsleep_drop_deg: tuple[float, float] = (2.0, 8.0)
    # Yawn ~6 s [Provine86]: open (ramp), hold, close; head tips back, eyes squint.
    yawn_open_s: tuple[float, float] = (1.5, 2.5)
    yawn_hold_s: tuple[float, float] = (0.5, 1.5)
    yawn_close_s: tuple[float, float] = (1.0, 2.0)
    yawn_mouth: tuple[float, float] = (0.8, 1.0)
    yawn_pitch_deg: tuple[float, float] = (5.0, 15.0)
    yawn_squint: tuple[float, float] = (0.4, 0.7)

    # --- eyes ------------------------------------------------------------------------------
    blink_rate_per_min: float = 17.0           # at rest [Bentivoglio97]
    blink_rate_talking_per_min: float = 26.0   # in conversation [Bentivoglio97]
    blink_rate_reading_per_min: float = 4.5    # reading a screen / phone [Bentivoglio97]
    blink_duration_s: tuple[float, float] = (0.15, 0.03)   # mean, sd [brief; Caffier03]
    blink_drowsy_extra_s: float = 0.15         # longer blinks when drowsy [Caffier03]
    blink_close_fraction: float = 0.3          # lids close faster than they open
    blink_refractory_s: float = 0.3            # [estimate]
    gaze_evoked_blink_prob: float = 0.4        # for gaze shifts >= 30 deg [Evinger94; estimate]
    gaze_evoked_blink_min_deg: float = 30.0
    drowsy_lid_droop: float = 0.2              # resting lid closure at full drowsiness [Dinges98; estimate]

    # --- mouth -----------------------------------------------------------------------------
    syllable_rate_hz: tuple[float, float] = (4.0, 5.0)      # [Ding17]
    talk_amplitude: tuple[float, float] = (0.15, 0.5)        # mouth_open per syllable [estimate]
    talk_bout_s: tuple[float, float] = (5.0, 40.0)           # [estimate]
    talk_phrase_s: tuple[float, float] = (1.0, 4.0)          # [estimate]
    talk_pause_s: tuple[float, float] = (0.2, 1.2)           # [estimate]

    # --- occluders -------------------------------------------------------------------------
    occlusion_s: tuple[float, float] = (1.0, 4.0)            # hand to face [estimate]
    phone_call_s: tuple[float, float] = (20.0, 90.0)         # [estimate]
    camera_blocked_s: tuple[float, float] = (8.0, 15.0)      # > Euro NCAP's 10 s "cannot see" limit sometimes

    # --- vehicle speed ------------------------------------------------------------------
    # Road types: share, cruise speed range (km/h), mean time between stops (s, 0 = none)
    # [estimate: urban 30-50 km/h limits, rural 70-100, motorway 100-130].
    road_types: dict[str, tuple[float, tuple[float, float], float]] = field(default_factory=lambda: {
        "city": (0.4, (25.0, 50.0), 70.0),
        "rural": (0.3, (60.0, 95.0), 0.0),
        "highway": (0.3, (95.0, 130.0), 0.0),
    })
    road_segment_s: tuple[float, float] = (40.0, 150.0)
    stop_s: tuple[float, float] = (5.0, 40.0)
    start_stopped_prob: float = 0.15
    accel_peak_m_s2: float = 2.0           # [estimate: ordinary passenger-car acceleration]
    decel_peak_m_s2: float = 2.5           # below AASHTO's comfortable 3.4 m/s^2 [AASHTO]
    speed_fluctuation: float = 0.04        # relative sd of cruise-speed changes [estimate]
    speed_fluctuation_every_s: tuple[float, float] = (8.0, 25.0)


@dataclass
class SubjectStyle:
    """How one driver moves. Why: subjects must differ in more than their face, or the
    network learns one person's habits (Fridman16: owls and lizards)."""

    head_gain: float = 1.0                    # x MotionConfig.head_slope (owl > 1 > lizard)
    eye_only_range_deg: float | None = None   # None = MotionConfig.eye_only_range_deg
    neutral_offset_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)  # head posture on the road
    seat_offset_deg: tuple[float, float] = (0.0, 0.0)  # seat height/position shifts every target
    glance_rate: float = 1.0                  # x all gaze-behaviour rates
    head_speed: float = 1.0                   # x head peak velocities
    sway_scale: float = 1.0
    blink_rate_scale: float = 1.0
    drowsiness: float = 0.0                   # 0 = alert, 1 = fighting sleep
    talkativeness: float = 1.0

    @classmethod
    def sample(cls, rng: np.random.Generator) -> SubjectStyle:
        """A random plausible driver [estimate for every range]."""
        drowsy = 0.0 if rng.random() < 0.6 else float(rng.uniform(0.2, 1.0))
        return cls(
            head_gain=float(rng.uniform(0.8, 1.2)),
            eye_only_range_deg=float(rng.uniform(5.0, 18.0)),
            neutral_offset_deg=(float(rng.normal(0, 3.0)), float(rng.normal(0, 2.0)), float(rng.normal(0, 2.0))),
            seat_offset_deg=(float(rng.normal(0, 2.0)), float(rng.normal(0, 1.5))),
            glance_rate=float(rng.uniform(0.7, 1.4)),
            head_speed=float(rng.uniform(0.8, 1.2)),
            sway_scale=float(rng.uniform(0.6, 1.5)),
            blink_rate_scale=float(np.clip(rng.normal(1.0, 0.25), 0.5, 1.6)),
            drowsiness=drowsy,
            talkativeness=float(rng.uniform(0.3, 2.0)),
        )

    @classmethod
    def owl(cls) -> SubjectStyle:
        """Head points at every target, eyes centred (Euro NCAP's "owl" movement type).
        Head-pose-only attention monitoring sees every glance of this driver."""
        return cls(head_gain=1.25, eye_only_range_deg=0.0)

    @classmethod
    def lizard(cls) -> SubjectStyle:
        """Eyes do the work, the head barely moves (Euro NCAP's "lizard")."""
        return cls(head_gain=0.3, eye_only_range_deg=25.0)


def subject_styles(n: int, seed: int) -> list[SubjectStyle]:
    """n deterministic subject styles, e.g. for the dataset's 10 subjects."""
    rngs = [np.random.default_rng([seed, i]) for i in range(n)]
    return [SubjectStyle.sample(r) for r in rngs]


# --------------------------------------------------------------------------------------
# Signal primitives (all vectorised)
# --------------------------------------------------------------------------------------


def min_jerk(u: FloatArray) -> FloatArray:
    """The minimum-jerk step 10u^3 - 15u^4 + 6u^5 on [0, 1], 0 before, 1 after:
    zero velocity and acceleration at both ends [FlashHogan85]."""
    u = np.clip(u, 0.0, 1.0)
    return u * u * u * (10.0 + u * (-15.0 + 6.0 * u))


def render_steps(n: int, fps: float, t0: FloatArray, dur: FloatArray, delta: FloatArray) -> FloatArray:
    """Sum of minimum-jerk steps: step m moves by delta[m] between t0[m] and t0[m] + dur[m].

    Returns [n, C] sampled at t = i / fps. Vectorised: each step touches only the frames
    inside it; the constant part after it is a cumulative sum.
    """
    delta = np.asarray(delta, dtype=np.float64)
    c = delta.shape[1]
    out = np.zeros((n + 1, c))
    if len(t0) == 0:
        return out[:n]
    t0 = np.asarray(t0, dtype=np.float64)
    dur = np.maximum(np.asarray(dur, dtype=np.float64), 1e-9)
    lo = np.clip(np.ceil(t0 * fps - 1e-9), 0, n).astype(np.int64)
    hi = np.clip(np.ceil((t0 + dur) * fps - 1e-9), 0, n).astype(np.int64)
    # After a step: its full delta.
    np.add.at(out, hi, delta)
    out = np.cumsum(out, axis=0)
    # Inside it: the partial step.
    lengths = hi - lo
    total = int(lengths.sum())
    if total:
        owner = np.repeat(np.arange(len(t0)), lengths)
        frames = lo[owner] + (np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths))
        u = (frames / fps - t0[owner]) / dur[owner]
        np.add.at(out, frames, delta[owner] * min_jerk(u)[:, None])
    return out[:n]


def _bumps(n: int, fps: float, t0: FloatArray, dur: FloatArray, amp: FloatArray, rise: float) -> FloatArray:
    """Sum of smooth one-off bumps (a blink: lids close in `rise` of the time, reopen slower)."""
    out = np.zeros(n)
    if len(t0) == 0:
        return out
    lo = np.clip(np.ceil(t0 * fps), 0, n).astype(np.int64)
    hi = np.clip(np.ceil((t0 + dur) * fps), 0, n).astype(np.int64)
    lengths = np.maximum(hi - lo, 0)
    total = int(lengths.sum())
    if total == 0:
        return out
    owner = np.repeat(np.arange(len(t0)), lengths)
    frames = np.repeat(lo, lengths) + (np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths))
    u = (frames / fps - t0[owner]) / dur[owner]
    shape = np.where(u < rise, np.sin(0.5 * np.pi * u / rise) ** 2,
                     np.cos(0.5 * np.pi * (u - rise) / (1.0 - rise)) ** 2)
    np.add.at(out, frames, amp[owner] * shape)
    return out


def lowpass_noise(rng: np.random.Generator, n: int, fps: float, corner_hz: float,
                  std: Sequence[float] | FloatArray) -> FloatArray:
    """Gaussian-spectrum low-pass noise [n, len(std)] with exactly the given std per column:
    smooth (all derivatives continuous), so it never adds a jump."""
    k = len(std)
    if n < 2:
        return np.zeros((n, k))
    spec = np.fft.rfft(rng.standard_normal((n, k)), axis=0)
    f = np.fft.rfftfreq(n, 1.0 / fps)
    spec *= np.exp(-0.5 * (f / corner_hz) ** 2)[:, None]
    x = np.fft.irfft(spec, n, axis=0)
    x -= x.mean(axis=0)
    s = x.std(axis=0)
    return x * (np.asarray(std, dtype=np.float64) / np.where(s > 0, s, 1.0))


def soft_limit(x: FloatArray, lo: float, hi: float, knee: float) -> FloatArray:
    """Identity inside knee*limit, then a tanh shoulder that approaches the limit: C2 at
    the knee, so limiting never adds a kink in velocity or acceleration."""
    if not lo < 0.0 < hi:
        raise ValueError(f"soft_limit needs lo < 0 < hi, got {lo}, {hi}")
    x = np.asarray(x, dtype=np.float64)
    out = x.copy()
    k_hi, k_lo = knee * hi, knee * lo
    r_hi, r_lo = hi - k_hi, k_lo - lo
    m = x > k_hi
    out[m] = k_hi + r_hi * np.tanh((x[m] - k_hi) / r_hi)
    m = x < k_lo
    out[m] = k_lo - r_lo * np.tanh((k_lo - x[m]) / r_lo)
    return out


def _soft_norm(v: FloatArray, knee: float, limit: float) -> FloatArray:
    """Soft-limit the length of 2-vectors [n, 2] (the eye in the orbit)."""
    r = np.linalg.norm(v, axis=1)
    room = limit - knee
    scale = np.ones_like(r)
    big = r > knee
    scale[big] = (knee + room * np.tanh((r[big] - knee) / room)) / r[big]
    return v * scale[:, None]


# --------------------------------------------------------------------------------------
# The plan: minimum-jerk steps, label runs, overlays
# --------------------------------------------------------------------------------------


@dataclass
class _State:
    head: FloatArray            # current head goal (pitch, yaw, roll)
    gaze: FloatArray            # current planned gaze goal (pitch, yaw)
    label: str = ROAD
    run_start: int = 0
    last_change: int = -1
    head_end: float = -1e9      # when the last head step ends
    last_dh: FloatArray = field(default_factory=lambda: np.zeros(3))

    def copy(self) -> _State:
        return _State(self.head.copy(), self.gaze.copy(), self.label, self.run_start, self.last_change,
                      self.head_end, self.last_dh.copy())


class _Plan:
    """Collects steps and labels for one track; renders them into a MotionTrack."""

    def __init__(self, n: int, fps: float, cfg: MotionConfig, style: SubjectStyle,
                 rng: np.random.Generator) -> None:
        self.n, self.fps, self.cfg, self.style, self.rng = n, fps, cfg, style, rng
        self.neutral = np.asarray(style.neutral_offset_deg, dtype=np.float64)
        self.state = _State(self.neutral.copy(), np.zeros(2))
        self.head: list[tuple[float, float, float, float, float]] = []
        self.gaze: list[tuple[float, float, float, float]] = []
        self.road_w: list[tuple[float, float, float]] = []
        self.lids: list[tuple[float, float, float]] = []
        self.mouth: list[tuple[float, float, float]] = []
        self.extra_blinks: list[float] = []
        self.runs: list[tuple[int, int, str]] = []
        self.events: list[TrackEvent] = []
        self.occluders: list[tuple[int, int, int]] = []
        self.talking: list[tuple[int, int]] = []

    # ---- bookkeeping for trial planning ---------------------------------------------
    def checkpoint(self) -> tuple[_State, tuple[int, ...]]:
        lists = (self.head, self.gaze, self.road_w, self.lids, self.mouth, self.extra_blinks, self.runs,
                 self.events)
        return self.state.copy(), tuple(len(x) for x in lists)

    def rollback(self, cp: tuple[_State, tuple[int, ...]]) -> None:
        state, lens = cp
        self.state = state
        lists: tuple[list, ...] = (self.head, self.gaze, self.road_w, self.lids, self.mouth,
                                   self.extra_blinks, self.runs, self.events)
        for lst, k in zip(lists, lens):
            del lst[k:]

    # ---- the eye-head model ------------------------------------------------------------
    def head_duration(self, amp: float) -> float:
        c = self.cfg
        if amp <= 1e-9:
            return c.head_min_duration_s
        jitter = math.exp(c.head_speed_jitter * float(self.rng.standard_normal()))
        vp = c.head_vmax_deg_s * (1.0 - math.exp(-amp / c.head_v_amp_const_deg)) * self.style.head_speed * jitter
        vp = min(vp, 0.95 * c.head_peak_velocity_limit_deg_s)
        d = 1.875 * amp / vp
        d = max(d, math.sqrt(5.7735 * amp / c.head_peak_accel_limit_deg_s2), c.head_min_duration_s)
        return d

    def gaze_duration(self, amp: float) -> float:
        return self.cfg.gaze_duration_base_s + self.cfg.gaze_duration_per_deg_s * amp

    def place_gaze(self, place: str) -> FloatArray:
        """Where the driver's gaze lands on a place this time."""
        p = self.cfg.places[place]
        base = np.asarray(p.gaze()) + np.asarray(self.style.seat_offset_deg)
        return base + self.rng.normal(0.0, 1.0, 2) * np.asarray(p.jitter_deg)

    def head_for_gaze(self, gaze: FloatArray) -> FloatArray:
        """Head goal for a gaze goal: the head's share of the shift from the road posture
        [Freedman97; Stahl99], the eyes never settling beyond eye_settle_max_deg."""
        c, s = self.cfg, self.style
        n2 = self.neutral[:2]
        v = gaze - n2
        amp = float(np.linalg.norm(v))
        eor = c.eye_only_range_deg if s.eye_only_range_deg is None else s.eye_only_range_deg
        k = 0.0
        if amp > 1e-9:
            k = c.head_slope * s.head_gain * max(0.0, amp - eor) / amp
            k = max(k, (amp - c.eye_settle_max_deg) / amp)
            k = min(k, 1.0)
        roll = self.neutral[2] + self.rng.normal(0.0, c.glance_roll_std_deg)
        return np.array([n2[0] + k * v[0], n2[1] + k * v[1], roll])

    def road_head(self) -> FloatArray:
        return self.neutral + self.rng.normal(0.0, 1.0, 3) * np.asarray(self.cfg.road_return_jitter_deg)

    def limit_head(self, h: FloatArray) -> FloatArray:
        c = self.cfg
        return np.array([
            float(soft_limit(np.array([h[0]]), c.pitch_limits_deg[0], c.pitch_limits_deg[1], c.soft_knee)[0]),
            float(soft_limit(np.array([h[1]]), -c.yaw_limit_deg, c.yaw_limit_deg, c.soft_knee)[0]),
            float(soft_limit(np.array([h[2]]), -c.roll_limit_deg, c.roll_limit_deg, c.soft_knee)[0]),
        ])

    # ---- the one primitive: a hop of gaze and head -------------------------------------
    def hop(self, f: int, label: str, gaze: FloatArray, head: FloatArray, *, shift_ok: bool = False,
            gaze_onset: float | None = None, gaze_dur: float | None = None,
            head_onset: float | None = None, head_dur: float | None = None, evoked_blink: bool = True) -> int:
        """Move gaze and head to new goals; the label becomes `label` at frame f (the
        frame where the gaze shift is half way, unless onsets are given). Returns f, which
        `shift_ok` may push later so that two head steps in the same direction never
        overlap (their speeds would add)."""
        st = self.state
        head = self.limit_head(head)
        dg = gaze - st.gaze
        dh = head - st.head
        a_g = float(np.linalg.norm(dg))
        dgd = self.gaze_duration(a_g) if gaze_dur is None else gaze_dur
        dhd = self.head_duration(float(np.linalg.norm(dh))) if head_dur is None else head_dur

        def onsets(frame: int) -> tuple[float, float]:
            tg = frame / self.fps - dgd / 2.0 if gaze_onset is None else gaze_onset
            th = tg + self.cfg.head_latency_s if head_onset is None else head_onset
            return tg, th

        tg, th = onsets(f)
        if shift_ok and th < st.head_end:
            a, b = float(np.linalg.norm(dh)), float(np.linalg.norm(st.last_dh))
            reversal = a > 0 and b > 0 and float(dh @ st.last_dh) < -0.5 * a * b
            if not reversal:
                f += int(math.ceil((st.head_end - th) * self.fps - 1e-9))
                tg, th = onsets(f)
        if label != st.label and f <= st.last_change:
            raise ValueError(f"label change at frame {f} is not after the previous one at {st.last_change}")
        if a_g > 1e-9:
            self.gaze.append((tg, dgd, float(dg[0]), float(dg[1])))
        if float(np.linalg.norm(dh)) > 1e-9:
            self.head.append((th, dhd, float(dh[0]), float(dh[1]), float(dh[2])))
            st.head_end = max(st.head_end, th + dhd)
            st.last_dh = dh
        if evoked_blink and a_g >= self.cfg.gaze_evoked_blink_min_deg and self.rng.random() < self.cfg.gaze_evoked_blink_prob:
            self.extra_blinks.append(tg)
        if label != st.label:
            if st.label != ROAD:
                self.runs.append((st.run_start, f, st.label))
            if st.label == ROAD:
                self.road_w.append((tg, dgd, -1.0))
            elif label == ROAD:
                self.road_w.append((tg, dgd, 1.0))
            st.label, st.run_start, st.last_change = label, f, f
        st.gaze, st.head = gaze.copy(), head.copy()
        return f

    def lid_ramp(self, center_t: float, dur: float, delta: float) -> None:
        self.lids.append((center_t - dur / 2.0, dur, delta))

    def frame(self, t: float) -> int:
        return int(round(t * self.fps))

    # ---- behaviours shared by the generator and scripts ---------------------------------
    def glance(self, kind: str, place: str, f0: int, f1: int | None, dwell_s: float | None = None,
               shift_ok: bool = False, head_extra: FloatArray | None = None) -> tuple[int, int]:
        """Road -> place -> road. Off-road label interval [f0, f1) (or f0 + dwell)."""
        label = self.cfg.places[place].label
        gaze = self.place_gaze(place)
        head = self.head_for_gaze(gaze)
        if head_extra is not None:
            head = head + head_extra
        f0 = self.hop(f0, label, gaze, head, shift_ok=shift_ok)
        if f1 is None:
            assert dwell_s is not None
            f1 = f0 + max(1, self.frame(dwell_s))
        # Return shift with the same gaze duration as the outbound one (ISO-equal length).
        a_out = float(np.linalg.norm(gaze - self.gaze_at_road()))
        self.hop(f1, ROAD, self.gaze_at_road(), self.road_head(), gaze_dur=self.gaze_duration(a_out))
        self.events.append(TrackEvent(kind, f0, f1, label))
        return f0, f1

    def gaze_at_road(self) -> FloatArray:
        return np.zeros(2)

    def eyes_closed(self, kind: str, f0: int, f1: int, drop_deg: float, drop_s: float, lid_close_s: float,
                    recovery_s: float, roll_deg: float, overshoot_deg: float) -> None:
        """Lids half closed at f0, head sags by drop_deg over drop_s, lids half open at f1
        with a head jerk back up (nodding off) or a gentle recovery (microsleep)."""
        st = self.state
        t0, t1 = f0 / self.fps, f1 / self.fps
        drop_s = min(drop_s, 0.85 * (t1 - t0))
        bottom = st.head + np.array([-drop_deg, self.rng.normal(0.0, 2.0), roll_deg])
        bottom = self.limit_head(bottom)
        self.lid_ramp(t0, lid_close_s, 1.0)
        # With the eyes shut the "gaze" is just where the head points.
        self.hop(f0, "eyes_closed", bottom[:2].copy(), bottom, gaze_onset=t0, gaze_dur=drop_s,
                 head_onset=t0, head_dur=drop_s, evoked_blink=False)
        up = self.neutral + np.array([overshoot_deg, 0.0, 0.0])
        rec_on = t1 - 0.5 * recovery_s
        self.lid_ramp(t1, min(0.2, recovery_s), -1.0)
        self.hop(f1, ROAD, self.gaze_at_road(), up, gaze_onset=t1 - 0.1, gaze_dur=0.2,
                 head_onset=rec_on, head_dur=recovery_s, evoked_blink=False)
        if overshoot_deg > 0:
            settle = self.road_head()
            dh = settle - self.state.head
            self.head.append((rec_on + recovery_s, 0.6, float(dh[0]), float(dh[1]), float(dh[2])))
            self.state.head = settle
            self.state.head_end = rec_on + recovery_s + 0.6
            self.state.last_dh = dh
        self.events.append(TrackEvent(kind, f0, f1, "eyes_closed"))

    def head_only(self, kind: str, f0: int, f1: int, offset: FloatArray, move_s: float | None,
                  label: str = ROAD, eyes_with_head: bool = False, squint: float = 0.0,
                  event: bool = True) -> None:
        """A head movement that is not a glance (stretch, head rest, yawn): the eyes stay on
        the road (label road) unless eyes_with_head (label as given)."""
        head = self.limit_head(self.neutral + offset)
        gaze = head[:2].copy() if eyes_with_head else self.gaze_at_road()
        amp = float(np.linalg.norm(head - self.state.head))
        d = self.head_duration(amp) if move_s is None else move_s
        t0 = f0 / self.fps
        if label == ROAD:
            self.hop(f0, ROAD, gaze, head, head_onset=t0, head_dur=d, gaze_onset=t0, gaze_dur=d,
                     evoked_blink=False)
        else:
            # Label switches when the gaze (moving with the head) is half way.
            self.hop(f0, label, gaze, head, head_onset=t0 - d / 2, head_dur=d, gaze_onset=t0 - d / 2,
                     gaze_dur=d, evoked_blink=False)
        if squint > 0:
            self.lid_ramp(t0, 0.4, squint)
        t1 = f1 / self.fps
        back = self.road_head()
        d_back = self.head_duration(float(np.linalg.norm(back - head))) if move_s is None else move_s
        if label == ROAD:
            self.hop(f1, ROAD, self.gaze_at_road(), back, head_onset=t1, head_dur=d_back,
                     gaze_onset=t1, gaze_dur=d_back, evoked_blink=False)
        else:
            self.hop(f1, ROAD, self.gaze_at_road(), back, head_onset=t1 - d_back / 2, head_dur=d_back,
                     gaze_onset=t1 - d_back / 2, gaze_dur=d_back, evoked_blink=False)
        if squint > 0:
            self.lid_ramp(t1, 0.4, -squint)
        if event:
            self.events.append(TrackEvent(kind, f0, f1, label))

    def yawn(self, f0: int, open_s: float, hold_s: float, close_s: float) -> int:
        c, rng = self.cfg, self.rng
        t0 = f0 / self.fps
        peak = float(rng.uniform(*c.yawn_mouth))
        self.mouth.append((t0, open_s, peak))
        self.mouth.append((t0 + open_s + hold_s, close_s, -peak))
        f1 = self.frame(t0 + open_s + hold_s + close_s)
        offset = np.array([rng.uniform(*c.yawn_pitch_deg), rng.normal(0, 2.0), rng.normal(0, 3.0)])
        squint = float(rng.uniform(*c.yawn_squint))
        # Head tips back over the opening, comes down while closing; the eyes squint while
        # the mouth is wide open.
        self.head_only("yawn", f0, self.frame(t0 + open_s + hold_s), offset, open_s, event=False)
        self.lid_ramp(t0 + 0.7 * open_s, 0.4, squint)
        self.lid_ramp(t0 + open_s + hold_s + 0.3 * close_s, 0.4, -squint)
        self.events.append(TrackEvent("yawn", f0, f1, ROAD))
        return f1

    # ---- rendering -----------------------------------------------------------------------
    def render(self, speed: FloatArray, sway: bool = True, blinks: bool = True) -> MotionTrack:
        n, fps, c, s, rng = self.n, self.fps, self.cfg, self.style, self.rng

        def arr(rows: list, k: int) -> FloatArray:
            return np.asarray(rows, dtype=np.float64).reshape(-1, k)

        h = arr(self.head, 5)
        head = self.neutral[None, :] + render_steps(n, fps, h[:, 0], h[:, 1], h[:, 2:])
        g = arr(self.gaze, 4)
        gaze_plan = render_steps(n, fps, g[:, 0], g[:, 1], g[:, 2:])
        w_rows = arr(self.road_w, 3)
        w = 1.0 + render_steps(n, fps, w_rows[:, 0], w_rows[:, 1], w_rows[:, 2:])[:, 0]
        w = np.clip(w, 0.0, 1.0)

        if sway:
            head += lowpass_noise(rng, n, fps, c.sway_corner_hz, np.asarray(c.sway_std_deg) * s.sway_scale)
            head += lowpass_noise(rng, n, fps, c.drift_corner_hz, c.drift_std_deg)
            head += lowpass_noise(rng, n, fps, c.tremor_corner_hz, (c.tremor_std_deg,) * 3)
            gaze_plan += self._road_scan() * w[:, None]
        pose = np.stack([
            soft_limit(head[:, 0], c.pitch_limits_deg[0], c.pitch_limits_deg[1], 0.97),
            soft_limit(head[:, 1], -c.yaw_limit_deg, c.yaw_limit_deg, 0.97),
            soft_limit(head[:, 2], -c.roll_limit_deg, c.roll_limit_deg, 0.97),
        ], axis=1)
        eye = _soft_norm(gaze_plan - pose[:, :2], c.eye_settle_max_deg, c.eye_range_max_deg)
        gaze = pose[:, :2] + eye

        target = np.zeros(n, dtype=np.int8)
        for a, b, lab in self.runs:
            target[max(a, 0):min(b, n)] = ATTENTION_TARGETS.index(lab)
        if self.state.label != ROAD:  # a run still open at the end (scripts may end off road)
            target[self.state.run_start:] = ATTENTION_TARGETS.index(self.state.label)

        lid_rows = arr(self.lids, 3)
        lids = render_steps(n, fps, lid_rows[:, 0], lid_rows[:, 1], lid_rows[:, 2:])[:, 0]
        talking = np.zeros(n, dtype=bool)
        for a, b in self.talking:
            talking[max(a, 0):min(b, n)] = True
        eye_closure = lids
        if s.drowsiness > 0:
            droop = lowpass_noise(rng, n, fps, 0.05, (1.0,))[:, 0]
            eye_closure = eye_closure + s.drowsiness * c.drowsy_lid_droop / (1.0 + np.exp(-droop))
        if blinks:
            eye_closure = eye_closure + self._blinks(target, talking)
        eye_closure = np.clip(eye_closure, 0.0, 1.0)

        m_rows = arr(self.mouth, 3)
        mouth = render_steps(n, fps, m_rows[:, 0], m_rows[:, 1], m_rows[:, 2:])[:, 0]
        mouth = np.maximum(mouth, self._talk_signal(talking))
        mouth = np.clip(mouth, 0.0, 1.0)

        occluder = np.zeros(n, dtype=np.int8)
        for a, b, code in self.occluders:
            occluder[max(a, 0):min(b, n)] = code

        events = sorted(self.events, key=lambda e: (e.start, e.end))
        track = MotionTrack(
            fps=float(fps), pose_vehicle=pose.astype(np.float32), gaze_vehicle=gaze.astype(np.float32),
            target=target, mouth_open=mouth.astype(np.float32), eye_closure=eye_closure.astype(np.float32),
            occluder=occluder, speed_kmh=np.maximum(speed, 0.0).astype(np.float32), events=events)
        if c.right_hand_drive:
            track = mirror_track(track)
        return track

    def _road_scan(self) -> FloatArray:
        """Small saccades between points of the road scene (eyes only)."""
        c, rng, fps = self.cfg, self.rng, self.fps
        dur_total = self.n / fps
        t, pts, times = 0.0, [np.zeros(2)], []
        std, mx = np.asarray(c.road_scan_std_deg), np.asarray(c.road_scan_max_deg)
        while t < dur_total:
            t += c.road_fixation.draw(rng)
            times.append(t)
            pts.append(np.clip(rng.normal(0.0, 1.0, 2) * std, -mx, mx))
        p = np.asarray(pts)
        d = np.diff(p, axis=0)
        amp = np.linalg.norm(d, axis=1)
        return render_steps(self.n, fps, np.asarray(times), 0.03 + 0.0025 * amp, d)

    def _blinks(self, target: NDArray[np.int8], talking: NDArray[np.bool_]) -> FloatArray:
        """Poisson blinks, rate by activity [Bentivoglio97], thinned, with a refractory gap."""
        c, s, rng, fps, n = self.cfg, self.style, self.rng, self.fps, self.n
        rate = np.full(n, c.blink_rate_per_min)
        rate[talking] = c.blink_rate_talking_per_min
        reading = np.isin(target, [ATTENTION_TARGETS.index("infotainment"), ATTENTION_TARGETS.index("phone")])
        rate[reading] = c.blink_rate_reading_per_min
        rate *= s.blink_rate_scale
        closed = target == ATTENTION_TARGETS.index("eyes_closed")
        rate[closed] = 0.0
        rmax = float(rate.max()) if n else 0.0
        if rmax <= 0:
            return np.zeros(n)
        count = rng.poisson(rmax * n / fps / 60.0)
        cand = np.sort(np.concatenate([rng.uniform(0, n / fps, count), np.asarray(self.extra_blinks)]))
        idx = np.clip((cand * fps).astype(np.int64), 0, n - 1)
        keep = (rng.random(len(cand)) < rate[idx] / rmax) | np.isin(cand, self.extra_blinks)
        keep &= ~closed[idx]
        cand = cand[keep]
        times: list[float] = []
        for t in cand:
            if not times or t - times[-1] >= c.blink_refractory_s:
                times.append(float(t))
        tt = np.asarray(times)
        mean = c.blink_duration_s[0] + s.drowsiness * c.blink_drowsy_extra_s
        dur = np.clip(rng.normal(mean, c.blink_duration_s[1], len(tt)), 0.08, 0.6)
        return _bumps(n, fps, tt, dur, np.ones(len(tt)), c.blink_close_fraction)

    def _talk_signal(self, talking: NDArray[np.bool_]) -> FloatArray:
        """Syllabic jaw motion at ~4-5 Hz [Ding17] in phrases separated by pauses."""
        c, rng, fps, n = self.cfg, self.rng, self.fps, self.n
        out = np.zeros(n)
        if not talking.any():
            return out
        gate = np.zeros(n)
        t = 0.0
        while t < n / fps:
            a = self.frame(t)
            t += float(rng.uniform(*c.talk_phrase_s))
            gate[a:self.frame(t)] = 1.0
            t += float(rng.uniform(*c.talk_pause_s))
        gate *= talking
        k = np.hanning(max(3, int(0.15 * fps)))
        gate = np.convolve(gate, k / k.sum(), mode="same")
        rate = rng.uniform(*c.syllable_rate_hz) + 0.3 * lowpass_noise(rng, n, fps, 0.5, (1.0,))[:, 0]
        phase = np.cumsum(rate) / fps + rng.random()
        amp_noise = lowpass_noise(rng, n, fps, 2.0, (1.0,))[:, 0]
        lo, hi = c.talk_amplitude
        amp = lo + (hi - lo) / (1.0 + np.exp(-amp_noise))
        return gate * amp * (0.5 - 0.5 * np.cos(2.0 * np.pi * phase))


def mirror_track(track: MotionTrack) -> MotionTrack:
    """The same drive in the mirrored cabin (right-hand drive): yaw and roll negated,
    gaze yaw negated, left/right targets swapped."""
    swap = np.arange(len(ATTENTION_TARGETS), dtype=np.int8)
    for i, name in enumerate(ATTENTION_TARGETS):
        other = mirror_side(name)
        swap[i] = ATTENTION_TARGETS.index(other)
    pose = track.pose_vehicle.copy()
    pose[:, 1:] *= -1.0
    gaze = track.gaze_vehicle.copy()
    gaze[:, 1] *= -1.0
    events = [TrackEvent(e.kind, e.start, e.end, mirror_side(e.target)) for e in track.events]
    return MotionTrack(fps=track.fps, pose_vehicle=pose, gaze_vehicle=gaze, target=swap[track.target],
                       mouth_open=track.mouth_open, eye_closure=track.eye_closure, occluder=track.occluder,
                       speed_kmh=track.speed_kmh, events=events)


# --------------------------------------------------------------------------------------
# Vehicle speed
# --------------------------------------------------------------------------------------


def _speed_profile(rng: np.random.Generator, n: int, fps: float, cfg: MotionConfig) -> FloatArray:
    """City / rural / highway segments with smooth (minimum-jerk) speed changes whose peak
    acceleration stays within cfg's limits, and stops in the city."""
    dur = n / fps
    names = list(cfg.road_types)
    probs = np.asarray([cfg.road_types[k][0] for k in names])
    probs = probs / probs.sum()
    rows: list[tuple[float, float, float]] = []
    kmh = 1.0 / 3.6

    def change(t: float, v_from: float, v_to: float) -> float:
        dv = v_to - v_from
        if abs(dv) < 1e-9:
            return t
        a = cfg.accel_peak_m_s2 if dv > 0 else cfg.decel_peak_m_s2
        d = max(1.0, 1.875 * abs(dv) * kmh / a)
        rows.append((t, d, dv))
        return t + d

    road = names[int(rng.choice(len(names), p=probs))]
    v = float(rng.uniform(*cfg.road_types[road][1]))
    v0 = 0.0 if rng.random() < cfg.start_stopped_prob else v
    cur = v0
    t = 0.0
    if v0 == 0.0:
        t = float(rng.uniform(2.0, 10.0))
        t = change(t, 0.0, v)
        cur = v
    while t < dur:
        seg_end = t + float(rng.uniform(*cfg.road_segment_s))
        stop_every = cfg.road_types[road][2]
        next_stop = t + (float(rng.exponential(stop_every)) if stop_every > 0 else math.inf)
        next_fluct = t + float(rng.uniform(*cfg.speed_fluctuation_every_s))
        cruise = cur
        while t < min(seg_end, dur):
            if next_stop < min(next_fluct, seg_end):
                t = change(max(t, next_stop), cur, 0.0)
                t += float(rng.uniform(*cfg.stop_s))
                t = change(t, 0.0, cruise)
                cur = cruise
                next_stop = t + float(rng.exponential(stop_every))
            elif next_fluct < seg_end:
                target = max(5.0, cruise * (1.0 + cfg.speed_fluctuation * float(rng.standard_normal())))
                t = change(max(t, next_fluct), cur, target)
                cur = target
                next_fluct = t + float(rng.uniform(*cfg.speed_fluctuation_every_s))
            else:
                t = seg_end
        road = names[int(rng.choice(len(names), p=probs))]
        cruise = float(rng.uniform(*cfg.road_types[road][1]))
        t = change(t, cur, cruise)
        cur = cruise
    r = np.asarray(rows, dtype=np.float64).reshape(-1, 3)
    speed = v0 + render_steps(n, fps, r[:, 0], r[:, 1], r[:, 2:])[:, 0]
    return np.maximum(speed, 0.0)


# --------------------------------------------------------------------------------------
# The random drive
# --------------------------------------------------------------------------------------

GAZE_KINDS: tuple[str, ...] = tuple(_default_rates())
EXTREME_KINDS: frozenset[str] = frozenset({"stretch", "look_up", "reach_down", "head_rest"})
WIDE_YAW_KINDS: frozenset[str] = frozenset({"shoulder_check", "lane_change", "passenger"})


class _Driver:
    """Plans a random drive into a _Plan."""

    def __init__(self, plan: _Plan, speed: FloatArray) -> None:
        self.p, self.speed = plan, speed
        self.c, self.s, self.rng = plan.cfg, plan.style, plan.rng
        self.talk_mask = np.zeros(plan.n, dtype=bool)

    def rates(self, t: float) -> dict[str, float]:
        c, s = self.c, self.s
        i = min(self.p.frame(t), self.p.n - 1)
        stopped = self.speed[i] < c.stopped_below_kmh
        out: dict[str, float] = {}
        for k, r in c.rates_per_min.items():
            r *= s.glance_rate
            if k in ("nodding_off", "microsleep"):
                r *= s.drowsiness
            elif k == "yawn":
                r *= 1.0 + 3.0 * s.drowsiness
            if k in EXTREME_KINDS:
                r *= c.extreme_rate_scale
            if k in WIDE_YAW_KINDS:
                r *= c.wide_yaw_rate_scale
            if stopped:
                r *= c.stopped_rate_multiplier.get(k, 1.0)
            if k == "passenger" and self.talk_mask[i]:
                r *= c.talking_passenger_multiplier
            out[k] = r
        return out

    def overlays_before(self) -> None:
        """Talking and phone calls first: they change glance and blink rates."""
        p, c, rng = self.p, self.c, self.rng
        dur = p.n / p.fps
        for kind, length in (("talking", c.talk_bout_s), ("phone_call", c.phone_call_s)):
            rate = c.overlay_rates_per_min[kind] * (self.s.talkativeness if kind == "talking" else 1.0)
            if rate <= 0:
                continue
            t = float(rng.exponential(60.0 / rate))
            while t < dur - 2.0:
                d = float(rng.uniform(*length))
                a, b = p.frame(t), min(p.frame(t + d), p.n)
                p.talking.append((a, b))
                self.talk_mask[a:b] = True
                if kind == "phone_call":
                    p.occluders.append((a, b, OCCLUDERS.index("phone")))
                p.events.append(TrackEvent(kind, a, b, ROAD))
                t += d + float(rng.exponential(60.0 / rate))

    def overlays_after(self, target: NDArray[np.int8]) -> None:
        """Hands near the face, where the hands are free (not on the phone in the lap,
        not reaching down) and not on top of a phone call."""
        p, c, rng = self.p, self.c, self.rng
        dur = p.n / p.fps
        busy = np.zeros(p.n, dtype=bool)
        for a, b, _ in p.occluders:
            busy[a:b] = True
        hands = np.isin(target, [ATTENTION_TARGETS.index("phone"), ATTENTION_TARGETS.index("other")]) | busy
        for kind, length in (("occlusion", c.occlusion_s), ("camera_blocked", c.camera_blocked_s)):
            rate = c.overlay_rates_per_min[kind]
            if rate <= 0:
                continue
            t = float(rng.exponential(60.0 / rate))
            while t < dur - 1.0:
                d = float(rng.uniform(*length))
                a, b = p.frame(t), min(p.frame(t + d), p.n)
                if b > a and not hands[a:b].any():
                    p.occluders.append((a, b, OCCLUDERS.index("hand")))
                    hands[a:b] = True
                    p.events.append(TrackEvent(kind, a, b, ROAD))
                t += d + float(rng.exponential(60.0 / rate))

    def behaviour(self, kind: str, t: float) -> float:
        """Plan one behaviour starting near t; returns when it is over (head back)."""
        p, c, rng = self.p, self.c, self.rng
        f = p.frame(t)
        tm = c.timings
        if kind == "mirror_check":
            names = list(c.mirror_weights)
            w = np.asarray([c.mirror_weights[k] for k in names])
            place = names[int(rng.choice(len(names), p=w / w.sum()))]
            _, f1 = p.glance(kind, place, f, None, tm["mirror_check"].draw(rng), shift_ok=True)
        elif kind == "cluster_glance":
            _, f1 = p.glance(kind, "cluster", f, None, tm["cluster_glance"].draw(rng), shift_ok=True)
        elif kind in ("infotainment", "phone"):
            glances = min(1 + int(rng.poisson(c.task_extra_glances_mean)), c.task_max_glances)
            f1 = f
            for i in range(glances):
                if i:
                    f = f1 + max(1, p.frame(tm["task_road_gap"].draw(rng)))
                _, f1 = p.glance(kind, kind, f, None, tm[kind].draw(rng), shift_ok=True)
        elif kind in ("lane_change", "shoulder_check"):
            left = rng.random() < c.lane_change_left_share
            side = "left" if left else "right"
            if kind == "lane_change":
                mirror = f"{side}_mirror"
                f0, f1 = p.glance("mirror_check", mirror, f, None, tm["mirror_check"].draw(rng), shift_ok=True)
                f = f1 + max(1, p.frame(tm["lane_change_gap"].draw(rng)))
            _, f1 = p.glance("shoulder_check", f"{side}_shoulder", f, None, tm["shoulder_check"].draw(rng),
                             shift_ok=True)
        elif kind == "passenger":
            _, f1 = p.glance(kind, "passenger", f, None, tm["passenger"].draw(rng), shift_ok=True)
        elif kind == "look_up":
            _, f1 = p.glance(kind, "sun_visor", f, None, tm["look_up"].draw(rng), shift_ok=True)
        elif kind == "reach_down":
            lean = np.array([-rng.uniform(*c.reach_trunk_pitch_deg), 0.0, 0.0])
            _, f1 = p.glance(kind, "floor", f, None, tm["reach_down"].draw(rng), shift_ok=True, head_extra=lean)
        elif kind == "stretch":
            names = list(c.stretch_variants)
            w = np.asarray([c.stretch_variants[k] for k in names])
            variant = names[int(rng.choice(len(names), p=w / w.sum()))]
            f1 = f + p.frame(rng.uniform(*c.stretch_s))
            self.stretch(variant, f, f1)
        elif kind == "head_rest":
            f1 = f + p.frame(rng.uniform(*c.head_rest_s))
            self.head_rest(f, f1, rng.random() < c.head_rest_hand_prob)
        elif kind == "yawn":
            f1 = p.yawn(f, rng.uniform(*c.yawn_open_s), rng.uniform(*c.yawn_hold_s), rng.uniform(*c.yawn_close_s))
        elif kind == "nodding_off":
            f1 = f + p.frame(rng.uniform(*c.nod_closure_s))
            p.eyes_closed(kind, f, f1, rng.uniform(*c.nod_drop_deg), rng.uniform(*c.nod_drop_s),
                          rng.uniform(*c.nod_lid_close_s), rng.uniform(*c.nod_recovery_s),
                          rng.uniform(-c.nod_roll_deg, c.nod_roll_deg), rng.uniform(*c.nod_overshoot_deg))
        elif kind == "microsleep":
            f1 = f + max(1, p.frame(rng.uniform(*c.microsleep_s)))
            p.eyes_closed(kind, f, f1, rng.uniform(*c.microsleep_drop_deg), 1.0, 0.25, 0.5,
                          rng.normal(0, 2.0), 0.0)
        else:
            raise ValueError(f"unknown behaviour {kind!r}")
        return max(f1 / p.fps, p.state.head_end)

    def stretch(self, variant: str, f0: int, f1: int, amp: float | None = None) -> None:
        p, c, rng = self.p, self.c, self.rng
        move = float(rng.uniform(*c.stretch_move_s))
        if variant == "roll":
            a = float(rng.uniform(*c.stretch_roll_deg)) if amp is None else amp
            sign = 1.0 if rng.random() < 0.5 else -1.0
            p.head_only("stretch", f0, f1, np.array([rng.normal(0, 3.0), rng.normal(0, 3.0), sign * a]), move)
        else:
            lo_hi = c.stretch_extension_deg if variant == "extension" else c.stretch_flexion_deg
            a = float(rng.uniform(*lo_hi)) if amp is None else amp
            pitch = a if variant == "extension" else -a
            p.head_only("stretch", f0, f1, np.array([pitch, rng.normal(0, 3.0), rng.normal(0, 3.0)]), move,
                        label="other", eyes_with_head=True)

    def head_rest(self, f0: int, f1: int, hand: bool) -> None:
        p, c, rng = self.p, self.c, self.rng
        roll = -float(rng.uniform(*c.head_rest_roll_deg))   # towards the door: driver's left in LHD
        p.head_only("head_rest", f0, f1, np.array([rng.normal(0, 3.0), rng.normal(-3.0, 3.0), roll]),
                    float(rng.uniform(0.8, 1.5)))
        if hand:
            p.occluders.append((f0, f1, OCCLUDERS.index("hand")))

    def run(self, duration_s: float) -> None:
        p, c, rng = self.p, self.c, self.rng
        self.overlays_before()
        t = float(rng.uniform(1.0, 3.0))
        while t < duration_s:
            rates = self.rates(t)
            kinds = [k for k, r in rates.items() if r > 0]
            total = sum(rates[k] for k in kinds)
            if total <= 0:
                break
            t += float(rng.exponential(60.0 / total))
            if t >= duration_s - 1.0:
                break
            w = np.asarray([rates[k] for k in kinds]) / total
            kind = kinds[int(rng.choice(len(kinds), p=w))]
            cp = p.checkpoint()
            end = self.behaviour(kind, t)
            if end > duration_s - 0.5:
                p.rollback(cp)
                t += 1.0
                continue
            t = end + float(rng.uniform(*c.min_road_between_s))


def generate_track(seed: int, duration_s: float, fps: float = 30.0, config: MotionConfig | None = None,
                   subject_style: SubjectStyle | None = None) -> MotionTrack:
    """A random, realistic drive: mostly road, a Poisson-like schedule of behaviours.

    Deterministic for (seed, duration_s, fps, config, subject_style). With no style, one is
    sampled from the seed (a separate stream, so the style does not shift the drive's draws).
    """
    cfg = config or MotionConfig()
    n = int(round(duration_s * fps))
    if n < 1:
        raise ValueError(f"duration_s={duration_s} at {fps} fps gives no frames")
    style = subject_style or SubjectStyle.sample(np.random.default_rng([seed, 0x5717]))
    rng = np.random.default_rng(seed)
    speed = _speed_profile(np.random.default_rng([seed, 0x5BEED]), n, fps, cfg)
    plan = _Plan(n, fps, cfg, style, rng)
    driver = _Driver(plan, speed)
    driver.run(n / fps)
    target = np.zeros(n, dtype=np.int8)
    for a, b, lab in plan.runs:
        target[a:b] = ATTENTION_TARGETS.index(lab)
    driver.overlays_after(target)
    return plan.render(speed)


# --------------------------------------------------------------------------------------
# Scripted tracks (alert tests, the demo)
# --------------------------------------------------------------------------------------

# Kind -> the place a scripted glance goes to unless ScriptedBehaviour.target says otherwise.
SCRIPT_GLANCE_PLACES: dict[str, str] = {
    "mirror_check": "rear_mirror",
    "cluster_glance": "cluster",
    "infotainment": "infotainment",
    "phone": "phone",
    "shoulder_check": "left_shoulder",
    "passenger": "passenger",
    "look_up": "sun_visor",
    "reach_down": "floor",
    "glance": "",            # target required
}
SCRIPT_OVERLAYS: frozenset[str] = frozenset({"talking", "occlusion", "phone_call", "camera_blocked"})
SCRIPT_HEAD: frozenset[str] = frozenset({"nodding_off", "microsleep", "yawn", "stretch", "head_rest"})


@dataclass(frozen=True)
class ScriptedBehaviour:
    """One behaviour of a scripted drive.

    kind: a glance kind (SCRIPT_GLANCE_PLACES), a head/eyes kind (nodding_off, microsleep,
        yawn, stretch, head_rest) or an overlay (talking, occlusion, phone_call,
        camera_blocked).
    start_s, duration_s: for glances and eye closures, EXACTLY the labelled interval: the
        label leaves the road at frame round(start_s * fps) and is back at
        round((start_s + duration_s) * fps) (end exclusive), and the event has these frames.
        For the others, the behaviour's interval.
    target: for glances, the place looked at (a place name of MotionConfig.places:
        "left_mirror", "phone", "floor", ...); for stretch, the variant ("roll", "extension",
        "flexion"); for occlusion, the occluder ("hand" or "phone").
    amplitude_deg: nod drop, stretch amplitude (optional).
    """

    kind: str
    start_s: float
    duration_s: float
    target: str | None = None
    amplitude_deg: float | None = None


def vats_buildup(start_s: float, glances: int = 6, glance_s: float = 1.8, gap_s: float = 0.8,
                 target: str = "infotainment") -> list[ScriptedBehaviour]:
    """Short glances that each stay under the 3 s long-distraction limit but add up to
    Euro NCAP's VATS (>= 10 s off road within 30 s, gaps < 2 s never reset the window).
    Six 1.8 s glances = 10.8 s (five would be 9.0 s, just short)."""
    kind = "infotainment" if target == "infotainment" else "glance"
    return [ScriptedBehaviour(kind, start_s + i * (glance_s + gap_s), glance_s, target) for i in range(glances)]


def demo_script() -> list[ScriptedBehaviour]:
    """The demo drive, 75 s at 80 km/h: routine mirror and cluster checks (no alert),
    a 4 s look at the phone in the lap (long distraction: due 3 s after it starts, at
    t = 21.0 s), a VATS build-up of six 1.8 s infotainment glances from t = 30 s (the
    10 s of off-road time is reached 1.0 s into the sixth glance, at t = 44.0 s), a lane
    change, and a 3 s hand over the face at t = 64 s. Use with SubjectStyle.owl() when the
    monitor uses head pose only (see scripted_track)."""
    s = ScriptedBehaviour
    return [
        s("mirror_check", 5.0, 0.8, "rear_mirror"),
        s("mirror_check", 9.0, 0.9, "left_mirror"),
        s("cluster_glance", 13.0, 0.7),
        s("phone", 18.0, 4.0),
        s("mirror_check", 25.5, 0.8, "rear_mirror"),
        s("talking", 27.0, 20.0),
        *vats_buildup(30.0),
        s("mirror_check", 52.0, 0.9, "left_mirror"),
        s("shoulder_check", 53.6, 0.6, "left_shoulder"),
        s("cluster_glance", 58.0, 0.7),
        s("occlusion", 64.0, 3.0, "hand"),
        s("mirror_check", 70.0, 0.8, "right_mirror"),
    ]


def scripted_track(script: Sequence[ScriptedBehaviour], fps: float = 30.0, *, duration_s: float | None = None,
                   config: MotionConfig | None = None, subject_style: SubjectStyle | None = None, seed: int = 0,
                   speed_kmh: float | Sequence[tuple[float, float]] = 80.0, natural_motion: bool = True,
                   blinks: bool = True) -> MotionTrack:
    """A track built from an explicit list of behaviours (for alert tests and the demo).

    Gaze behaviours (glances, eye closures, head movements) must not overlap: each must
    start after the previous one has ended (ValueError otherwise). Overlays may overlap
    anything. Between behaviours the driver looks at the road with natural sway and road
    scanning (natural_motion=False: a perfectly still head and eyes). speed_kmh: a
    constant, or (time_s, km/h) breakpoints joined by minimum-jerk changes.
    The default style is the nominal driver (SubjectStyle()); pass SubjectStyle.owl() for a
    driver whose head points at every target.
    """
    cfg = config or MotionConfig()
    style = subject_style or SubjectStyle()
    items = sorted(script, key=lambda b: b.start_s)
    end_s = max((b.start_s + b.duration_s for b in items), default=0.0)
    total = end_s + 3.0 if duration_s is None else duration_s
    n = int(round(total * fps))
    rng = np.random.default_rng(seed)
    plan = _Plan(n, fps, cfg, style, rng)
    if not natural_motion:
        cfg_still = _still(cfg)
        plan.cfg = cfg_still
    driver = _Driver(plan, np.zeros(n))
    swap = mirror_side if cfg.right_hand_drive else (lambda x: x)
    prev_end, prev_kind = -1, ""
    gaze_items = [b for b in items if b.kind not in SCRIPT_OVERLAYS]
    for b in gaze_items:
        f0, f1 = plan.frame(b.start_s), plan.frame(b.start_s + b.duration_s)
        if f1 <= f0:
            raise ValueError(f"{b.kind} at {b.start_s} s: duration {b.duration_s} s is under one frame")
        if f0 <= prev_end:
            raise ValueError(f"{b.kind} at {b.start_s} s starts before {prev_kind} ends (frame {prev_end})")
        if f1 > n:
            raise ValueError(f"{b.kind} at {b.start_s} s ends after the track ({total} s)")
        if b.kind in SCRIPT_GLANCE_PLACES:
            place = b.target or SCRIPT_GLANCE_PLACES[b.kind]
            if not place:
                raise ValueError("a 'glance' needs a target place")
            place = swap(place)
            if place not in cfg.places:
                raise ValueError(f"unknown place {place!r}; known: {sorted(cfg.places)}")
            extra = None
            if place == "floor":
                extra = np.array([-float(np.mean(cfg.reach_trunk_pitch_deg)), 0.0, 0.0])
            plan.glance(b.kind, place, f0, f1, head_extra=extra)
        elif b.kind == "nodding_off":
            drop = b.amplitude_deg if b.amplitude_deg is not None else float(np.mean(cfg.nod_drop_deg))
            plan.eyes_closed("nodding_off", f0, f1, drop, float(np.mean(cfg.nod_drop_s)),
                             float(np.mean(cfg.nod_lid_close_s)), float(np.mean(cfg.nod_recovery_s)), 0.0,
                             float(np.mean(cfg.nod_overshoot_deg)))
        elif b.kind == "microsleep":
            drop = b.amplitude_deg if b.amplitude_deg is not None else float(np.mean(cfg.microsleep_drop_deg))
            plan.eyes_closed("microsleep", f0, f1, drop, 1.0, 0.25, 0.5, 0.0, 0.0)
        elif b.kind == "yawn":
            third = b.duration_s / 3.0
            plan.yawn(f0, third, third, third)
        elif b.kind == "stretch":
            driver.stretch(b.target or "roll", f0, f1, b.amplitude_deg)
        elif b.kind == "head_rest":
            driver.head_rest(f0, f1, hand=False)
        else:
            raise ValueError(f"unknown scripted behaviour {b.kind!r}")
        prev_end, prev_kind = max(f1, plan.frame(plan.state.head_end) if b.kind in SCRIPT_HEAD else f1), b.kind
    for b in items:
        if b.kind not in SCRIPT_OVERLAYS:
            continue
        f0, f1 = plan.frame(b.start_s), min(plan.frame(b.start_s + b.duration_s), n)
        if b.kind in ("talking", "phone_call"):
            plan.talking.append((f0, f1))
        if b.kind == "phone_call":
            plan.occluders.append((f0, f1, OCCLUDERS.index("phone")))
        elif b.kind in ("occlusion", "camera_blocked"):
            occ = b.target or "hand"
            if occ not in OCCLUDERS:
                raise ValueError(f"unknown occluder {occ!r}; known: {OCCLUDERS}")
            plan.occluders.append((f0, f1, OCCLUDERS.index(occ)))
        plan.events.append(TrackEvent(b.kind, f0, f1, ROAD))
    speed = _scripted_speed(speed_kmh, n, fps, cfg)
    plan.cfg = cfg
    return plan.render(speed, sway=natural_motion, blinks=blinks)


def _still(cfg: MotionConfig) -> MotionConfig:
    places = {k: Place(p.label, p.point_m, (0.0, 0.0)) for k, p in cfg.places.items()}
    return replace(cfg, places=places, glance_roll_std_deg=0.0, road_return_jitter_deg=(0.0, 0.0, 0.0),
                   head_speed_jitter=0.0)


def _scripted_speed(speed_kmh: float | Sequence[tuple[float, float]], n: int, fps: float,
                    cfg: MotionConfig) -> FloatArray:
    if isinstance(speed_kmh, (int, float)):
        return np.full(n, float(speed_kmh))
    pts = sorted((float(t), float(v)) for t, v in speed_kmh)
    if not pts:
        raise ValueError("speed_kmh breakpoints are empty")
    rows = []
    for (t0, v0), (t1, v1) in zip(pts, pts[1:]):
        if v1 != v0:
            rows.append((t0, max(t1 - t0, 1e-3), v1 - v0))
    r = np.asarray(rows, dtype=np.float64).reshape(-1, 3)
    return np.maximum(pts[0][1] + render_steps(n, fps, r[:, 0], r[:, 1], r[:, 2:])[:, 0], 0.0)


# --------------------------------------------------------------------------------------
# Helpers for consumers
# --------------------------------------------------------------------------------------


def eye_in_head(track: MotionTrack) -> FloatArray:
    """Eye direction in the head, (pitch, yaw) degrees [T, 2]: gaze minus head pitch/yaw.

    The track composes gaze = head + eye additively in pitch and yaw (ignoring head roll):
    the renderer should aim the eyes with exactly this to reproduce gaze_vehicle. The
    upper lid follows the eye's vertical position (Becker & Fuchs 1988) on top of
    eye_closure, which is the volitional/blink closure only.
    """
    return track.gaze_vehicle.astype(np.float64) - track.pose_vehicle[:, :2].astype(np.float64)


def label_runs(track: MotionTrack) -> list[tuple[int, int, str]]:
    """Maximal runs of one attention target: (start, end exclusive, name), in order."""
    t = track.target
    if len(t) == 0:
        return []
    cut = np.flatnonzero(np.diff(t)) + 1
    starts = np.concatenate([[0], cut])
    ends = np.concatenate([cut, [len(t)]])
    return [(int(a), int(b), ATTENTION_TARGETS[int(t[a])]) for a, b in zip(starts, ends)]


def off_road_intervals(track: MotionTrack) -> list[tuple[int, int, str]]:
    """Runs whose target is not the road: what the distraction rules count (mirror and
    shoulder checks included; filter with synth.track.DRIVING_RELATED_TARGETS)."""
    return [r for r in label_runs(track) if r[2] != ROAD]
