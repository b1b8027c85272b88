"""What every dataset reader returns, and how a reader fails.

The readers turn the public datasets users bring (300W-LP, AFLW2000-3D, BIWI, 300-VW) into
one kind of record, `Sample`, in this project's contracts:

* pose: degrees (pitch, yaw, roll) in dms-head-v1 (dms/angles.py), or None;
* landmarks: [68, 2] iBUG points in *image pixels*, OpenCV's convention: (0, 0) is the
  centre of the top-left pixel. Crop-normalised coordinates come later (train.crops);
* the file the labels came from, so a bad label can be traced to its line.

A reader never skips a sample it cannot read: a silently shrunken dataset trains a
different model than the one reported. A missing or malformed file raises `ReaderError`,
whose message names the file and the line or field.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

# MATLAB-convention files (300-W .pts, 300-VW, the 3DDFA fits) put the top-left pixel's
# centre at (1, 1); subtracting this gives OpenCV pixel coordinates.
MATLAB_ORIGIN = 1.0


class ReaderError(ValueError):
    """A dataset file is missing or malformed. str() = '<file>: <line or field>: <problem>'."""

    def __init__(self, path: Path | str, where: str, problem: str) -> None:
        self.path = Path(path)
        self.where = where
        self.problem = problem
        super().__init__(f"{self.path}: {where}: {problem}" if where else f"{self.path}: {problem}")


@dataclass(frozen=True)
class Sample:
    """One labelled face image (a still, or one frame of a video).

    image: the image file, or the video file when frame_index is set.
    frame_index: 0-based frame of the video (decode order), None for stills.
    pose: [3] degrees (pitch, yaw, roll), dms-head-v1; None where the dataset has none.
    landmarks: [68, 2] float64 image pixels (OpenCV convention), None where absent.
    source: the annotation file the labels were read from.
    """

    image: Path
    frame_index: int | None
    pose: NDArray[np.float64] | None
    landmarks: NDArray[np.float64] | None
    source: Path

    @property
    def is_video_frame(self) -> bool:
        return self.frame_index is not None


@dataclass(frozen=True)
class VideoSequence:
    """The labelled frames of one video, in time order. Frames without labels are not
    samples, so `samples` may be shorter than the video but never out of order."""

    video: Path
    samples: list[Sample] = field(default_factory=list)


def parse_numbers(path: Path, line_no: int, text: str, count: int | None = None) -> list[float]:
    """The whitespace-separated numbers on one line (1-based line_no, for the message).

    Why strict: a truncated annotation usually still parses as *some* numbers; requiring
    the count turns a corrupt label into an error instead of a wrong label.
    """
    parts = text.split()
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ReaderError(path, f"line {line_no}", f"expected {count or 'some'} numbers, got {text.strip()!r}") from None
    if count is not None and len(values) != count:
        raise ReaderError(path, f"line {line_no}", f"expected {count} numbers, got {text.strip()!r}")
    if not all(np.isfinite(values)):
        raise ReaderError(path, f"line {line_no}", f"non-finite value in {text.strip()!r}")
    return values


def read_text_lines(path: Path) -> list[str]:
    """The file's lines; a missing or undecodable file is a ReaderError naming it."""
    if not path.is_file():
        raise ReaderError(path, "", "file missing")
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise ReaderError(path, "", f"not a text file ({exc.reason} at byte {exc.start})") from None


def require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise ReaderError(path, "", f"{what} missing")
    return path


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) of a PNG or JPEG from its header, without decoding the pixels.

    Why: mirroring the landmarks of a flipped 300W-LP image needs the image width, and
    decoding 60k JPEGs only to learn that they are 450 px wide would dominate the reader.
    """
    require_file(path, "image file")
    with path.open("rb") as fh:
        head = fh.read(26)
        if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
            w, h = struct.unpack(">II", head[16:24])
            return int(w), int(h)
        if head[:2] == b"\xff\xd8":
            fh.seek(2)
            while True:
                marker = fh.read(2)
                if len(marker) < 2 or marker[0] != 0xFF:
                    break
                kind = marker[1]
                if kind in (0xD8, 0x01) or 0xD0 <= kind <= 0xD7:
                    continue
                length_bytes = fh.read(2)
                if len(length_bytes) < 2:
                    break
                (length,) = struct.unpack(">H", length_bytes)
                if kind in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
                    data = fh.read(5)
                    h, w = struct.unpack(">HH", data[1:5])
                    return int(w), int(h)
                fh.seek(length - 2, 1)
    raise ReaderError(path, "header", "not a PNG or JPEG image (cannot read its size)")


def check_landmarks(path: Path, where: str, pts: NDArray[np.float64]) -> NDArray[np.float64]:
    if pts.shape != (68, 2):
        raise ReaderError(path, where, f"expected 68 points of (x, y), got shape {pts.shape}")
    if not np.all(np.isfinite(pts)):
        raise ReaderError(path, where, "non-finite landmark coordinate")
    return pts
