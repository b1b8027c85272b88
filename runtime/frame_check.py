"""Is this frame usable? Bad input must never crash the loop: it is counted and skipped.

A frame is bad when it has no pixels (a failed decode, an unreadable image file), is not
8-bit, has a shape that is not gray [H, W] / [H, W, 1] or colour [H, W, 3] / [H, W, 4],
is smaller than a head could be seen in, or differs in size from the stream's first good
frame (a half-decoded or corrupt frame; a camera that was re-opened may change mode, so
the expected size is forgotten then). Counting by reason tells an operator which.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

EMPTY = "empty"
DTYPE = "not uint8"
SHAPE = "wrong shape"
SMALL = "too small"
SIZE_CHANGED = "size changed"
TIME = "time went backwards"


@dataclass
class FrameChecker:
    """Checks frames against the first good one; counts the bad ones by reason."""

    min_side_px: int = 32
    expected: tuple[int, ...] | None = None
    bad: Counter[str] = field(default_factory=Counter)
    last_t: float | None = None

    def forget_size(self) -> None:
        """After a camera was re-opened: the next good frame sets the size again."""
        self.expected = None
        self.last_t = None

    def reason(self, image: object, t: float) -> str | None:
        """None if the frame is usable, else why not (also counted)."""
        why = self._why(image, t)
        if why is not None:
            self.bad[why] += 1
        return why

    def normalise(self, image: np.ndarray) -> np.ndarray:
        """Gray [H, W] or BGR [H, W, 3] from a checked frame (drops alpha, squeezes 1 channel)."""
        if image.ndim == 3 and image.shape[2] == 1:
            return image[:, :, 0]
        if image.ndim == 3 and image.shape[2] == 4:
            return image[:, :, :3]
        return image

    def _why(self, image: object, t: float) -> str | None:
        if not isinstance(image, np.ndarray) or image.size == 0:
            return EMPTY
        if image.dtype != np.uint8:
            return DTYPE
        if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
            return SHAPE
        if min(image.shape[:2]) < self.min_side_px:
            return SMALL
        if self.expected is not None and image.shape != self.expected:
            return SIZE_CHANGED
        if self.last_t is not None and not t > self.last_t:
            return TIME
        if self.expected is None:
            self.expected = image.shape
        self.last_t = t
        return None

    @property
    def total_bad(self) -> int:
        return sum(self.bad.values())
