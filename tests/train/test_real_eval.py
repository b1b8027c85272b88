"""The real-face yardstick (dms evaluate-real): scoring, the label crop, the teacher's CSV,
the whole command on synthetic faces written as an AFLW2000-3D folder (CI), and on the real
AFLW2000 faces in ../shared (skipped where they are not)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io

from dms.cli import main
from runtime.synthetic_source import SyntheticSource
from synth.video import frame_state, landmark_labels
from tests.train.test_readers_ddfa import ddfa_angles_of
from train.readers import read_aflw2000
from train.real_eval import FaceResult, angle_errors, geodesic_deg, landmark_head, read_teacher, summarise

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "default"
SHARED_AFLW = ROOT.parent / "shared" / "realdata" / "aflw2000_64"
needs_shared = pytest.mark.skipif(not SHARED_AFLW.is_dir(),
                                  reason="../shared/realdata/aflw2000_64 (research-only real faces) is not on this "
                                         "machine; CI never has it")
BINS = ((0.0, 30.0), (30.0, 60.0), (60.0, 99.0))


def face(name, truth, pred):
    return FaceResult(name, Path(name), "runtime", truth, pred, None, (0, 0, 10))


def test_angle_errors_wrap_around_180():
    assert angle_errors(np.array([179.0, -179.0, 10.0]), np.array([-179.0, 179.0, -10.0])).tolist() == [2.0, 2.0, 20.0]


def test_summary_by_hand():
    faces = [face("a", (0, 10, 0), (2, 14, -1)),        # errors 2, 4, 1
             face("b", (5, -40, 0), (5, -30, 3)),       # errors 0, 10, 3
             face("c", (0, 70, 0), None)]               # not found
    s = summarise(faces, BINS)
    assert (s["total"], s["found"]) == (3, 2)
    assert s["pitch"]["mae"] == pytest.approx(1.0) and s["yaw"]["mae"] == pytest.approx(7.0)
    assert s["roll"]["mae"] == pytest.approx(2.0)
    assert s["overall"]["mae"] == pytest.approx((7 / 3 + 13 / 3) / 2)
    assert s["overall"]["median"] == pytest.approx((7 / 3 + 13 / 3) / 2)
    bins = {b["yaw_from"]: b for b in s["yaw_bins"]}
    assert (bins[0.0]["found"], bins[0.0]["total"]) == (1, 1) and bins[0.0]["mae"] == pytest.approx([2, 4, 1])
    assert (bins[30.0]["found"], bins[30.0]["total"]) == (1, 1)
    assert (bins[60.0]["found"], bins[60.0]["total"], bins[60.0]["mae"]) == (0, 1, None)
    assert s["bias"] == pytest.approx([1.0, 7.0, 1.0])
    # face b is off by a rotation about one axis after another; a alone, checked with scipy
    from scipy.spatial.transform import Rotation

    from dms.angles import euler_to_matrix
    ra, ta = euler_to_matrix((2, 14, -1)), euler_to_matrix((0, 10, 0))
    want_a = np.degrees(Rotation.from_matrix(ra.T @ ta).magnitude())
    assert s["geodesic"]["mae"] == pytest.approx((want_a + float(geodesic_deg([(5, -30, 3)], [(5, -40, 0)])[0])) / 2)
    assert geodesic_deg([(0, 25, 0)], [(0, -5, 0)])[0] == pytest.approx(30.0)


# ------------------------------------------------------------------ synthetic AFLW folder
FRAMES = ((0, 0), (0, 100), (0, 200), (5, 0), (5, 120))   # (seed, frame): yaw 35-68 and frontal


@pytest.fixture(scope="module")
def synth_aflw(tmp_path_factory):
    """Synthetic faces written exactly as AFLW2000-3D stores a face: .jpg + .mat with
    Pose_Para (3DDFA's angles, radians) and pt3d_68 (MATLAB 1-based pixels)."""
    out = tmp_path_factory.mktemp("aflw")
    truth = {}
    heads = {}
    intrinsics = None
    for seed, i in FRAMES:
        src = SyntheticSource(seed=seed, frames=i + 1, noise=False)
        img = src.render(i)
        t = src.truth(i)
        lab = landmark_labels(src.plan.scene, frame_state(src.plan.motion, src.geometry, i))
        pts = np.vstack([lab["landmarks_full"].T + 1.0, np.zeros((1, 68))]).astype(np.float32)
        name = f"image{seed:02d}{i:03d}"
        cv2.imwrite(str(out / f"{name}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
        pose_para = np.array([[*ddfa_angles_of(t["pose_camera"]), 0.0, 0.0, 0.0, 1.0]], np.float32)
        scipy.io.savemat(out / f"{name}.mat", {"Pose_Para": pose_para, "pt3d_68": pts})
        truth[name + ".jpg"] = t["pose_camera"]
        heads[name + ".jpg"] = (t["head_box"], lab["landmarks_full"])
        intrinsics = src.intrinsics
    return out, truth, heads, intrinsics


def test_the_label_crop_is_the_head_box_synth_trains_on(synth_aflw):
    folder, truth, heads, _ = synth_aflw
    for name, (box, landmarks) in heads.items():
        det = landmark_head(landmarks, truth[name])
        radius = (box[2] - box[0]) / 2
        centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
        # within a tenth of a head radius of the head centre, whatever the yaw (a landmark
        # box's centre is a third of a head off at 40 deg)
        assert np.hypot(*(np.array(det.centre) - centre)) < 0.1 * radius, name
        # the size: the fit is at the face's depth, closer to this 0.6 m camera than the
        # head centre (perspective), so up to 15 % larger
        assert 0.95 < det.size / (2 * radius) < 1.15, name


def test_evaluate_real_on_synthetic_faces_in_the_aflw_format(synth_aflw, tmp_path, capsys):
    folder, truth, _, k = synth_aflw
    out = tmp_path / "report"
    rc = main(["evaluate-real", "--model", str(MODEL), "--data", str(folder), "--out", str(out), "--quiet",
               "--intrinsics", f"{k.fx},{k.fy},{k.cx},{k.cy}", "--worst", "3"])
    assert rc == 0
    for f in ("report.md", "report.json", "scatter.png", "worst_runtime.png", "worst_labels.png"):
        assert (out / f).is_file() and (out / f).stat().st_size > 0, f
    rep = json.loads((out / "report.json").read_text())
    assert rep["faces_scored"] == len(FRAMES) and rep["dropped"] == []
    # the labels went through the AFLW reader's convention mapping and back: the truth the
    # report scores against is the synthetic pose
    for row in rep["per_face"]["labels"]:
        assert row["truth"] == pytest.approx(truth[row["name"]], abs=1e-3)
    # the shipped model reads synthetic faces to a couple of degrees (1.7 on its held-out
    # split): a wrong sign anywhere in the mapping would cost tens of degrees on these turns
    for mode in ("runtime", "labels"):
        r = rep["rows"][mode]
        assert r["found"] == len(FRAMES), mode
        assert r["overall"]["mae"] < 4.0 and r["yaw"]["mae"] < 6.0, (mode, r)
    assert rep["crop_agreement"]["off_the_face"] == 0
    printed = capsys.readouterr().out
    assert "| ours, runtime crop" in printed
    assert "teacher (MediaPipe" not in printed          # no teacher CSV beside these faces


def test_a_dataset_file_that_cannot_be_read_is_named(tmp_path):
    (tmp_path / "image00001.mat").write_bytes(b"not a mat file")
    with pytest.raises(SystemExit, match="image00001.mat"):
        main(["evaluate-real", "--model", str(MODEL), "--data", str(tmp_path), "--quiet", "--no-png",
              "--out", str(tmp_path / "r")])


# ------------------------------------------------------------------ the teacher's CSV
def test_teacher_rows_are_mapped_from_the_aflw_convention(tmp_path):
    path = tmp_path / "teacher.csv"
    path.write_text("file,found,pitch_deg,yaw_deg,roll_deg\na.jpg,1,0,30,0\nb.jpg,0,,,\nc.jpg,1,0,0,20\n")
    got = read_teacher(path, ["a.jpg", "b.jpg", "c.jpg"])
    assert got["a.jpg"] == pytest.approx((0.0, 30.0, 0.0), abs=1e-9)     # yaw keeps its sign
    assert got["b.jpg"] is None
    assert got["c.jpg"] == pytest.approx((0.0, 0.0, -20.0), abs=1e-9)    # AFLW roll is the other way
    path.write_text("file,found,pitch_deg,yaw_deg,roll_deg\na.jpg,1,0,x,0\n")
    with pytest.raises(ValueError, match="line 2"):
        read_teacher(path, ["a.jpg"])
    path.write_text("file,found,pitch_deg,yaw_deg,roll_deg\na.jpg,1,0,30,0\n")
    with pytest.raises(ValueError, match="no row for 1 image"):
        read_teacher(path, ["a.jpg", "missing.jpg"])
    path.write_text("file,found,yaw\na.jpg,1,0\n")
    with pytest.raises(ValueError, match="line 1"):
        read_teacher(path, ["a.jpg"])


# ------------------------------------------------------------------ real faces (../shared)
@needs_shared
def test_angle_convention_on_hand_checked_real_faces():
    """Looked at by eye (closing note of the yardstick issue): image00468, the man turned
    to his own right, his nose to the image left (AFLW yaw +67); image02424, the woman's
    head tilted onto her left shoulder, crown to the image right (AFLW roll +25);
    image03791, head tilted onto her right shoulder (AFLW roll -40)."""
    got = {s.image.stem: s for s in read_aflw2000(SHARED_AFLW)}
    man = got["image00468"]
    assert man.pose[1] > 60                                         # dms: yaw > 0 = the driver's right
    assert man.landmarks[30, 0] < man.landmarks[:, 0].mean() - 20    # nose tip left of the face
    left_shoulder, right_shoulder = got["image02424"], got["image03791"]
    assert left_shoulder.pose[2] < -20 and right_shoulder.pose[2] > 30   # dms: roll > 0 = right shoulder
    # the image-left eye (the subject's right, iBUG 36-41) is higher when the crown goes right
    def eye_drop(s):
        return s.landmarks[36:42, 1].mean() - s.landmarks[42:48, 1].mean()

    assert eye_drop(left_shoulder) < -20 and eye_drop(right_shoulder) > 20


@needs_shared
def test_shipped_model_on_aflw2000_64(tmp_path):
    """Structure and finiteness only: the shipped model does not read real faces yet
    (the accuracy goal is the real-world-accuracy issue's)."""
    out = tmp_path / "real"
    assert main(["evaluate-real", "--model", str(MODEL), "--data", str(SHARED_AFLW), "--out", str(out),
                 "--quiet"]) == 0
    rep = json.loads((out / "report.json").read_text())
    assert rep["faces_scored"] == 64
    assert set(rep["rows"]) >= {"runtime", "labels", "teacher", "runtime@teacher", "labels@teacher"}
    for key, row in rep["rows"].items():
        assert 0 < row["found"] <= row["total"] <= 64, key
        for name in ("pitch", "yaw", "roll", "overall"):
            for stat in ("mae", "median", "p90"):
                assert np.isfinite(row["geodesic"][stat]), (key, stat)
                assert np.isfinite(row[name][stat]), (key, name, stat)
        assert [b["yaw_from"] for b in row["yaw_bins"]] == [0.0, 30.0, 60.0]
    assert rep["rows"]["labels"]["found"] == 64
    assert len(rep["worst"]["runtime"]) == 12
    md = (out / "report.md").read_text()
    assert "not ours" in md and "| ours, runtime crop" in md
