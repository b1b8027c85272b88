"""Real faces re-rendered at new yaw: the pixels move where the turned head puts them, and
the label is the teacher's composed exactly with the turn."""

import numpy as np
import pytest

from dms.angles import euler_to_matrix
from train.real_rotate import CONTEXT, HEAD_RADIUS_M, RotateConfig, draw_delta, ellipsoid_head_mesh, rotate_crop

SIZE = 80


def project(point_h, pose):
    """Independent orthographic projection of a head-frame point into the crop."""
    f = euler_to_matrix(pose) @ point_h
    s = SIZE / (2 * HEAD_RADIUS_M * CONTEXT)
    return np.array([SIZE / 2 - s * f[1], SIZE / 2 + s * f[2]])


def textured_crop(seed=0):
    rng = np.random.default_rng(seed)
    import cv2
    return cv2.GaussianBlur(rng.integers(0, 256, (SIZE, SIZE), dtype=np.uint8), (0, 0), 1.5)


def test_no_turn_gives_back_the_crop_and_the_pose():
    crop = textured_crop()
    pose = np.array([5.0, -12.0, 3.0])
    out, new = rotate_crop(crop, pose, 0.0)
    assert np.abs(out.astype(int) - crop.astype(int)).max() <= 1
    np.testing.assert_allclose(new, pose)


@pytest.mark.parametrize("delta", [-30.0, 25.0])
def test_the_label_is_the_teachers_turned_about_the_vertical_axis(delta):
    pose = np.array([8.0, 10.0, -6.0])
    _, new = rotate_crop(textured_crop(), pose, delta)
    t = np.deg2rad(delta)
    rz = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
    np.testing.assert_allclose(euler_to_matrix(new), rz @ euler_to_matrix(pose), atol=1e-9)


@pytest.mark.parametrize("pose,delta", [((0.0, 0.0, 0.0), 25.0), ((-6.0, 15.0, 8.0), -35.0)])
def test_a_mark_on_the_nose_moves_where_the_turned_nose_projects(pose, delta):
    verts, _ = ellipsoid_head_mesh()
    tip = verts[np.argmax(verts[:, 0])]                      # the nose tip, frame H
    pose = np.asarray(pose)
    crop = np.full((SIZE, SIZE), 60, np.uint8)
    u, v = np.round(project(tip, pose) - 0.5).astype(int)
    crop[v - 1:v + 2, u - 1:u + 2] = 255
    out, new = rotate_crop(crop, pose, delta)
    ys, xs = np.nonzero(out > 160)
    found = np.array([xs.mean() + 0.5, ys.mean() + 0.5])
    np.testing.assert_allclose(found, project(tip, new), atol=1.5)
    # and it moved: the turn is visible, not an identity
    assert np.linalg.norm(found - project(tip, pose)) > 5


def test_turns_go_outwards_to_the_missing_angles_and_stay_bounded():
    cfg = RotateConfig()
    rng = np.random.default_rng(0)
    for yaw in (-25.0, -3.0, 0.0, 12.0, 28.0):
        for _ in range(50):
            d = draw_delta(yaw, rng, cfg)
            assert abs(d) <= cfg.max_delta_deg + 1e-9
            new = abs(yaw + d)
            assert cfg.target_abs_yaw[0] - 1e-9 <= new <= cfg.target_abs_yaw[1] + 1e-9
            if abs(yaw) > 5:
                assert np.sign(yaw + d) == np.sign(yaw)          # same side, further out
