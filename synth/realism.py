"""Camera effects that matter for transfer to real DMS images: sensor noise, motion blur,
compression. Applied after exposure, per frame, with per-track parameters.

Why these: IR DMS cameras run at high analogue gain at night (visible shot and read
noise), the shutter is open long enough for fast head turns to smear (a 4 ms NIR pulse
to 1/60 s), and fleet recordings are compressed hard. A network that never saw them
learns to rely on clean edges it will not get.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class SensorParams:
    """Per-track sensor settings.

    read_noise: std of additive noise in [0, 1] units (dark current, read-out).
    shot_noise: scales Poisson-like noise, std = shot_noise * sqrt(value).
    exposure_frac: shutter-open share of the frame period, sets motion-blur length.
    jpeg_quality: the quality the frame is stored at (OpenCV scale; 95 = near lossless,
        35 = heavy fleet-recording compression with visible 8x8 blocks).
    """

    read_noise: float = 0.01
    shot_noise: float = 0.02
    exposure_frac: float = 0.3
    jpeg_quality: int = 92

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def sample_sensor(rng: np.random.Generator, night: bool) -> SensorParams:
    """Night means high gain: more noise and a longer shutter (ranges from automotive
    NIR sensor datasheets, e.g. OmniVision OX05B / onsemi AR0234 class: SNR 30-40 dB)."""
    heavy_compression = rng.random() < 0.3
    return SensorParams(
        read_noise=float(rng.uniform(0.008, 0.03) if night else rng.uniform(0.002, 0.012)),
        shot_noise=float(rng.uniform(0.02, 0.05) if night else rng.uniform(0.005, 0.025)),
        exposure_frac=float(rng.uniform(0.25, 0.5) if night else rng.uniform(0.05, 0.3)),
        jpeg_quality=int(rng.integers(35, 70) if heavy_compression else rng.integers(85, 96)),
    )


def motion_blur(img: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Smear along the image-space motion (dx, dy) in pixels during the exposure."""
    length = float(np.hypot(dx, dy))
    if length < 0.75:
        return img
    n = int(np.ceil(length)) | 1
    kernel = np.zeros((n, n), np.float32)
    c = n // 2
    steps = np.linspace(-0.5, 0.5, 4 * n)
    xs = np.clip(np.round(c + steps * dx).astype(int), 0, n - 1)
    ys = np.clip(np.round(c + steps * dy).astype(int), 0, n - 1)
    np.add.at(kernel, (ys, xs), 1.0)
    kernel /= kernel.sum()
    return cv2.filter2D(img, -1, kernel, borderType=cv2.BORDER_REPLICATE)


def add_noise(img: np.ndarray, params: SensorParams, rng: np.random.Generator) -> np.ndarray:
    std = np.sqrt(params.read_noise ** 2 + params.shot_noise ** 2 * np.clip(img, 0, 1))
    return np.clip(img + std * rng.standard_normal(img.shape).astype(np.float32), 0.0, 1.0)


def to_uint8(img: np.ndarray) -> np.ndarray:
    return np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)


def encode_jpeg(img8: np.ndarray, quality: int) -> bytes:
    """RGB input is stored as OpenCV expects (BGR) and decoded back to RGB by decode_jpeg."""
    if img8.ndim == 3:
        img8 = cv2.cvtColor(img8, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", img8, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def decode_jpeg(data: bytes | np.ndarray, color: bool) -> np.ndarray:
    buf = np.frombuffer(data, np.uint8) if isinstance(data, bytes) else data
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR if color else cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise ValueError("not a decodable JPEG")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB) if color else img
