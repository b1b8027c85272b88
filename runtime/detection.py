"""What a face localiser returns, and the interface every localiser has.

Kept tiny and dependency-free so that the head detector of our own, OpenCV's Haar cascade
and test doubles are interchangeable in the runtime loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Detection:
    """A head box in full-frame pixels (x0, y0, x1, y1) and a presence score in [0, 1]."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float
    source: str = ""          # which localiser found it ("detector", "haar", ...)

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2

    @property
    def size(self) -> float:
        """Side of the square the box fits in (heads are roughly square)."""
        return max(self.x1 - self.x0, self.y1 - self.y0)

    def as_array(self) -> np.ndarray:
        return np.array([self.x0, self.y0, self.x1, self.y1], np.float64)


class Localiser(Protocol):
    """Finds the driver's head in a full frame (uint8 gray [H, W] or BGR [H, W, 3])."""

    name: str

    def locate(self, frame: np.ndarray) -> Detection | None: ...
