"""Long distraction, unresponsive escalation, no face and availability, as timelines.

Every expected time is worked out in the comments: 20 Hz, frame k at k / 20 s, the
driver on the road for the first 12 s (WARMUP), then the behaviour under test. Poses that
jump between two frames (the segments) have no movement onset to backdate; ramps (a
callable pose) do: see "the movement onset" below.
"""

from __future__ import annotations

import pytest

from runtime.attention import LONG_DISTRACTION, UNAVAILABLE, VATS, AttentionMonitor, Sample, SampleError
from runtime.attention_config import AttentionConfig, LongDistractionConfig, kia, openpilot
from tests.runtime.timeline import (
    CLUSTER, INFOTAINMENT, LAP, LEFT_MIRROR, NO_FACE, ROAD, ROAD_LEFT, WARMUP, Seg, by_type, run, state_changes,
    summary,
)


def test_mirror_and_cluster_glances_under_2s_yield_nothing():
    # Normal driving: 1.9 s in the mirror, 1.5 s on the cluster, road scanning within the cone.
    out = run([WARMUP, Seg(1.9, LEFT_MIRROR), Seg(3.0, ROAD), Seg(1.5, CLUSTER), Seg(3.0, ROAD_LEFT),
               Seg(10.0, ROAD)])
    assert summary(out) == []


def test_one_4s_phone_glance_is_exactly_one_event_closed_on_return():
    # Lap from 12.0 to 16.0 (frames 240..319), road from 16.0.
    # Warning at the first off-road frame with 15.0 - 12.0 >= 3.0 -> t = 15.0 (frame 300).
    # Back on the road at 16.0, confirmed 0.2 s later -> end reported at 16.2, end_t 16.0,
    # duration 16.0 - 12.0 = 4.0 s.
    out = run([WARMUP, Seg(4.0, LAP), Seg(10.0, ROAD)])
    assert summary(out) == [("start", LONG_DISTRACTION, "warning", 15.0), ("end", LONG_DISTRACTION, "warning", 16.2)]
    start, end = by_type(out, LONG_DISTRACTION)
    assert start.alert_id == end.alert_id
    assert (start.start_t, start.alert_t, start.frames) == (12.0, 15.0, (240, 300))
    assert (end.end_t, end.duration_s, end.frames) == (16.0, 4.0, (240, 319))
    assert end.zone == "lap" and end.speed_kmh == 80.0
    assert end.pose["mean_offset"] == [-50.0, 0.0] and end.pose["samples"] == 80  # 4 s x 20 Hz
    assert end.detail["glance_s"] == 4.0
    # the head jumped to the lap between 11.95 and 12.0: no movement before 12.0 to backdate
    assert start.detail["onset_t"] == 12.0


def test_exactly_3_0s_observed_away_alerts_and_2_95s_does_not():
    # Lap frames 12.00..15.00 inclusive (segment of 3.05 s): the frame at 15.0 is still away
    # and 15.0 - 12.0 = 3.0 >= 3.0 -> warning at exactly 15.0.
    out = run([WARMUP, Seg(3.05, LAP), Seg(10.0, ROAD)])
    assert summary(out)[0] == ("start", LONG_DISTRACTION, "warning", 15.0)
    # Lap frames 12.00..14.95 (segment of 3.0 s): the last away frame shows 2.95 s; at 15.0
    # the driver is already back, and an alert never fires on an on-road frame.
    assert summary(run([WARMUP, Seg(3.0, LAP), Seg(10.0, ROAD)])) == []
    # one frame shorter still: nothing
    assert summary(run([WARMUP, Seg(2.95, LAP), Seg(10.0, ROAD)])) == []


def test_long_glance_escalates_in_place_to_critical():
    # Lap 12.0..19.0. Warning at 15.0. Unresponsive: not back 3 s after the warning ->
    # 18.0, which is also 6 s away (12.0 + 6.0). One event, escalated; ends at 19.2 (19.0 + 0.2).
    out = run([WARMUP, Seg(7.0, LAP), Seg(10.0, ROAD)])
    assert summary(out) == [
        ("start", LONG_DISTRACTION, "warning", 15.0),
        ("escalate", LONG_DISTRACTION, "critical", 18.0),
        ("end", LONG_DISTRACTION, "critical", 19.2),
    ]
    end = by_type(out, LONG_DISTRACTION)[-1]
    assert [(s, t) for s, t, _, _ in end.escalations] == [("warning", 15.0), ("critical", 18.0)]
    assert end.escalations[-1][3] == "unresponsive_after_warning"
    assert end.duration_s == 7.0


