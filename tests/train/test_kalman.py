"""The Kalman baseline: the fast recursion is filterpy's, the filter is causal, and the
tuner finds a filter that is genuinely good (not a straw man) on a synthetic problem."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from filterpy.common import Q_discrete_white_noise

from train.kalman import (
    DEFAULT_INIT_RATE_STD_DEG_S,
    KalmanConfig,
    grid_corners,
    kalman_mae,
    kalman_rts_smooth,
    kalman_smooth,
    make_filterpy_filter,
    measured_error_variance,
    steady_state_gains,
    tune_kalman,
)
from train.metrics import pose_metrics

FPS = 30.0
NOISE_STD = (2.0, 3.0, 1.5)  # per-frame "CNN" noise, pitch / yaw / roll (deg)
AMPLITUDE = (20.0, 45.0, 12.0)  # move targets drawn in +-amplitude (deg)


def min_jerk_track(rng: np.random.Generator, n: int, fps: float = FPS) -> np.ndarray:
    """Holds and minimum-jerk moves (Flash & Hogan) per angle: head-like, smooth truth."""
    t = np.arange(n) / fps
    out = np.zeros((n, 3))
    for k, amp in enumerate(AMPLITUDE):
        pos, start, y = 0.0, 0.0, np.zeros(n)
        while start < t[-1]:
            hold, dur, target = rng.uniform(0.3, 1.5), rng.uniform(0.3, 1.0), rng.uniform(-amp, amp)
            s = np.clip((t - (start + hold)) / dur, 0.0, 1.0)
            y = np.where(t >= start, pos + (target - pos) * (10 * s**3 - 15 * s**4 + 6 * s**5), y)
            pos, start = target, start + hold + dur
        out[:, k] = y
    return out


def problem(seed: int, n_seq: int = 16, n: int = 240) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(noisy per-frame estimates, truth): white measurement noise over smooth motion."""
    rng = np.random.default_rng(seed)
    truth = [min_jerk_track(rng, n) for _ in range(n_seq)]
    est = [g + rng.normal(size=g.shape) * np.array(NOISE_STD) for g in truth]
    return est, truth


