"""Alert accuracy evaluation: matching, metrics and the label-derived due events, each on a
tiny crafted case whose answer is worked out by hand in the comments; then one small
end-to-end run of `dms evaluate-alerts`.

Crafted label sequences are at 30 fps unless said otherwise: frame k at k / 30 s, and a
segment of s seconds holds round(s * 30) frames.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest

from runtime.alert_eval import (
    AlertRecord, DueEvent, DueRules, EvalConfig, PoseErrorModel, ar1_noise, binomial_lower, collect_alerts,
    due_events, evaluate, gate_mask, match_events, monitor_input, normal_driving_config, poisson_upper, run_monitor,
    scripted_long_distraction,
)
from runtime.attention import LONG_DISTRACTION, VATS, AttentionMonitor, alerts
from runtime.attention_config import AttentionConfig, ZoneConfig, eu_addw, openpilot
from runtime.zones import relative_pose
from synth.track import ATTENTION_TARGETS, MotionTrack
from tests.runtime.timeline import LAP, ROAD, WARMUP, Seg, timeline

FPS = 30.0
EU = DueRules()  # Euro NCAP numbers: 3 s, 10 s in 30 s, 2 s reset, 20 km/h gate


def labels(segments: Sequence[tuple[float, str]], fps: float = FPS) -> np.ndarray:
    out: list[int] = []
    for seconds, name in segments:
        out += [ATTENTION_TARGETS.index(name)] * int(round(seconds * fps))
    return np.asarray(out, dtype=np.int8)


def dues(segments: Sequence[tuple[float, str]], speed: float | np.ndarray = 80.0, rules: DueRules = EU,
         fps: float = FPS) -> list[tuple[str, float]]:
    target = labels(segments, fps)
    v = np.full(len(target), speed) if np.isscalar(speed) else np.asarray(speed)
    return [(d.kind, round(d.t, 6)) for d in due_events(target, v, fps, rules)]


# ------------------------------------------------------------------ matching and metrics


def _due(t: float, kind: str = LONG_DISTRACTION) -> DueEvent:
    return DueEvent(kind, t, t - 3.0, "phone")


def _alert(t: float, end: float | None = None, i: int = 1, kind: str = LONG_DISTRACTION) -> AlertRecord:
    return AlertRecord(i, kind, t, t - 3.0, end)


def test_alert_0_1s_after_due_matches_with_latency_0_1() -> None:
    m = match_events([_due(15.0)], [_alert(15.1, 17.0)])
    assert [(i, j) for i, j, _ in m.pairs] == [(0, 0)]
    assert m.pairs[0][2] == pytest.approx(0.1)
    assert (m.covered, m.missed, m.false_alerts) == ([], [], [])


def test_alert_without_due_is_false_and_due_without_alert_is_missed() -> None:
    # due at 15.0; alerts at 40.0 (25 s away: no due near it) -> one miss, one false alert
    m = match_events([_due(15.0)], [_alert(40.0, 41.0)])
    assert (m.pairs, m.missed, m.false_alerts) == ([], [0], [0])
    # no alerts at all: a miss; no dues at all: a false alert
    assert match_events([_due(15.0)], []).missed == [0]
    assert match_events([], [_alert(5.0)]).false_alerts == [0]


def test_window_edges_early_1s_late_2s() -> None:
    # window [due - 1.0, due + 2.0]: 14.0 and 17.0 are in, 13.9 and 17.1 out
    for t, inside in ((14.0, True), (17.0, True), (13.9, False), (17.1, False)):
        m = match_events([_due(15.0)], [_alert(t, t + 1.0)])
        assert (len(m.pairs) == 1) is inside, t
        if inside:
            assert m.pairs[0][2] == pytest.approx(t - 15.0)   # early alerts have negative latency


def test_vats_window_is_wider() -> None:
    # a VATS warning 2.0 s before its due time (the head stayed away longer than the eyes
    # over six glances) still belongs to it: window [-2.5, +2.5]; a long distraction's
    # window is [-1, +2], so the same offset there is a miss and a false alert
    m = match_events([_due(30.0, VATS)], [_alert(28.0, 35.0, kind=VATS)])
    assert [round(lat, 6) for _, _, lat in m.pairs] == [-2.0]
    m = match_events([_due(30.0)], [_alert(28.0, 35.0)])
    assert (m.pairs, m.missed, m.false_alerts) == ([], [0], [0])


def test_closest_pairs_first_one_to_one() -> None:
    # dues at 10.0 and 11.0, alerts at 10.95 and 11.1. Closest pair first: (due 11.0, alert
    # 10.95) at |-0.05|; then alert 11.1 is 1.1 s after due 10.0 (inside its 2 s window).
    m = match_events([_due(10.0), _due(11.0)], [_alert(10.95, 12.0, 1), _alert(11.1, 12.0, 2)])
    assert sorted((i, j, round(lat, 6)) for i, j, lat in m.pairs) == [(0, 1, 1.1), (1, 0, -0.05)]
    assert m.missed == [] and m.false_alerts == []
    # one alert for two dues 5 s apart: the nearer due gets it, the other is missed
    m = match_events([_due(10.0), _due(15.0)], [_alert(15.05, 15.5)])
    assert [(i, j) for i, j, _ in m.pairs] == [(1, 0)] and m.missed == [0]


def test_due_inside_an_open_matched_alert_is_covered() -> None:
    # A VATS alert warns at 20.0 (matched to its due at 20.0) and stays open until 30.0; a
    # long distraction becomes due at 23.5 inside it: covered, not missed, no latency.
    m = match_events([_due(20.0, VATS), _due(23.5)], [_alert(20.0, 30.0, kind=VATS)])
    assert [(i, j) for i, j, _ in m.pairs] == [(0, 0)]
    assert (m.covered, m.missed, m.false_alerts) == ([1], [], [])
    # ... but an alert that closed before the due does not cover it
    m = match_events([_due(20.0, VATS), _due(23.5)], [_alert(20.0, 22.0, kind=VATS)])
    assert m.missed == [1]


def test_poisson_and_binomial_bounds() -> None:
    # no events: -ln(0.05) = 2.9957; one event: 4.7439 (chi2(0.95, 4) / 2)
    assert poisson_upper(0) == pytest.approx(-math.log(0.05), abs=1e-6)
    assert poisson_upper(1) == pytest.approx(4.7439, abs=1e-3)
    assert poisson_upper(10) == pytest.approx(16.9622, abs=1e-3)      # chi2(0.95, 22) / 2
    # all n of n: 0.05 ** (1 / n); 300 of 300 demonstrates 0.99
    assert binomial_lower(300, 300) == pytest.approx(0.05 ** (1 / 300), abs=1e-9)
    assert binomial_lower(300, 300) >= 0.99 > binomial_lower(299, 300)
    assert binomial_lower(290, 300) == pytest.approx(0.94412, abs=1e-5)  # beta(0.05; 290, 11)
    assert binomial_lower(0, 10) == 0.0
    # 1 of 1: 0.05
    assert binomial_lower(1, 1) == pytest.approx(0.05, abs=1e-9)


# ------------------------------------------------------------------ due events from labels


def test_long_distraction_exactly_3_0s_is_due_2_97s_is_not() -> None:
    # road 20 s, phone 3.0 s (90 frames, 20.0 .. 23.0) -> due at 20.0 + 3.0 = 23.0, the
    # glance's last instant (>= 3.0 s)
    assert dues([(20.0, "road"), (3.0, "phone"), (5.0, "road")]) == [(LONG_DISTRACTION, 23.0)]
    # 89 frames = 2.967 s: not due
    assert dues([(20.0, "road"), (89 / FPS, "phone"), (5.0, "road")]) == []
    # 8 s: one due, at start + 3.0
    assert dues([(20.0, "road"), (8.0, "phone"), (5.0, "road")]) == [(LONG_DISTRACTION, 23.0)]


def test_adjacent_off_road_labels_are_one_glance_a_road_return_splits_it() -> None:
    # mirror 1.0 s straight into the phone 2.5 s: 3.5 s off road from 20.0 -> due at 23.0
    assert dues([(20.0, "road"), (1.0, "left_mirror"), (2.5, "phone"), (5.0, "road")]) == [(LONG_DISTRACTION, 23.0)]
    # 2.0 s phone, 0.5 s road, 2.0 s phone: two glances, neither 3 s
    assert dues([(20.0, "road"), (2.0, "phone"), (0.5, "road"), (2.0, "phone"), (5.0, "road")]) == []


def test_driving_related_glances_follow_the_profile() -> None:
    # a 3.5 s stare into the mirror is 3.5 s away from the forward road (default) ...
    assert dues([(20.0, "road"), (3.5, "left_mirror"), (5.0, "road")]) == [(LONG_DISTRACTION, 23.0)]
    # ... but attentive under the looser reading (driving_related_counts_off_road=False)
    loose = DueRules.from_config(AttentionConfig(zones=ZoneConfig(driving_related_counts_off_road=False)))
    assert dues([(20.0, "road"), (3.5, "left_mirror"), (5.0, "road")], rules=loose) == []
    assert dues([(20.0, "road"), (1.0, "left_mirror"), (2.5, "phone"), (5.0, "road")], rules=loose) == []


def test_speed_gate_delays_and_blocks_the_clock() -> None:
    # 10 km/h until 21.0 s, then 80 km/h. Phone from 20.0 to 26.0: the gate opens at 21.0
    # (first frame >= 20 km/h), so the clock starts then -> due 24.0, not 23.0.
    n = int(32 * FPS)
    speed = np.where(np.arange(n) / FPS < 21.0 - 1e-9, 10.0, 80.0)
    assert dues([(20.0, "road"), (6.0, "phone"), (6.0, "road")], speed=speed) == [(LONG_DISTRACTION, 24.0)]
    # parked all along: nothing is due
    assert dues([(20.0, "road"), (6.0, "phone"), (6.0, "road")], speed=5.0) == []


def test_gate_hysteresis() -> None:
    # opens at >= 20, stays open at 19 (>= 18), closes below 18, reopens only at >= 20
    v = np.array([0, 19, 20, 19, 18, 17.9, 19, 20, 25])
    assert gate_mask(v, 20.0, 2.0).tolist() == [False, False, True, True, True, False, False, True, True]


def test_eu_addw_threshold_depends_on_speed() -> None:
    rules = DueRules.from_config(eu_addw())
    # 40 km/h: 6 s -> a 5 s glance is not due, a 7 s one is due at start + 6.0
    assert dues([(20.0, "road"), (5.0, "phone"), (5.0, "road")], speed=40.0, rules=rules) == []
    assert dues([(20.0, "road"), (7.0, "phone"), (5.0, "road")], speed=40.0, rules=rules) == [(LONG_DISTRACTION, 26.0)]
    # 60 km/h: 3.5 s -> due at 23.5
    assert dues([(20.0, "road"), (5.0, "phone"), (5.0, "road")], speed=60.0, rules=rules) == [(LONG_DISTRACTION, 23.5)]


def _vats_segments(gap: float, glances: int = 6, glance: float = 1.8) -> list[tuple[float, str]]:
    segs: list[tuple[float, str]] = [(30.0, "road")]
    for i in range(glances):
        segs.append((glance, "infotainment"))
        segs.append((gap if i < glances - 1 else 10.0, "road"))
    return segs


def test_vats_six_1_8s_glances_due_1_0s_into_the_sixth() -> None:
    # glances at 30.0, 32.6, 35.2, 37.8, 40.4, 43.0 (1.8 s each, 0.8 s gaps): five make
    # 9.0 s, the sixth reaches 10 s 1.0 s in -> due at 44.0 (synth.motion.demo_script)
    assert dues(_vats_segments(0.8)) == [(VATS, 44.0)]
    # gaps of 1.9 s (< 2 s) never reset: 43.0 + 5 x 0.1 = 44.5 ... start of the sixth glance
    # is 30 + 5 x (1.8 + 1.9) = 48.5, due 1.0 s in = 49.5; the window (19.5 .. 49.5] still
    # holds every glance
    assert dues(_vats_segments(1.9)) == [(VATS, 49.5)]
    # a 2.0 s return resets the accumulation: nothing
    assert dues(_vats_segments(2.0)) == []
    # five glances only: 9.0 s, not due
    assert dues(_vats_segments(0.8, glances=5)) == []


def test_vats_window_slides() -> None:
    # Two 2.5 s phone glances (30.0-32.5, 34.0-36.5; 1.5 s gaps), then 1.0 s glances every
    # 2.5 s from 38.0: 5.0 s + 4 x 1.0 by 46.5, the fifth short glance (48.0) reaches 10 s
    # 1.0 s in -> due 49.0; the window (19.0, 49.0] holds everything.
    segs: list[tuple[float, str]] = [(30.0, "road"), (2.5, "phone"), (1.5, "road"), (2.5, "phone"), (1.5, "road")]
    for _ in range(5):
        segs += [(1.0, "infotainment"), (1.5, "road")]
    segs.append((5.0, "road"))
    assert dues(segs) == [(VATS, 49.0)]
    # 0.9 s glances every 2.8 s (1.9 s gaps never reset): since the first glance 14 x 0.9 =
    # 12.6 s add up, but a 30 s window never holds more than 11 of them (9.9 s): not due.
    segs = [(30.0, "road")]
    for _ in range(14):
        segs += [(0.9, "infotainment"), (1.9, "road")]
    segs.append((5.0, "road"))
    assert dues(segs) == []


def test_one_glance_one_alert_long_distraction_restarts_vats() -> None:
    # 4 short glances (4 x 1.8 = 7.2 s, 0.8 s gaps) then a 4 s phone glance. The long
    # distraction is due 3.0 s into it (VATS would have been due 2.8 s into it: 7.2 + 2.8 =
    # 10.0 -> it comes first!). Glances at 30.0, 32.6, 35.2, 37.8; phone at 40.4 -> VATS due
    # at 43.2, LD due at 43.4 (inside the running VATS episode, still a due event).
    segs = _vats_segments(0.8, glances=4)[:-1] + [(0.8, "road"), (4.0, "phone"), (10.0, "road")]
    assert dues(segs) == [(VATS, 43.2), (LONG_DISTRACTION, 43.4)]
    # 3 short glances (5.4 s) then the phone: LD due at 3.0 s in (5.4 + 3.0 = 8.4 < 10), and
    # VATS restarts there: three more short glances after it (5.4 s) are not due.
    segs = _vats_segments(0.8, glances=3)[:-1] + [(0.8, "road"), (4.0, "phone")]
    segs += [(0.8, "road"), (1.8, "infotainment"), (0.8, "road"), (1.8, "infotainment"), (0.8, "road"),
             (1.8, "infotainment"), (10.0, "road")]
    assert dues(segs) == [(LONG_DISTRACTION, 37.8 + 3.0)]


# ------------------------------------------------------------------ alerts from the monitor


def test_collect_alerts_takes_the_warning_time() -> None:
    # timeline.py: 12 s road, lap 12.0-16.0 -> warning at 15.0, ends with end_t 16.0
    out = AttentionMonitor().run(timeline([WARMUP, Seg(4.0, LAP), Seg(10.0, ROAD)]))
    recs, pre, other = collect_alerts(alerts(out))
    assert [(r.kind, r.t, r.start_t, r.end_t) for r in recs] == [(LONG_DISTRACTION, 15.0, 12.0, 16.0)]
    assert (pre, other) == (0, {})
    # openpilot: pre-warning at 3 s, warning at 5 s. A 4 s glance is pre-warning only (not an
    # alert, not a false one); a 6 s glance warns at 12.0 + 5.0 = 17.0.
    out = AttentionMonitor(openpilot()).run(timeline([Seg(62.0, ROAD), Seg(4.0, LAP), Seg(10.0, ROAD)]))
    assert collect_alerts(alerts(out))[:2] == ([], 1)
    out = AttentionMonitor(openpilot()).run(timeline([Seg(62.0, ROAD), Seg(6.0, LAP), Seg(10.0, ROAD)]))
    recs, pre, _ = collect_alerts(alerts(out))
    assert [(r.t, r.start_t) for r in recs] == [(67.0, 62.0)] and pre == 0


def _step_track(segments: Sequence[tuple[float, str]], fps: float, poses: dict[str, tuple[float, float, float]],
                speed: float = 80.0) -> MotionTrack:
    target = labels(segments, fps)
    n = len(target)
    pose = np.asarray([poses[ATTENTION_TARGETS[k]] for k in target], dtype=np.float32)
    z = np.zeros(n, dtype=np.float32)
    return MotionTrack(fps, pose, pose[:, :2].copy(), target, z, z, np.zeros(n, dtype=np.int8),
                       np.full(n, speed, dtype=np.float32))


def test_step_poses_give_zero_latency_against_the_labels() -> None:
    # Head pose that jumps with the label (20 fps): the monitor's warning lands exactly on
    # the label-derived due time, for a long distraction and for a VATS build-up.
    poses = {"road": ROAD, "phone": LAP, "infotainment": (-25.0, 30.0, 0.0)}
    segs = [(12.0, "road"), (4.0, "phone"), (5.0, "road")] + _vats_segments(0.8)[1:]
    track = _step_track(segs, 20.0, poses)
    gt = due_events(track.target, track.speed_kmh, track.fps, DueRules())
    # phone 12.0-16.0 -> 15.0; VATS glances from 21.0: 21.0 + 4 x 2.6 + 1.0 = 35.0 + ... see
    # test_vats_six...: first glance at 21.0 -> due 21.0 + 14.0 = 35.0
    assert [(d.kind, round(d.t, 6)) for d in gt] == [(LONG_DISTRACTION, 15.0), (VATS, 35.0)]
    run = run_monitor(AttentionConfig(), track, monitor_input(track, PoseErrorModel.exact(),
                                                              np.random.default_rng(0)))
    m = match_events(gt, run.alerts)
    assert [round(lat, 6) for _, _, lat in m.pairs] == [0.0, 0.0]
    assert m.missed == [] and m.false_alerts == []


def test_false_alert_from_a_glance_continued_behind_a_hand_is_put_down_to_face_loss() -> None:
    # A 1 s mirror glance from 12.0, then a hand over the face 13.0-17.0 (the driver is back on
    # the road, unseen). The head pose jumps with the label, so the face was last seen at the
    # mirror (yaw -40: 17 deg beyond the cone, "far"), and the monitor continues a glance it
    # cannot see: warning at 15.0 with no due event -> a false alert; 2.0 s of it without a
    # face -> cause "face_lost". (A face lost nearer the cone ends the glance instead:
    # test_attention_distraction.py.)
    from runtime.alert_eval import Drive, EvalConfig, evaluate_drive, summarize
    segs = [(12.0, "road"), (1.0, "left_mirror"), (7.0, "road")]
    track = _step_track(segs, 20.0, {"road": ROAD, "left_mirror": (-5.0, -40.0, 0.0)})
    track.occluder[260:340] = 1                          # "hand", frames 13.0 .. 16.95
    model = PoseErrorModel(noise_deg=0.0, bias_sd_deg=0.0, mount_scatter=False, face_lost_beyond_deg=None)
    drive = Drive("normal", 0, 0, track, (0.0, 0.0, 0.0), "test")
    r = evaluate_drive(drive, model, AttentionConfig(), DueRules(), EvalConfig())
    assert r.dues == [] and [(a.kind, a.t) for a in r.run.alerts] == [(LONG_DISTRACTION, 15.0)]
    s = summarize([r], DueRules())
    assert s["false_alerts"] == 1 and s["false_alert_causes"] == {"near_threshold": 0, "face_lost": 1, "other": 0}
    assert s["false_alert_list"][0]["no_face_s"] == 2.0


# ------------------------------------------------------------------ pose input


def test_ar1_noise_has_unit_std_and_the_given_correlation() -> None:
    x = ar1_noise(np.random.default_rng(1), 200_000, 30.0, 0.3)
    assert x.shape == (200_000, 3)
    assert np.allclose(x.std(axis=0), 1.0, atol=0.03)
    lag1 = np.mean([np.corrcoef(x[:-1, j], x[1:, j])[0, 1] for j in range(3)])
    assert lag1 == pytest.approx(math.exp(-1.0 / 9.0), abs=0.01)


def test_noiseless_camera_pose_relative_to_the_prior_is_the_vehicle_pose() -> None:
    # With no error and the nominal mount, the camera-relative pose seen from the prior
    # (the mount's neutral) is exactly the vehicle pose: the composition is a rotation.
    track = scripted_long_distraction(0, 0).track
    model = PoseErrorModel(noise_deg=0.0, bias_sd_deg=0.0, mount_scatter=False, face_lost_beyond_deg=None)
    inp = monitor_input(track, model, np.random.default_rng(0))
    for k in range(0, len(track), 97):
        p, y, r = (float(v) for v in inp.poses[k])
        rel = relative_pose((p, y, r), inp.prior)
        assert np.allclose(rel, track.pose_vehicle[k], atol=1e-3)
    # the perfect model is the vehicle pose itself, prior zero
    perfect = monitor_input(track, PoseErrorModel.exact(), np.random.default_rng(0))
    assert perfect.prior == (0.0, 0.0, 0.0) and np.array_equal(perfect.poses, track.pose_vehicle.astype(np.float64))


def test_normal_driving_has_no_off_road_run_of_3s() -> None:
    from runtime.alert_eval import normal_drive
    from synth.motion import label_runs
    runs = [(b - a) / 30.0 for i in range(3) for a, b, name in label_runs(normal_drive(0, i, 300.0).track)
            if name != "road"]
    assert len(runs) > 30 and max(runs) <= 2.5 + 1e-9
    assert normal_driving_config().timings["phone"].p_long == 0.0


# ------------------------------------------------------------------ end to end


def test_evaluate_alerts_end_to_end(tmp_path: Path) -> None:
    from runtime import alert_eval_cli

    parser = argparse.ArgumentParser()
    alert_eval_cli.add_arguments(parser)
    args = parser.parse_args(["--hours", "0.04", "--random-hours", "0.04", "--scripted", "10", "--track-s", "150",
                              "--out", str(tmp_path), "--quiet", "--seed", "3"])
    assert alert_eval_cli.run(args) == 0
    for name in ("alert_eval.md", "alert_eval.json", "alert_eval.png"):
        assert (tmp_path / name).stat().st_size > 0
    report = json.loads((tmp_path / "alert_eval.json").read_text())
    owl = report["sets"]["scripted_owl"]["perfect"]
    # every scripted long distraction is one due event, and with perfect pose each is found
    assert owl["due"] == 10 and owl["due_by_kind"] == {LONG_DISTRACTION: {"due": 10, "found": 10}}
    assert owl["recall"] == 1.0 and owl["false_alerts"] == 0
    assert all(-1.0 <= lat <= 2.0 for lat in owl["latencies"])
    assert set(report["sets"]) == {"scripted_owl", "scripted_lizard", "scripted_vats", "normal", "random"}
    assert {v["condition"] for v in report["verdicts"]} == {"perfect", "noisy"}
    md = (tmp_path / "alert_eval.md").read_text()
    assert "| perfect | recall, scripted long distractions |" in md
    assert report["command"].startswith("dms evaluate-alerts --hours 0.04")


def test_config_sizes_follow_the_hours() -> None:
    plan = dict(EvalConfig(normal_hours=1.0, random_hours=0.5, scripted=30, track_s=600.0).drive_plan())
    assert plan == {"scripted_owl": 30, "scripted_lizard": 30, "scripted_vats": 10, "normal": 6, "random": 3}
    # a report over nothing writes nothing and fails no target it did not measure
    rep = evaluate(EvalConfig(normal_hours=0, random_hours=0, scripted=0), None, progress=False)
    assert rep.verdicts == [] and rep.summary == {}
