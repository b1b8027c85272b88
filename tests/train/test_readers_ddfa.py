"""300W-LP and AFLW2000-3D readers on tiny fixtures written in the datasets' formats."""

from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io
from scipy.spatial.transform import Rotation

from dms.angles import euler_to_matrix, to_opencv
from dms.landmarks import MIRROR_PERMUTATION
from train.readers import ReaderError, pose_from_3ddfa, read_300wlp, read_aflw2000

# dms-head-v1's axes written in 3DDFA's frame, from the words alone: 3DDFA's camera has x
# to the image right (the subject's left), y up, z towards the viewer.
TOWARDS_CAMERA, SUBJECT_RIGHT, DOWN = np.array([0, 0, 1.0]), np.array([-1.0, 0, 0]), np.array([0, -1.0, 0])
F_IN_3DDFA = np.column_stack([TOWARDS_CAMERA, SUBJECT_RIGHT, DOWN])


def ddfa_rotation_matrix_m(pitch, yaw, roll):
    """3DDFA's RotationMatrix.m, transcribed."""
    rx = np.array([[1, 0, 0], [0, np.cos(pitch), np.sin(pitch)], [0, -np.sin(pitch), np.cos(pitch)]])
    ry = np.array([[np.cos(yaw), 0, -np.sin(yaw)], [0, 1, 0], [np.sin(yaw), 0, np.cos(yaw)]])
    rz = np.array([[np.cos(roll), np.sin(roll), 0], [-np.sin(roll), np.cos(roll), 0], [0, 0, 1]])
    return rx @ ry @ rz


def ddfa_angles_of(pose_deg):
    """The Pose_Para angles (radians) 3DDFA would store for a dms-head-v1 pose: build the
    rotation with dms.angles, express it in 3DDFA's frame, and decompose it with scipy
    (R = Rx'(p) Ry'(y) Rz'(r) = (Rz(r) Ry(y) Rx(p))^T)."""
    r_f = euler_to_matrix(pose_deg)
    r_c = F_IN_3DDFA @ r_f @ F_IN_3DDFA.T
    roll, yaw, pitch = Rotation.from_matrix(r_c.T).as_euler("ZYX")
    return np.array([pitch, yaw, roll])


def test_single_axis_signs():
    # 300W-LP: pitch > 0 up, yaw > 0 towards the subject's right, roll > 0 towards the
    # left shoulder; dms-head-v1 agrees on the first two and has roll the other way.
    np.testing.assert_allclose(pose_from_3ddfa([0.3, 0, 0]), [np.degrees(0.3), 0, 0], atol=1e-9)
    np.testing.assert_allclose(pose_from_3ddfa([0, 0.3, 0]), [0, np.degrees(0.3), 0], atol=1e-9)
    np.testing.assert_allclose(pose_from_3ddfa([0, 0, 0.3]), [0, 0, -np.degrees(0.3)], atol=1e-9)


def test_yaw_turns_the_nose_to_the_same_image_side_in_both_conventions():
    # 3DDFA: the model's nose is +z; image x = camera x. dms: dms.angles.to_opencv.
    nose_3ddfa = ddfa_rotation_matrix_m(0.0, 0.5, 0.0) @ [0, 0, 1.0]
    pose = pose_from_3ddfa([0.0, 0.5, 0.0])
    nose_cv = to_opencv(euler_to_matrix(pose)) @ [1.0, 0, 0]
    assert nose_3ddfa[0] < -0.4 and nose_cv[0] < -0.4       # both: image left
    up_3ddfa = ddfa_rotation_matrix_m(0.0, 0.0, 0.4) @ [0, 1.0, 0]     # crown direction, y up
    crown_cv = to_opencv(euler_to_matrix(pose_from_3ddfa([0, 0, 0.4]))) @ [0, 0, -1.0]
    assert np.sign(up_3ddfa[0]) == np.sign(crown_cv[0]) == 1.0   # both: image right


