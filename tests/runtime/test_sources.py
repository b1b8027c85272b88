"""Frame sources: timestamps from the source (never the wall clock), folder order, and a
camera that drops out is re-opened with back-off."""

import cv2
import numpy as np
import pytest

from runtime.sources import (CameraSource, ImageFolderSource, ReopenPolicy, ReplaySource, SourceError,
                             VideoFileSource, iterate, open_source)


def _write_video(path, n, fps=25.0, size=(96, 64)):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, size)
    assert w.isOpened()
    for i in range(n):
        img = np.full((size[1], size[0], 3), 10 * i, np.uint8)
        w.write(img)
    w.release()


def test_video_file_timestamps_are_the_file_position_and_repeat_exactly(tmp_path):
    path = tmp_path / "clip.avi"
    _write_video(path, 8, fps=25.0)
    runs = []
    for _ in range(2):
        src = VideoFileSource(path)
        runs.append([(f.index, f.t) for f in iterate(src)])
        src.close()
    assert runs[0] == runs[1]
    assert [t for _, t in runs[0]] == pytest.approx([i / 25.0 for i in range(8)])


def test_video_file_missing_or_unreadable_is_named(tmp_path):
    with pytest.raises(SourceError, match="nope.mp4"):
        VideoFileSource(tmp_path / "nope.mp4")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(SourceError, match="bad.mp4"):
        VideoFileSource(bad)


def test_image_folder_in_natural_order_at_the_given_rate(tmp_path):
    for name in ("f10.png", "f2.png", "f1.png", "notes.txt"):
        if name.endswith(".png"):
            cv2.imwrite(str(tmp_path / name), np.full((40, 40), int(name[1:-4]), np.uint8))
        else:
            (tmp_path / name).write_text("x")
    (tmp_path / "f3.png").write_bytes(b"truncated")         # unreadable: handed on without pixels
    src = ImageFolderSource(tmp_path, fps=10.0)
    frames = list(iterate(src))
    assert [f.t for f in frames] == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert [int(f.image[0, 0]) if f.image is not None else None for f in frames] == [1, 2, None, 10]


class FakeCapture:
    """Delivers frames, then fails `fail` reads (a camera unplugged), then works again."""

    def __init__(self, script, start_ms=1000.0):
        self.script = list(script)     # True = a frame, False = a failed read
        self.ms = start_ms
        self.released = False

    def isOpened(self):
        return True

    def read(self):
        ok = self.script.pop(0) if self.script else False
        if ok:
            self.ms += 40.0
            return True, np.zeros((48, 64), np.uint8)
        return False, None

    def get(self, prop):
        return self.ms if prop == cv2.CAP_PROP_POS_MSEC else 0.0

    def release(self):
        self.released = True


def test_camera_that_disconnects_is_reopened_with_backoff_and_flags_the_frame():
    caps = [FakeCapture([True, True, False, False, False]), None, None, FakeCapture([True, True], start_ms=5000.0)]
    opened = []

    def opener(spec):
        cap = caps.pop(0)
        opened.append(cap)
        return cap if cap is not None else type("Closed", (), {"isOpened": lambda self: False})()

    sleeps = []
    src = CameraSource("nvarguscamerasrc ! appsink", fps=25.0, opener=opener, sleep=sleeps.append,
                       policy=ReopenPolicy(first_delay_s=0.25, factor=2.0, max_delay_s=4.0, max_attempts=5))
    frames = [src.read() for _ in range(4)]
    assert [f.reopened for f in frames] == [False, False, True, False]
    assert sleeps == [0.25, 0.5, 1.0]                 # two failed re-opens, then success
    assert src.reopen_count == 1 and src.failed_reads == 3 and opened[0].released
    ts = [f.t for f in frames]
    assert ts[:2] == pytest.approx([0.0, 0.04])       # the driver's buffer clock, from the first frame
    assert all(b > a for a, b in zip(ts, ts[1:]))     # monotonic across the re-open


def test_camera_gives_up_after_max_attempts_and_ends_the_stream():
    calls = []

    def opener2(spec):
        calls.append(spec)
        return FakeCapture([True]) if len(calls) == 1 else type("C", (), {"isOpened": lambda self: False})()

    src = CameraSource(0, opener=opener2, sleep=lambda s: None, policy=ReopenPolicy(max_attempts=2, failures_to_reopen=1))
    assert src.read() is not None
    assert src.read() is None                  # read fails, two re-open attempts fail: end
    assert len(calls) == 3


def test_open_source_dispatch(tmp_path):
    _write_video(tmp_path / "a.avi", 2)
    assert isinstance(open_source(str(tmp_path / "a.avi")), VideoFileSource)
    cv2.imwrite(str(tmp_path / "0001.png"), np.zeros((40, 40), np.uint8))
    assert isinstance(open_source(str(tmp_path)), ImageFolderSource)
    with pytest.raises(SourceError, match="not a video file"):
        open_source(str(tmp_path / "missing.mp4"))


def test_replay_goes_forward_then_back_without_a_jump():
    imgs = [np.full((40, 40), i, np.uint8) for i in range(4)]
    src = ReplaySource(imgs, total=9, fps=10.0, start=5)
    got = [(f.index, int(f.image[0, 0])) for f in iterate(src)]
    assert [v for _, v in got] == [0, 1, 2, 3, 2, 1, 0, 1, 2]
    assert [i for i, _ in got] == list(range(5, 14))