def test_tracking_blip_back_to_road_does_not_split_the_glance():
    # Lap 12.0-13.5, road for 2 frames (13.50, 13.55 = 0.1 s < 0.2 s confirm), lap 13.6-16.0.
    # One glance from 12.0: warning at 15.0, end_t 16.0 -> exactly one event.
    out = run([WARMUP, Seg(1.5, LAP), Seg(0.1, ROAD), Seg(2.4, LAP), Seg(5.0, ROAD)])
    assert summary(out) == [("start", LONG_DISTRACTION, "warning", 15.0), ("end", LONG_DISTRACTION, "warning", 16.2)]
    assert by_type(out, LONG_DISTRACTION)[-1].end_t == 16.0


def test_a_real_look_back_at_the_road_makes_two_glances():
    # Lap 12.0-14.0 (2.0 s), road 14.0-14.5 (0.5 s >= 0.2 s: a real return), lap 14.5-17.0 (2.5 s).
    # Neither glance reaches 3 s; VATS: 2.0 + 2.5 = 4.5 s < 10 s -> nothing.
    assert summary(run([WARMUP, Seg(2.0, LAP), Seg(0.5, ROAD), Seg(2.5, LAP), Seg(5.0, ROAD)])) == []


def test_two_long_glances_are_two_events():
    # Lap 12.0-16.0 -> warning 15.0, end_t 16.0 (reported 16.2); road 16.0-17.0;
    # infotainment 17.0-21.0 -> a new glance: warning at 20.0, end reported 21.2.
    out = run([WARMUP, Seg(4.0, LAP), Seg(1.0, ROAD), Seg(4.0, INFOTAINMENT), Seg(5.0, ROAD)])
    assert summary(out) == [
        ("start", LONG_DISTRACTION, "warning", 15.0), ("end", LONG_DISTRACTION, "warning", 16.2),
        ("start", LONG_DISTRACTION, "warning", 20.0), ("end", LONG_DISTRACTION, "warning", 21.2),
    ]
    ids = {a.alert_id for a in by_type(out, LONG_DISTRACTION)}
    assert len(ids) == 2
    assert by_type(out, LONG_DISTRACTION)[-1].zone == "infotainment"


def test_face_lost_mid_glance_at_a_far_pose_continues_the_glance():
    # Lap 12.0-13.0, then no face 13.0-17.0 (head turned beyond the detector), road from 17.0.
    # Last seen at pitch -50: 32 deg beyond the cone's 18 deg (>= the 10 deg margin), so the
    # driver counts as still away: one glance from 12.0 -> warning at 15.0 on a no-face
    # frame; back at 17.0 -> end_t 17.0. 4 s without a face < 5 s: no "unavailable".
    out = run([WARMUP, Seg(1.0, LAP), Seg(4.0, NO_FACE), Seg(5.0, ROAD)])
    assert summary(out) == [("start", LONG_DISTRACTION, "warning", 15.0), ("end", LONG_DISTRACTION, "warning", 17.2)]
    end = by_type(out, LONG_DISTRACTION)[-1]
    assert end.end_t == 17.0 and end.zone == "lap"   # the face was last seen looking at the lap


def test_hand_over_the_face_as_the_head_comes_back_ends_the_glance():
    # Left mirror 12.0-13.0 (yaw -40), the head on its way back at yaw -26 for 13.0-13.1
    # (3 deg outside the cone, still away), then a hand hides the face 13.1-16.1, road after.
    # Face lost 3 deg beyond the cone (< 10 deg margin): no evidence the glance goes on. It
    # counts as a return at 13.1, confirmed 0.2 s later (13.3, a no-face frame): the glance
    # was 13.1 - 12.0 = 1.1 s. (The old rule continued it behind the hand: a false warning
    # at 15.0.) Pre-warning at 1.0 s to see the glance: at 13.0, ends at 13.3 with end_t 13.1.
    segs = [WARMUP, Seg(1.0, LEFT_MIRROR), Seg(0.1, (-5.0, -26.0, 0.0)), Seg(3.0, NO_FACE), Seg(5.0, ROAD)]
    assert summary(run(segs)) == []
    cfg = AttentionConfig.from_dict({"long_distraction": {"prewarning_s": 1.0}})
    out = run(segs, config=cfg)
    assert summary(out) == [("start", LONG_DISTRACTION, "prewarning", 13.0),
                            ("end", LONG_DISTRACTION, "prewarning", 13.3)]
    end = by_type(out, LONG_DISTRACTION)[-1]
    assert (end.end_t, end.detail["glance_s"], end.frames) == (13.1, 1.1, (240, 261))


