"""Motion tracks: deterministic, smooth at human speeds, labelled consistently with the
pose, exact scripted glances, full pose-range coverage, plausible speed, fast."""

from __future__ import annotations

import time
from functools import lru_cache

import numpy as np
import pytest

from synth.motion import (
    MotionConfig,
    ScriptedBehaviour,
    SubjectStyle,
    demo_script,
    eye_in_head,
    generate_track,
    label_runs,
    off_road_intervals,
    scripted_track,
    subject_styles,
    vats_buildup,
)
from synth.motion_plot import plot_track
from synth.track import ATTENTION_TARGETS, DRIVING_RELATED_TARGETS, OCCLUDERS, MotionTrack

FPS = 30.0
CFG = MotionConfig()


@lru_cache(maxsize=None)
def corpus() -> tuple[MotionTrack, ...]:
    """20 tracks x 120 s, seeds 0..19 (the brief's coverage set), generated once."""
    return tuple(generate_track(seed, 120.0) for seed in range(20))


def names(track: MotionTrack) -> np.ndarray:
    return np.asarray(track.target_names())


# ---- determinism ------------------------------------------------------------------------


def _same(a: MotionTrack, b: MotionTrack) -> bool:
    arrays = ("pose_vehicle", "gaze_vehicle", "target", "mouth_open", "eye_closure", "occluder", "speed_kmh")
    return all(np.array_equal(getattr(a, k), getattr(b, k)) for k in arrays) and a.events == b.events


def test_same_seed_same_track() -> None:
    assert _same(generate_track(7, 60.0), generate_track(7, 60.0))
    style = subject_styles(3, seed=1)[2]
    assert _same(generate_track(7, 60.0, subject_style=style), generate_track(7, 60.0, subject_style=style))


def test_different_seeds_differ() -> None:
    a, b = generate_track(1, 60.0), generate_track(2, 60.0)
    assert not np.allclose(a.pose_vehicle, b.pose_vehicle)
    assert [(e.kind, e.start) for e in a.events] != [(e.kind, e.start) for e in b.events]


def test_subject_styles_differ_and_owls_turn_their_heads_more() -> None:
    styles = subject_styles(10, seed=0)
    assert len({s.head_gain for s in styles}) == 10
    assert styles == subject_styles(10, seed=0)
    script = [ScriptedBehaviour("mirror_check", 2.0, 1.5, "left_mirror")]
    owl = scripted_track(script, subject_style=SubjectStyle.owl(), natural_motion=False)
    lizard = scripted_track(script, subject_style=SubjectStyle.lizard(), natural_motion=False)
    settled = slice(int(3.0 * FPS), int(3.4 * FPS))
    assert owl.pose_vehicle[settled, 1].mean() < -30.0          # head points at the mirror
    assert lizard.pose_vehicle[settled, 1].mean() > -12.0       # eyes do the work
    # ... while the gaze lands on the mirror either way.
    for tr in (owl, lizard):
        assert tr.gaze_vehicle[settled, 1].mean() == pytest.approx(-36.1, abs=1.0)


# ---- contract -----------------------------------------------------------------------------


def test_arrays_follow_the_track_contract() -> None:
    tr = generate_track(3, 90.0)
    n = int(90.0 * FPS)
    assert len(tr) == n and tr.fps == FPS
    assert tr.pose_vehicle.shape == (n, 3) and tr.pose_vehicle.dtype == np.float32
    assert tr.gaze_vehicle.shape == (n, 2) and tr.gaze_vehicle.dtype == np.float32
    assert tr.target.dtype == np.int8 and tr.occluder.dtype == np.int8
    assert 0 <= tr.target.min() and tr.target.max() < len(ATTENTION_TARGETS)
    assert 0 <= tr.occluder.min() and tr.occluder.max() < len(OCCLUDERS)
    for arr in (tr.eye_closure, tr.mouth_open):
        assert arr.dtype == np.float32 and 0.0 <= arr.min() and arr.max() <= 1.0
    assert all(0 <= e.start < e.end <= n for e in tr.events)


# ---- smoothness and human speeds -------------------------------------------------------


def test_motion_is_smooth_and_within_human_speed_limits() -> None:
    vmax = CFG.head_peak_velocity_limit_deg_s
    for tr in corpus():
        pose = tr.pose_vehicle.astype(np.float64)
        step = np.abs(np.diff(pose, axis=0)).max()
        assert step <= vmax / FPS, f"a {step:.1f} deg jump between frames"
        vel = np.gradient(pose, axis=0) * FPS
        assert np.linalg.norm(vel, axis=1).max() <= vmax
        # Continuous velocity: the per-frame change of velocity stays at human accelerations
        # (the planned cap, with room for sway and superposed steps).
        acc = np.abs(np.diff(vel, axis=0)).max() * FPS
        assert acc <= 1.5 * CFG.head_peak_accel_limit_deg_s2


