"""The ray-relative pose: what a crop can show, and the way back to the camera."""

import numpy as np

from dms.angles import euler_to_matrix
from dms.perspective import Intrinsics, box_centre, camera_to_ray_pose, ray_rotation, ray_to_camera_pose
from synth.camera import Camera

K = Intrinsics.from_hfov((640, 480), 50.0)


def test_ray_frame_is_the_camera_frame_at_the_principal_point():
    np.testing.assert_allclose(ray_rotation(K.cx, K.cy, K), np.eye(3), atol=1e-12)
    pose = np.array([10.0, -20.0, 5.0])
    np.testing.assert_allclose(camera_to_ray_pose(pose, ray_rotation(K.cx, K.cy, K)), pose, atol=1e-9)


def test_round_trip_anywhere_in_the_frame():
    rng = np.random.default_rng(0)
    u, v = rng.uniform(0, 640, 50), rng.uniform(0, 480, 50)
    rays = ray_rotation(u, v, K)
    assert rays.shape == (50, 3, 3)
    np.testing.assert_allclose(np.swapaxes(rays, -1, -2) @ rays, np.broadcast_to(np.eye(3), (50, 3, 3)), atol=1e-12)
    pose = rng.uniform([-40, -60, -30], [40, 60, 30], (50, 3))
    np.testing.assert_allclose(ray_to_camera_pose(camera_to_ray_pose(pose, rays), rays), pose, atol=1e-8)


def test_a_head_facing_the_camera_off_axis_has_zero_ray_pose():
    """The point of the ray frame: a head that looks straight into the lens shows the same
    frontal face wherever it is in the picture, so its ray pose is zero, while its
    camera-relative pose is the off-axis angle (which the crop alone cannot reveal)."""
    cam = Camera.looking_at(np.array([0.6, 0.0, 0.0]), np.array([0.0, 0.0, 0.0]), 50.0)
    head = np.array([0.05, 0.15, 0.08])               # off to the side and below the axis
    x = cam.position - head
    x /= np.linalg.norm(x)
    z = np.array([0.0, 0.0, 1.0]) - x[2] * x
    z /= np.linalg.norm(z)
    r_head_v = np.column_stack([x, np.cross(z, x), z])  # facing the camera, upright
    pose_cam = cam.head_pose_in_camera(r_head_v)
    uv, _ = cam.project(head)
    k = Intrinsics(cam.fx, cam.fy, cam.cx, cam.cy)
    ray_pose = camera_to_ray_pose(pose_cam, ray_rotation(uv[0], uv[1], k))
    assert np.abs(pose_cam[:2]).max() > 8.0           # clearly off-axis for the camera
    np.testing.assert_allclose(ray_pose, 0.0, atol=1e-6)


def test_signs_follow_the_head_convention():
    """A head left in the image sits to the driver's right (+y of the F frame); to face
    the lens from there it turns to its left, so the ray frame is yawed negative. A head
    low in the image looks up (+pitch) to face the lens."""
    from dms.angles import matrix_to_euler
    pitch, yaw, roll = matrix_to_euler(ray_rotation(K.cx - 200, K.cy, K))
    assert yaw < -15 and abs(pitch) < 1e-9 and abs(roll) < 1e-9
    pitch, yaw, roll = matrix_to_euler(ray_rotation(K.cx, K.cy + 150, K))
    assert pitch > 10 and abs(yaw) < 1e-9 and abs(roll) < 1e-9
    rays = ray_rotation(K.cx - 200, K.cy, K)
    np.testing.assert_allclose(euler_to_matrix(ray_to_camera_pose([0.0, 0.0, 0.0], rays)), rays, atol=1e-9)


def test_intrinsics_scale_and_box_centre():
    half = K.scaled(0.5, 0.5)
    assert half.fx == K.fx / 2 and half.cx == 160
    u, v = box_centre(np.array([[10.0, 20.0, 30.0, 60.0]]))
    assert u[0] == 20.0 and v[0] == 40.0
    assert Intrinsics.from_dict(K.to_dict()) == K
