"""300-VW (Shen et al., ICCV-W 2015): videos with 68 landmarks per frame, no pose.

Layout: one folder per video (001, 002, ...), each with `vid.avi` and `annot/000001.pts`
... one iBUG .pts file per frame, numbered from 1 for the first frame (the dataset's
ReadMe; e.g. yinguobing/facial-landmark-dataset issue #5 "starting from frame 1").
A sample is (video, 0-based frame index = file number - 1).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2

from train.readers.common import ReaderError, Sample, VideoSequence, require_file
from train.readers.ibug_pts import read_pts


def video_frame_count(path: Path) -> int:
    """Frames the container declares (0 when it declares none)."""
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise ReaderError(path, "", "cannot open video")
        return max(int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
    finally:
        cap.release()


def read_300vw_video(folder: Path | str, check_frame_count: bool = True) -> VideoSequence:
    """One video folder. The .pts files must be numbered 1..N without gaps (a gap is a
    missing file, named in the error); with check_frame_count, N may not exceed the frames
    the video declares, since labels past the end would silently index other frames."""
    folder = Path(folder)
    video = require_file(folder / "vid.avi", "video file")
    annot = folder / "annot"
    if not annot.is_dir():
        raise ReaderError(annot, "", "annotation folder missing")
    numbered: dict[int, Path] = {}
    for p in annot.glob("*.pts"):
        if not p.stem.isdigit():
            raise ReaderError(p, "file name", "expected a frame number such as 000001.pts")
        numbered[int(p.stem)] = p
    if not numbered:
        raise ReaderError(annot, "", "no .pts files")
    width = len(min(numbered.values(), key=lambda p: p.stem).stem)
    last = max(numbered)
    for n in range(1, last + 1):
        if n not in numbered:
            raise ReaderError(annot / f"{n:0{width}d}.pts", "", f"file missing (frames 1..{last} are annotated)")
    if check_frame_count:
        frames = video_frame_count(video)
        if frames and last > frames:
            raise ReaderError(video, "frame count", f"{frames} frames, but annot/ labels frames up to {last}")
    samples = [Sample(video, n - 1, None, read_pts(numbered[n]), numbered[n]) for n in range(1, last + 1)]
    return VideoSequence(video, samples)


def read_300vw(root: Path | str, check_frame_count: bool = True) -> Iterator[VideoSequence]:
    """Every video folder under root (folders holding vid.avi or annot/), sorted."""
    root = Path(root)
    folders = sorted(p for p in root.iterdir() if p.is_dir() and ((p / "vid.avi").exists() or (p / "annot").exists())) \
        if root.is_dir() else []
    if not folders:
        raise ReaderError(root, "", "no video folders (expected 300-VW's <id>/vid.avi + <id>/annot/)")
    for folder in folders:
        yield read_300vw_video(folder, check_frame_count)