def test_large_turns_have_realistic_peak_speeds() -> None:
    peaks = []
    for tr in corpus():
        vel = np.linalg.norm(np.gradient(tr.pose_vehicle.astype(np.float64), axis=0) * FPS, axis=1)
        for e in tr.events:
            if e.kind == "shoulder_check":
                peaks.append(vel[max(e.start - 15, 0):e.start + 15].max())
    assert len(peaks) >= 5
    assert 100.0 <= min(peaks) and max(peaks) <= 400.0   # Zangemeister et al. 1981; the brief


def test_road_fixations_have_small_slow_sway() -> None:
    tr = scripted_track([], duration_s=120.0, seed=3)
    pose = tr.pose_vehicle.astype(np.float64)
    spread = pose.std(axis=0)
    assert np.all(spread > 0.3) and np.all(spread < 3.0)
    assert np.abs(np.gradient(pose, axis=0) * FPS).max() < 20.0   # slow: no fast moves on the road


# ---- labels ------------------------------------------------------------------------------

GAZE_RULES = {  # what the gaze must show on a labelled frame (after the switching frame)
    "left_mirror": lambda g: g[:, 1] < -15.0,
    "left_shoulder": lambda g: g[:, 1] < -15.0,
    "right_mirror": lambda g: g[:, 1] > 15.0,
    "right_shoulder": lambda g: g[:, 1] > 15.0,
    "passenger": lambda g: g[:, 1] > 15.0,
    "rear_mirror": lambda g: (g[:, 1] > 8.0) & (g[:, 0] > 0.0),
    "cluster": lambda g: g[:, 0] < -8.0,
    "infotainment": lambda g: (g[:, 0] < -8.0) & (g[:, 1] > 8.0),
    "phone": lambda g: g[:, 0] < -20.0,
}
HEAD_RULES = {  # where the head is once settled (>= 0.5 s into the glance)
    "left_mirror": lambda p: p[:, 1] < -5.0,
    "left_shoulder": lambda p: p[:, 1] < -40.0,
    "right_mirror": lambda p: p[:, 1] > 10.0,
    "right_shoulder": lambda p: p[:, 1] > 40.0,
    "passenger": lambda p: p[:, 1] > 15.0,
    "phone": lambda p: p[:, 0] < -20.0,
}


def test_labels_are_consistent_with_gaze_and_head() -> None:
    checked: dict[str, int] = {}
    for tr in corpus():
        g, p = tr.gaze_vehicle, tr.pose_vehicle
        for a, b, name in label_runs(tr):
            if name in GAZE_RULES and b - a > 2:
                inner = slice(a + 1, b - 1)
                assert GAZE_RULES[name](g[inner]).all(), (name, a, b)
                checked[name] = checked.get(name, 0) + 1
            settle = a + int(0.5 * FPS)
            if name in HEAD_RULES and b - 2 > settle:
                assert HEAD_RULES[name](p[settle:b - 2]).all(), (name, a, b, p[settle:b - 2])
            if name == "eyes_closed" and b - a > 12:
                assert tr.eye_closure[a + 6:b - 6].min() > 0.9
            if name == "road" and b - a > 2 * int(0.6 * FPS):
                calm = slice(a + int(0.6 * FPS), b - int(0.6 * FPS))
                assert np.abs(g[calm, 1]).max() < 15.0 and np.abs(g[calm, 0]).max() < 12.0, (a, b)
    assert {"left_mirror", "rear_mirror", "cluster", "infotainment", "phone"} <= set(checked)


def test_phone_frames_look_well_below_and_mirror_frames_well_left() -> None:
    tr_names = [names(tr) for tr in corpus()]
    pose = np.concatenate([tr.pose_vehicle for tr in corpus()])
    labels = np.concatenate(tr_names)
    assert np.median(pose[labels == "phone", 0]) < -30.0
    assert np.median(pose[labels == "left_mirror", 1]) < -15.0
    assert np.median(pose[labels == "left_shoulder", 1]) < -60.0
    assert np.abs(np.median(pose[labels == "road"], axis=0)).max() < 3.0


def test_every_off_road_run_is_an_event_with_the_same_frames() -> None:
    for tr in corpus():
        glance_events = {(e.start, e.end, e.target) for e in tr.events if e.target != "road"}
        assert set(off_road_intervals(tr)) == glance_events


def test_eye_in_head_stays_in_the_orbit() -> None:
    for tr in corpus()[:5]:
        eye = eye_in_head(tr)
        assert np.linalg.norm(eye, axis=1).max() <= CFG.eye_range_max_deg + 1e-3


