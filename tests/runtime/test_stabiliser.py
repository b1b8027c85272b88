"""Causal crop stabilisation: steady at rest, follows motion, size held in a dead band."""

import numpy as np
import pytest

from runtime.config import StabiliserConfig
from runtime.stabiliser import CropStabiliser

FPS = 30.0


def _run(centres, sizes=None, cfg=None):
    s = CropStabiliser(cfg)
    out = []
    for i, c in enumerate(centres):
        s.update(i / FPS, tuple(c), None if sizes is None else sizes[i])
        out.append((*s.centre, s.size))
    return np.array(out)


def test_jitter_at_rest_is_suppressed():
    rng = np.random.default_rng(0)
    noisy = np.array([300.0, 200.0]) + rng.normal(0, 3.0, (300, 2))     # 3 px detector jitter
    out = _run(noisy, [200.0] * 300)
    assert np.std(np.diff(out[50:, :2], axis=0)) < 0.35 * np.std(np.diff(noisy[50:], axis=0))
    assert np.abs(out[50:, :2].mean(0) - [300, 200]).max() < 1.0


def test_follows_a_moving_head_with_small_lag():
    t = np.arange(90) / FPS
    x = 300 + 100 * t                      # half a head height (200 px) per second
    out = _run(np.column_stack([x, np.full_like(x, 200.0)]), [200.0] * 90)
    lag_px = x[60:] - out[60:, 0]
    assert 0 < lag_px.mean() < 0.06 * 200    # within the +-6 % shift training tolerates


def test_size_is_held_inside_the_deadband_and_follows_a_real_change():
    rng = np.random.default_rng(1)
    sizes = list(200 * (1 + rng.uniform(-0.04, 0.04, 60))) + [240.0] * 60
    out = _run([(300.0, 200.0)] * 120, sizes)
    assert np.ptp(out[1:60, 2]) < 0.05 * 200          # +-4 % noise: the size does not breathe
    assert out[-1, 2] == pytest.approx(240.0, rel=0.01)  # a 20 % change is followed (tau 0.3 s)


def test_missing_measurements_hold_the_centre_and_reset_forgets():
    s = CropStabiliser(StabiliserConfig())
    s.update(0.0, (100.0, 100.0), 50.0)
    s.update(0.1, None)
    assert s.centre == (100.0, 100.0) and s.ready
    s.reset()
    assert not s.ready
    s.update(0.2, (400.0, 300.0), 80.0)
    assert s.centre == (400.0, 300.0) and s.size == 80.0     # a reset jumps, no smoothing across it
