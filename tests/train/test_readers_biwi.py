"""BIWI Kinect Head Pose reader on a tiny sequence written in the dataset's format."""

from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from dms.angles import euler_to_matrix
from train.readers import ReaderError, pose_from_biwi, read_biwi, read_biwi_sequence
from train.readers.biwi import head_radius_px, read_calibration

# dms-head-v1's axes in the Kinect depth camera's (OpenCV) frame, from the words alone:
# x image right, y down, z forward; towards the camera = -z, the subject's right (who faces
# the camera) = image left = -x, down = +y.
F_IN_CV = np.column_stack([[0, 0, -1.0], [-1.0, 0, 0], [0, 1.0, 0]])

K_RGB = np.array([[517.679, 0, 320], [0, 517.679, 240.5], [0, 0, 1]])
K_DEPTH = np.array([[575.816, 0, 320], [0, 575.816, 240], [0, 0, 1]])
R_RGB = Rotation.from_euler("xyz", [0.9, -0.5, 0.3], degrees=True).as_matrix()
T_RGB = np.array([-24.0198, 5.8896, -13.2308])


def hopenet_biwi(m):
    """HopeNet's decoding of a BIWI pose file (deep-head-pose code/datasets.py, BIWI)."""
    r = m.T
    roll = -np.degrees(np.arctan2(r[1, 0], r[0, 0]))
    yaw = -np.degrees(np.arctan2(-r[2, 0], np.sqrt(r[2, 1] ** 2 + r[2, 2] ** 2)))
    pitch = np.degrees(np.arctan2(r[2, 1], r[2, 2]))
    return np.array([pitch, yaw, roll])


def _fmt(rows):
    return "\n".join(" ".join(f"{v:.9f}" for v in row) + " " for row in np.atleast_2d(rows))


def write_cal(path: Path, k, r, t, size=True):
    text = f"{_fmt(k)}\n\n0 0 0 0 \n\n{_fmt(r)}\n\n{_fmt(t)}\n"
    if size:
        text += "\n640 480\n"
    path.write_text(text)


def write_pose(path: Path, m, centre):
    path.write_text(f"{_fmt(m)}\n\n{_fmt(centre)}\n")


def write_sequence(folder: Path, poses_depth, centres, numbers, r_rgb=R_RGB, t_rgb=T_RGB):
    folder.mkdir(parents=True)
    write_cal(folder / "rgb.cal", K_RGB, r_rgb, t_rgb)
    write_cal(folder / "depth.cal", K_DEPTH, np.eye(3), np.zeros(3))
    for n, m, c in zip(numbers, poses_depth, centres):
        cv2.imwrite(str(folder / f"frame_{n:05d}_rgb.png"), np.zeros((6, 8, 3), np.uint8))
        write_pose(folder / f"frame_{n:05d}_pose.txt", m, c)


@pytest.mark.parametrize("axis", ["x", "y", "z"])
def test_single_axis_rotations_agree_with_hopenet_signs_but_roll(axis):
    # HopeNet's convention is 300W-LP's: pitch and yaw share dms-head-v1's signs, roll is
    # the opposite (see train.readers.ddfa).
    m = Rotation.from_euler(axis, 25.0, degrees=True).as_matrix()
    ours = pose_from_biwi(m)
    hp = hopenet_biwi(m)
    np.testing.assert_allclose(ours, hp * [1, 1, -1], atol=1e-9)
    assert abs(ours).max() == pytest.approx(25.0)


def test_pitch_up_moves_the_nose_up_in_the_image():
    # A head pitched up in dms-head-v1, written as BIWI would store it: the nose direction
    # (F.x) in the camera must point up the image (negative y in OpenCV).
    m = F_IN_CV @ euler_to_matrix([20.0, 0.0, 0.0]) @ F_IN_CV.T
    nose_cv = m @ [0, 0, -1.0]          # the head's "towards the camera" axis at neutral is -z
    assert nose_cv[1] < -0.3
    assert hopenet_biwi(m)[0] == pytest.approx(20.0)


