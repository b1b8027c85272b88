import numpy as np

from calibration.sources import (PITCH_EDGES_DEG, YAW_EDGES_DEG, SynthSource, bin_labels, pose_bins,
                                 stratified_pick)
from calibration.runner import StepSession
from dms.manifest import load_manifest


def test_rare_strata_are_taken_first():
    keys = [("common",)] * 100 + [("rare",)] * 3 + [("single",)]
    picked = stratified_pick(keys, 10, seed=0)
    chosen = [keys[i][0] for i in picked]
    assert len(picked) == 10 and len(set(picked.tolist())) == 10
    assert chosen.count("single") == 1 and chosen.count("rare") == 3 and chosen.count("common") == 6


def test_pick_is_deterministic_and_seeded():
    keys = [(i % 7, i % 3) for i in range(500)]
    a, b = stratified_pick(keys, 50, seed=1), stratified_pick(keys, 50, seed=1)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, stratified_pick(keys, 50, seed=2))
    counts = np.bincount([keys[i][0] * 3 + keys[i][1] for i in a], minlength=21)
    assert counts.max() - counts.min() <= 1          # even over the 21 strata
    assert len(stratified_pick(keys, 10_000, seed=0)) == 500


def test_pose_bins_follow_the_alert_thresholds():
    pose = np.array([[0.0, 0.0, 0.0], [0.0, 22.9, 0.0], [0.0, 23.0, 0.0], [-18.0, -70.0, 0.0]])
    yaw, pitch = pose_bins(pose, YAW_EDGES_DEG, PITCH_EDGES_DEG)
    labels_y, labels_p = bin_labels(YAW_EDGES_DEG), bin_labels(PITCH_EDGES_DEG)
    assert [labels_y[i] for i in yaw] == ["[-10, 10)", "[10, 23)", "[23, 60)", "< -60"]
    assert labels_p[pitch[3]] == "[-18, -5)"


def test_states_are_the_fp32_models_real_states(tiny_model_dir, tiny_synth):
    """Each calibration frame's state is what the FP32 graph produces over the frames before
    it from a zero start, and clearly not zero. Checked against one run over the whole track:
    frames within the warm-up of the track's start see exactly its state; later ones a state
    whose zero start has decayed away (the recurrent weights contract)."""
    from calibration.preprocess import PreprocessSpec
    from calibration.sources import SelectionConfig

    manifest = load_manifest(tiny_model_dir)
    spec = PreprocessSpec.from_manifest(manifest.preprocess)
    session = StepSession(tiny_model_dir / "step.onnx", manifest)
    src = SynthSource(tiny_synth, "train")
    warmup = 15
    cal = src.calibration_set(session, spec, SelectionConfig(frames=12, warmup_frames=warmup))
    assert len(cal) == 12 and cal.stratification["frames"] == 12
    for name, st in zip(cal.state_names, cal.states):
        assert st.max() > 0.0, f"{name}: calibration would see a zero state"
    track = src.tracks[0]
    images = src.images(track, 0, src.track_frames(track), spec)
    full = session.run_sequence(images, record_states=True).states_in
    for k, (_, pos) in enumerate(cal.frames):
        assert np.array_equal(images[pos], cal.images[k])
        for st, ref in zip(cal.states, full):
            np.testing.assert_allclose(st[k], ref[pos], atol=1e-6 if pos <= warmup else 1e-3)
