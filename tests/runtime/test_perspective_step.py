"""The per-frame perspective correction equals dms.perspective's."""

import numpy as np

from dms.perspective import Intrinsics, camera_to_ray_pose, ray_rotation, ray_to_camera_pose
from runtime.perspective_step import ray_to_camera


def test_matches_dms_perspective_everywhere_in_the_frame():
    rng = np.random.default_rng(0)
    k = Intrinsics(600.0, 610.0, 330.0, 235.0)
    for _ in range(200):
        pose = rng.uniform([-80, -170, -170], [80, 170, 170])
        u, v = rng.uniform(-100, 740), rng.uniform(-100, 580)
        ref = ray_to_camera_pose(pose, ray_rotation(u, v, k))
        np.testing.assert_allclose(ray_to_camera(tuple(pose), u, v, k), ref, atol=1e-9)


def test_round_trip_and_identity_at_the_principal_point():
    k = Intrinsics.from_hfov((640, 480), 50.0)
    cam = (5.0, 30.0, -4.0)
    ray = camera_to_ray_pose(cam, ray_rotation(100.0, 380.0, k))
    np.testing.assert_allclose(ray_to_camera(tuple(ray), 100.0, 380.0, k), cam, atol=1e-9)
    np.testing.assert_allclose(ray_to_camera(cam, k.cx, k.cy, k), cam, atol=1e-9)
