"""Head box -> the network's window -> the step graph's ``image`` input.

Reproducing the training crop. Synth renders the stored crop as a square of side
``context`` (1.6) head heights centred on the (smoothed) projected head centre, a head
height being 2 x the projected 0.12 m head radius, which is exactly the side of synth's
``head_box`` label; training then feeds the central ``network_window`` (0.8) of it at the
network's size. The runtime takes the stabilised head centre and head-box side, cuts the
square of side 0.8 x 1.6 = 1.28 head-box sides around that centre from the camera frame,
and resamples it to the manifest's input size with an area average (``cut``; the
camera's pixels are area samples; synth casts one ray per output pixel centre, the same
geometry without blur). Where the window leaves the frame the border is replicated, never shifted, so the
head stays centred as in training. A Haar face box is first turned into a head box
(runtime.haar). Pixel coordinates are continuous (pixel i covers [i, i + 1)), as synth's
and dms.perspective's are; the window is snapped to whole pixels and the snapped centre
(at most half a pixel away) is what the perspective correction uses.

Normalisation and colour conversion are calibration.preprocess.to_network_input: the one
function every room feeds the step graph with.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibration.preprocess import PreprocessSpec, to_network_input
from runtime.config import CropConfig


@dataclass(frozen=True)
class Window:
    """The square actually cut: full-frame pixels [x0, x0 + side) x [y0, y0 + side)."""

    x0: int
    y0: int
    side: int

    @property
    def centre(self) -> tuple[float, float]:
        return self.x0 + self.side / 2, self.y0 + self.side / 2

    @property
    def box(self) -> tuple[float, float, float, float]:
        return float(self.x0), float(self.y0), float(self.x0 + self.side), float(self.y0 + self.side)


def network_window(centre: tuple[float, float], head_side: float, cfg: CropConfig) -> Window:
    """The whole-pixel square the network sees for a head of side ``head_side`` px at ``centre``."""
    side = max(2, int(round(head_side * cfg.window_per_head)))
    x0 = int(round(centre[0] - side / 2))
    y0 = int(round(centre[1] - side / 2))
    return Window(x0, y0, side)


def _region(frame: np.ndarray, x0: int, y0: int, side: int) -> np.ndarray:
    """frame[y0:y0 + side, x0:x0 + side], the border replicated where it leaves the frame."""
    import cv2

    h, w = frame.shape[:2]
    x1, y1 = x0 + side, y0 + side
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if cx1 <= cx0 or cy1 <= cy0:          # entirely outside: nothing of the head to show
        return np.zeros((side, side) + frame.shape[2:], np.uint8)
    part = frame[cy0:cy1, cx0:cx1]
    if (cx0, cy0, cx1, cy1) != (x0, y0, x1, y1):
        part = cv2.copyMakeBorder(part, cy0 - y0, y1 - cy1, cx0 - x0, x1 - cx1, cv2.BORDER_REPLICATE)
    return part


def cut(frame: np.ndarray, win: Window, out_hw: tuple[int, int], interpolation: str = "area") -> np.ndarray:
    """The window's pixels resampled to out_hw (h, w), replicating the border outside the frame.

    "area": an area average, done fast. cv2.INTER_AREA at a non-integer ratio (a 351 px
    window to 64 px) costs ~0.4 ms on one core, at an integer ratio ~0.06 ms. So the
    window is averaged over k x k blocks (k = side // out, OpenCV's integer fast path) on
    a region k * ceil(side / k) wide (at most k - 1 px larger, centred), and the exact
    window is then resampled from it bilinearly (ratio < 2, no skipped pixels) with
    warpAffine, which keeps sub-block positions exact. "linear": bilinear from the frame.
    """
    import cv2

    oh, ow = out_hw
    side = win.side
    k = max(1, min(side // ow, side // oh)) if interpolation == "area" else 1
    big = k * -(-side // k)                  # >= side, a multiple of k
    lead = (big - side) // 2
    part = _region(frame, win.x0 - lead, win.y0 - lead, big)
    if k > 1:
        part = cv2.resize(part, (big // k, big // k), interpolation=cv2.INTER_AREA)
    s = side / k                              # the window's side in `part` pixels
    o = lead / k                              # its top-left corner in `part`
    if s == ow == oh and o == 0:
        return np.ascontiguousarray(part)
    # inverse map, pixel centres at integers: src = o + (dst + 0.5) * s / out - 0.5
    m = np.array([[s / ow, 0.0, o + 0.5 * s / ow - 0.5], [0.0, s / oh, o + 0.5 * s / oh - 0.5]])
    return cv2.warpAffine(part, m, (ow, oh), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


class Cropper:
    """Frame + window -> (crop at network size, network input [1, C, H, W] float32)."""

    def __init__(self, spec: PreprocessSpec, cfg: CropConfig) -> None:
        self.spec = spec
        self.cfg = cfg

    def __call__(self, frame: np.ndarray, win: Window) -> tuple[np.ndarray, np.ndarray]:
        crop = cut(frame, win, (self.spec.height, self.spec.width), self.cfg.interpolation)
        color = "gray" if crop.ndim == 2 else "bgr"
        return crop, to_network_input(crop, self.spec, color)
