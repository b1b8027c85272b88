"""The detector schedule and the template tracker between detections."""

import cv2
import numpy as np
import pytest

from runtime.config import LocaliseConfig
from runtime.detection import Detection
from runtime.localise import FirstOf, HeadFinder
from runtime.tracker import TemplateTracker
from tests.runtime.loop_helpers import ScriptedLocaliser


def _textured(seed=0, size=(480, 640)):
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.integers(0, 255, size).astype(np.uint8), (0, 0), 4)
    return cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX)


def _shift(img, dx, dy):
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)


@pytest.mark.parametrize("dx, dy", [(0.0, 0.0), (6.3, -4.7), (-20.0, 11.5)])
def test_tracker_finds_a_sub_pixel_shift(dx, dy):
    img = _textured()
    tr = TemplateTracker(LocaliseConfig())
    tr.anchor(img, (320.0, 240.0), 160.0)
    (u, v), score = tr.track(_shift(img, dx, dy), (320.0, 240.0))
    assert score > 0.95
    assert abs(u - (320 + dx)) < 0.6 and abs(v - (240 + dy)) < 0.6


def test_tracker_score_drops_when_the_head_is_gone():
    tr = TemplateTracker(LocaliseConfig())
    tr.anchor(_textured(0), (320.0, 240.0), 160.0)
    _, score = tr.track(_textured(1), (320.0, 240.0))
    assert score < LocaliseConfig().min_track_score
    flat = np.full((480, 640), 90, np.uint8)
    tr.anchor(flat, (320.0, 240.0), 160.0)         # nothing to track on a flat patch
    assert tr.track(flat, (320.0, 240.0)) is None


def test_schedule_detects_first_then_tracks_then_refreshes():
    img = _textured()
    box = (240.0, 160.0, 400.0, 320.0)
    loc = ScriptedLocaliser([box])
    finder = HeadFinder(loc, LocaliseConfig(redetect_every_s=0.5))
    found = [finder.find(img, i / 30) for i in range(20)]
    assert [f.detected for f in found] == [i in (0, 15) for i in range(20)]     # t = 0 and 0.5 s
    assert all(f.source == "tracker" and f.size is None for f in found[1:15])
    assert found[0].size == pytest.approx(160.0)


def test_low_tracker_score_runs_the_detector_and_a_failed_refresh_keeps_tracking():
    a, b = _textured(0), _textured(1)
    box = (240.0, 160.0, 400.0, 320.0)
    loc = ScriptedLocaliser([box, box, None, None])
    finder = HeadFinder(loc, LocaliseConfig(redetect_every_s=10.0))
    assert finder.find(a, 0.0).detected
    assert finder.find(b, 0.033).detected           # another picture: tracker untrusted -> detector
    assert finder.find(b, 0.066).source == "tracker"
    finder2 = HeadFinder(ScriptedLocaliser([box, None]), LocaliseConfig(redetect_every_s=0.05))
    finder2.find(a, 0.0)
    refresh = finder2.find(a, 0.1)                  # refresh due, the detector misses: keep tracking
    assert refresh is not None and refresh.source == "tracker" and finder2.detector_runs == 2
    assert finder2.find(_textured(2), 0.133) is None   # tracker lost and the detector finds nothing


def test_every_frame_mode_and_first_of():
    box = (10.0, 10.0, 50.0, 50.0)
    first = ScriptedLocaliser([None])
    second = ScriptedLocaliser([box], name="fallback")
    loc = FirstOf([first, second])
    assert loc.name == "scripted+fallback"
    finder = HeadFinder(loc, LocaliseConfig(detect_every_frame=True))
    img = _textured()
    for i in range(3):
        found = finder.find(img, i / 30)
        assert found.detected and found.source == "scripted"
    assert first.calls == second.calls == 3


def test_detection_below_min_score_is_ignored():
    class Weak:
        name = "weak"

        def locate(self, frame):
            return Detection(10, 10, 50, 50, 0.3, "weak")

    finder = HeadFinder(Weak(), LocaliseConfig(detect_every_frame=True, min_detection_score=0.5))
    assert finder.find(_textured(), 0.0) is None
