"""Metrics checked against numbers worked out by hand on tiny arrays."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from dms.angles import angular_distance
from train.metrics import (
    LARGE_ERROR_DEG,
    LandmarkMetrics,
    MethodMetrics,
    PoseMetrics,
    angle_errors,
    evaluate_method,
    landmark_metrics,
    pose_metrics,
    wrap_deg,
)


def with_errors(truth: np.ndarray, errors: np.ndarray) -> np.ndarray:
    return truth + errors


def test_wrap_into_half_open_interval() -> None:
    got = wrap_deg([0.0, 180.0, -180.0, 540.0, 190.0, -190.0, 359.0, -0.5])
    np.testing.assert_allclose(got, [0.0, 180.0, 180.0, 180.0, -170.0, 170.0, -1.0, -0.5])
    inside = np.array([37.123456789, -179.999, 180.0])
    assert np.array_equal(wrap_deg(inside), inside)  # bit-exact when nothing wraps


def test_mae_rmse_jitter_by_hand() -> None:
    truth = np.array([[10.0, 20.0, 30.0], [11.0, 21.0, 31.0], [12.0, 22.0, 32.0]])
    err = np.array([[1.0, 0.0, 2.0], [-2.0, 0.0, 2.0], [3.0, 0.0, 2.0]])
    m = pose_metrics([with_errors(truth, err)], [truth])
    assert m.mae == pytest.approx({"pitch": 2.0, "yaw": 0.0, "roll": 2.0})
    assert m.mae_overall == pytest.approx(4.0 / 3.0)
    assert m.rmse["pitch"] == pytest.approx(math.sqrt(14.0 / 3.0))
    assert m.rmse["roll"] == pytest.approx(2.0)
    assert m.rmse_overall == pytest.approx(math.sqrt((14.0 + 0.0 + 12.0) / 9.0))
    # error changes: pitch |-2-1| = 3, |3+2| = 5 -> 4; yaw and roll constant -> 0
    assert m.jitter == pytest.approx({"pitch": 4.0, "yaw": 0.0, "roll": 0.0})
    assert m.jitter_overall == pytest.approx(4.0 / 3.0)
    assert (m.n_sequences, m.n_frames) == (1, 3)


def test_pooled_over_frames_and_jitter_never_spans_two_sequences() -> None:
    t1, t2 = np.zeros((2, 3)), np.zeros((1, 3))
    e1 = np.array([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]])
    e2 = np.array([[4.0, 4.0, 4.0]])
    m = pose_metrics([t1 + e1, t2 + e2], [t1, t2])
    assert m.mae_overall == pytest.approx((1 + 1 + 4) / 3.0)  # frames, not sequences, weigh
    assert m.jitter_overall == pytest.approx(0.0)  # the 1 -> 4 jump is between clips
    single = pose_metrics([t2 + e2], [t2])
    assert single.jitter_overall is None and single.jitter["yaw"] is None


def test_yaw_wrap_at_180() -> None:
    truth = np.array([[0.0, -179.0, 0.0], [0.0, 179.0, 0.0], [0.0, -90.0, 0.0]])
    pred = np.array([[0.0, 179.0, 0.0], [0.0, -179.0, 0.0], [0.0, 90.0, 0.0]])
    (err,) = angle_errors([pred], [truth])
    np.testing.assert_allclose(err[:, 1], [-2.0, 2.0, 180.0])
    m = pose_metrics([pred], [truth])
    assert m.mae["yaw"] == pytest.approx((2 + 2 + 180) / 3.0)
    # error -2 -> +2 -> 180: changes 4 and 178 (not 176 + 360 ...)
    assert m.jitter["yaw"] == pytest.approx((4.0 + 178.0) / 2.0)


def test_jitter_wraps_the_error_change() -> None:
    truth = np.zeros((2, 3))
    pred = np.array([[0.0, 179.0, 0.0], [0.0, -179.0, 0.0]])  # errors 179, -179: 2 deg apart
    assert pose_metrics([pred], [truth]).jitter["yaw"] == pytest.approx(2.0)


def test_large_error_share_geodesic_and_per_angle() -> None:
    truth = np.zeros((4, 3))
    pred = np.array([
        [0.0, 10.0, 0.0],           # 10 deg: no
        [0.0, 16.0, 0.0],           # 16 deg: yes
        [0.0, 14.9, 0.0],           # no
        [12.0, 12.0, 0.0],          # no single angle > 15, but the head is off by ~17 deg
    ])
    assert angular_distance(pred[3], truth[3]) > LARGE_ERROR_DEG
    m = pose_metrics([pred], [truth])
    assert m.large_error_share == pytest.approx(2 / 4)
    assert m.large_error_share_per_angle == pytest.approx({"pitch": 0.0, "yaw": 1 / 4, "roll": 0.0})
    # per angle, exactly 15 does not count (strictly greater); the geodesic of a pure 15-degree
    # turn goes through arccos and may round either way, so it is not tested at the boundary
    edge = pose_metrics([np.array([[0.0, LARGE_ERROR_DEG, 0.0]])], [np.zeros((1, 3))])
    assert edge.large_error_share_per_angle["yaw"] == 0.0


def landmark_truth() -> np.ndarray:
    """68 points: eye corners 36 and 45 0.4 apart, box 0.4 wide and 0.3 high (diag 0.5)."""
    pts = np.full((68, 2), 0.5)
    pts[36] = (0.3, 0.4)
    pts[45] = (0.7, 0.4)
    pts[8] = (0.5, 0.7)  # chin
    return pts


def test_landmark_nme_by_hand() -> None:
    g = np.stack([landmark_truth()] * 3)  # [T, 68, 2]
    p = g + np.array([0.03, 0.04])  # every point off by 0.05
    m = landmark_metrics([p], [g])
    assert m.nme_interocular == pytest.approx(0.05 / 0.4)
    assert m.nme_bbox_diagonal == pytest.approx(0.05 / 0.5)
    assert m.n_frames == 3
    flat = landmark_metrics([p.reshape(3, 136)], [g.reshape(3, 136)])  # the 136-vector layout
    assert flat.nme_interocular == pytest.approx(m.nme_interocular)


def test_landmark_nme_averages_frames_and_refuses_degenerate_truth() -> None:
    g = np.stack([landmark_truth()] * 2)
    p = g.copy()
    p[1] += (0.0, 0.08)  # frame 0 exact, frame 1 off by 0.08 -> mean 0.04
    assert landmark_metrics([p], [g]).nme_interocular == pytest.approx(0.04 / 0.4)
    bad = g.copy()
    bad[:, 45] = bad[:, 36]
    with pytest.raises(ValueError):
        landmark_metrics([p], [bad])


def test_evaluate_method_round_trips_through_json() -> None:
    rng = np.random.default_rng(0)
    truth = [rng.normal(size=(5, 3)) * 10, rng.normal(size=(4, 3)) * 10]
    pred = [t + rng.normal(size=t.shape) for t in truth]
    lm = [np.stack([landmark_truth()] * len(t)) for t in truth]
    m = evaluate_method(pred, truth, [x + 0.01 for x in lm], lm)
    assert isinstance(m.pose, PoseMetrics) and isinstance(m.landmarks, LandmarkMetrics)
    back = MethodMetrics.from_dict(json.loads(json.dumps(m.to_dict())))
    assert back == m
    assert evaluate_method(landmark_predictions=lm, landmark_truth=lm).pose is None


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError):
        pose_metrics([np.zeros((3, 3))], [np.zeros((4, 3))])
    with pytest.raises(ValueError):
        pose_metrics([np.zeros((3, 3))], [])
    with pytest.raises(ValueError):
        pose_metrics([np.full((3, 3), np.nan)], [np.zeros((3, 3))])
    with pytest.raises(ValueError):
        evaluate_method(pose_predictions=[np.zeros((3, 3))])
    with pytest.raises(ValueError):
        evaluate_method()
