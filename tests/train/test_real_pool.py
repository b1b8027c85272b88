"""The pseudo-labelled real-face pool, on a stand-in realdata folder written at test time
(the real one is research-only and never a CI dependency): faces are cut where the car
would cut them, bad labels are vetted out and counted, every error names its file."""

import csv
import json

import cv2
import numpy as np
import pytest

from dms.angles import euler_to_matrix
from dms.perspective import Intrinsics, ray_rotation
from runtime.crop import Window, cut
from runtime.detection import Detection
from train.real_eval import HEAD_RADIUS_M
from train.real_pool import (CLIPS_CSV, CROP_SIZE, STILLS_CSV, STILLS_DIR, STILLS_POINTS, RealPool, RealPoolConfig,
                             RealPoolError, build_pool, five_point_model, teacher_pose, to_nir)

SIZE = 120


def project(pose, centre, radius_px):
    """The model's 5 points at this pose, as image pixels of a head at centre with this radius."""
    x = five_point_model() @ euler_to_matrix(pose).T
    s = radius_px / HEAD_RADIUS_M
    return np.column_stack([centre[0] - s * x[:, 1], centre[1] + s * x[:, 2]])


class FixedLocaliser:
    """Returns the head box it is told to, per call (None = nothing found)."""

    name = "stub"

    def __init__(self, boxes):
        self.boxes = list(boxes)
        self.frames = []

    def locate(self, frame):
        self.frames.append(frame.shape)
        return self.boxes.pop(0) if self.boxes else None


def head_box(centre, radius, scale=1.0):
    return Detection(centre[0] - radius, centre[1] - radius, centre[0] + radius, centre[1] + radius, 1.0, "stub")


def write_stills(root, faces):
    """faces: (name, teacher angles AFLW deg or None, centre, radius_px, points override)."""
    folder = root / STILLS_DIR / "lfw_5590"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    lines, rows = [], []
    for name, angles, centre, radius, pts in faces:
        img = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
        cv2.imwrite(str(folder / name), img)
        if pts is None:
            pts = project(teacher_pose(*(angles or (0.0, 0.0, 0.0))), centre, radius)
        lines.append(f"lfw_5590/{name} " + " ".join(f"{v:.4f}" for v in list(pts[:, 0]) + list(pts[:, 1])))
        found = angles is not None
        a = angles if found else (0, 0, 0)
        rows.append({"file": f"cuhk_cnn_facepoint_80px/lfw_5590/{name}", "found": int(found), "pitch_deg": a[0],
                     "yaw_deg": a[1], "roll_deg": a[2], "eyeBlinkLeft": 0, "eyeBlinkRight": 0, "jawOpen": 0})
    (root / STILLS_POINTS).write_text("\n".join(lines) + "\n")
    with open(root / STILLS_CSV, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def write_clip(root, name, frames, angles):
    path = root / "real_faces" / "videos" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (SIZE, SIZE))
    for i in range(frames):
        vw.write(np.full((SIZE, SIZE, 3), 20 + 10 * i, np.uint8))
    vw.release()
    return [{"clip": f"videos/{name}", "frame": i, "t_s": i / 25, "found": 1, "pitch_deg": angles[0],
             "yaw_deg": angles[1], "roll_deg": angles[2], "eyeBlinkLeft": 0, "eyeBlinkRight": 0, "jawOpen": 0}
            for i in range(frames)]


