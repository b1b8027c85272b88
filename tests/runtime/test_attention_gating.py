"""Speed gating, the EU ADDW profile, and independence from the frame rate."""

from __future__ import annotations

import pytest

from runtime.attention import LONG_DISTRACTION, UNAVAILABLE, VATS, AttentionMonitor, alerts, samples_from_arrays
from runtime.attention_config import eu_addw
from tests.runtime.timeline import INFOTAINMENT, LAP, NO_FACE, ROAD, WARMUP, Seg, by_type, run, state_changes, summary


def test_no_alerts_below_the_speed_gate():
    # 10 km/h (< 20): a 10 s phone glance and 8 s without a face raise nothing.
    segs = [Seg(12.0, ROAD), Seg(10.0, LAP), Seg(2.0, ROAD), Seg(8.0, NO_FACE), Seg(2.0, ROAD)]
    assert summary(run(segs, speed=10.0)) == []


def test_speed_crossing_the_gate_mid_glance_starts_the_clock_at_the_crossing():
    # Lap from 12.0 to 20.0; 10 km/h until 14.0, then 30 km/h: the gate opens at 14.0.
    # The long-distraction clock starts at max(12.0, 14.0) = 14.0 -> warning at 17.0.
    # Critical would need 3 s after the warning (20.0) but the driver is back at 20.0.
    segs = [Seg(12.0, ROAD, 10.0), Seg(2.0, LAP, 10.0), Seg(6.0, LAP, 30.0), Seg(5.0, ROAD, 30.0)]
    out = run(segs)
    assert summary(out) == [("start", LONG_DISTRACTION, "warning", 17.0), ("end", LONG_DISTRACTION, "warning", 20.2)]
    start = by_type(out, LONG_DISTRACTION)[0]
    # the event still says when the glance began (12.0), and at what speed it fired
    assert (start.start_t, start.alert_t, start.speed_kmh) == (12.0, 17.0, 30.0)
    assert [o.t for o in state_changes(out, "speed_gate_open")] == [14.0]


def test_speed_dropping_below_the_gate_freezes_the_open_alert():
    # Lap 12.0-22.0 at 80 km/h until 16.0, then 0: warning at 15.0; the gate closes at 16.0,
    # so no critical at 18.0; the event stays open until the driver is back at 22.0.
    segs = [WARMUP, Seg(4.0, LAP), Seg(6.0, LAP, 0.0), Seg(3.0, ROAD, 0.0)]
    out = run(segs)
    assert summary(out) == [("start", LONG_DISTRACTION, "warning", 15.0), ("end", LONG_DISTRACTION, "warning", 22.2)]
    assert by_type(out, LONG_DISTRACTION)[-1].max_speed_kmh == 80.0


@pytest.mark.parametrize("speed, alerted", [(19.0, True), (17.0, False)])
def test_gate_hysteresis(speed, alerted):
    # Opened at 80 km/h; it closes only below 20 - 2 = 18 km/h.
    out = run([WARMUP, Seg(4.0, LAP, speed), Seg(2.0, ROAD, speed)])
    assert bool(by_type(out, LONG_DISTRACTION)) is alerted


@pytest.mark.parametrize("speed, warning_at", [(40.0, 18.0), (50.0, 15.5), (60.0, 15.5)])
def test_eu_addw_warning_time_depends_on_speed(speed, warning_at):
    # ADDW: 6 s at 20-50 km/h, 3.5 s above 50 (50 itself takes the stricter 3.5 s).
    # Lap from 12.0 for 7 s: 12.0 + 6.0 = 18.0, or 12.0 + 3.5 = 15.5.
    out = run([Seg(12.0, ROAD, speed), Seg(7.0, LAP, speed), Seg(3.0, ROAD, speed)], config=eu_addw())
    assert summary(out)[0] == ("start", LONG_DISTRACTION, "warning", warning_at)


def test_eu_addw_has_no_time_sharing_rule_and_no_alert_below_20():
    segs = [WARMUP] + [Seg(2.5, LAP), Seg(1.0, ROAD)] * 8
    assert summary(run(segs, config=eu_addw())) == []
    assert summary(run([Seg(12.0, ROAD), Seg(8.0, LAP), Seg(2.0, ROAD)], config=eu_addw(), speed=15.0)) == []


# --------------------------------------------------------------------------- frame rates

SCENARIO = [
    WARMUP,
    Seg(4.0, LAP), Seg(1.0, ROAD),                                  # long distraction 12-16
    Seg(2.5, INFOTAINMENT), Seg(1.0, ROAD), Seg(2.5, LAP), Seg(1.0, ROAD),
    Seg(2.5, INFOTAINMENT), Seg(1.0, ROAD), Seg(2.8, LAP), Seg(3.0, ROAD),  # VATS
    Seg(7.0, NO_FACE), Seg(3.0, ROAD),                              # unavailable
    Seg(7.0, LAP), Seg(5.0, ROAD),                                  # long distraction -> critical
]


@pytest.mark.parametrize("fps, jitter", [(30.0, 0.0), (20.0, 0.01), (30.0, 0.008), (60.0, 0.004)])
def test_alert_times_agree_across_frame_rates_within_one_frame(fps, jitter):
    reference = summary(run(SCENARIO, fps=20.0))
    assert [r[:3] for r in reference] == [
        ("start", LONG_DISTRACTION, "warning"), ("end", LONG_DISTRACTION, "warning"),
        ("start", VATS, "warning"), ("end", VATS, "warning"),
        ("start", UNAVAILABLE, "warning"), ("end", UNAVAILABLE, "warning"),
        ("start", LONG_DISTRACTION, "warning"), ("escalate", LONG_DISTRACTION, "critical"),
        ("end", LONG_DISTRACTION, "critical"),
    ]
    other = summary(run(SCENARIO, fps=fps, jitter=jitter, seed=int(fps)))
    assert [r[:3] for r in other] == [r[:3] for r in reference]
    # within one 20 Hz frame period (plus the jitter of the two samples involved)
    for (_, _, _, t_ref), (_, _, _, t) in zip(reference, other):
        assert abs(t - t_ref) <= 1.0 / 20.0 + 2 * jitter + 1e-9, (t_ref, t)


def test_driving_the_monitor_from_track_like_arrays():
    import numpy as np
    fps = 20.0
    n = int(20 * fps)
    times = np.arange(n) / fps
    poses = np.zeros((n, 3))
    poses[int(12 * fps):int(16 * fps), 0] = -50.0     # lap 12.0-16.0
    face = np.ones(n, bool)
    out = AttentionMonitor().run(samples_from_arrays(times, poses, 80.0, face_present=face))
    assert [(a.phase, a.t) for a in alerts(out)] == [("start", 15.0), ("end", 16.2)]

    class Track:  # what synth.track.MotionTrack offers
        pass
    track = Track()
    track.times, track.pose_vehicle, track.speed_kmh = times, poses, np.full(n, 80.0)  # type: ignore[attr-defined]
    from runtime.attention import samples_from_track
    assert [(a.phase, a.t) for a in alerts(AttentionMonitor().run(samples_from_track(track)))] == \
        [("start", 15.0), ("end", 16.2)]
    with pytest.raises(ValueError, match="poses: 3 frames, times has 400"):
        list(samples_from_arrays(times, poses[:3]))
