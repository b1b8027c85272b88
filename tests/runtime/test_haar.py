"""OpenCV's Haar cascades as the fallback localiser return a head box comparable to the
head detector's (synth's head_box), so one crop geometry serves both."""

import numpy as np
import pytest

from runtime.config import CropConfig
from runtime.haar import HaarLocaliser


def test_haar_head_box_matches_the_synthetic_head_box(loop_clip):
    haar = HaarLocaliser(CropConfig())
    ratios, offsets = [], []
    for f in loop_clip.frames:
        found = haar.face_box(f.image)
        if found is None:
            continue
        (x, y, w, h), _ = found
        x0, y0, x1, y1 = f.truth["head_box"]
        head = x1 - x0
        ratios.append(max(w, h) / head)
        det = haar.locate(f.image)
        offsets.append(((det.centre[0] - (x0 + x1) / 2) / head, (det.centre[1] - (y0 + y1) / 2) / head))
        assert det.size == pytest.approx(max(w, h) / CropConfig().haar_face_to_head)
    assert len(ratios) >= len(loop_clip.frames) // 2
    # CropConfig.haar_face_to_head (0.78) is this measurement; the window tolerates +-10 %
    assert np.median(ratios) == pytest.approx(CropConfig().haar_face_to_head, rel=0.1)
    off = np.abs(np.array(offsets))
    assert np.median(off[:, 1]) < 0.06          # vertical: centred (haar_centre_offset 0)
    assert np.median(off[:, 0]) < 0.15          # horizontal: follows yaw (~40 deg here), not corrected


def test_no_face_in_a_flat_frame():
    assert HaarLocaliser().locate(np.full((480, 640), 80, np.uint8)) is None
