"""Where the driver looks: the learned neutral pose and zones as offsets from it.

Why offsets from a learned neutral: the network reports the head pose relative to the
camera, and "looking at the road" is a different camera-relative pose for every camera
mount, seat position and driver. openpilot learns each driver's own forward pose for the
same reason. Every zone is then a box of (pitch, yaw) offsets from that pose.

Offsets are the relative rotation R_neutral^T R_pose expressed as (pitch, yaw, roll) in
the dms-head-v1 convention, not a plain subtraction of Euler angles: with a camera that
looks up at the driver (neutral pitch 15 deg) a 40 deg turn to the mirror is still a yaw
of 40 deg about the driver's own vertical axis. For a level neutral (pitch 0, roll 0) the
yaw offset is exactly yaw - yaw0.

The neutral is learned once per driver and then frozen (openpilot keeps adapting; a frozen
neutral cannot drift towards where a distracted driver keeps looking, and makes alerts
reproducible). A new driver needs a stop and an empty seat, so the face missing for
``relearn_absent_s`` at (near) standstill starts learning again; the old neutral stays in
force until the new one is ready.
"""

from __future__ import annotations

import math
from typing import Tuple
from dataclasses import dataclass

import numpy as np

from dms.angles import euler_to_matrix, matrix_to_euler, mirror_side
from runtime.attention_config import NeutralConfig, ZoneBox, ZoneConfig

ROAD = "road"
OFF_ROAD = "off_road"   # away from the road, in none of the named zones
NO_FACE = "no_face"     # no face, or a face the tracker does not trust

# typing.Tuple, not tuple[...]: evaluated at import, and JetPack 5.1 runs Python 3.8.
Pose = Tuple[float, float, float]

# Float tolerance for time comparisons: timestamps are sums of float frame periods, and
# 13.0 - 10.0 may come out as 2.9999999999996. One microsecond is far below any frame.
TIME_EPS = 1e-6


Matrix = Tuple[Tuple[float, float, float], Tuple[float, float, float], Tuple[float, float, float]]


def _matrix(pose: Pose) -> Matrix:
    """R = Rz(yaw) Ry(pitch) Rx(roll), written out in scalars.

    Same convention as dms.angles.euler_to_matrix (tests check they agree), but ~50x
    faster per call than building numpy stacks, which matters once per frame on a Jetson.
    """
    p, y, r = math.radians(pose[0]), math.radians(pose[1]), math.radians(pose[2])
    cp, sp, cy, sy, cr, sr = math.cos(p), math.sin(p), math.cos(y), math.sin(y), math.cos(r), math.sin(r)
    return ((cy * cp, -sy * cr + cy * sp * sr, sy * sr + cy * sp * cr),
            (sy * cp, cy * cr + sy * sp * sr, -cy * sr + sy * sp * cr),
            (-sp, cp * sr, cp * cr))


def _euler(m: Matrix) -> Pose:
    """Inverse of _matrix, as dms.angles.matrix_to_euler (roll 0 at the pitch singularity)."""
    pitch = math.asin(max(-1.0, min(1.0, -m[2][0])))
    if math.hypot(m[2][1], m[2][2]) > 1e-9:
        yaw, roll = math.atan2(m[1][0], m[0][0]), math.atan2(m[2][1], m[2][2])
    else:
        yaw, roll = math.atan2(-m[0][1], m[1][1]), 0.0
    return math.degrees(pitch), math.degrees(yaw), math.degrees(roll)


def relative_pose(pose: Pose, neutral: Pose) -> Pose:
    """The head pose as seen from the driver's own neutral head frame: (d_pitch, d_yaw, d_roll).

    That is R_neutral^T R_pose in (pitch, yaw, roll).
    """
    a, b = _matrix(neutral), _matrix(pose)
    rel = tuple(tuple(sum(a[k][i] * b[k][j] for k in range(3)) for j in range(3)) for i in range(3))
    return _euler(rel)  # type: ignore[arg-type]


def relative_pose_reference(pose: Pose, neutral: Pose) -> Pose:
    """relative_pose through dms.angles (numpy): the reference the tests compare against."""
    rel = euler_to_matrix(neutral).T @ euler_to_matrix(pose)
    p, y, r = matrix_to_euler(rel)
    return float(p), float(y), float(r)


