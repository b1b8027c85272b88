"""Where is the head in this frame? The detector when needed, the template tracker otherwise.

Schedule (runtime.config.LocaliseConfig): the detector runs at the first frame, whenever
the tracker's score falls below ``min_track_score`` (or there is no track), and every
``redetect_every_s`` as a refresh; with ``detect_every_frame`` on every frame. Each result
says whether the detector ran, so latency figures can be split by it. A refresh that
finds nothing falls back to the tracker (one missed detection is not a lost face).

Localisers are anything with ``locate(frame) -> Detection | None`` (runtime.detection);
``FirstOf`` chains our head detector with the Haar fallback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from runtime.config import LocaliseConfig
from runtime.detection import Detection, Localiser
from runtime.tracker import TemplateTracker


@dataclass(frozen=True)
class Located:
    """A head this frame: centre (px), head-box side (px; None when only tracked: the size
    is not measured then), score, whether the detector ran and who found it."""

    centre: tuple[float, float]
    size: float | None
    score: float
    detected: bool
    source: str


class FirstOf:
    """The first localiser that finds a head (e.g. our detector, then Haar)."""

    def __init__(self, localisers: Sequence[Localiser]) -> None:
        self.localisers = list(localisers)
        self.name = "+".join(loc.name for loc in self.localisers)

    def locate(self, frame: np.ndarray) -> Detection | None:
        for loc in self.localisers:
            det = loc.locate(frame)
            if det is not None:
                return det
        return None


class HeadFinder:
    """Runs the detector/tracker schedule; ``find`` once per frame."""

    def __init__(self, localiser: Localiser, cfg: LocaliseConfig | None = None) -> None:
        self.localiser = localiser
        self.cfg = cfg or LocaliseConfig()
        self.tracker = TemplateTracker(self.cfg)
        self.detector_runs = 0
        self.reset()

    def reset(self) -> None:
        self.tracker.reset()
        self._last_detect_t: float | None = None
        self._last: tuple[float, float] | None = None     # last found centre (unsmoothed)

    def _detect(self, frame: np.ndarray, t: float) -> Located | None:
        self.detector_runs += 1
        det = self.localiser.locate(frame)
        if det is None or det.score < self.cfg.min_detection_score or det.size <= 0:
            return None
        centre, size = det.centre, det.size
        self.tracker.anchor(frame, centre, size)
        self._last_detect_t = t
        self._last = centre
        return Located(centre, size, det.score, True, det.source or self.localiser.name)

    def _track(self) -> bool:
        return self.tracker.template is not None and self._last is not None

    def find(self, frame: np.ndarray, t: float) -> Located | None:
        c = self.cfg
        due = (c.detect_every_frame or self._last_detect_t is None
               or t - self._last_detect_t >= c.redetect_every_s)
        if due or not self._track():
            found = self._detect(frame, t)
            if found is not None or not self._track():
                return found
        assert self._last is not None
        res = self.tracker.track(frame, self._last)
        if res is not None and res[1] >= c.min_track_score:
            self._last = res[0]
            return Located(res[0], None, res[1], False, "tracker")
        if due:
            return None                 # the detector already ran this frame and found nothing
        return self._detect(frame, t)
