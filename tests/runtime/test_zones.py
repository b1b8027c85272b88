"""Zones by angle offsets from a learned neutral, right-hand drive, and the neutral learner."""

from __future__ import annotations

import numpy as np
import pytest

from dms.angles import euler_to_matrix, matrix_to_euler
from runtime.attention import LONG_DISTRACTION
from runtime.attention_config import NeutralConfig, ZoneConfig
from runtime.zones import OFF_ROAD, ROAD, NeutralLearner, ZoneClassifier, relative_pose, relative_pose_reference
from tests.runtime.timeline import LAP, NO_FACE, ROAD as ROAD_POSE, Seg, by_type, run, state_changes, summary


def test_scalar_relative_pose_matches_the_numpy_convention():
    rng = np.random.default_rng(1)
    for _ in range(300):
        pose = tuple(rng.uniform([-60, -120, -40], [60, 120, 40]))
        neutral = tuple(rng.uniform([-20, -30, -10], [20, 30, 10]))
        np.testing.assert_allclose(relative_pose(pose, neutral), relative_pose_reference(pose, neutral), atol=1e-9)


def test_offsets_are_turns_about_the_drivers_own_axes():
    # level neutral: a yaw offset is a plain difference
    assert relative_pose((0.0, 35.0, 0.0), (0.0, 10.0, 0.0)) == pytest.approx((0.0, 25.0, 0.0), abs=1e-9)
    # a camera below the face sees the neutral pitched up 15 deg; turning the head 40 deg
    # to the right about the driver's own vertical axis is a 40 deg yaw offset, pitch 0
    neutral = (15.0, 5.0, 0.0)
    turned = matrix_to_euler(euler_to_matrix(neutral) @ euler_to_matrix((0.0, 40.0, 0.0)))
    assert relative_pose(tuple(turned), neutral) == pytest.approx((0.0, 40.0, 0.0), abs=1e-9)


@pytest.mark.parametrize("d_pitch, d_yaw, zone", [
    (0.0, 0.0, ROAD), (0.0, 23.0, ROAD), (0.0, -23.0, ROAD), (-17.0, 0.0, ROAD), (24.0, 0.0, ROAD),
    (0.0, 24.0, OFF_ROAD),               # just right of the cone, in no zone
    (26.0, 0.0, OFF_ROAD),               # looking up past 25 deg
    (-25.0, 0.0, "cluster"), (-25.0, 30.0, "infotainment"), (20.0, 30.0, "rear_mirror"),
    (-5.0, -40.0, "left_mirror"), (-5.0, 60.0, "right_mirror"), (0.0, -100.0, "left_shoulder"),
    (0.0, 100.0, "right_shoulder"), (-50.0, 0.0, "lap"),
])
def test_zone_table_left_hand_drive(d_pitch, d_yaw, zone):
    assert ZoneClassifier(ZoneConfig()).zone(d_pitch, d_yaw) == zone


def test_return_to_the_road_needs_to_clear_the_hysteresis():
    z = ZoneClassifier(ZoneConfig())
    assert z.zone(0.0, 22.0, was_off_road=False) == ROAD
    assert z.zone(0.0, 22.0, was_off_road=True) == OFF_ROAD  # 22 > 23 - 2
    assert z.zone(0.0, 20.5, was_off_road=True) == ROAD


def test_right_hand_drive_mirrors_yaw_and_swaps_sides():
    rhd = ZoneClassifier(ZoneConfig(driver_side="right"))
    # the near mirror of a right-hand-drive car is on the driver's right
    assert rhd.zone(-5.0, 40.0) == "right_mirror"
    assert rhd.zone(-5.0, -60.0) == "left_mirror"
    assert rhd.zone(-25.0, -30.0) == "infotainment"     # the console is on the driver's left
    assert rhd.zone(-25.0, 30.0) != "infotainment"
    relaxed = ZoneClassifier(ZoneConfig(driver_side="right", driving_related_counts_off_road=False))
    assert not relaxed.counts_off_road("right_mirror") and relaxed.counts_off_road("infotainment")


def test_bad_zone_config_is_named():
    with pytest.raises(ValueError, match="zones.driver_side"):
        ZoneClassifier(ZoneConfig(driver_side="middle"))


def _feed(learner: NeutralLearner, poses, speed: float, fps: float = 20.0, t0: float = 0.0):
    results = []
    for k, pose in enumerate(poses):
        r = learner.update(t0 + k / fps, pose, speed)
        if r is not None:
            results.append((round(t0 + k / fps, 6), r.kind, r.neutral))
    return results


def test_learner_takes_the_median_of_10s_at_speed():
    # camera mount: looking down the road is (5, 10, 0) to the camera; one sample in five
    # glances 15 deg right (still inside the learning gate). 10 s accumulate at frame 200.
    poses = [(5.0, 25.0, 0.0) if k % 5 == 0 else (5.0, 10.0, 0.0) for k in range(300)]
    learner = NeutralLearner(NeutralConfig())
    assert _feed(learner, poses, 50.0) == [(10.0, "learned", (5.0, 10.0, 0.0))]


def test_learner_ignores_slow_driving_and_far_glances():
    learner = NeutralLearner(NeutralConfig())
    assert _feed(learner, [(5.0, 10.0, 0.0)] * 400, 15.0) == []        # below 20 km/h
    assert _feed(learner, [(0.0, 60.0, 0.0)] * 400, 50.0, t0=20.0) == []  # outside the gate
    assert learner.neutral == (0.0, 0.0, 0.0) and not learner.learned