@pytest.mark.parametrize("yaw, alerted", [(32.5, False), (33.5, True)])
def test_far_means_beyond_the_cone_by_the_margin(yaw, alerted):
    # Away at yaw 32.5 or 33.5 for 12.0-13.0 (the cone ends at 23, "far" beyond 23 + 10 = 33),
    # then no face 13.0-17.0. Far: the glance goes on -> warning at 15.0, ends 17.2 (end_t 17.0).
    # Near: it ends at 13.0 (reported 13.2) -> nothing.
    out = run([WARMUP, Seg(1.0, (0.0, yaw, 0.0)), Seg(4.0, NO_FACE), Seg(3.0, ROAD)])
    expected = [("start", LONG_DISTRACTION, "warning", 15.0), ("end", LONG_DISTRACTION, "warning", 17.2)]
    assert summary(out) == (expected if alerted else [])


def test_face_lost_near_the_road_for_a_blip_does_not_split_the_glance():
    # Away at yaw 26 from 12.0, no face 13.5-13.6 (2 frames, near: 3 deg past the cone),
    # away again 13.6-16.1. The loss would end the glance only after 0.2 s; the face is back
    # (away) after 0.1 s: one glance from 12.0 -> warning 15.0, end_t 16.1 reported at 16.3.
    out = run([WARMUP, Seg(1.5, (0.0, 26.0, 0.0)), Seg(0.1, NO_FACE), Seg(2.5, (0.0, 26.0, 0.0)), Seg(3.0, ROAD)])
    assert summary(out) == [("start", LONG_DISTRACTION, "warning", 15.0), ("end", LONG_DISTRACTION, "warning", 16.3)]
    assert by_type(out, LONG_DISTRACTION)[-1].end_t == 16.1


def test_face_lost_from_the_road_is_unavailable_not_distraction():
    # No face 12.0-20.0 from the road: no glance. Unavailable after 5 s -> 17.0.
    # Face back at 20.0, confirmed 0.5 s later -> end reported at 20.5 with end_t 20.0.
    out = run([WARMUP, Seg(8.0, NO_FACE), Seg(5.0, ROAD)])
    assert summary(out) == [("start", UNAVAILABLE, "warning", 17.0), ("end", UNAVAILABLE, "warning", 20.5)]
    end = by_type(out, UNAVAILABLE)[-1]
    assert (end.start_t, end.end_t, end.duration_s, end.frames) == (12.0, 20.0, 8.0, (240, 399))


def test_euro_ncap_unavailable_within_10s_even_mid_glance():
    # Lap 12.0-12.5 then no face for 12 s: the glance goes on (warning 15.0, critical 18.0)
    # and, separately, the system says it cannot see the driver at 12.5 + 5.0 = 17.5 (< 10 s).
    out = run([WARMUP, Seg(0.5, LAP), Seg(12.0, NO_FACE), Seg(3.0, ROAD)])
    starts = [(a.type, a.t) for a in out if getattr(a, "phase", "") == "start"]
    assert starts == [(LONG_DISTRACTION, 15.0), (UNAVAILABLE, 17.5)]
    assert by_type(out, UNAVAILABLE)[0].detail["during_glance"] is True


def test_flickering_face_is_one_unavailable_event():
    # No face 12.0-20.0, face for 0.3 s (< 0.5 s confirm), no face 20.3-25.0, face from 25.0.
    # One event: starts 17.0, the face is back for good at 25.0 -> end reported 25.5.
    out = run([WARMUP, Seg(8.0, NO_FACE), Seg(0.3, ROAD), Seg(4.7, NO_FACE), Seg(5.0, ROAD)])
    assert summary(out) == [("start", UNAVAILABLE, "warning", 17.0), ("end", UNAVAILABLE, "warning", 25.5)]
    assert by_type(out, UNAVAILABLE)[-1].end_t == 25.0


