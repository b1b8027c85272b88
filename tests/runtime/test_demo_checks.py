"""The demo's table of scripted events: every behaviour of the drive has a row, in time
order, and each row's verdict follows from the alerts actually raised (hand-computed)."""

from __future__ import annotations

from runtime.demo import check, expectations
from synth.motion import ScriptedBehaviour as B
from synth.motion import demo_script


def _alert(type_: str, t: float) -> dict:
    return {"type": type_, "severity": "warning", "alert_t": t, "start_t": t - 3.0, "frame": int(t * 30)}


def test_every_scripted_behaviour_has_a_row_in_time_order():
    rows = expectations(demo_script(), long_s=3.0, vats_s=10.0, unavailable_s=5.0)
    starts = [e.start_s for e in rows]
    assert starts == sorted(starts)
    names = [e.what for e in rows]
    assert "occlusion (hand) over the face 3 s" in names and "talking 20 s" in names
    hand = rows[names.index("occlusion (hand) over the face 3 s")]
    assert hand.alert is None and hand.start_s == 64.0                  # 3 s < 5 s: no "unavailable"
    phone = rows[names.index("phone 4 s")]
    assert phone.alert == "long_distraction" and phone.due_s == 21.0
    vats = rows[names.index("6 infotainment glances of 1.8 s")]
    assert vats.alert == "visual_time_sharing" and abs(vats.due_s - 44.0) < 1e-9
    # the six glances are one row; everything else one row each
    assert len(rows) == len(demo_script()) - 5


def test_a_long_occlusion_must_raise_unavailable_on_time():
    rows = expectations([B("occlusion", 10.0, 6.0, "hand")], 3.0, 10.0, unavailable_s=5.0)
    assert rows[0].alert == "monitoring_unavailable" and rows[0].due_s == 15.0
    ok = check(rows, [_alert("monitoring_unavailable", 15.1)])
    assert ok[0]["ok"] and ok[-1]["ok"]
    late = check(rows, [_alert("monitoring_unavailable", 15.6)])
    assert not late[0]["ok"]


def test_an_alert_another_row_expects_is_no_false_alarm_but_a_stray_one_is():
    script = [B("talking", 27.0, 20.0), *[B("infotainment", 30.0 + 2.6 * i, 1.8, "infotainment") for i in range(6)],
              B("mirror_check", 52.0, 0.9, "left_mirror")]
    rows = expectations(script, 3.0, 10.0)
    res = check(rows, [_alert("visual_time_sharing", 44.1)])
    by = {r["what"]: r for r in res}
    assert by["talking 20 s"]["ok"] and by["talking 20 s"]["got"] == "none"
    assert by["6 infotainment glances of 1.8 s"]["ok"]
    assert res[-1]["what"] == "the rest of the drive" and res[-1]["ok"]
    # a long distraction during the talk is nobody's: the talking row says so
    res = check(rows, [_alert("visual_time_sharing", 44.1), _alert("long_distraction", 28.0)])
    by = {r["what"]: r for r in res}
    assert not by["talking 20 s"]["ok"] and "long_distraction at 28.00 s" in by["talking 20 s"]["got"]
    # an alert outside every behaviour shows on the last row
    res = check(rows, [_alert("visual_time_sharing", 44.1), _alert("long_distraction", 10.0)])
    assert not res[-1]["ok"] and "long_distraction at 10.00 s" in res[-1]["got"]
