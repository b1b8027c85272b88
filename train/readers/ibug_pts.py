"""The iBUG .pts landmark file (300-W, 300-VW):

    version: 1
    n_points:  68
    {
    x y          (68 lines)
    }

Coordinates are in the MATLAB convention (top-left pixel centre = (1, 1), as the 300-W
release notes state); `read_pts` returns OpenCV pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from train.readers.common import MATLAB_ORIGIN, ReaderError, check_landmarks, parse_numbers, read_text_lines

N_POINTS = 68


def _header_value(path: Path, line_no: int, line: str, key: str) -> str:
    name, sep, value = line.partition(":")
    if not sep or name.strip() != key:
        raise ReaderError(path, f"line {line_no}", f"expected '{key}: ...', got {line.strip()!r}")
    return value.strip()


def read_pts(path: Path | str) -> NDArray[np.float64]:
    """One .pts file -> [68, 2] OpenCV pixels. Anything but 68 points is refused (the
    project's landmark contract is the 68-point iBUG mark-up)."""
    path = Path(path)
    lines = read_text_lines(path)
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) < 3:
        raise ReaderError(path, f"line {len(lines) + 1}", "truncated header (expected 'version', 'n_points', '{')")
    _header_value(path, 1, lines[0], "version")
    n_text = _header_value(path, 2, lines[1], "n_points")
    if n_text != str(N_POINTS):
        raise ReaderError(path, "line 2", f"expected n_points: {N_POINTS}, got {n_text!r}")
    if lines[2].strip() != "{":
        raise ReaderError(path, "line 3", f"expected '{{', got {lines[2].strip()!r}")
    body = lines[3:3 + N_POINTS]
    pts = []
    for i, text in enumerate(body, start=4):
        if text.strip() == "}":
            raise ReaderError(path, f"line {i}", f"'}}' after {i - 4} points, expected {N_POINTS}")
        pts.append(parse_numbers(path, i, text, 2))
    if len(pts) < N_POINTS:
        raise ReaderError(path, f"line {len(lines) + 1}", f"file ends after {len(pts)} points, expected {N_POINTS}")
    close = 3 + N_POINTS
    if len(lines) <= close or lines[close].strip() != "}":
        got = repr(lines[close].strip()) if len(lines) > close else "end of file"
        raise ReaderError(path, f"line {close + 1}", f"expected '}}' after {N_POINTS} points, got {got}")
    if len(lines) > close + 1:
        raise ReaderError(path, f"line {close + 2}", "unexpected text after '}'")
    return check_landmarks(path, "points", np.array(pts) - MATLAB_ORIGIN)
