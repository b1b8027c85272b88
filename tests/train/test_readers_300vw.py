"""300-VW reader and the iBUG .pts parser on a tiny video written with cv2.VideoWriter."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from train.readers import ReaderError, read_300vw, read_300vw_video, read_pts

PTS = np.column_stack([np.linspace(3, 28, 68), np.linspace(2, 20, 68)])   # MATLAB (1-based)


def pts_text(pts=PTS, n_points="68") -> str:
    body = "\n".join(f"{x:.3f} {y:.3f}" for x, y in pts)
    return f"version: 1\nn_points:  {n_points}\n{{\n{body}\n}}\n"


def write_video(folder: Path, frames: int = 4, size=(32, 24)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "vid.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, size)
    assert writer.isOpened()
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), 40 * i, np.uint8))
    writer.release()
    return path


def write_annot(folder: Path, numbers, pts=PTS):
    (folder / "annot").mkdir(parents=True, exist_ok=True)
    for n in numbers:
        (folder / "annot" / f"{n:06d}.pts").write_text(pts_text(pts + n))


def test_reads_frames_in_order_with_zero_based_indices(tmp_path):
    video = write_video(tmp_path / "001", frames=4)
    write_annot(tmp_path / "001", [1, 2, 3, 4])
    seq = read_300vw_video(tmp_path / "001")
    assert seq.video == video
    assert [s.frame_index for s in seq.samples] == [0, 1, 2, 3]        # 000001.pts = first frame
    assert all(s.image == video and s.pose is None and s.is_video_frame for s in seq.samples)
    np.testing.assert_allclose(seq.samples[2].landmarks, PTS + 3 - 1.0, atol=1e-3)   # MATLAB -> OpenCV
    assert seq.samples[2].source == tmp_path / "001" / "annot" / "000003.pts"
    cap = cv2.VideoCapture(str(video))                                   # the fixture is a real video
    ok, frame = cap.read()
    cap.release()
    assert ok and frame.shape == (24, 32, 3)


def test_fewer_annotations_than_frames_is_fine_more_is_an_error(tmp_path):
    write_video(tmp_path / "002", frames=3)
    write_annot(tmp_path / "002", [1, 2])
    assert len(read_300vw_video(tmp_path / "002").samples) == 2
    write_annot(tmp_path / "002", [3, 4])
    with pytest.raises(ReaderError, match=r"vid\.avi: frame count: 3 frames, but annot/ labels frames up to 4"):
        read_300vw_video(tmp_path / "002")
    assert len(read_300vw_video(tmp_path / "002", check_frame_count=False).samples) == 4


def test_a_gap_in_the_numbering_names_the_missing_file(tmp_path):
    write_video(tmp_path / "003")
    write_annot(tmp_path / "003", [1, 2, 4])
    with pytest.raises(ReaderError, match=r"annot[/\\]000003\.pts: file missing \(frames 1\.\.4 are annotated\)"):
        read_300vw_video(tmp_path / "003")


def test_missing_video_or_annotations(tmp_path):
    write_annot(tmp_path / "004", [1])
    with pytest.raises(ReaderError, match=r"004[/\\]vid\.avi: video file missing"):
        list(read_300vw(tmp_path))
    write_video(tmp_path / "005")
    with pytest.raises(ReaderError, match=r"005[/\\]annot: annotation folder missing"):
        read_300vw_video(tmp_path / "005")
    with pytest.raises(ReaderError, match="no video folders"):
        list(read_300vw(tmp_path / "005"))


def test_read_300vw_walks_video_folders(tmp_path):
    for name in ("010", "007"):
        write_video(tmp_path / name, frames=2)
        write_annot(tmp_path / name, [1, 2])
    (tmp_path / "docs").mkdir()
    assert [s.video.parent.name for s in read_300vw(tmp_path)] == ["007", "010"]


@pytest.mark.parametrize("mutate, match", [
    (lambda t: t.replace("n_points:  68", "n_points:  49"), r"line 2: expected n_points: 68, got '49'"),
    (lambda t: t.replace("version: 1", "versoin: 1"), r"line 1: expected 'version: \.\.\.'"),
    (lambda t: t.replace("{", "[", 1), r"line 3: expected '\{', got '\['"),
    (lambda t: "\n".join(l if i != 9 else "12.5 abc" for i, l in enumerate(t.splitlines())),
     r"line 10: expected 2 numbers, got '12.5 abc'"),
    (lambda t: "\n".join(l if i != 20 else "1 2 3" for i, l in enumerate(t.splitlines())),
     r"line 21: expected 2 numbers, got '1 2 3'"),
    (lambda t: "\n".join(t.splitlines()[:40]) + "\n}\n", r"line 41: '\}' after 37 points, expected 68"),
    (lambda t: "\n".join(t.splitlines()[:40]), r"line 41: file ends after 37 points"),
    (lambda t: t.replace("}\n", "") + "5 5\n", r"line 72: expected '\}' after 68 points, got '5 5'"),
    (lambda t: t + "extra\n", r"line 73: unexpected text after '\}'"),
    (lambda t: "version: 1\n", r"line 2: truncated header"),
])
def test_malformed_pts_names_the_file_and_line(tmp_path, mutate, match):
    path = tmp_path / "000001.pts"
    path.write_text(mutate(pts_text()))
    with pytest.raises(ReaderError, match=match) as err:
        read_pts(path)
    assert err.value.path == path and str(err.value).startswith(str(path))


def test_pts_tolerates_trailing_blank_lines_and_reports_missing_files(tmp_path):
    path = tmp_path / "a.pts"
    path.write_text(pts_text() + "\n\n")
    np.testing.assert_allclose(read_pts(path), PTS - 1.0, atol=1e-3)
    with pytest.raises(ReaderError, match=r"b\.pts: file missing"):
        read_pts(tmp_path / "b.pts")
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ReaderError, match=r"a\.pts: not a text file"):
        read_pts(path)