@pytest.fixture(scope="module")
def tuned() -> tuple[KalmanConfig, list, tuple, tuple]:
    val = problem(0)
    test = problem(1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the default grid must bracket this problem
        config, table = tune_kalman(*val, FPS)
    return config, table, val, test


def per_angle_mae(pred, truth) -> np.ndarray:
    m = pose_metrics(pred, truth).mae
    return np.array([m["pitch"], m["yaw"], m["roll"]])


# --- the fast recursion is filterpy's ------------------------------------------------


@pytest.mark.parametrize("fps", [30.0, 25.0])
def test_numpy_recursion_equals_filterpy(fps: float) -> None:
    rng = np.random.default_rng(42)
    seqs = [rng.normal(size=(n, 3)) * 20.0 + rng.normal(size=3) * 30.0 for n in (1, 2, 3, 17, 60, 45)]
    config = KalmanConfig(q=(3.0, 2e3, 7e5), r=(0.5, 4.0, 30.0), init_rate_std=(5.0, 100.0, 400.0))
    fast = kalman_smooth(seqs, fps, config, backend="numpy")
    ref = kalman_smooth(seqs, fps, config, backend="filterpy")
    assert [f.shape for f in fast] == [s.shape for s in seqs]
    for f, r in zip(fast, ref):
        np.testing.assert_allclose(f, r, rtol=0, atol=1e-9)


def test_numpy_equals_filterpy_across_yaw_wrap() -> None:
    """A yaw sweep through +-180 (wrapped input) filters the same way in both backends and
    without a 360-degree swing."""
    rng = np.random.default_rng(7)
    n = 90
    truth = np.zeros((n, 3))
    truth[:, 1] = 150.0 + np.linspace(0.0, 60.0, n)  # 150 .. 210 deg
    est = truth + rng.normal(size=truth.shape)
    est[:, 1] = (est[:, 1] + 180.0) % 360.0 - 180.0  # as a network would report it
    config = KalmanConfig.shared(q=1e4, r=1.0)
    fast = kalman_smooth(est, FPS, config)
    ref = kalman_smooth(est, FPS, config, backend="filterpy")
    np.testing.assert_allclose(fast, ref, rtol=0, atol=1e-9)
    assert np.all((fast[:, 1] > -180.0) & (fast[:, 1] <= 180.0))
    err = pose_metrics([fast], [truth]).mae["yaw"]
    assert err < 2.0


def test_filterpy_reference_is_the_documented_model() -> None:
    kf = make_filterpy_filter(z0=3.0, dt=0.04, q=50.0, r=2.0, init_rate_std=10.0)
    np.testing.assert_array_equal(kf.F, [[1.0, 0.04], [0.0, 1.0]])
    np.testing.assert_array_equal(kf.H, [[1.0, 0.0]])
    np.testing.assert_array_equal(kf.Q, Q_discrete_white_noise(dim=2, dt=0.04, var=50.0))
    np.testing.assert_array_equal(kf.R, [[2.0]])
    np.testing.assert_array_equal(kf.x, [[3.0], [0.0]])
    np.testing.assert_array_equal(kf.P, np.diag([2.0, 100.0]))


def test_single_array_in_single_array_out_and_first_frame_is_the_measurement() -> None:
    est = np.random.default_rng(0).normal(size=(20, 3))
    out = kalman_smooth(est, FPS, KalmanConfig.shared(q=100.0, r=1.0))
    assert isinstance(out, np.ndarray) and out.shape == (20, 3)
    np.testing.assert_array_equal(out[0], est[0])


# --- causal --------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["numpy", "filterpy"])
def test_causal_future_does_not_change_the_past(backend: str) -> None:
    rng = np.random.default_rng(3)
    seqs = [rng.normal(size=(50, 3)) * 5.0, rng.normal(size=(30, 3)) * 5.0]
    config = KalmanConfig(q=(1e3, 1e4, 1e5), r=(1.0, 2.0, 3.0))
    t0 = 24
    changed = [s.copy() for s in seqs]
    for c in changed:
        c[t0 + 1:] += rng.normal(size=c[t0 + 1:].shape) * 40.0
    a = kalman_smooth(seqs, FPS, config, backend=backend)  # type: ignore[arg-type]
    b = kalman_smooth(changed, FPS, config, backend=backend)  # type: ignore[arg-type]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x[: t0 + 1], y[: t0 + 1])
        assert not np.allclose(x[t0 + 1:], y[t0 + 1:])


def test_rts_reference_is_non_causal_and_smooths_more(tuned) -> None:
    config, _, _, (est, truth) = tuned
    rts = kalman_rts_smooth(est, FPS, config)
    filt = kalman_smooth(est, FPS, config)
    assert np.all(per_angle_mae(rts, truth) < per_angle_mae(filt, truth))
    changed = [e.copy() for e in est[:1]]
    changed[0][-5:] += 30.0
    before, after = kalman_rts_smooth(est[:1], FPS, config)[0], kalman_rts_smooth(changed, FPS, config)[0]
    assert not np.allclose(before[:-5], after[:-5])  # the future moved the past: not causal


# --- the tuned filter is a good filter -----------------------------------------------


def test_tuned_filter_beats_raw_untuned_and_grid_corners_on_held_out(tuned) -> None:
    config, _, _, (est, truth) = tuned
    raw = per_angle_mae(est, truth)
    tuned_mae = per_angle_mae(kalman_smooth(est, FPS, config), truth)
    untuned = per_angle_mae(kalman_smooth(est, FPS, KalmanConfig.shared(q=1.0, r=1.0)), truth)
    assert np.all(tuned_mae < 0.8 * raw), (tuned_mae, raw)
    assert np.all(tuned_mae < untuned), (tuned_mae, untuned)
    for q, r in grid_corners():
        corner = per_angle_mae(kalman_smooth(est, FPS, KalmanConfig.shared(q=q, r=r)), truth)
        assert np.all(tuned_mae < corner), (q, r, tuned_mae, corner)


def test_tuner_returns_the_best_of_its_table(tuned) -> None:
    config, table, (val_est, val_truth), _ = tuned
    stages = {row.stage for row in table}
    assert "grid" in stages and "refine-1" in stages
    got = per_angle_mae(kalman_smooth(val_est, FPS, config), val_truth)
    for k, angle in enumerate(("pitch", "yaw", "roll")):
        rows = [row for row in table if row.angle == angle]
        best = min(row.mae for row in rows)
        assert got[k] == pytest.approx(best, rel=1e-9, abs=1e-9)
        assert best <= min(row.mae for row in rows if row.stage == "grid")


def test_tuned_r_is_the_measured_noise_and_rescaling_keeps_the_filter(tuned) -> None:
    config, _, (val_est, val_truth), (est, _) = tuned
    np.testing.assert_allclose(config.r, measured_error_variance(val_est, val_truth))
    np.testing.assert_allclose(np.sqrt(config.r), NOISE_STD, rtol=0.1)  # the noise we put in
    other = config.rescaled([1.0, 1000.0, 0.01])
    for a, b in zip(kalman_smooth(est, FPS, config), kalman_smooth(est, FPS, other)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)


def test_kalman_mae_is_the_metric_of_the_filtered_output(tuned) -> None:
    config, _, _, (est, truth) = tuned
    mae = kalman_mae(est, truth, FPS, np.array(config.q)[:, None], np.array(config.r)[:, None],
                     init_rate_std=np.array(config.init_rate_std)[:, None])
    np.testing.assert_allclose(mae[:, 0], per_angle_mae(kalman_smooth(est, FPS, config), truth), rtol=1e-12)


def test_narrow_grid_warns() -> None:
    est, truth = problem(0, n_seq=4, n=90)
    with pytest.warns(UserWarning, match="widen the grid"):
        tune_kalman(est, truth, FPS, q_grid_log10=(0.0, 1.0, 1.0), r_grid_log10=(2.0, 3.0, 1.0), refine_rounds=1)


def test_steady_state_gain_is_where_the_recursion_settles() -> None:
    config = KalmanConfig.shared(q=5e4, r=4.0)
    kf = make_filterpy_filter(0.0, 1.0 / FPS, 5e4, 4.0, DEFAULT_INIT_RATE_STD_DEG_S)
    for _ in range(500):
        kf.predict()
        kf.update(0.0)
    np.testing.assert_allclose(steady_state_gains(config, FPS)[0], kf.K[:, 0], rtol=1e-8)


# --- inputs --------------------------------------------------------------------------


def test_config_validation_and_round_trip() -> None:
    with pytest.raises(ValueError):
        KalmanConfig.shared(q=-1.0, r=1.0)
    with pytest.raises(ValueError):
        KalmanConfig(q=(1.0, 2.0), r=(1.0, 1.0, 1.0))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        KalmanConfig.shared(q=1.0, r=math.nan)
    c = KalmanConfig(q=(1.0, 2.0, 3.0), r=(4.0, 5.0, 6.0), init_rate_std=(7.0, 8.0, 9.0))
    assert KalmanConfig.from_dict(c.to_dict()) == c


def test_bad_inputs_are_refused() -> None:
    config = KalmanConfig.shared(q=1.0, r=1.0)
    with pytest.raises(ValueError):
        kalman_smooth([np.zeros((5, 2))], FPS, config)
    with pytest.raises(ValueError):
        kalman_smooth([np.full((5, 3), np.nan)], FPS, config)
    with pytest.raises(ValueError):
        kalman_smooth([np.zeros((5, 3))], 0.0, config)
    with pytest.raises(ValueError):
        kalman_smooth(np.zeros((2, 5, 3)), FPS, config)
    with pytest.raises(ValueError):
        tune_kalman([np.zeros((5, 3))], [np.zeros((6, 3))], FPS)
