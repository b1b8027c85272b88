"""Frame sources: a video file, a camera (index or GStreamer pipeline), an image folder.

Every frame carries its own timestamp from the source, never from the wall clock: a file's
frame i is at i / fps (its position), an image folder's likewise at the configured rate, a
camera's is the capture time the driver stamps on the buffer (CAP_PROP_POS_MSEC), or the
monotonic clock at grab when the driver gives none. So a file always gives the same result,
and the alert clocks measure the driver, not the machine's load.

Sources never raise on a bad frame: they hand it on and the loop counts and skips it
(runtime.frames.check_frame). A camera that stops delivering is re-opened with
exponential back-off; the first frame after that has ``reopened`` set so that the loop
resets the recurrent state (the driver may have moved, time has jumped).
The live synthetic source is in runtime.synthetic_source (it needs the synth room).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

import numpy as np

# When a container does not say its rate (some MJPG/AVI files report 0).
DEFAULT_FPS = 30.0
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm", ".tif", ".tiff")


class SourceError(RuntimeError):
    """A source that cannot be opened at all (names the path, index or pipeline)."""


@dataclass
class Frame:
    """One frame: index in the source, timestamp (s), pixels (uint8 gray or BGR; may be
    None or malformed: the loop checks), and whether the source was re-opened before it."""

    index: int
    t: float
    image: np.ndarray | None
    reopened: bool = False
    truth: dict[str, Any] | None = None   # synthetic source: exact labels of this frame


class FrameSource(Protocol):
    """Anything the loop can read frames from. ``read`` returns None at the end."""

    name: str
    fps: float

    def read(self) -> Frame | None: ...

    def close(self) -> None: ...


class Capture(Protocol):
    """The part of cv2.VideoCapture the sources use (tests pass fakes)."""

    def isOpened(self) -> bool: ...

    def read(self) -> tuple[bool, Any]: ...

    def get(self, prop: int) -> float: ...

    def release(self) -> None: ...


def _cv2() -> Any:
    import cv2

    return cv2


def iterate(source: FrameSource) -> Iterator[Frame]:
    """The frames of a source until its end."""
    while (frame := source.read()) is not None:
        yield frame


class VideoFileSource:
    """A video file. Timestamps are the file position: frame i at i / fps."""

    def __init__(self, path: str | Path, fps: float | None = None,
                 opener: Callable[[str], Capture] | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise SourceError(f"{self.path}: no such video file")
        cv2 = _cv2()
        self._cap: Capture = (opener or (lambda p: cv2.VideoCapture(p)))(str(self.path))
        if not self._cap.isOpened():
            raise SourceError(f"{self.path}: OpenCV cannot open this video (codec or container not supported?)")
        rate = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = float(fps) if fps else (rate if rate > 0 else DEFAULT_FPS)
        self.name = str(self.path)
        self._index = 0

    def read(self) -> Frame | None:
        ok, image = self._cap.read()
        if not ok:
            return None           # end of file (or a truncated tail: nothing more to decode)
        frame = Frame(self._index, self._index / self.fps, image)
        self._index += 1
        return frame

    def close(self) -> None:
        self._cap.release()


def _natural_key(path: Path) -> list[Any]:
    """'img2' < 'img10': numbers in names compare as numbers."""
    return [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", path.name)]


class ImageFolderSource:
    """Image files of a folder in natural name order (frame_2 before frame_10), at ``fps``.
    An unreadable file gives a frame with no pixels (counted and skipped by the loop)."""

    def __init__(self, folder: str | Path, fps: float = DEFAULT_FPS) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise SourceError(f"{self.folder}: no such image folder")
        self.files = sorted((p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES),
                            key=_natural_key)
        if not self.files:
            raise SourceError(f"{self.folder}: no images ({', '.join(IMAGE_SUFFIXES)})")
        if fps <= 0:
            raise SourceError(f"{self.folder}: fps must be > 0, got {fps}")
        self.fps = float(fps)
        self.name = str(self.folder)
        self._index = 0

    def read(self) -> Frame | None:
        if self._index >= len(self.files):
            return None
        cv2 = _cv2()
        image = cv2.imread(str(self.files[self._index]), cv2.IMREAD_UNCHANGED)
        frame = Frame(self._index, self._index / self.fps, image)
        self._index += 1
        return frame

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class ReopenPolicy:
    """Back-off for a camera that stops delivering: 0.25 s, doubling, at most 4 s between
    attempts (a USB/CSI camera usually needs about a second to come back after a reset),
    ``max_attempts`` in a row before giving up (0 = never give up: a car's camera)."""

    first_delay_s: float = 0.25
    factor: float = 2.0
    max_delay_s: float = 4.0
    max_attempts: int = 0
    # A camera read that fails this many times in a row counts as disconnected (a single
    # failed grab happens on a busy bus and is just a dropped frame).
    failures_to_reopen: int = 3

    def delays(self) -> Iterator[float]:
        delay, n = self.first_delay_s, 0
        while self.max_attempts == 0 or n < self.max_attempts:
            yield delay
            delay = min(delay * self.factor, self.max_delay_s)
            n += 1


@dataclass
class CameraSource:
    """A live camera: an index (/dev/videoN) or a GStreamer pipeline string, e.g. the Jetson
    CSI path ``nvarguscamerasrc ! video/x-raw(memory:NVMM),width=1280,height=720,framerate=30/1
    ! nvvidconv ! video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! appsink``.

    Timestamps: the driver's buffer time (CAP_PROP_POS_MSEC: V4L2 and GStreamer fill it)
    while it increases, else the monotonic clock at grab, both relative to the first frame.
    """

    spec: str | int
    fps: float = DEFAULT_FPS
    policy: ReopenPolicy = field(default_factory=ReopenPolicy)
    opener: Callable[[str | int], Capture] | None = None
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    reopen_count: int = 0
    failed_reads: int = 0

    def __post_init__(self) -> None:
        self.name = f"camera {self.spec}"
        self._t0: float | None = None
        self._last_t = -1.0
        self._index = 0
        self._pending_reopen = False
        self._cap = self._open()
        if self._cap is None:
            raise SourceError(f"{self.name}: cannot open (index or GStreamer pipeline wrong, camera absent, "
                              "or OpenCV built without GStreamer: check `dms doctor`)")

    def _open(self) -> Capture | None:
        if self.opener is not None:
            cap = self.opener(self.spec)
        else:
            cv2 = _cv2()
            if isinstance(self.spec, int):
                cap = cv2.VideoCapture(self.spec)
            else:
                cap = cv2.VideoCapture(self.spec, cv2.CAP_GSTREAMER)
        if cap is None or not cap.isOpened():
            return None
        return cap

    def _reopen(self) -> bool:
        """Release and re-open with back-off; False when the policy gives up."""
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        for delay in self.policy.delays():
            self.sleep(delay)
            self._cap = self._open()
            if self._cap is not None:
                self.reopen_count += 1
                self._pending_reopen = True
                return True
        return False

    def _timestamp(self) -> float:
        assert self._cap is not None
        try:
            ms = float(self._cap.get(_cv2().CAP_PROP_POS_MSEC))
        except Exception:  # a fake or an exotic backend
            ms = 0.0
        t = ms / 1000.0 if ms > 0 else self.clock()
        if self._t0 is None:
            self._t0 = t
        rel = t - self._t0
        if rel <= self._last_t:              # stale or reset driver clock: stay monotonic
            rel = self._last_t + 1.0 / self.fps
        self._last_t = rel
        return rel

    def read(self) -> Frame | None:
        failures = 0
        while True:
            if self._cap is None and not self._reopen():
                return None               # the policy gave up: end of stream
            assert self._cap is not None
            ok, image = self._cap.read()
            if ok and image is not None:
                frame = Frame(self._index, self._timestamp(), image, reopened=self._pending_reopen)
                self._pending_reopen = False
                self._index += 1
                return frame
            self.failed_reads += 1
            failures += 1
            if failures >= self.policy.failures_to_reopen:
                failures = 0
                if not self._reopen():
                    return None

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def open_source(spec: str, fps: float | None = None, **synthetic: Any) -> FrameSource:
    """A source from a command-line spec: ``synthetic[:SEED]``, a camera index ("0"), a
    GStreamer pipeline (contains '!'), an image folder, or a video file."""
    if spec == "synthetic" or spec.startswith("synthetic:"):
        from runtime.synthetic_source import SyntheticSource

        seed = int(spec.split(":", 1)[1]) if ":" in spec else 0
        return SyntheticSource(seed=seed, fps=fps or DEFAULT_FPS, **synthetic)
    if spec.isdigit():
        return CameraSource(int(spec), fps=fps or DEFAULT_FPS)
    if "!" in spec:
        return CameraSource(spec, fps=fps or DEFAULT_FPS)
    path = Path(spec)
    if path.is_dir():
        return ImageFolderSource(path, fps or DEFAULT_FPS)
    if path.is_file():
        return VideoFileSource(path, fps)
    raise SourceError(f"{spec}: not a video file, image folder, camera index, GStreamer pipeline "
                      "(has '!') or 'synthetic[:SEED]'")


class ReplaySource:
    """A few frames played forward then backward (no jump at the turn) for ``total`` frames,
    timestamps continuing at ``fps``: the bench's long runs (memory flatness over 100,000
    frames) without rendering or decoding each frame."""

    def __init__(self, frames: list[np.ndarray], total: int, fps: float = DEFAULT_FPS,
                 truths: list[dict[str, Any]] | None = None, name: str = "replay", start: int = 0) -> None:
        if not frames:
            raise SourceError(f"{name}: nothing to replay")
        self.frames = frames
        self.truths = truths
        self.total = int(total)
        self.fps = float(fps)
        self.name = name
        self._index = 0
        self._start = int(start)             # continue another replay's clock
        n = len(frames)
        self._order = list(range(n)) + list(range(n - 2, 0, -1)) if n > 2 else list(range(n))

    def read(self) -> Frame | None:
        if self._index >= self.total:
            return None
        k = self._order[self._index % len(self._order)]
        truth = self.truths[k] if self.truths is not None else None
        i = self._start + self._index
        frame = Frame(i, i / self.fps, self.frames[k], truth=truth)
        self._index += 1
        return frame

    def close(self) -> None:
        pass
