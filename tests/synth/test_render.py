"""Labels agree with pixels: the renderer and the labels come from one geometry."""

import numpy as np
import pytest

from dms.angles import euler_to_matrix, mirror_pose, nose_direction
from dms.landmarks import MIRROR_PERMUTATION
from synth.camera import Camera
from synth.head import EYE, SKIN, Accessories, Expression, HeadModel, Identity, sample_identity
from synth.render import FrameState, Lighting, Scene, sample_lighting
from synth.video import landmark_labels

KEY_POINTS = {"nose tip": 30, "right eye outer": 36, "right eye inner": 39, "left eye inner": 42,
              "left eye outer": 45, "mouth right": 48, "mouth left": 54, "chin": 8}


def _scene(identity, mount="steering_column", rng=None, accessories=None, **kw):
    cam = Camera.mount_preset(mount, rng=rng)
    return Scene(cam, HeadModel(identity, accessories), kw.pop("lighting", Lighting()), **kw)


def _state(pose, closure=0.0, mouth=0.0, occluder=0):
    return FrameState(euler_to_matrix(pose), nose_direction(pose), Expression(mouth, closure), occluder)


@pytest.mark.parametrize("seed", range(6))
def test_visible_landmarks_fall_on_the_rendered_face(seed):
    rng = np.random.default_rng(seed)
    mount = ["steering_column", "a_pillar", "rear_view_mirror"][seed % 3]
    scene = _scene(sample_identity(rng), mount, rng, lighting=sample_lighting(rng, False))
    pose = rng.uniform([-25, -45, -20], [25, 45, 20])
    state = _state(pose, closure=0.2)
    full = scene.render_full(state)
    lab = landmark_labels(scene, state)
    checked = 0
    for name, i in KEY_POINTS.items():
        if not lab["visibility"][i]:
            continue
        u, v = lab["landmarks_full"][i]
        mats = full["material"][int(v) - 1:int(v) + 2, int(u) - 1:int(u) + 2]
        assert np.isin(mats, (SKIN, EYE)).any(), f"{name} at ({u:.0f}, {v:.0f}) is on materials {mats.ravel()}"
        # nearest surface around the pixel: landmarks sit on depth edges (eye corners)
        depth = full["depth"][int(v) - 1:int(v) + 2, int(u) - 1:int(u) + 2].min()
        dist = np.linalg.norm(lab["landmarks_3d"][i])
        assert abs(depth - dist) < 0.012, f"{name}: pixel depth {depth:.3f} m vs landmark {dist:.3f} m"
        checked += 1
    assert checked >= 5
    # the face box contains every visible landmark and the crop box contains the face
    x0, y0, x1, y1 = lab["face_box"]
    vis = lab["landmarks_full"][lab["visibility"]]
    assert (vis[:, 0] >= x0 - 1e-3).all() and (vis[:, 0] <= x1 + 1e-3).all()


def test_turned_away_landmarks_are_not_visible():
    scene = _scene(Identity())
    lab = landmark_labels(scene, _state([0, 80, 0]))       # turned to the driver's right:
    assert not lab["visibility"][36:42].any()               # the right eye turns away
    assert lab["visibility"][42:48].sum() >= 3              # the camera sees the left cheek


def test_a_hand_hides_the_mouth():
    scene = _scene(Identity())
    free = landmark_labels(scene, _state([0, 0, 0]))
    hand = landmark_labels(scene, _state([0, 0, 0], occluder=1))
    assert free["visibility"][48:60].all()
    assert not hand["visibility"][51:58].any()


def test_expression_moves_the_landmarks():
    scene = _scene(Identity())
    open_eyes = landmark_labels(scene, _state([0, 0, 0], closure=0.0))["landmarks_3d"]
    closed = landmark_labels(scene, _state([0, 0, 0], closure=1.0))["landmarks_3d"]
    gap_open = np.linalg.norm(open_eyes[37] - open_eyes[41])
    gap_closed = np.linalg.norm(closed[37] - closed[41])
    assert gap_open > 0.006 and gap_closed < 0.002
    talking = landmark_labels(scene, _state([0, 0, 0], mouth=1.0))["landmarks_3d"]
    assert np.linalg.norm(talking[66] - talking[62]) > 0.012
    assert talking[8][1] > open_eyes[8][1] + 0.008     # the chin moves down (camera y is down)


def test_identity_changes_the_landmarks():
    a = _scene(Identity()).head
    b = _scene(Identity(eye_spacing=1.08, jaw_width=1.1, nose_length=1.2)).head
    for h in (a, b):
        h.set_expression(Expression())
    la, lb = a.landmarks_3d(), b.landmarks_3d()
    assert abs(lb[45, 1] - lb[36, 1]) > abs(la[45, 1] - la[36, 1]) + 0.003


@pytest.mark.parametrize("pose", [(10.0, 35.0, 12.0), (-20.0, -60.0, -8.0), (5.0, 80.0, 30.0)])
def test_mirror_of_a_render_is_the_render_of_the_mirrored_pose(pose):
    """A symmetric driver and camera: flipping the image equals rendering the mirrored
    pose (yaw and roll negated), pixel for pixel on the head, and the landmarks map with
    the iBUG mirror permutation."""
    identity = Identity(symmetric=True)
    cam = Camera.mount_preset("steering_column")
    scene = Scene(cam, HeadModel(identity, Accessories(glasses="clear")), Lighting(), led_offset=(0.0, 0.0, 0.0))
    a_state, b_state = _state(pose), _state(mirror_pose(pose))
    a = scene.render_window(a_state, scene.head_box(a_state.r_head_v), (96, 96))
    b = scene.render_window(b_state, scene.head_box(b_state.r_head_v), (96, 96))
    a_head = a["material"] > 0
    np.testing.assert_array_equal(a_head[:, ::-1], b["material"] > 0)
    np.testing.assert_allclose(a["radiance"][:, ::-1][b["material"] > 0], b["radiance"][b["material"] > 0], atol=1e-6)
    la, lb = landmark_labels(scene, a_state), landmark_labels(scene, b_state)
    w = cam.size[0]
    expected = np.empty_like(la["landmarks_full"])
    expected[MIRROR_PERMUTATION] = np.column_stack([w - la["landmarks_full"][:, 0], la["landmarks_full"][:, 1]])
    np.testing.assert_allclose(lb["landmarks_full"], expected, atol=1e-6)


def test_camera_relative_label_is_zero_when_facing_the_camera():
    cam = Camera.mount_preset("a_pillar")
    toward_camera = cam.r_fc_v            # head axes = camera F axes
    np.testing.assert_allclose(cam.head_pose_in_camera(toward_camera), [0, 0, 0], atol=1e-9)
    # looking down the road, a steering-column camera (below the face) sees the head pitched up
    low = Camera.mount_preset("steering_column")
    pitch, yaw, roll = low.head_pose_in_camera(np.eye(3))
    assert pitch > 10 and abs(yaw) < 1 and abs(roll) < 1


def test_night_ir_background_is_darker_than_the_face():
    scene = _scene(Identity(), lighting=Lighting(kind="night"))
    full = scene.render_full(_state([0, 0, 0]))
    face = full["radiance"][full["face"]].mean()
    corners = np.concatenate([full["radiance"][:40, :40].ravel(), full["radiance"][:40, -40:].ravel()])
    assert corners.mean() < 0.3 * face
