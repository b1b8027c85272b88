"""Face crop -> network input, exactly as the model manifest's ``preprocess`` block says.

One function for every room that feeds the step graph: calibration (representative
frames), the accuracy report, and the runtime loop on the car. If calibration saw
differently normalised pixels than the car does, the INT8 ranges would be fitted to the
wrong distribution, and the error would only show as a quiet loss of accuracy. So this
module imports numpy and OpenCV only (no torch, no onnx), and the runtime can import it.

The formula is the manifest's: ``pixel' = (pixel / 255 - mean) * scale`` per channel,
layout NCHW, float32. Resizing uses ``cv2.INTER_AREA``, the interpolation training used
for its network window (train.data.center_window), because it averages rather than
skips pixels when shrinking a crop (no aliasing on the fine IR texture).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

# The colour orders a caller may hand in. OpenCV decodes video and images as BGR; the
# synthetic shards decode to RGB (synth.realism.decode_jpeg); IR cameras deliver gray.
CROP_COLORS = ("gray", "rgb", "bgr")


class PreprocessError(ValueError):
    """A crop or a preprocess block that cannot give the network's input."""


@dataclass(frozen=True)
class PreprocessSpec:
    """The manifest's preprocess block, typed. ``mean``/``scale`` hold 1 or C values."""

    height: int
    width: int
    channels: int
    color: str
    mean: tuple[float, ...]
    scale: tuple[float, ...]

    @classmethod
    def from_manifest(cls, block: Mapping[str, Any], source: str = "manifest.json") -> PreprocessSpec:
        try:
            spec = cls(height=int(block["height"]), width=int(block["width"]), channels=int(block["channels"]),
                       color=str(block["color"]), mean=tuple(float(v) for v in block["mean"]),
                       scale=tuple(float(v) for v in block["scale"]))
        except KeyError as exc:
            raise PreprocessError(f"{source}: field 'preprocess.{exc.args[0]}' missing") from None
        if block.get("layout", "NCHW") != "NCHW":
            raise PreprocessError(f"{source}: field 'preprocess.layout' is {block['layout']!r}; only NCHW is supported")
        spec.validate(source)
        return spec

    def validate(self, source: str = "preprocess") -> None:
        if self.channels not in (1, 3):
            raise PreprocessError(f"{source}: field 'preprocess.channels' must be 1 or 3, got {self.channels}")
        if (self.channels == 1) != (self.color == "gray"):
            raise PreprocessError(f"{source}: field 'preprocess.color' {self.color!r} does not fit "
                                  f"{self.channels} channel(s)")
        for key in ("mean", "scale"):
            values = getattr(self, key)
            if len(values) not in (1, self.channels):
                raise PreprocessError(f"{source}: field 'preprocess.{key}' needs 1 or {self.channels} values, "
                                      f"got {len(values)}")
        if min(self.scale) <= 0:
            raise PreprocessError(f"{source}: field 'preprocess.scale' must be > 0, got {list(self.scale)}")

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one frame's network input."""
        return self.channels, self.height, self.width


def _convert_color(frames: np.ndarray, crop_color: str, target: str) -> np.ndarray:
    """[T, H, W] or [T, H, W, 3] uint8 in crop_color -> the same in target color."""
    import cv2

    if crop_color == target:
        return frames
    if crop_color == "gray":  # a gray camera feeding an RGB model: replicate the channel
        return np.repeat(frames[..., None], 3, axis=-1)
    if target == "gray":
        code = cv2.COLOR_BGR2GRAY if crop_color == "bgr" else cv2.COLOR_RGB2GRAY
    else:  # rgb <-> bgr
        code = cv2.COLOR_BGR2RGB if crop_color == "bgr" else cv2.COLOR_RGB2BGR
    return np.stack([cv2.cvtColor(f, code) for f in frames])


def to_network_input(crops: np.ndarray, spec: PreprocessSpec, crop_color: str) -> np.ndarray:
    """Face crops -> the step graph's ``image`` input, one row per frame.

    crops: one crop [H, W] / [H, W, 3] or a batch [T, H, W] / [T, H, W, 3], uint8 (any
    size: resized to the manifest's with INTER_AREA), in ``crop_color`` order.
    Returns float32 [T, C, H, W] (T = 1 for a single crop): row t is the ``image`` feed
    of frame t once given a leading batch axis (``out[t:t + 1]``).
    """
    import cv2

    if crop_color not in CROP_COLORS:
        raise PreprocessError(f"crop_color must be one of {CROP_COLORS}, got {crop_color!r}")
    arr = np.asarray(crops)
    color_axis = arr.ndim >= 3 and arr.shape[-1] == 3 and crop_color != "gray"
    single = arr.ndim == (3 if color_axis else 2)
    if single:
        arr = arr[None]
    expected_ndim = 4 if crop_color != "gray" else 3
    if arr.ndim != expected_ndim or (crop_color != "gray" and arr.shape[-1] != 3):
        raise PreprocessError(f"crops of shape {np.shape(crops)} do not look like {crop_color} frames "
                              f"([T,] H, W{', 3' if crop_color != 'gray' else ''})")
    if arr.dtype != np.uint8:
        raise PreprocessError(f"crops must be uint8 pixels, got {arr.dtype}")
    if arr.shape[1:3] != (spec.height, spec.width):
        arr = np.stack([cv2.resize(f, (spec.width, spec.height), interpolation=cv2.INTER_AREA) for f in arr])
    arr = _convert_color(arr, crop_color, spec.color)
    x = arr.astype(np.float32)
    x = x[:, None] if x.ndim == 3 else np.moveaxis(x, -1, 1)  # -> [T, C, H, W]
    mean = np.asarray(spec.mean, np.float32).reshape(1, -1, 1, 1)
    scale = np.asarray(spec.scale, np.float32).reshape(1, -1, 1, 1)
    return np.ascontiguousarray((x / np.float32(255.0) - mean) * scale, dtype=np.float32)