def test_untrusted_tracking_counts_as_no_face():
    out = run([WARMUP, Seg(6.0, ROAD, None, None, False), Seg(3.0, ROAD)])
    # untrusted 12.0-18.0 -> unavailable at 17.0; trusted again at 18.0 -> end at 18.5
    assert summary(out) == [("start", UNAVAILABLE, "warning", 17.0), ("end", UNAVAILABLE, "warning", 18.5)]


def test_openpilot_profile_escalates_prewarning_warning_critical_in_one_event():
    # openpilot: pre-alert 3 s, prompt 5 s, terminal 11 s. Lap 12.0-25.0:
    # prewarning 15.0, warning 17.0, critical 23.0 (= 17.0 + 6.0 after warning = 12.0 + 11.0).
    # Its neutral needs 60 s at >= 46.8 km/h; before that the prior (0, 0, 0) applies.
    out = run([WARMUP, Seg(13.0, LAP), Seg(3.0, ROAD)], config=openpilot())
    assert summary(out) == [
        ("start", LONG_DISTRACTION, "prewarning", 15.0),
        ("escalate", LONG_DISTRACTION, "warning", 17.0),
        ("escalate", LONG_DISTRACTION, "critical", 23.0),
        ("end", LONG_DISTRACTION, "critical", 25.2),
    ]
    assert len({a.alert_id for a in by_type(out, LONG_DISTRACTION)}) == 1


def test_mirror_time_counts_unless_configured_as_driving_related():
    # A 4 s stare into the mirror is 4 s not watching the road (Euro NCAP): warning at 15.0.
    assert summary(run([WARMUP, Seg(4.0, LEFT_MIRROR), Seg(3.0, ROAD)]))[0][:2] == ("start", LONG_DISTRACTION)
    relaxed = AttentionConfig.from_dict({"zones": {"driving_related_counts_off_road": False}})
    assert summary(run([WARMUP, Seg(4.0, LEFT_MIRROR), Seg(3.0, ROAD)], config=relaxed)) == []
    # ... while the phone still alerts under the relaxed reading
    assert summary(run([WARMUP, Seg(4.0, LAP), Seg(3.0, ROAD)], config=relaxed))[0][:2] == ("start", LONG_DISTRACTION)


def test_prewarning_glance_that_tips_vats_becomes_one_vats_alert():
    # Custom: pre-warning at 2 s (NHTSA) together with VATS. Three glances of 2.5 s with
    # 1 s on the road: 12.0-14.5, 15.5-18.0, 19.0-21.5; each pre-warns at +2.0 s (14.0,
    # 17.5, 21.0) and ends at its return + 0.2 s (14.7, 18.2, 21.7). The 4th glance,
    # 22.5-25.3, pre-warns at 24.5; VATS reaches 3 x 2.5 + (25.0 - 22.5) = 10.0 s at 25.0.
    # That glance holds ONE event: a long-distraction pre-warning whose warning comes from
    # VATS, so it becomes a VATS event, which ends after 2 s back on the road:
    # 25.3 + 2.0 = 27.3, end_t 25.3.
    cfg = AttentionConfig.from_dict({"long_distraction": {"prewarning_s": 2.0}})
    segs = [WARMUP]
    for _ in range(3):
        segs += [Seg(2.5, LAP), Seg(1.0, ROAD)]
    segs += [Seg(2.8, LAP), Seg(5.0, ROAD)]
    out = run(segs, config=cfg)
    assert summary(out) == [
        ("start", LONG_DISTRACTION, "prewarning", 14.0), ("end", LONG_DISTRACTION, "prewarning", 14.7),
        ("start", LONG_DISTRACTION, "prewarning", 17.5), ("end", LONG_DISTRACTION, "prewarning", 18.2),
        ("start", LONG_DISTRACTION, "prewarning", 21.0), ("end", LONG_DISTRACTION, "prewarning", 21.7),
        ("start", LONG_DISTRACTION, "prewarning", 24.5), ("escalate", VATS, "warning", 25.0),
        ("end", VATS, "warning", 27.3),
    ]
    last = by_type(out, VATS)[-1]
    assert last.end_t == 25.3 and last.start_t == 12.0 and last.escalations[-1][3] == "vats"