def test_composite_rotations_round_trip_through_pose_files(tmp_path):
    rng = np.random.default_rng(1)
    poses = np.column_stack([rng.uniform(-50, 50, 6), rng.uniform(-75, 75, 6), rng.uniform(-40, 40, 6)])
    # the pose relative to the RGB camera, built with dms.angles; BIWI stores it relative
    # to the depth camera: M_depth = R_rgb^T M_rgb
    m_depth = [R_RGB.T @ F_IN_CV @ euler_to_matrix(p) @ F_IN_CV.T for p in poses]
    centres = [np.array([40.0 + i, -30.0, 900.0 + 10 * i]) for i in range(6)]
    write_sequence(tmp_path / "01", m_depth, centres, numbers=[3, 4, 5, 7, 8, 10])
    seq = read_biwi_sequence(tmp_path / "01")
    np.testing.assert_allclose([s.pose for s in seq.samples], poses, atol=1e-5)
    assert [s.frame_number for s in seq.samples] == [3, 4, 5, 7, 8, 10]     # gaps kept visible
    s = seq.samples[0]
    assert s.image == tmp_path / "01" / "frame_00003_rgb.png"
    assert s.source == tmp_path / "01" / "frame_00003_pose.txt"
    assert s.landmarks is None and s.frame_index is None
    c_rgb = R_RGB @ centres[0] + T_RGB
    np.testing.assert_allclose(s.head_centre_mm, c_rgb, atol=1e-6)
    np.testing.assert_allclose(s.head_centre_px, [517.679 * c_rgb[0] / c_rgb[2] + 320, 517.679 * c_rgb[1] / c_rgb[2] + 240.5])
    assert head_radius_px(s, seq.rgb) == pytest.approx(517.679 * 120 / c_rgb[2])
    np.testing.assert_allclose(seq.rgb.intrinsics, K_RGB)
    assert seq.rgb.size == (640, 480) and seq.depth.rotation.tolist() == np.eye(3).tolist()


def test_read_biwi_walks_the_numbered_folders(tmp_path):
    for name in ("02", "01"):
        write_sequence(tmp_path / name, [np.eye(3)], [np.array([0, 0, 1000.0])], numbers=[0])
    (tmp_path / "not_a_sequence").mkdir()
    assert [s.folder.name for s in read_biwi(tmp_path)] == ["01", "02"]
    with pytest.raises(ReaderError, match="no sequence folders"):
        list(read_biwi(tmp_path / "01"))


def _good(tmp_path):
    write_sequence(tmp_path / "05", [np.eye(3)] * 2, [np.array([0, 0, 1000.0])] * 2, numbers=[12, 13])
    return tmp_path / "05"


def test_malformed_pose_file_names_file_and_line(tmp_path):
    folder = _good(tmp_path)
    pose = folder / "frame_00012_pose.txt"
    lines = pose.read_text().splitlines()
    lines[1] = "0 abc 0"
    pose.write_text("\n".join(lines) + "\n")
    with pytest.raises(ReaderError, match=r"frame_00012_pose\.txt: line 2: expected 3 numbers, got '0 abc 0'") as e:
        read_biwi_sequence(folder)
    assert e.value.path == pose and e.value.where == "line 2"
    write_pose(pose, np.eye(3) * 1.5, [0, 0, 1000.0])
    with pytest.raises(ReaderError, match=r"frame_00012_pose\.txt: lines 1-3: not a rotation matrix"):
        read_biwi_sequence(folder)
    pose.write_text(_fmt(np.eye(3)) + "\n\n1 2\n")
    with pytest.raises(ReaderError, match=r"line 5: expected 3 numbers, got '1 2'"):
        read_biwi_sequence(folder)
    pose.write_text(_fmt(np.eye(3)) + "\n")
    with pytest.raises(ReaderError, match=r"frame_00012_pose\.txt: line 4: expected the head centre"):
        read_biwi_sequence(folder)


def test_missing_files_are_errors_not_skips(tmp_path):
    folder = _good(tmp_path)
    (folder / "frame_00013_pose.txt").unlink()
    with pytest.raises(ReaderError, match=r"frame_00013_pose\.txt: file missing"):
        read_biwi_sequence(folder)
    folder = _good(tmp_path / "b")
    (folder / "frame_00012_rgb.png").unlink()
    with pytest.raises(ReaderError, match=r"frame_00012_rgb\.png: file missing"):
        read_biwi_sequence(folder)
    (folder / "rgb.cal").unlink()
    with pytest.raises(ReaderError, match=r"rgb\.cal: file missing"):
        read_biwi_sequence(folder)


def test_malformed_calibration_names_the_line(tmp_path):
    cal = tmp_path / "rgb.cal"
    write_cal(cal, K_RGB, R_RGB, T_RGB)
    c = read_calibration(cal)
    np.testing.assert_allclose(c.translation, T_RGB)
    np.testing.assert_allclose(c.rotation, R_RGB, atol=1e-8)
    lines = cal.read_text().splitlines()
    bad = list(lines)
    bad[6] = "1 0"                                        # first rotation row
    cal.write_text("\n".join(bad) + "\n")
    with pytest.raises(ReaderError, match=r"rgb\.cal: line 7: expected 3 numbers, got '1 0'"):
        read_calibration(cal)
    cal.write_text("\n".join(lines[:9]) + "\n")          # cut before the translation
    with pytest.raises(ReaderError, match=r"rgb\.cal: line 9: expected intrinsics, distortion, rotation and translation"):
        read_calibration(cal)
    write_cal(cal, K_RGB, R_RGB, T_RGB, size=False)       # the image size line is optional
    assert read_calibration(cal).size is None