def test_composite_rotations_round_trip_through_a_mat_file(tmp_path):
    rng = np.random.default_rng(0)
    poses = np.column_stack([rng.uniform(-60, 60, 12), rng.uniform(-85, 85, 12), rng.uniform(-40, 40, 12)])
    for i, pose in enumerate(poses):
        angles = ddfa_angles_of(pose)
        np.testing.assert_allclose(ddfa_rotation_matrix_m(*angles), F_IN_3DDFA @ euler_to_matrix(pose) @ F_IN_3DDFA.T,
                                   atol=1e-12)
        _write_aflw(tmp_path, f"image{i:05d}", angles)
    samples = list(read_aflw2000(tmp_path))
    got = np.array([s.pose for s in samples])
    np.testing.assert_allclose(got, poses, atol=1e-6)
    # The order of composition matters: signs alone (pitch, yaw, -roll) would be wrong here.
    naive = np.array([np.degrees(ddfa_angles_of(p) * [1, 1, -1]) for p in poses])
    assert np.abs(naive - poses).max() > 5.0


LM = np.column_stack([np.linspace(5, 30, 68), np.linspace(4, 20, 68)])


def _write_aflw(root: Path, name: str, angles, pt3d=None, **extra):
    cv2.imwrite(str(root / f"{name}.jpg"), np.full((24, 32, 3), 128, np.uint8))
    fields = {"Pose_Para": np.concatenate([angles, [10.0, 20.0, 0.0, 0.001]])[None],
              "pt3d_68": np.vstack([LM.T + 1, np.zeros(68)]) if pt3d is None else pt3d,
              "pt2d": np.full((2, 21), -1.0)}
    fields.update(extra)
    scipy.io.savemat(str(root / f"{name}.mat"), {k: v for k, v in fields.items() if v is not None})


def test_aflw2000_sample_fields(tmp_path):
    _write_aflw(tmp_path, "image00002", [0.1, -0.2, 0.05])
    (s,) = read_aflw2000(tmp_path)
    assert s.image == tmp_path / "image00002.jpg" and s.source == tmp_path / "image00002.mat"
    assert s.frame_index is None and not s.is_video_frame
    np.testing.assert_allclose(s.landmarks, LM)          # MATLAB (1-based) -> OpenCV pixels
    np.testing.assert_allclose(s.pose, pose_from_3ddfa([0.1, -0.2, 0.05]))


@pytest.mark.parametrize("fields, match", [
    ({"Pose_Para": None}, r"image00002\.mat: field 'Pose_Para': missing"),
    ({"Pose_Para": np.array([[0.1, 0.2]])}, r"field 'Pose_Para': expected at least 3 values"),
    ({"Pose_Para": np.array([[np.nan, 0.2, 0.1, 0, 0, 0, 1]])}, r"field 'Pose_Para': non-finite"),
    ({"pt3d_68": np.zeros((3, 21))}, r"field 'pt3d_68': expected 68 points, got shape \(3, 21\)"),
])
def test_aflw2000_malformed_fields_name_file_and_field(tmp_path, fields, match):
    _write_aflw(tmp_path, "image00001", [0.0, 0.0, 0.0])
    _write_aflw(tmp_path, "image00002", [0.0, 0.0, 0.0])
    mat = scipy.io.loadmat(str(tmp_path / "image00002.mat"))
    for k, v in fields.items():
        if v is None:
            del mat[k]
        else:
            mat[k] = v
    scipy.io.savemat(str(tmp_path / "image00002.mat"), {k: v for k, v in mat.items() if not k.startswith("__")})
    reader = read_aflw2000(tmp_path)
    next(reader)                                  # the good file reads
    with pytest.raises(ReaderError, match=match) as err:
        next(reader)                              # the bad one stops the run, never skipped
    assert err.value.path == tmp_path / "image00002.mat"


def test_aflw2000_missing_image_and_corrupt_mat(tmp_path):
    _write_aflw(tmp_path, "image00003", [0.0, 0.0, 0.0])
    (tmp_path / "image00003.jpg").unlink()
    with pytest.raises(ReaderError, match=r"image00003\.jpg: image for image00003\.mat missing"):
        list(read_aflw2000(tmp_path))
    (tmp_path / "image00003.mat").write_bytes(b"MATLAB 5.0 MAT-file, garbage" + bytes(200))
    with pytest.raises(ReaderError, match=r"image00003\.mat: not a readable MATLAB file"):
        list(read_aflw2000(tmp_path))
    with pytest.raises(ReaderError, match="no .mat annotation files"):
        list(read_aflw2000(tmp_path / "nowhere"))


