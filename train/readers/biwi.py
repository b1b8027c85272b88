"""BIWI Kinect Head Pose (Fanelli et al., IJCV 2013): 24 sequences of RGB-D video.

Layout per sequence folder (hpdb/01 ... hpdb/24):

    frame_00003_rgb.png, frame_00003_pose.txt, ...   (numbering has gaps: dropped frames)
    depth.cal, rgb.cal

frame_XXXXX_pose.txt: a 3x3 rotation on three lines, a blank line, then the head centre
in mm (depth-camera coordinates). *.cal: intrinsics (3 lines), a blank line, distortion
(1 line), a blank line, extrinsic rotation (3 lines), a blank line, translation (1 line),
optionally a blank line and the image size. (The layout read by the Hugging Face
`biwi_kinect_head_pose` loader and NVIDIA's BIWI preprocessing, readCalibrationFile.)

The angle convention, and how it maps to dms-head-v1
-----------------------------------------------------
The depth camera's frame is OpenCV's: x to the image right, y down, z along the optical
axis (BIWI's own demo back-projects depth as d*(u - cx)/f, d*(v - cy)/f, d; the sample
head centre (43, -31, 907) mm sits in front of the sensor). The pose file's matrix M maps
head to camera, p = M h + t, with the head frame equal to the camera's axes when the
subject faces the sensor (M = I is the frontal pose).

HopeNet (natanielruiz/deep-head-pose, code/datasets.py, class BIWI), whose 300W-LP-trained
network is evaluated on BIWI with these labels, reads the same file as
    R = M^T; pitch = atan2(R21, R22); yaw = -asin(-R20); roll = -atan2(R10, R00)
i.e. single-axis rotations give HopeNet's (= 300W-LP's, see train.readers.ddfa) signs.
Worked through with the axes above, for single-axis rotations:

    HopeNet pitch > 0 (nose up)                       = dms-head-v1 pitch > 0
    HopeNet yaw   > 0 (nose to the image left)         = dms-head-v1 yaw > 0
    HopeNet roll  > 0 (crown to the subject's left)    = dms-head-v1 roll < 0

As for 300W-LP the conversion goes through the matrix (the Euler orders differ):
R_F = Q^T M Q with Q = dms.angles.F_TO_OPENCV, then matrix_to_euler.

The RGB images come from the second camera. rgb.cal's extrinsics (R_c, T_c) are read as
OpenCV extrinsics of that camera in the depth camera's frame, p_rgb = R_c p_depth + T_c
(depth.cal's are the identity: the depth camera is the reference). The pose is expressed
in the RGB camera (R_c M), whose images the network sees; R_c is within about 1 degree of
the identity, so the choice moves labels by at most that much.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from dms.angles import F_TO_OPENCV, matrix_to_euler
from train.readers.common import ReaderError, Sample, parse_numbers, read_text_lines

FRAME_RE = re.compile(r"^frame_(\d+)_(rgb\.png|pose\.txt)$")

# Tolerance on |M^T M - I|: the files print 6 significant digits (errors ~1e-6); a matrix
# further off than this is a corrupt or mis-parsed file, not rounding.
ORTHONORMAL_TOL = 1e-3


@dataclass(frozen=True)
class Calibration:
    """One BIWI camera: intrinsics K, distortion, extrinsics (R, T) into the depth camera's
    frame (p_cam = R p_depth + T, mm), image size (w, h) when the file gives it."""

    intrinsics: NDArray[np.float64]
    distortion: NDArray[np.float64]
    rotation: NDArray[np.float64]
    translation: NDArray[np.float64]
    size: tuple[int, int] | None
    source: Path


@dataclass(frozen=True)
class BiwiSample(Sample):
    """A BIWI frame. head_centre_mm: the head centre in the RGB camera's frame (mm);
    head_centre_px: its projection into the RGB image (OpenCV pixels); frame_number: the
    number in the file name (gaps mark dropped frames, which matters for smoothing)."""

    head_centre_mm: NDArray[np.float64] = field(default_factory=lambda: np.zeros(3))
    head_centre_px: NDArray[np.float64] = field(default_factory=lambda: np.zeros(2))
    frame_number: int = 0


@dataclass(frozen=True)
class BiwiSequence:
    folder: Path
    rgb: Calibration
    depth: Calibration
    samples: list[BiwiSample]


def _blocks(path: Path, lines: list[str]) -> list[list[tuple[int, str]]]:
    blocks: list[list[tuple[int, str]]] = []
    current: list[tuple[int, str]] = []
    for i, line in enumerate(lines, start=1):
        if line.strip():
            current.append((i, line))
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def _matrix(path: Path, block: list[tuple[int, str]], rows: int, cols: int, what: str) -> NDArray[np.float64]:
    if len(block) != rows:
        raise ReaderError(path, f"line {block[0][0]}", f"{what}: expected {rows} lines of {cols} numbers, got {len(block)} lines")
    return np.array([parse_numbers(path, n, text, cols) for n, text in block])


def read_calibration(path: Path | str) -> Calibration:
    """A BIWI rgb.cal or depth.cal."""
    path = Path(path)
    lines = read_text_lines(path)
    blocks = _blocks(path, lines)
    if len(blocks) < 4:
        last = len(lines)
        raise ReaderError(path, f"line {last}", f"expected intrinsics, distortion, rotation and translation blocks, found {len(blocks)}")
    k = _matrix(path, blocks[0], 3, 3, "intrinsics")
    dist_line, dist_text = blocks[1][0]
    if len(blocks[1]) != 1:
        raise ReaderError(path, f"line {dist_line}", f"distortion: expected 1 line, got {len(blocks[1])}")
    dist = np.array(parse_numbers(path, dist_line, dist_text))
    rot = _matrix(path, blocks[2], 3, 3, "rotation")
    _check_rotation(path, blocks[2][0][0], rot)
    if len(blocks[3]) not in (1, 2):
        raise ReaderError(path, f"line {blocks[3][0][0]}", f"translation: expected 1 line, got {len(blocks[3])}")
    t_line, t_text = blocks[3][0]
    trans = np.array(parse_numbers(path, t_line, t_text, 3))
    size: tuple[int, int] | None = None
    size_block = blocks[3][1:] or (blocks[4] if len(blocks) > 4 else [])
    if size_block:
        n, text = size_block[0]
        w, h = parse_numbers(path, n, text, 2)
        size = (int(w), int(h))
    if k[2, 2] == 0 or k[0, 0] <= 0 or k[1, 1] <= 0:
        raise ReaderError(path, f"line {blocks[0][0][0]}", f"intrinsics: not a camera matrix {k.tolist()}")
    return Calibration(k, dist, rot, trans, size, path)


def _check_rotation(path: Path, line: int, m: NDArray[np.float64]) -> None:
    err = float(np.abs(m.T @ m - np.eye(3)).max())
    if err > ORTHONORMAL_TOL or np.linalg.det(m) <= 0:
        raise ReaderError(path, f"lines {line}-{line + 2}", f"not a rotation matrix (|M^T M - I| = {err:.2g}, det = {np.linalg.det(m):.3g})")


def read_pose_file(path: Path | str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """frame_XXXXX_pose.txt -> (M [3, 3] head -> depth camera, head centre [3] mm)."""
    path = Path(path)
    lines = read_text_lines(path)
    blocks = _blocks(path, lines)
    if not blocks:
        raise ReaderError(path, "line 1", "empty pose file")
    if len(blocks[0]) == 4:   # no blank line between rotation and translation: accept
        blocks = [blocks[0][:3], blocks[0][3:]] + blocks[1:]
    rot = _matrix(path, blocks[0], 3, 3, "rotation")
    _check_rotation(path, blocks[0][0][0], rot)
    if len(blocks) < 2:
        raise ReaderError(path, f"line {len(lines) + 1}", "expected the head centre (3 numbers) after the rotation")
    if len(blocks) > 2 or len(blocks[1]) != 1:
        n = blocks[1][1][0] if len(blocks[1]) > 1 else blocks[2][0][0]
        raise ReaderError(path, f"line {n}", "unexpected text after the head centre")
    n, text = blocks[1][0]
    return rot, np.array(parse_numbers(path, n, text, 3))


def pose_from_biwi(rotation: NDArray[np.float64], rgb_rotation: NDArray[np.float64] | None = None) -> NDArray[np.float64]:
    """BIWI head rotation (head -> depth camera) -> dms-head-v1 degrees, relative to the RGB
    camera when its extrinsic rotation is given (else to the depth camera)."""
    m = np.asarray(rotation, dtype=np.float64)
    if rgb_rotation is not None:
        m = np.asarray(rgb_rotation, dtype=np.float64) @ m
    return matrix_to_euler(F_TO_OPENCV.T @ m @ F_TO_OPENCV)


def project(k: NDArray[np.float64], p: NDArray[np.float64]) -> NDArray[np.float64]:
    """Pinhole projection of a camera-frame point (mm) to OpenCV pixels."""
    return np.array([k[0, 0] * p[0] / p[2] + k[0, 2], k[1, 1] * p[1] / p[2] + k[1, 2]])


def read_biwi_sequence(folder: Path | str) -> BiwiSequence:
    """One sequence folder, frames in number order. A frame needs both its _rgb.png and
    its _pose.txt; either one alone is an error naming the missing file."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ReaderError(folder, "", "sequence folder missing")
    rgb = read_calibration(folder / "rgb.cal")
    depth = read_calibration(folder / "depth.cal")
    frames: dict[int, set[str]] = {}
    for entry in folder.iterdir():
        match = FRAME_RE.match(entry.name)
        if match:
            frames.setdefault(int(match.group(1)), set()).add(match.group(2))
    if not frames:
        raise ReaderError(folder, "", "no frame_XXXXX_rgb.png / frame_XXXXX_pose.txt files")
    samples: list[BiwiSample] = []
    for number in sorted(frames):
        have = frames[number]
        image = folder / f"frame_{number:05d}_rgb.png"
        pose_path = folder / f"frame_{number:05d}_pose.txt"
        for kind, p in (("rgb.png", image), ("pose.txt", pose_path)):
            if kind not in have:
                raise ReaderError(p, "", "file missing (the frame's other file exists)")
        m, centre_depth = read_pose_file(pose_path)
        centre_rgb = rgb.rotation @ centre_depth + rgb.translation
        if centre_rgb[2] <= 0:
            raise ReaderError(pose_path, "line 5", f"head centre {centre_depth.tolist()} is behind the RGB camera")
        samples.append(BiwiSample(image=image, frame_index=None, pose=pose_from_biwi(m, rgb.rotation),
                                  landmarks=None, source=pose_path, head_centre_mm=centre_rgb,
                                  head_centre_px=project(rgb.intrinsics, centre_rgb), frame_number=number))
    return BiwiSequence(folder, rgb, depth, samples)


def read_biwi(root: Path | str) -> Iterator[BiwiSequence]:
    """Every sequence folder under root (hpdb/): the two-digit folders, in order."""
    root = Path(root)
    folders = sorted(p for p in root.iterdir() if p.is_dir() and p.name.isdigit()) if root.is_dir() else []
    if not folders:
        raise ReaderError(root, "", "no sequence folders (expected BIWI's hpdb/01 ... hpdb/24)")
    for folder in folders:
        yield read_biwi_sequence(folder)


def head_radius_px(sample: BiwiSample, calibration: Calibration, radius_mm: float = 120.0) -> float:
    """The head's half-height in RGB pixels at its depth. 120 mm: half of a 0.23-0.25 m
    chin-to-vertex head height, the same head_radius_m synth uses for its crops, so BIWI
    crops cut with train.crops frame the head as the synthetic ones do."""
    return float(calibration.intrinsics[1, 1] * radius_mm / sample.head_centre_mm[2])