# ---- scripted tracks -------------------------------------------------------------------


def test_scripted_off_road_intervals_are_exact_to_the_frame() -> None:
    script = [
        ScriptedBehaviour("mirror_check", 3.0, 0.9, "left_mirror"),
        ScriptedBehaviour("phone", 12.0, 4.0),
        *vats_buildup(20.0, glances=5, glance_s=1.8, gap_s=0.8),
        ScriptedBehaviour("glance", 37.37, 2.53, "passenger"),
        ScriptedBehaviour("nodding_off", 44.0, 2.5),
    ]
    tr = scripted_track(script, seed=11)
    expected = [(90, 117, "left_mirror"), (360, 480, "phone")]
    expected += [(600 + 78 * i, 654 + 78 * i, "infotainment") for i in range(5)]
    expected += [(round(37.37 * FPS), round(39.9 * FPS), "passenger"), (1320, 1395, "eyes_closed")]
    assert off_road_intervals(tr) == expected
    assert [(e.start, e.end, e.target) for e in tr.events] == expected
    # The long-distraction alert (>= 3 s off road) is due at frame 360 + 90 = 450, inside the phone glance.
    phone = next(e for e in tr.events if e.kind == "phone")
    assert phone.end - phone.start == 4 * FPS and (names(tr)[phone.start:phone.start + 90] == "phone").all()
    assert names(tr)[phone.start - 1] == "road" and names(tr)[phone.end] == "road"
    # Five 1.8 s glances: 9.0 s off road, just under VATS' 10 s; each under 3 s.
    info = [e for e in tr.events if e.kind == "infotainment"]
    assert sum(e.end - e.start for e in info) == 270 and all(e.end - e.start == 54 for e in info)


def test_scripted_glances_switch_labels_at_the_gaze_midpoint() -> None:
    tr = scripted_track([ScriptedBehaviour("phone", 2.0, 4.0)], natural_motion=False, blinks=False)
    pitch = tr.gaze_vehicle[:, 0]
    away = pitch[100]
    assert pitch[60] == pytest.approx(away / 2, abs=0.05)      # label leaves the road here
    assert pitch[180] == pytest.approx(away / 2, abs=0.05)     # and comes back here
    assert pitch[59] > away / 2 > pitch[61]


def test_scripted_behaviours_may_not_overlap() -> None:
    with pytest.raises(ValueError, match="starts before"):
        scripted_track([ScriptedBehaviour("phone", 2.0, 4.0), ScriptedBehaviour("cluster_glance", 5.0, 1.0)])
    with pytest.raises(ValueError, match="needs a target"):
        scripted_track([ScriptedBehaviour("glance", 2.0, 1.0)])
    # Overlays may overlap anything.
    tr = scripted_track([ScriptedBehaviour("phone", 2.0, 4.0), ScriptedBehaviour("talking", 1.0, 8.0),
                         ScriptedBehaviour("occlusion", 3.0, 3.0, "hand")])
    assert (tr.occluder[90:180] == OCCLUDERS.index("hand")).all() and tr.occluder[180] == 0


def test_demo_script() -> None:
    tr = scripted_track(demo_script(), subject_style=SubjectStyle.owl())
    assert 60.0 <= len(tr) / FPS <= 90.0
    kinds = [e.kind for e in tr.events]
    assert kinds.count("mirror_check") >= 3 and "shoulder_check" in kinds
    phone = [e for e in tr.events if e.kind == "phone"]
    assert len(phone) == 1 and phone[0].end - phone[0].start == 4 * FPS
    # Every other distraction glance stays under the 3 s long-distraction limit ...
    long = [(a, b, n) for a, b, n in off_road_intervals(tr) if b - a >= 3 * FPS]
    assert long == [(phone[0].start, phone[0].end, "phone")]
    # ... while the VATS build-up exceeds 10 s off road within 30 s, without a 2 s road gap.
    info = [(e.start, e.end) for e in tr.events if e.kind == "infotainment"]
    assert sum(b - a for a, b in info) >= 10 * FPS and info[-1][1] - info[0][0] <= 30 * FPS
    assert all(b2 - a1 < 2 * FPS for (_, a1), (b2, _) in zip(info, info[1:]))
    occ = [e for e in tr.events if e.kind == "occlusion"]
    assert len(occ) == 1 and (tr.occluder[occ[0].start:occ[0].end] == OCCLUDERS.index("hand")).all()
    assert occ[0].end - occ[0].start == 3 * FPS
    # Mirror and shoulder checks are driving related (must not alert).
    for e in tr.events:
        if e.kind in ("mirror_check", "shoulder_check", "cluster_glance"):
            assert e.target in DRIVING_RELATED_TARGETS


