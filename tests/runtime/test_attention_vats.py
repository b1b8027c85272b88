"""Visual attention time-sharing (VATS): >= 10 s away within 30 s, reset by >= 2 s on the road.

20 Hz, frame k at k / 20 s, 12 s on the road first. A glance whose frames span [a, b)
adds b - a seconds once over, and t - a at an away frame t while it lasts.
"""

from __future__ import annotations

from runtime.attention import LONG_DISTRACTION, VATS
from runtime.attention_config import AttentionConfig, kia
from tests.runtime.timeline import INFOTAINMENT, LAP, ROAD, WARMUP, Seg, by_type, run, summary


def _time_sharing(last_glance: float, tail: float = 5.0) -> list[Seg]:
    # glances 12.0-14.5, 15.5-18.0, 19.0-21.5 (3 x 2.5 s = 7.5 s), then one from 22.5
    segs = [WARMUP]
    for _ in range(3):
        segs += [Seg(2.5, LAP), Seg(1.0, ROAD)]
    return segs + [Seg(last_glance, INFOTAINMENT), Seg(tail, ROAD)]


def test_short_glances_adding_up_to_10s_raise_one_vats_warning():
    # 4th glance 22.5-25.3: 7.5 + (t - 22.5) >= 10 first at t = 25.0 -> warning, on an away frame.
    # Back at 25.3; 2 s on the road -> the window resets at 27.3 and the event ends (end_t 25.3).
    out = run(_time_sharing(2.8))
    assert summary(out) == [("start", VATS, "warning", 25.0), ("end", VATS, "warning", 27.3)]
    start, end = by_type(out, VATS)
    assert (start.start_t, start.start_frame, start.alert_t) == (12.0, 240, 25.0)  # first glance counted
    assert start.detail["cumulative_s"] == 10.0
    assert (end.end_t, end.duration_s) == (25.3, 13.3)


def test_budget_reached_exactly_as_the_glance_ends_does_not_fire():
    # 4th glance 22.5-25.0: its last away frame is 24.95 -> 9.95 s; at 25.0 the driver is back.
    assert summary(run(_time_sharing(2.5))) == []


def test_glances_while_the_vats_warning_stands_do_not_start_new_events():
    # VATS at 25.0; back 25.3-26.3 (1 s < 2 s: no reset), another 2.5 s glance 26.3-28.8,
    # then road: reset at 28.8 + 2.0 = 30.8. One event, end_t 28.8.
    segs = _time_sharing(2.8, tail=1.0) + [Seg(2.5, LAP), Seg(5.0, ROAD)]
    out = run(segs)
    assert summary(out) == [("start", VATS, "warning", 25.0), ("end", VATS, "warning", 30.8)]
    assert by_type(out, VATS)[-1].end_t == 28.8
    assert by_type(out, VATS)[-1].detail["longest_glance_s"] == 2.8


def test_vats_escalates_when_the_driver_stays_away_3s_after_the_warning():
    # 4th glance 22.5-29.0: VATS warning at 25.0. Long distraction would come at 25.5 but
    # the glance already has its alert (one glance, one alert). Not back 3 s after the
    # warning -> critical at 28.0. Back at 29.0 -> reset and end at 31.0.
    out = run(_time_sharing(6.5))
    assert summary(out) == [
        ("start", VATS, "warning", 25.0), ("escalate", VATS, "critical", 28.0), ("end", VATS, "critical", 31.0),
    ]
    assert by_type(out, LONG_DISTRACTION) == []


def _reset_case(gap: float) -> list[Seg]:
    # g1 12.0-14.5, road for `gap`, then g2, g3 of 2.5 s and g4 of 2.8 s with 1 s between.
    return [WARMUP, Seg(2.5, LAP), Seg(gap, ROAD), Seg(2.5, LAP), Seg(1.0, ROAD), Seg(2.5, LAP), Seg(1.0, ROAD),
            Seg(2.8, LAP), Seg(5.0, ROAD)]


def test_window_resets_after_2s_on_the_road_but_not_after_1_95s():
    # gap 2.0 s: road frames 14.50..16.45, the driver is seen on the road for 1.95 s -> no
    # reset. g2 16.5-19.0, g3 20.0-22.5, g4 from 23.5: 2.5 x 3 + (t - 23.5) >= 10 at t = 26.0.
    assert summary(run(_reset_case(2.0)))[0] == ("start", VATS, "warning", 26.0)
    # gap 2.05 s: the frame at 16.50 is on the road 2.0 s after the return -> reset; only
    # g2 + g3 + g4 = 2.5 + 2.5 + 2.8 = 7.8 s remain -> no VATS.
    assert summary(run(_reset_case(2.05))) == []


def test_only_the_last_30s_count():
    # 0.9 s glances every 2.8 s (1.9 s on the road between: never a reset), from 12.0:
    # glance k covers [12 + 2.8k, 12.9 + 2.8k).
    segs = [WARMUP] + [Seg(0.9, LAP), Seg(1.9, ROAD)] * 40
    # With a 30 s window, at an away frame x s into a glance, the window holds 10 whole
    # earlier glances (9.0 s), at most 0.1 - x of the 11th, and x of the current one:
    # 9.0 + max(x, 0.1) <= 9.85 s < 10 -> never fires.
    assert summary(run(segs)) == []
    # With a 40 s window nothing drops out early: glances 0..10 total 9.9 s by the start of
    # glance 11 at 12 + 30.8 = 42.8, and 9.9 + (t - 42.8) >= 10 at t = 42.9.
    cfg = AttentionConfig.from_dict({"vats": {"window_s": 40.0}})
    assert summary(run(segs, config=cfg))[0] == ("start", VATS, "warning", 42.9)


def test_time_already_warned_as_long_distraction_is_not_counted_again():
    # Long glance 12.0-16.0 -> long-distraction warning at 15.0 (ends 16.2). Then 1 s road and
    # 2.5 s glances: 17.0-19.5, 20.5-23.0, 24.0-26.5, 27.5-30.3.
    # Counting only the glances after the warned one: 2.5 x 3 + (t - 27.5) >= 10 -> t = 30.0.
    # (Counting the 4 s glance too would have fired at 24.0 + 0.5 = 24.5.)
    segs = [WARMUP, Seg(4.0, LAP), Seg(1.0, ROAD)]
    for _ in range(3):
        segs += [Seg(2.5, INFOTAINMENT), Seg(1.0, ROAD)]
    segs += [Seg(2.8, INFOTAINMENT), Seg(5.0, ROAD)]
    out = run(segs)
    assert summary(out)[:3] == [
        ("start", LONG_DISTRACTION, "warning", 15.0), ("end", LONG_DISTRACTION, "warning", 16.2),
        ("start", VATS, "warning", 30.0),
    ]


def test_kia_profile_one_continuous_glance_is_vats_only():
    # Kia: no single-glance rule. Lap 12.0-26.0: 10 s away at 22.0 -> warning; not back 3 s
    # later -> critical at 25.0; back at 26.0, reset at 28.0.
    out = run([WARMUP, Seg(14.0, LAP), Seg(5.0, ROAD)], config=kia())
    assert summary(out) == [
        ("start", VATS, "warning", 22.0), ("escalate", VATS, "critical", 25.0), ("end", VATS, "critical", 28.0),
    ]
