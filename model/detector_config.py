"""The head detector's configuration: every size that shapes it, with its default and why.

Kept free of torch so that the exporter's manifest, the CLI and tests can read it without
building the network.

The detector answers one question per frame for the runtime: where is the driver's head in
the full camera frame, and is there one at all? The pose network then looks at a crop
around that box. One driver, one head: so the network regresses a single box (no anchors,
no non-maximum suppression) and a presence score.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


class DetectorConfigError(ValueError):
    """A detector config with an unknown key or a value out of range."""


@dataclass(frozen=True)
class DetectorConfig:
    """What the head detector is made of.

    input_size: (height, width) of the downscaled full frame, 96x128. A 640x480 frame is
        shrunk 5x (cv2.INTER_AREA): a head (~230 px at 640x480, synth head_box) is still
        ~45 px, plenty to place a box to a few full-frame pixels, while the first conv
        touches only 12k pixels (the < 0.3 ms per frame on one CPU thread target). 4:3
        like the in-car cameras (640x480, 1280x960); other aspect ratios are squeezed to it.
    channels: output channels of the 3x3 convs; the first `strided` of them halve the
        resolution (stride 2), so with 4 strided convs the last map is a 6x8 grid of 16 px
        cells at 96x128. The two stride-1 convs at the end widen the receptive field to
        ~95 px, two head widths, enough to tell a head from a neck or a headrest.
    strided: how many of the convs use stride 2 (the grid's stride is 2 ** strided).
    size_prior: the box side (as a share of the frame height) that a zero size offset
        means: 0.47, the median head_box side of the synthetic set at 640x480 (~226 px).
    size_scale: how much one unit of size offset changes the side (share of frame height).
    pixel_mean / pixel_scale: input = (pixel / 255 - mean) * scale, as the pose network's
        (model.config): 0.5 and 2.0 map 8-bit pixels to [-1, 1].
    batch_norm: conv-BN-ReLU for training; BN folds into the convs at export (model.fold).
    """

    input_size: tuple[int, int] = (96, 128)
    channels: tuple[int, ...] = (8, 12, 24, 32, 32, 32)
    strided: int = 4
    size_prior: float = 0.47
    size_scale: float = 0.25
    pixel_mean: float = 0.5
    pixel_scale: float = 2.0
    batch_norm: bool = True

    def __post_init__(self) -> None:
        h, w = self.input_size
        if h < 1 or w < 1:
            raise DetectorConfigError(f"input_size: must be positive, got {self.input_size}")
        if not 1 <= self.strided <= len(self.channels):
            raise DetectorConfigError(f"strided: must be in [1, {len(self.channels)}], got {self.strided}")
        stride = 2 ** self.strided
        if h % stride or w % stride:
            raise DetectorConfigError(f"input_size: {self.input_size} must be a multiple of the grid stride {stride}")
        if self.size_prior <= 0 or self.size_scale <= 0 or self.pixel_scale <= 0:
            raise DetectorConfigError("size_prior, size_scale and pixel_scale must be > 0")

    @property
    def grid(self) -> tuple[int, int]:
        """(rows, columns) of the output grid."""
        stride = 2 ** self.strided
        return self.input_size[0] // stride, self.input_size[1] // stride

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["input_size"] = list(self.input_size)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DetectorConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise DetectorConfigError(f"unknown detector config key '{unknown[0]}' (known: {sorted(known)})")
        kw = dict(d)
        if "input_size" in kw:
            kw["input_size"] = tuple(int(v) for v in kw["input_size"])
        if "channels" in kw:
            kw["channels"] = tuple(int(v) for v in kw["channels"])
        return cls(**kw)