def test_neutral_is_learned_and_reported():
    out = run([WARMUP, Seg(1.0, ROAD)])
    learned = state_changes(out, "neutral_learned")
    # 20 Hz at 80 km/h from t = 0: 10 s of samples accumulate at frame 200 (t = 10.0)
    assert len(learned) == 1 and learned[0].t == 10.0 and learned[0].detail["neutral"] == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("bad, message", [
    (Sample(t=float("nan"), frame=3, pose=ROAD), "frame 3: timestamp nan"),
    (Sample(t=1.0, frame=4, pose=(1.0, 2.0)), "frame 4: pose must be 3 finite numbers"),  # type: ignore[arg-type]
    (Sample(t=1.0, frame=5, pose=ROAD, speed_kmh=-3.0), "frame 5: speed_kmh"),
    (Sample(t=1.0, frame=6, pose=ROAD, landmarks=[0.0] * 10), "frame 6: landmarks must hold 136 values"),
])
def test_bad_samples_are_refused_with_the_frame_named(bad, message):
    with pytest.raises(SampleError, match=message.replace("(", r"\(")):
        AttentionMonitor().update(bad)


def test_time_going_backwards_is_refused():
    m = AttentionMonitor()
    m.update(Sample(t=1.0, frame=20, pose=ROAD))
    with pytest.raises(SampleError, match="frame 21: timestamp 1.0 s is not after the previous sample's 1.0 s"):
        m.update(Sample(t=1.0, frame=21, pose=ROAD))


def test_active_alerts_and_glance_duration_for_an_overlay():
    from tests.runtime.timeline import timeline
    m = AttentionMonitor()
    for s in timeline([WARMUP, Seg(3.5, LAP)]):
        m.update(s)
    # last frame at 15.45: glance 3.45 s, one open long-distraction warning
    assert m.glance_duration() == pytest.approx(3.45)
    (open_alert,) = m.active_alerts()
    assert (open_alert.type, open_alert.severity, open_alert.phase) == (LONG_DISTRACTION, "warning", "open")


def test_long_distraction_can_be_switched_off():
    cfg = AttentionConfig(long_distraction=LongDistractionConfig(enabled=False))
    assert summary(run([WARMUP, Seg(4.0, LAP), Seg(3.0, ROAD)], config=cfg)) == []


# --------------------------------------------------------------------------- the movement onset
# The long-distraction clock starts where the head movement that left the road began, at
# most 0.2 s before the first off-road frame. A frame is part of the movement when the head
# moved >= 30 deg/s towards the exit direction over the 0.1 s (2 frames) before it.


def _ramp(rate: float, offset: float = 0.0):
    """Pitch sinking at `rate` deg/s from -offset: a frame u s into the segment is at -(offset + rate u)."""
    return lambda u: (-(offset + rate * u), 0.0, 0.0)


def test_glance_clock_starts_at_the_head_movement_onset():
    # The head sinks at 100 deg/s from 12.0 (-5 at 12.05, -10, -15, -20 at 12.20: off the
    # road, beyond -18), reaches the lap at 12.5, stays there until 16.0.
    # Each frame 12.05 .. 12.20 moved 5-10 deg in the 0.1 s before it (50-100 deg/s); 12.00
    # had not moved -> onset 12.05, 0.15 s before the exit at 12.20.
    # Warning at the first away frame with t - 12.05 >= 3.0: 15.05 (not 15.20). The event
    # still starts at the first off-road frame; back at 16.0 -> end 16.2.
    segs = [WARMUP, Seg(0.5, _ramp(100.0)), Seg(3.5, LAP), Seg(5.0, ROAD)]
    out = run(segs)
    assert summary(out) == [("start", LONG_DISTRACTION, "warning", 15.05), ("end", LONG_DISTRACTION, "warning", 16.2)]
    start = by_type(out, LONG_DISTRACTION)[0]
    assert (start.start_t, start.start_frame, start.detail["onset_t"]) == (12.2, 244, 12.05)
    # backdating off: the clock starts at the exit, 12.2 + 3.0
    cfg = AttentionConfig.from_dict({"long_distraction": {"onset_backdate_s": 0.0}})
    assert summary(run(segs, config=cfg))[0] == ("start", LONG_DISTRACTION, "warning", 15.2)