def write_clips_csv(root, rows):
    with open(root / CLIPS_CSV, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


@pytest.fixture
def realdata(tmp_path):
    root = tmp_path / "realdata"
    write_stills(root, [
        ("A_0001.jpg", (5.0, 10.0, -3.0), (60.0, 55.0), 30.0, None),
        ("B_0001.jpg", (0.0, -20.0, 4.0), (50.0, 65.0), 26.0, None),
        ("C_0001.jpg", None, (60.0, 60.0), 30.0, None),                  # the teacher found no face
        ("D_0001.jpg", (0.0, 0.0, 0.0), (60.0, 60.0), 30.0,              # points that fit no head
         np.array([[40.0, 40.0], [80.0, 40.0], [60.0, 95.0], [45.0, 20.0], [75.0, 80.0]])),
    ])
    return root


def test_stills_are_cut_as_the_car_cuts_them_with_the_teachers_pose(realdata, tmp_path):
    loc = FixedLocaliser([head_box((180, 165), 90), head_box((150, 195), 78)])   # 3x upscaled, agreeing
    m = build_pool(realdata, tmp_path / "pool", RealPoolConfig(clips=False), localiser=loc, progress=False)
    assert m["stats"]["stills"] == 2 and m["stats"]["stills_no_teacher"] == 1 and m["stats"]["stills_bad_fit"] == 1
    assert all(shape == (3 * SIZE, 3 * SIZE, 3) for shape in loc.frames)        # vetted on the upscaled still
    pool = RealPool.load(tmp_path / "pool")
    assert pool.crops.shape == (2, CROP_SIZE, CROP_SIZE) and pool.crops.dtype == np.uint8
    np.testing.assert_allclose(pool.pose_camera[0], teacher_pose(5.0, 10.0, -3.0), atol=1e-4)
    # independently: the stored crop is 1.6 head heights around the head centre, the
    # runtime's resampler, NIR-weighted grey
    img = cv2.imread(str(realdata / STILLS_DIR / "lfw_5590" / "A_0001.jpg"))
    side = round(2 * 30.0 * 1.6)
    want = cut(to_nir(img), Window(round(60 - side / 2), round(55 - side / 2), side), (CROP_SIZE, CROP_SIZE))
    assert np.abs(pool.crops[0].astype(int) - want.astype(int)).max() <= 1
    centre = Window(round(60 - side / 2), round(55 - side / 2), side).centre
    np.testing.assert_allclose(pool.rays[0], ray_rotation(*centre, Intrinsics.from_hfov((SIZE, SIZE), 50.0)), atol=1e-6)
    assert pool.group.tolist() == [0, 1] and pool.kind.tolist() == [0, 0]
    man = json.loads((tmp_path / "pool" / "manifest.json").read_text())
    assert set(man["inputs_sha256"]) == {STILLS_CSV, STILLS_POINTS}


def test_stills_whose_label_the_localiser_contradicts_are_left_out(realdata, tmp_path):
    # A's box is 1.2 head sizes off (a shifted label); B's is found at twice the size
    loc = FixedLocaliser([head_box((180 + 216, 165), 90), head_box((150, 195), 160)])
    with pytest.raises(RealPoolError, match="no face was kept"):
        build_pool(realdata, tmp_path / "pool", RealPoolConfig(clips=False), localiser=loc, progress=False)
    loc = FixedLocaliser([None, head_box((150, 195), 78)])
    m = build_pool(realdata, tmp_path / "pool", RealPoolConfig(clips=False), localiser=loc, progress=False)
    assert m["stats"]["stills"] == 1 and m["stats"]["stills_localiser_disagrees"] == 1


def test_video_frames_use_the_localisers_box_every_nth_frame_and_skip_multi_face(realdata, tmp_path):
    rows = write_clip(realdata, "talk.avi", 6, (2.0, 15.0, 1.0)) + write_clip(realdata, "multi_face.avi", 4, (0, 0, 0))
    rows[2]["found"] = 0                                   # the teacher lost frame 2: not used
    write_clips_csv(realdata, rows)
    boxes = [head_box((60, 60), 25), head_box((62, 58), 25)]
    loc = FixedLocaliser(boxes)
    m = build_pool(realdata, tmp_path / "pool", RealPoolConfig(stills=False, clip_stride=2), localiser=loc,
                   progress=False)
    # frames 0, 2, 4 by stride; 2 has no teacher pose; the localiser finds 0 and 4
    assert m["stats"]["clip_frames"] == 2 and m["stats"]["clip_frames_not_located"] == 0
    pool = RealPool.load(tmp_path / "pool")
    assert pool.kind.tolist() == [1, 1] and len(set(pool.group.tolist())) == 1
    np.testing.assert_allclose(pool.pose_camera[1], teacher_pose(2.0, 15.0, 1.0), atol=1e-4)
    assert abs(int(pool.crops[0].mean()) - 20) <= 2 and abs(int(pool.crops[1].mean()) - 60) <= 2   # frames 0 and 4


def test_errors_name_the_file_line_and_field(realdata, tmp_path):
    with pytest.raises(RealPoolError, match="new_training.txt: not found"):
        build_pool(tmp_path / "nowhere", tmp_path / "pool", RealPoolConfig(clips=False), progress=False)
    text = (realdata / STILLS_CSV).read_text().replace("10.0,-3.0", "ten,-3.0")
    (realdata / STILLS_CSV).write_text(text)
    with pytest.raises(RealPoolError, match=r"teacher_mediapipe_images.csv: line 2: field 'yaw_deg'"):
        build_pool(realdata, tmp_path / "pool", RealPoolConfig(clips=False), progress=False)


def test_a_pool_that_changed_after_it_was_written_is_refused(realdata, tmp_path):
    build_pool(realdata, tmp_path / "pool", RealPoolConfig(clips=False), progress=False)
    with open(tmp_path / "pool" / "pool.npz", "ab") as f:
        f.write(b"x")
    with pytest.raises(RealPoolError, match="pool.npz: sha256 differs"):
        RealPool.load(tmp_path / "pool")
    with pytest.raises(RealPoolError, match="manifest.json: not found"):
        RealPool.load(tmp_path / "elsewhere")


def test_teacher_angles_turn_the_nose_the_way_the_realdata_readme_saw_them():
    """The teacher speaks AFLW2000's convention; the realdata README checked its signs on
    images: yaw > 0 turns the face to image left, pitch > 0 lifts the chin, roll > 0 turns
    the top of the head to image right. In dms-head-v1's camera frame F, y is image left
    and z image down."""
    from dms.angles import nose_direction

    assert nose_direction(teacher_pose(0.0, 30.0, 0.0))[1] > 0.4        # nose to image left
    assert nose_direction(teacher_pose(0.0, -30.0, 0.0))[1] < -0.4
    assert nose_direction(teacher_pose(20.0, 0.0, 0.0))[2] < -0.3        # nose up
    up = euler_to_matrix(teacher_pose(0.0, 0.0, 25.0)) @ np.array([0.0, 0.0, -1.0])   # the head's top
    assert up[1] < -0.3                                                  # towards image right


def test_rotated_copies_keep_their_sources_trust_and_can_be_left_out_of_training(realdata, tmp_path):
    from train.config import RealConfig
    from train.real_mix import real_splits
    from train.real_rotate import RotateConfig

    build_pool(realdata, tmp_path / "pool", RealPoolConfig(clips=False), progress=False,
               rotate=RotateConfig(per_face=2, seed=1))
    pool = RealPool.load(tmp_path / "pool")
    rotated = pool.kind == 2
    assert rotated.sum() == 4 and (~rotated).sum() == 2            # both stills are within 30 deg
    src = {int(g): float(y) for g, y, r in zip(pool.group, pool.pose_camera[:, 1], rotated) if not r}
    for g, ty, y in zip(pool.group[rotated], pool.teacher_yaw[rotated], pool.pose_camera[rotated, 1]):
        assert ty == pytest.approx(src[int(g)], abs=1e-4)        # weighted as the face the teacher saw
        assert abs(y) >= 25.0                                     # and turned out to the missing angles
    train, _ = real_splits(pool, RealConfig(val_fraction=0.0), "camera")
    assert len(train) == 6 and np.all(train.pose_weight == 1.0)
    train, _ = real_splits(pool, RealConfig(val_fraction=0.0, kinds=("still",)), "camera")
    assert len(train) == 2