def test_learner_keeps_a_head_resting_on_its_side_out_of_the_neutral():
    # The first 6 s at speed the head rests against the door (roll -25 deg), then it is
    # upright. Before roll was gated the median of the first 10 s (120 rested samples of 201)
    # made the neutral (0, 0, -25) at 10.0. Now rested samples are outside the 15 deg roll
    # gate: learning starts at 6.0 (frame 120) and has 10 s at 16.0 (frame 320).
    poses = [(0.0, 0.0, -25.0)] * 120 + [(0.0, 0.0, 0.0)] * 300
    learner = NeutralLearner(NeutralConfig())
    assert _feed(learner, poses, 50.0) == [(16.0, "learned", (0.0, 0.0, 0.0))]
    # ... while a driver whose posture is rolled 10 deg is learned as such (within the gate)
    learner = NeutralLearner(NeutralConfig())
    assert _feed(learner, [(0.0, 0.0, 10.0)] * 201, 50.0) == [(10.0, "learned", (0.0, 0.0, 10.0))]


def test_learned_roll_matters_for_the_offsets():
    # Offsets are relative rotations: against a neutral rolled -25 deg, a pure 40 deg turn
    # to the left mirror would read 15.8 deg of pitch and -37.3 deg of yaw. With the head
    # rest kept out of learning (learned (0, 0, 0) at 16.0), the 4 s mirror stare from 20.0
    # reads (0, -40) and warns at 23.0.
    assert relative_pose((0.0, -40.0, 0.0), (0.0, 0.0, -25.0)) == pytest.approx((15.76, -37.25, 19.66), abs=0.01)
    out = run([Seg(6.0, (0.0, 0.0, -25.0)), Seg(14.0, ROAD_POSE), Seg(4.0, (0.0, -40.0, 0.0)), Seg(2.0, ROAD_POSE)])
    assert [(o.t, o.detail["neutral"]) for o in state_changes(out, "neutral_learned")] == [(16.0, [0.0, 0.0, 0.0])]
    assert summary(out)[0] == ("start", LONG_DISTRACTION, "warning", 23.0)
    assert by_type(out, LONG_DISTRACTION)[0].pose["mean_offset"] == [0.0, -40.0]


def test_new_driver_after_a_stop_is_learned_again():
    learner = NeutralLearner(NeutralConfig())
    assert _feed(learner, [(5.0, 10.0, 0.0)] * 201, 50.0)[0][1] == "learned"
    # face gone at a standstill from 10.05 s: 10 s later (20.05) learning restarts
    assert _feed(learner, [None] * 201, 0.0, t0=10.05) == [(20.05, "relearn", (5.0, 10.0, 0.0))]
    assert learner.neutral == (5.0, 10.0, 0.0)         # the old neutral holds meanwhile
    got = _feed(learner, [(0.0, -5.0, 0.0)] * 201, 50.0, t0=20.1)
    assert got == [(30.1, "learned", (0.0, -5.0, 0.0))]


def test_face_lost_at_speed_is_not_a_driver_change():
    learner = NeutralLearner(NeutralConfig())
    _feed(learner, [(5.0, 10.0, 0.0)] * 201, 50.0)
    assert _feed(learner, [None] * 400, 50.0, t0=10.05) == []


def test_monitor_measures_glances_from_the_learned_neutral():
    # The camera sees the road at (0, 10, 0). Learned at 10.0. Then a head at yaw 30 is
    # 20 deg from neutral (road); yaw 35 is 25 deg (away) -> long distraction at 12 + 3 = 15.
    cam = (0.0, 10.0, 0.0)
    out = run([Seg(12.0, cam), Seg(4.0, (0.0, 30.0, 0.0)), Seg(2.0, cam)])
    assert summary(out) == []
    out = run([Seg(12.0, cam), Seg(4.0, (0.0, 35.0, 0.0)), Seg(2.0, cam)])
    assert [o.detail["neutral"] for o in state_changes(out, "neutral_learned")] == [[0.0, 10.0, 0.0]]
    assert summary(out)[0] == ("start", LONG_DISTRACTION, "warning", 15.0)
    assert by_type(out, LONG_DISTRACTION)[0].pose["mean_offset"] == [0.0, 25.0]


def test_monitor_relearns_after_a_driver_swap():
    # Driver A looks down the road at (0, 10, 0); a stop with the seat empty for 12 s; driver
    # B's forward pose is (0, -10, 0). Relearn at 12.0 + 10.0 = 22.0, learned 10 s after B
    # drives off at 24.0 -> 34.0 (frame 680).
    out = run([Seg(12.0, (0.0, 10.0, 0.0)), Seg(12.0, NO_FACE, 0.0), Seg(12.0, (0.0, -10.0, 0.0))])
    assert [o.t for o in state_changes(out, "neutral_relearn")] == [22.0]
    assert [(o.t, o.detail["neutral"]) for o in state_changes(out, "neutral_learned")] == [
        (10.0, [0.0, 10.0, 0.0]), (34.0, [0.0, -10.0, 0.0])]
    # B's first 10 s are judged against A's neutral: yaw -10 is a 20 deg offset, still road
    assert summary(out) == []


def test_phone_glance_sanity_against_timeline_constants():
    assert ZoneClassifier(ZoneConfig()).zone(LAP[0], LAP[1]) == "lap"
    assert ZoneClassifier(ZoneConfig()).zone(ROAD_POSE[0], ROAD_POSE[1]) == ROAD