class ZoneClassifier:
    """Classifies an offset from neutral into the road cone or a named zone."""

    def __init__(self, config: ZoneConfig) -> None:
        config.validate()
        self.config = config
        self._driving_related = {z.name for z in config.zones if z.driving_related}
        if config.driver_side == "right":
            # The table is written for left-hand drive; in a right-hand-drive car the same
            # physical layout appears mirrored, and the near mirror is the right one.
            self._driving_related = {mirror_side(n) for n in self._driving_related}

    def in_road_cone(self, d_pitch: float, d_yaw: float, was_off_road: bool) -> bool:
        c = self.config
        shrink = c.hysteresis_deg if was_off_road else 0.0
        return (-(c.road_pitch_down_deg - shrink) <= d_pitch <= c.road_pitch_up_deg - shrink
                and abs(d_yaw) <= c.road_yaw_deg - shrink)

    def far_from_road(self, d_pitch: float, d_yaw: float, margin_deg: float) -> bool:
        """Whether an offset lies beyond the on-road cone widened by ``margin_deg`` on every side."""
        c = self.config
        return not (-(c.road_pitch_down_deg + margin_deg) <= d_pitch <= c.road_pitch_up_deg + margin_deg
                    and abs(d_yaw) <= c.road_yaw_deg + margin_deg)

    def zone(self, d_pitch: float, d_yaw: float, was_off_road: bool = False) -> str:
        """Zone name for an offset. ``was_off_road`` applies the return hysteresis."""
        if self.in_road_cone(d_pitch, d_yaw, was_off_road):
            return ROAD
        right_hand_drive = self.config.driver_side == "right"
        yaw = -d_yaw if right_hand_drive else d_yaw
        for box in self.config.zones:
            if box.contains(d_pitch, yaw):
                return mirror_side(box.name) if right_hand_drive else box.name
        return OFF_ROAD

    def counts_off_road(self, zone: str) -> bool:
        """Whether time in this zone is time away from the road for the distraction rules."""
        if zone == ROAD:
            return False
        if zone in self._driving_related:
            return self.config.driving_related_counts_off_road
        return True

    def is_driving_related(self, zone: str) -> bool:
        return zone in self._driving_related


@dataclass
class NeutralUpdate:
    """What the learner did on one sample: None, "learned" or "relearn"."""

    kind: str
    neutral: Pose


class NeutralLearner:
    """Learns the driver's forward-looking pose: the median of on-road-at-speed poses.

    The median of ``learn_s`` seconds of poses near the prior ignores glances as long as
    they fill less than half that time, which a driver at speed does. "Near" holds for all
    three angles: the learned roll matters although the zones compare pitch and yaw only
    (offsets are relative rotations, so a rolled neutral turns yaw into pitch), and a head
    resting against the door for most of the learning time must not become the neutral.
    """

    def __init__(self, config: NeutralConfig) -> None:
        config.validate()
        self.config = config
        self.neutral: Pose = (config.prior_pitch_deg, config.prior_yaw_deg, config.prior_roll_deg)
        self.learned = False
        self.learning = True
        self._buffer: list[Pose] = []
        self._accumulated = 0.0
        self._prev_t: float | None = None
        self._prev_qualified = False
        self._absent_since: float | None = None
        self._relearn_armed = True

    def restart(self) -> None:
        """Learn again (a new driver); the current neutral stays in force until then."""
        self.learning = True
        self._buffer = []
        self._accumulated = 0.0
        self._prev_qualified = False

    def update(self, t: float, pose: Pose | None, speed_kmh: float) -> NeutralUpdate | None:
        c = self.config
        # a sample's state holds until the next one: the interval since the previous sample
        # counts as learning time only if that sample qualified
        if self._prev_qualified and self._prev_t is not None:
            self._accumulated += min(t - self._prev_t, c.max_gap_s)
        self._prev_t = t
        self._prev_qualified = False
        if pose is None:
            if self._absent_since is None:
                self._absent_since = t
            if (self._relearn_armed and t - self._absent_since >= c.relearn_absent_s - TIME_EPS
                    and speed_kmh <= c.relearn_max_speed_kmh):
                self._relearn_armed = False
                self.restart()
                return NeutralUpdate("relearn", self.neutral)
            return None
        self._absent_since = None
        self._relearn_armed = True
        if not self.learning or speed_kmh < c.min_speed_kmh:
            return None
        center = self.neutral
        if (abs(pose[0] - center[0]) > c.gate_pitch_deg or abs(_wrap(pose[1] - center[1])) > c.gate_yaw_deg
                or abs(_wrap(pose[2] - center[2])) > c.gate_roll_deg):
            return None
        self._buffer.append(pose)
        self._prev_qualified = True
        if self._accumulated < c.learn_s - TIME_EPS:
            return None
        arr = np.asarray(self._buffer, dtype=np.float64)
        med = np.median(arr, axis=0)
        self.neutral = (float(med[0]), float(med[1]), float(med[2]))
        self.learned = True
        self.learning = False
        self._buffer = []
        self._prev_qualified = False
        return NeutralUpdate("learned", self.neutral)


def _wrap(angle: float) -> float:
    """Angle difference folded into (-180, 180]."""
    return angle - 360.0 * math.floor((angle + 180.0) / 360.0) if abs(angle) > 180.0 else angle


__all__ = ["ROAD", "OFF_ROAD", "NO_FACE", "TIME_EPS", "ZoneBox", "ZoneClassifier", "NeutralLearner",
           "NeutralUpdate", "relative_pose"]
