"""Long distraction, unresponsive escalation, no face and availability, as timelines.

Every expected time is worked out in the comments: 20 Hz, frame k at k / 20 s, the
driver on the road for the first 12 s (WARMUP), then the behaviour under test.
"""

from __future__ import annotations

import pytest

from runtime.attention import LONG_DISTRACTION, UNAVAILABLE, VATS, AttentionMonitor, Sample, SampleError
from runtime.attention_config import AttentionConfig, LongDistractionConfig, openpilot
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


def test_face_lost_mid_glance_continues_the_glance():
    # Lap 12.0-13.0, then no face 13.0-17.0 (head turned beyond the detector), road from 17.0.
    # The driver was never seen back: one glance from 12.0 -> warning at 15.0 on a no-face
    # frame; back at 17.0 -> end_t 17.0. 4 s without a face < 5 s: no "unavailable".
    out = run([WARMUP, Seg(1.0, LAP), Seg(4.0, NO_FACE), Seg(5.0, ROAD)])
    assert summary(out) == [("start", LONG_DISTRACTION, "warning", 15.0), ("end", LONG_DISTRACTION, "warning", 17.2)]
    end = by_type(out, LONG_DISTRACTION)[-1]
    assert end.end_t == 17.0 and end.zone == "lap"   # the face was last seen looking at the lap


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