def test_right_hand_drive_is_the_mirror_image() -> None:
    lhd = generate_track(4, 60.0)
    rhd = generate_track(4, 60.0, config=MotionConfig(right_hand_drive=True))
    np.testing.assert_array_equal(rhd.pose_vehicle[:, 0], lhd.pose_vehicle[:, 0])
    np.testing.assert_array_equal(rhd.pose_vehicle[:, 1:], -lhd.pose_vehicle[:, 1:])
    swapped = [n.replace("left_", "R").replace("right_", "left_").replace("R", "right_") for n in lhd.target_names()]
    assert rhd.target_names() == swapped
    # A scripted "left_mirror" in a right-hand-drive car is the far mirror, to the left.
    tr = scripted_track([ScriptedBehaviour("mirror_check", 2.0, 1.5, "left_mirror")],
                        config=MotionConfig(right_hand_drive=True), natural_motion=False)
    assert names(tr)[80] == "left_mirror" and tr.gaze_vehicle[80, 1] < -50.0


# ---- coverage ----------------------------------------------------------------------------


def test_pose_range_coverage_over_twenty_tracks() -> None:
    pose = np.concatenate([tr.pose_vehicle for tr in corpus()])
    assert np.abs(pose[:, 1]).max() >= 80.0
    assert pose[:, 0].min() <= -50.0
    assert np.abs(pose[:, 2]).max() >= 30.0
    # ... and never beyond the configured limits.
    assert CFG.pitch_limits_deg[0] <= pose[:, 0].min() and pose[:, 0].max() <= CFG.pitch_limits_deg[1]
    assert np.abs(pose[:, 1]).max() <= CFG.yaw_limit_deg and np.abs(pose[:, 2]).max() <= CFG.roll_limit_deg
    labels = set(np.concatenate([names(tr) for tr in corpus()]))
    assert {"road", "left_mirror", "right_mirror", "rear_mirror", "cluster", "infotainment", "phone",
            "left_shoulder"} <= labels


# ---- eyes, mouth, hands, speed -------------------------------------------------------------


def test_blinks_talking_and_occluders_are_plausible() -> None:
    tr = generate_track(5, 240.0, subject_style=SubjectStyle(talkativeness=2.0))
    closed = (tr.eye_closure > 0.5).astype(np.int8)
    blinks_per_min = np.count_nonzero(np.diff(closed) == 1) / 4.0
    assert 6.0 <= blinks_per_min <= 30.0
    talking = np.zeros(len(tr), bool)
    for e in tr.events:
        if e.kind in ("talking", "phone_call"):
            talking[e.start:e.end] = True
    quiet = ~talking
    for e in tr.events:
        if e.kind == "yawn":
            quiet[e.start:e.end + 30] = False
    assert talking.any() and tr.mouth_open[talking].std() > 0.05
    assert tr.mouth_open[quiet].max() < 0.05


def test_speed_is_non_negative_and_plausible() -> None:
    stops = 0
    for tr in corpus():
        v = tr.speed_kmh.astype(np.float64)
        assert v.min() >= 0.0 and v.max() <= 135.0
        accel = np.abs(np.diff(v)) * FPS / 3.6
        assert accel.max() <= CFG.decel_peak_m_s2 + 0.1
        stops += int((v < 1.0).any())
    assert stops >= 1


def test_generation_is_fast() -> None:
    generate_track(0, 10.0)
    best = min(_timed(seed) for seed in (1, 2))
    assert best < 0.5, f"a 4-minute track took {best:.3f} s"


def _timed(seed: int) -> float:
    t = time.perf_counter()
    generate_track(seed, 240.0)
    return time.perf_counter() - t


def test_plot_writes_a_png(tmp_path) -> None:
    out = plot_track(generate_track(0, 30.0), tmp_path / "track.png", title="seed 0")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_wide_yaw_scale_brings_the_profiles_a_training_set_lacks():
    """A drive's large turns are rare (0.06 % of frames beyond |yaw| 60 over these 20
    drives); scaling the shoulder-check and passenger rates multiplies them, and leaves
    the rest of the drive (the median pose) where it was."""
    from synth.motion import MotionConfig, generate_track

    def yaws(scale):
        return np.concatenate([np.abs(generate_track(seed, 40.0, 30.0, MotionConfig(wide_yaw_rate_scale=scale)).pose_vehicle[:, 1])
                               for seed in range(20)])

    base, wide = yaws(1.0), yaws(8.0)
    assert (wide > 60).mean() > 5 * max((base > 60).mean(), 1e-4)
    assert abs(np.median(wide) - np.median(base)) < 1.0
    assert wide.max() <= 90.5                                  # still inside the neck's range
