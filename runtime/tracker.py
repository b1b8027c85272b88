"""A cheap head tracker between detections: normalised cross-correlation of the head patch.

Why: a detector costs milliseconds per frame and the per-frame budget is 1.5 ms. Like
MediaPipe FaceMesh, the loop runs the detector only when the track is not trusted, and
follows the head in between with something far cheaper. The template is the central
TEMPLATE_FRACTION of the head box, taken at the last detection and averaged down to
``template_px``; each frame, a region ``search_margin`` head heights larger on every side
around the last position is averaged on the same pixel grid and matched (cv2.matchTemplate,
TM_CCOEFF_NORMED: invariant to exposure changes), the peak refined to sub-pixel with a
parabola through its neighbours. The template is never updated from tracking, so it
cannot drift onto the background; when the head has turned far enough that the score
falls below ``min_track_score`` the detector runs and takes a new template.
"""

from __future__ import annotations

import numpy as np

from runtime.config import LocaliseConfig
from runtime.crop import Window, cut

# The part of the head box the template covers: the face and hair, little background
# (a head box's corners are outside the round head).
TEMPLATE_FRACTION = 0.7


def _gray(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        return img
    import cv2

    return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)


def _subpixel(r: np.ndarray, i: int) -> float:
    """Offset in (-0.5, 0.5) of a parabola's vertex through r[i-1], r[i], r[i+1]."""
    if i <= 0 or i >= len(r) - 1:
        return 0.0
    a, b, c = float(r[i - 1]), float(r[i]), float(r[i + 1])
    den = a - 2 * b + c
    return 0.0 if den >= 0 else max(-0.5, min(0.5, 0.5 * (a - c) / den))


class TemplateTracker:
    """anchor() at a detection, then track() each frame.

    Both the template and the search region are averaged over the same whole-pixel blocks
    (b x b, b = template side / template_px, OpenCV's integer INTER_AREA path) on one grid
    anchored at the template, so an unmoved head matches its template exactly and a moved
    one is found to a fraction of a block by the parabola fit.
    """

    def __init__(self, cfg: LocaliseConfig | None = None) -> None:
        self.cfg = cfg or LocaliseConfig()
        self.template: np.ndarray | None = None
        self.size = 0.0              # head-box side (px) the template was taken at
        self._block = 1
        self._origin = (0, 0)        # template's top-left in frame pixels
        self._offset = (0.0, 0.0)    # detection centre - template centre

    def reset(self) -> None:
        self.template = None

    def anchor(self, frame: np.ndarray, centre: tuple[float, float], size: float) -> None:
        """Take the template from a detected head (centre, head-box side in px)."""
        n = self.cfg.template_px
        b = max(1, int(round(size * TEMPLATE_FRACTION / n)))
        side = n * b
        x0, y0 = int(round(centre[0] - side / 2)), int(round(centre[1] - side / 2))
        patch = _gray(cut(frame, Window(x0, y0, side), (n, n), "area"))
        # a flat patch (lens covered, black frame) matches anything: keep no template
        self.template = patch if float(patch.std()) > 1.0 else None
        self.size = float(size)
        self._block, self._origin = b, (x0, y0)
        self._offset = (centre[0] - (x0 + side / 2), centre[1] - (y0 + side / 2))

    def track(self, frame: np.ndarray, centre: tuple[float, float]) -> tuple[tuple[float, float], float] | None:
        """(new centre, score) near ``centre``, or None without a template."""
        if self.template is None:
            return None
        import cv2

        n, b = self.cfg.template_px, self._block
        margin = int(np.ceil(self.cfg.search_margin * self.size / b))      # in blocks
        half = n * b / 2
        jx = int(round((centre[0] - self._offset[0] - half - self._origin[0]) / b))
        jy = int(round((centre[1] - self._offset[1] - half - self._origin[1]) / b))
        x0 = self._origin[0] + (jx - margin) * b
        y0 = self._origin[1] + (jy - margin) * b
        m = n + 2 * margin
        region = _gray(cut(frame, Window(x0, y0, m * b), (m, m), "area"))
        res = cv2.matchTemplate(region, self.template, cv2.TM_CCOEFF_NORMED)
        _, score, _, (j, i) = cv2.minMaxLoc(res)
        dx = j + _subpixel(res[i, :], j)
        dy = i + _subpixel(res[:, j], i)
        # template's top-left at (dx, dy) blocks into the region: its centre in frame px
        u = x0 + dx * b + half + self._offset[0]
        v = y0 + dy * b + half + self._offset[1]
        return (u, v), float(score)
