"""The angle convention: round trips, an independent reference, signs a user can see,
and what mirroring does."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from dms.angles import (
    F_TO_OPENCV, angular_distance, euler_to_matrix, matrix_to_euler, mirror_pose,
    nose_direction, to_opencv,
)

rng = np.random.default_rng(0)
# The driving range (SPEC / synth issue): yaw +-90, pitch +-60, roll +-40, plus beyond.
POSES = np.column_stack([rng.uniform(-89, 89, 500), rng.uniform(-179, 179, 500), rng.uniform(-179, 179, 500)])


def test_round_trip_matrix_euler_matrix():
    back = matrix_to_euler(euler_to_matrix(POSES))
    np.testing.assert_allclose(back, POSES, atol=1e-9)


def test_matrices_are_proper_rotations():
    r = euler_to_matrix(POSES)
    np.testing.assert_allclose(r @ np.swapaxes(r, -1, -2), np.broadcast_to(np.eye(3), r.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(r), 1.0, atol=1e-12)


def test_matches_scipy_intrinsic_zyx():
    """Independent reference: scipy's intrinsic Z-Y'-X'' (yaw, pitch, roll)."""
    ref = Rotation.from_euler("ZYX", POSES[:, [1, 0, 2]], degrees=True).as_matrix()
    np.testing.assert_allclose(euler_to_matrix(POSES), ref, atol=1e-12)


def test_singular_pitch_still_gives_the_same_rotation():
    pose = np.array([90.0, 20.0, 30.0])
    back = matrix_to_euler(euler_to_matrix(pose))
    np.testing.assert_allclose(euler_to_matrix(back), euler_to_matrix(pose), atol=1e-9)
    assert back[0] == pytest.approx(90.0)


def test_signs_mean_what_the_docs_say():
    # F: x towards the camera (out of the nose), y driver's right, z down.
    up = nose_direction([20, 0, 0])
    assert up[2] < 0, "pitch > 0 must raise the nose (F.z points down)"
    right = nose_direction([0, 30, 0])
    assert right[1] > 0, "yaw > 0 must turn the nose to the driver's right"
    head_up = -euler_to_matrix([0, 0, 15])[:, 2]          # the head's own 'up' in F
    assert head_up[1] > 0, "roll > 0 must tilt the top of the head towards the right shoulder"
    # In the camera image a driver facing the camera has their right on the image's left.
    nose_cv = to_opencv(euler_to_matrix([0, 30, 0])) @ np.array([1.0, 0, 0])
    assert nose_cv[0] < 0 and nose_cv[2] < 0  # image left, and still towards the camera
    assert np.linalg.det(F_TO_OPENCV) == pytest.approx(1.0)


def test_mirroring_negates_yaw_and_roll_only():
    np.testing.assert_array_equal(mirror_pose([10.0, 20.0, -5.0]), [10.0, -20.0, 5.0])


def test_mirrored_pose_is_the_reflected_rotation():
    """A horizontal image flip reflects F's y axis: R -> S R S, S = diag(1, -1, 1)."""
    s = np.diag([1.0, -1.0, 1.0])
    np.testing.assert_allclose(euler_to_matrix(mirror_pose(POSES)), s @ euler_to_matrix(POSES) @ s, atol=1e-12)


def test_mirrored_pose_projects_to_the_mirrored_image():
    """Project a 3D head point with the pose and with the mirrored pose (point mirrored
    too): image x coordinates must mirror about the principal point."""
    point = np.array([0.05, 0.03, -0.02])     # a point on the head, F-aligned head coords
    mirrored_point = point * [1, -1, 1]
    for pose in POSES[:50] * [0.6, 0.9, 0.4]:  # driving range
        a = to_opencv(euler_to_matrix(pose)) @ point + [0, 0, 0.7]
        b = to_opencv(euler_to_matrix(mirror_pose(pose))) @ mirrored_point + [0, 0, 0.7]
        np.testing.assert_allclose([a[0] / a[2], a[1] / a[2]], [-b[0] / b[2], b[1] / b[2]], atol=1e-12)


def test_angular_distance():
    assert angular_distance([0, 0, 0], [0, 30, 0]) == pytest.approx(30.0)
    assert angular_distance(POSES[:10], POSES[:10]) == pytest.approx(np.zeros(10), abs=1e-5)


def test_bad_shape_is_refused():
    with pytest.raises(ValueError, match="3 values"):
        euler_to_matrix([1.0, 2.0])