def _write_300wlp(root: Path, width: int = 40):
    """AFW and AFW_Flip with one image each; landmark files only for the unflipped one."""
    for subset in ("AFW", "AFW_Flip"):
        (root / subset).mkdir(parents=True)
        cv2.imwrite(str(root / subset / "AFW_1_0.jpg"), np.zeros((30, width, 3), np.uint8))
        sign = -1 if subset.endswith("Flip") else 1
        scipy.io.savemat(str(root / subset / "AFW_1_0.mat"),
                         {"Pose_Para": np.array([[0.1, sign * 0.3, sign * 0.2, 1, 2, 3, 0.002]]),
                          "pt2d": np.zeros((2, 68))})
    (root / "landmarks" / "AFW").mkdir(parents=True)
    scipy.io.savemat(str(root / "landmarks" / "AFW" / "AFW_1_0_pts.mat"), {"pts_2d": LM + 1.0, "pts_3d": LM + 2.0})


def test_300wlp_reads_landmark_files_and_mirrors_them_for_flipped_images(tmp_path):
    _write_300wlp(tmp_path, width=40)
    plain, flipped = read_300wlp(tmp_path, subsets=("AFW", "AFW_Flip"))
    lm_file = tmp_path / "landmarks" / "AFW" / "AFW_1_0_pts.mat"
    assert plain.source == lm_file and plain.image == tmp_path / "AFW" / "AFW_1_0.jpg"
    np.testing.assert_allclose(plain.landmarks, LM + 1.0)          # pts_3d by default, minus 1
    expected = np.empty_like(LM)
    expected[MIRROR_PERMUTATION] = np.column_stack([40 - 1 - (LM[:, 0] + 1.0), LM[:, 1] + 1.0])
    np.testing.assert_allclose(flipped.landmarks, expected)
    assert flipped.source == lm_file
    # the flipped image's label is the mirror of the plain one's (yaw and roll negated)
    np.testing.assert_allclose(flipped.pose, plain.pose * [1, -1, -1], atol=1e-9)
    (p2d,) = read_300wlp(tmp_path, subsets=("AFW",), landmarks="pts_2d")
    np.testing.assert_allclose(p2d.landmarks, LM)
    (none,) = read_300wlp(tmp_path, subsets=("AFW",), landmarks=None)
    assert none.landmarks is None and none.source == tmp_path / "AFW" / "AFW_1_0.mat"


def test_300wlp_missing_pieces_stop_the_run(tmp_path):
    _write_300wlp(tmp_path)
    with pytest.raises(ReaderError, match=r"HELEN: 300W-LP subset folder missing"):
        list(read_300wlp(tmp_path))                              # default: all eight subsets
    (tmp_path / "landmarks" / "AFW" / "AFW_1_0_pts.mat").unlink()
    with pytest.raises(ReaderError, match=r"AFW_1_0_pts\.mat: annotation file missing"):
        list(read_300wlp(tmp_path, subsets=("AFW",)))
    with pytest.raises(ReaderError, match=r"AFW_Flip[/\\]AFW_1_0_pts\.mat: landmark file missing, and so is"):
        list(read_300wlp(tmp_path, subsets=("AFW_Flip",)))
    scipy.io.savemat(str(tmp_path / "landmarks" / "AFW" / "AFW_1_0_pts.mat"), {"pts_2d": LM})
    with pytest.raises(ReaderError, match=r"AFW_1_0_pts\.mat: field 'pts_3d': missing"):
        list(read_300wlp(tmp_path, subsets=("AFW",)))


def test_image_size_reads_png_and_jpeg_headers(tmp_path):
    from train.readers.common import image_size
    for ext in (".png", ".jpg"):
        cv2.imwrite(str(tmp_path / f"a{ext}"), np.zeros((17, 23, 3), np.uint8))
        assert image_size(tmp_path / f"a{ext}") == (23, 17)
    (tmp_path / "b.jpg").write_bytes(b"not an image")
    with pytest.raises(ReaderError, match=r"b\.jpg: header: not a PNG or JPEG"):
        image_size(tmp_path / "b.jpg")