def test_exactly_3_0s_from_the_onset_alerts_and_2_95s_does_not():
    # Same ramp (onset 12.05). Lap until 15.1: the frame at 15.05 is away and 15.05 - 12.05
    # = 3.0 -> warning at 15.05. Lap until 15.05: the last away frame (15.0) shows 2.95 s.
    out = run([WARMUP, Seg(0.5, _ramp(100.0)), Seg(2.6, LAP), Seg(5.0, ROAD)])
    assert summary(out)[0] == ("start", LONG_DISTRACTION, "warning", 15.05)
    assert summary(run([WARMUP, Seg(0.5, _ramp(100.0)), Seg(2.55, LAP), Seg(5.0, ROAD)])) == []


def test_backdating_is_limited_to_0_2s():
    # 50 deg/s from 12.0: -2.5 at 12.05, ..., -17.5 at 12.35, -20 at 12.40 (exit). Moving
    # (>= 30 deg/s over 0.1 s) from 12.10 (-5 vs 0 at 12.0: 50 deg/s; 12.05 moved only
    # 2.5 deg since 11.95: 25 deg/s). 12.10 is 0.3 s before the exit -> clamped to
    # 12.40 - 0.2 = 12.20. Warning at 15.20 (unlimited: 15.10; no backdating: 15.40).
    segs = [WARMUP, Seg(1.0, _ramp(50.0)), Seg(4.0, LAP), Seg(5.0, ROAD)]
    out = run(segs)
    assert summary(out) == [("start", LONG_DISTRACTION, "warning", 15.2), ("end", LONG_DISTRACTION, "warning", 17.2)]
    assert by_type(out, LONG_DISTRACTION)[0].detail["onset_t"] == 12.2
    cfg = AttentionConfig.from_dict({"long_distraction": {"onset_backdate_s": 0.3}})
    assert summary(run(segs, config=cfg))[0] == ("start", LONG_DISTRACTION, "warning", 15.1)


def test_a_slow_drift_across_the_edge_is_not_backdated():
    # 20 deg/s from -0.5 (2 deg per 0.1 s < 30 deg/s): -17.5 at 12.85, -18.5 at 12.90 (exit),
    # the lap from 13.0. No frame moved fast enough, the exit itself included: the clock
    # starts at 12.90 -> warning 15.90.
    out = run([WARMUP, Seg(1.0, _ramp(20.0, 0.5)), Seg(4.0, LAP), Seg(5.0, ROAD)])
    assert summary(out)[0] == ("start", LONG_DISTRACTION, "warning", 15.9)
    assert by_type(out, LONG_DISTRACTION)[0].detail["onset_t"] == 12.9
    # A slow drift to -9.5 (12.0-12.5), then 100 deg/s: -10 at 12.50, -15 at 12.55, -20 at
    # 12.60 (exit). 12.60 (10 deg in 0.1 s) and 12.55 (5.5 deg: 55 deg/s) moved; 12.50
    # (1.5 deg since 12.40: 15 deg/s) did not -> onset 12.55, warning 15.55.
    segs = [WARMUP, Seg(0.5, _ramp(20.0, 0.5)), Seg(0.5, _ramp(100.0, 10.0)), Seg(4.0, LAP), Seg(5.0, ROAD)]
    out = run(segs)
    assert summary(out)[0] == ("start", LONG_DISTRACTION, "warning", 15.55)
    assert by_type(out, LONG_DISTRACTION)[0].detail["onset_t"] == 12.55


def test_backdating_applies_to_the_single_glance_clock_not_to_vats():
    # Kia: VATS only. The 100 deg/s ramp (onset 12.05, exit 12.20), lap until 23.0. VATS sums
    # what the zones saw, from 12.20: 10 s at 22.20 (not 22.05). Back at 23.0: the window
    # resets 2 s later, at 25.0.
    out = run([WARMUP, Seg(0.5, _ramp(100.0)), Seg(10.5, LAP), Seg(5.0, ROAD)], config=kia())
    assert summary(out) == [("start", VATS, "warning", 22.2), ("end", VATS, "warning", 25.0)]
