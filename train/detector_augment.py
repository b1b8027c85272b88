"""Training-time augmentation of full frames for the head detector, box moving with the image.

The synthetic cameras sit at three mounts with small seat offsets, so heads appear in a
few places at a few sizes; real installations vary more (camera height, seat position,
driver height, lens). Geometry: random scale and translation of the frame, horizontal
mirroring (left- and right-hand-drive cars; the box centre mirrors as cx -> 1 - cx, the
continuous-coordinate convention of train.augment). Photometry: what real sensors and ISPs
do that the renderer underplays: gain (auto-exposure error), tone-curve gamma, defocus
blur, read noise. And the third negative kind: the lens covered (a hand or a sticker right
in front of it) -- a blurred smear with no head in it.

All randomness comes from the numpy Generator passed in, in a fixed order, so a seed
reproduces a batch exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class DetectorAugmentConfig:
    """Every magnitude, its default, and why.

    flip_p 0.5: left- and right-hand-drive cars mirror the cabin; heads are symmetric.
    scale (0.8, 1.25): head size spread of real installs (camera 0.5-0.8 m from the face)
        around the synthetic mounts' (~230 px side at 640x480).
    translate 0.15: shift as a share of the frame's width/height; camera aim and seat
        position vary by about that much. Shifts that would push the head's centre out of
        the inner 90 % of the frame are dropped (the label would be ambiguous).
    gain (0.5, 2.0): log-uniform exposure error; gamma (0.7, 1.4): tone curves differ by ISP.
    blur_p 0.3, blur_sigma (0.3, 1.2) input pixels: defocus and the coarser optics of
        cheap cameras (1.2 px at 128 wide = 6 px at 640).
    noise (0.0, 0.03): Gaussian read noise std in [0, 1] units, night gain.
    blocked_p 0.04: share of samples turned into a covered-lens negative.
    """

    flip_p: float = 0.5
    scale: tuple[float, float] = (0.8, 1.25)
    translate: float = 0.15
    gain: tuple[float, float] = (0.5, 2.0)
    gamma: tuple[float, float] = (0.7, 1.4)
    blur_p: float = 0.3
    blur_sigma: tuple[float, float] = (0.3, 1.2)
    noise: tuple[float, float] = (0.0, 0.03)
    blocked_p: float = 0.04


# Keep the augmented head's centre within this margin of the frame's edges.
CENTRE_MARGIN = 0.05


def blocked_lens(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A covered lens: the scene smeared beyond recognition (a hand a few cm away is far out
    of focus), pulled towards dark (opaque cover) or bright (skin lit by the IR LED next to
    the lens saturates). float32 [0, 1] in and out."""
    h, w = img.shape
    sigma = rng.uniform(0.08, 0.2) * w
    smear = cv2.GaussianBlur(img, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
    level = rng.choice([rng.uniform(0.0, 0.1), rng.uniform(0.7, 1.0)])
    mix = rng.uniform(0.5, 0.95)
    return (mix * level + (1 - mix) * smear).astype(np.float32)


def geometric(img: np.ndarray, box: np.ndarray, present: bool, rng: np.random.Generator,
              cfg: DetectorAugmentConfig) -> tuple[np.ndarray, np.ndarray]:
    """Scale about the frame centre, translate, mirror. img float32 [H, W]; box (cx, cy, side)."""
    h, w = img.shape
    s = float(np.exp(rng.uniform(np.log(cfg.scale[0]), np.log(cfg.scale[1]))))
    tx, ty = rng.uniform(-cfg.translate, cfg.translate, 2)
    flip = rng.uniform() < cfg.flip_p
    box = box.astype(np.float32).copy()
    if present:
        lo, hi = CENTRE_MARGIN, 1 - CENTRE_MARGIN
        cx, cy = s * (box[0] - 0.5) + 0.5 + tx, s * (box[1] - 0.5) + 0.5 + ty
        if not (lo <= cx <= hi and lo <= cy <= hi):
            tx = ty = 0.0
            cx, cy = s * (box[0] - 0.5) + 0.5, s * (box[1] - 0.5) + 0.5
            if not (lo <= cx <= hi and lo <= cy <= hi):
                s, cx, cy = 1.0, float(box[0]), float(box[1])
        box[:] = (cx, cy, box[2] * s)
    # continuous pixel coordinates u' = s (u - W/2) + W/2 + tx W; cv2 indexes pixel centres
    # at integers (u = i + 0.5), hence the 0.5 terms.
    bx = (1 - s) * w / 2 + tx * w
    by = (1 - s) * h / 2 + ty * h
    m = np.array([[s, 0, s * 0.5 + bx - 0.5], [0, s, s * 0.5 + by - 0.5]], np.float32)
    out = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if flip:
        out = np.ascontiguousarray(out[:, ::-1])
        if present:
            box[0] = 1 - box[0]
    return out, box


def photometric(img: np.ndarray, rng: np.random.Generator, cfg: DetectorAugmentConfig) -> np.ndarray:
    gain = float(np.exp(rng.uniform(np.log(cfg.gain[0]), np.log(cfg.gain[1]))))
    gamma = rng.uniform(*cfg.gamma)
    out: np.ndarray = np.clip(img * gain, 0.0, 1.0) ** gamma
    if rng.uniform() < cfg.blur_p:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(*cfg.blur_sigma), borderType=cv2.BORDER_REPLICATE)
    std = rng.uniform(*cfg.noise)
    out = out + std * rng.standard_normal(out.shape).astype(np.float32)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def augment(img: np.ndarray, box: np.ndarray, present: bool, rng: np.random.Generator,
            cfg: DetectorAugmentConfig = DetectorAugmentConfig()) -> tuple[np.ndarray, np.ndarray, bool]:
    """One training sample: uint8 [H, W] -> float32 [H, W] in [0, 1], its box and presence."""
    x = img.astype(np.float32) / 255.0
    x, box = geometric(x, box, present, rng, cfg)
    x = photometric(x, rng, cfg)
    if rng.uniform() < cfg.blocked_p:
        return blocked_lens(x, rng), np.zeros(3, np.float32), False
    return x, box, present
