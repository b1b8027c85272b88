"""Face-centred crop sequences from real video (the patent's crops, for public datasets).

The patent trains the tracker on stable face-centred crops: the detected face centres are
smoothed over time with a Gaussian filter and the largest box of the clip sets the crop
size, which also fills frames where detection missed. `crop_track` does that from
per-frame boxes (NaN rows for misses); `cut_crop` cuts one crop and maps landmarks into
it; `localiser_jitter` perturbs boxes the way the runtime face localiser does, so a
network trained on clean tracks does not meet its first noisy box in the car.

Coordinates: boxes (x0, y0, x1, y1) are in the same OpenCV pixel coordinates as the
readers' landmarks ((0, 0) = centre of the top-left pixel). A point x lands at crop
coordinate u = (x - x0) / (x1 - x0) (crop-normalised, dms.landmarks), so crop pixel i's
centre is u = (i + 0.5) / size, the convention under which mirroring is u -> 1 - u.

The framing matches the synthetic crops (synth.video.CropSpec: an 80 px crop 1.6 head
heights wide, centred on the head), so a network trained on synth sees real faces at the
same place and scale. The two presets encode that for the two kinds of box:
landmark boxes (300-VW, 300W-LP, AFLW2000) and head-centre boxes (BIWI).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.ndimage import gaussian_filter1d, maximum_filter1d


@dataclass(frozen=True)
class CropConfig:
    """How a clip's boxes become its crop track.

    size: stored crop side in pixels, what to pass to cut_crop. 80 = synth's
        CropSpec.size; the network sees the centre 64 and the margin is room for
        augmentation's window jitter (train.augment).
    context: crop side / box side (the box side is max(width, height)).
    centre_offset: crop centre minus box centre, in box sides (x, y); y < 0 = up.
    sigma_frames: Gaussian smoothing of the centre and the side (synth: 2 frames; the
        patent's smoothing, enough to remove per-frame annotation noise while following
        a 1-2 s head turn).
    size_window_frames: the side is the largest over a sliding window this long; None =
        the largest of the whole clip (the patent's wording). 61 (~2 s at 30 fps) is
        synth's size_window_s, which keeps long clips tight when the driver leans.
    """

    size: int = 80
    context: float = 2.75
    centre_offset: tuple[float, float] = (0.0, -0.24)
    sigma_frames: float = 2.0
    size_window_frames: int | None = 61

    @classmethod
    def for_landmark_boxes(cls) -> CropConfig:
        """Boxes spanning the 68 landmarks (brows to chin). On synth's mean head that box
        is 0.14 m and its centre 0.034 m below the head centre, so synth's 0.384 m crop
        (2 x 0.12 m x 1.6) is 2.75 boxes wide, centred 0.24 boxes above the box centre."""
        return cls()

    @classmethod
    def for_head_boxes(cls) -> CropConfig:
        """Boxes centre +- head radius (BIWI's projected head centre with 120 mm): exactly
        synth's framing, context 1.6 head heights around the head centre."""
        return cls(context=1.6, centre_offset=(0.0, 0.0))


@dataclass(frozen=True)
class CropTrack:
    """boxes: [T, 4] square crop boxes; filled: [T] True where the input box was missing
    and the crop comes from interpolation (still a labelled frame when labels exist)."""

    boxes: NDArray[np.float64]
    filled: NDArray[np.bool_]


def boxes_from_landmarks(landmarks: ArrayLike) -> NDArray[np.float64]:
    """[T, 68, 2] pixel landmarks -> [T, 4] bounding boxes; NaN rows where a frame has none."""
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.ndim != 3 or pts.shape[-1] != 2:
        raise ValueError(f"landmarks must have shape [T, N, 2], got {pts.shape}")
    out = np.full((len(pts), 4), np.nan)
    ok = np.all(np.isfinite(pts), axis=(1, 2))
    out[ok, :2] = pts[ok].min(axis=1)
    out[ok, 2:] = pts[ok].max(axis=1)
    return out


def boxes_from_centres(centres: ArrayLike, radius: ArrayLike) -> NDArray[np.float64]:
    """[T, 2] centres and [T] (or scalar) radii in pixels -> [T, 4] boxes centre +- radius."""
    c = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
    r = np.broadcast_to(np.asarray(radius, dtype=np.float64), (len(c),))[:, None]
    return np.column_stack([c - r, c + r])


def on_frame_grid(frame_numbers: ArrayLike, boxes: ArrayLike) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Place boxes of numbered frames on the contiguous grid first..last, NaN rows for the
    numbers that are absent (BIWI's dropped frames), so smoothing sees real time."""
    n = np.asarray(frame_numbers, dtype=np.int64)
    b = np.asarray(boxes, dtype=np.float64)
    if len(n) != len(b) or len(n) == 0:
        raise ValueError("need one box per frame number, at least one")
    if np.any(np.diff(n) <= 0):
        raise ValueError("frame numbers must increase")
    grid = np.arange(n[0], n[-1] + 1)
    out = np.full((len(grid), 4), np.nan)
    out[n - n[0]] = b
    return grid, out


def _fill(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Linear interpolation over NaN rows, held constant beyond the first/last valid row."""
    ok = np.all(np.isfinite(values), axis=1)
    t = np.arange(len(values))
    return np.column_stack([np.interp(t, t[ok], values[ok, k]) for k in range(values.shape[1])])


def crop_track(boxes: ArrayLike, config: CropConfig = CropConfig()) -> CropTrack:
    """Per-frame boxes [T, 4] (NaN rows = missed) -> the clip's stable square crop boxes.

    Missing centres and sides are interpolated before smoothing, so a missed detection
    neither jerks the crop nor drops the frame.
    """
    b = np.asarray(boxes, dtype=np.float64)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"boxes must have shape [T, 4], got {b.shape}")
    missing = ~np.all(np.isfinite(b), axis=1)
    if missing.all():
        raise ValueError("every frame's box is missing: nothing to centre a crop on")
    side = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])
    if np.any(side[~missing] <= 0):
        raise ValueError("boxes need x1 > x0 or y1 > y0")
    centre = (b[:, :2] + b[:, 2:]) / 2 + side[:, None] * np.asarray(config.centre_offset)
    track = _fill(np.column_stack([centre, side]))
    centre, side = track[:, :2], track[:, 2] * config.context
    if config.size_window_frames is None:
        side = np.full_like(side, side.max())
    else:
        side = maximum_filter1d(side, max(1, int(config.size_window_frames)), mode="nearest")
    if config.sigma_frames > 0:
        centre = gaussian_filter1d(centre, config.sigma_frames, axis=0, mode="nearest")
        side = gaussian_filter1d(side, config.sigma_frames, mode="nearest")
    half = side[:, None] / 2
    return CropTrack(np.column_stack([centre - half, centre + half]), missing)


@dataclass(frozen=True)
class JitterConfig:
    """Noise of the runtime face localiser, applied to training boxes (fractions of the
    box side). The runtime localiser smooths its detections, so what reaches the network
    is a slow wander plus an occasional wrong box, not white noise:

    centre_sigma: 0.03, std of the centre wander. Chosen so that 3 sigma (9 %) plus the
        augmentation window's 6 % shift stays inside the 80 px stored crop's margin around
        the 64 px window ((80 - 64) / 2 / 64 = 12.5 % per side, more at scale < 1).
    centre_tau_frames: 6, correlation time of the wander (an exponential smoother with a
        ~0.2 s time constant at 30 fps, the order of a detector-box filter that still
        follows a head turn).
    scale_sigma: 0.04, std of log box size. Face detectors' box size varies more than
        their centre with pose (profile faces get narrower boxes).
    scale_tau_frames: 15, size changes slower than position.
    miss_rate: 0.01 per frame: a run of wrong boxes starts about every 3 s at 30 fps.
    miss_frames: (1, 6): a wrong box persists up to ~0.2 s before the localiser recovers.
    miss_offset: (0.1, 0.25): a wrong box is displaced this much (half a face at most:
        a detector locked on part of the face, or a stale box while the head moved).
    miss_scale: (0.85, 1.2): and sized this much off.
    """

    centre_sigma: float = 0.03
    centre_tau_frames: float = 6.0
    scale_sigma: float = 0.04
    scale_tau_frames: float = 15.0
    miss_rate: float = 0.01
    miss_frames: tuple[int, int] = (1, 6)
    miss_offset: tuple[float, float] = (0.1, 0.25)
    miss_scale: tuple[float, float] = (0.85, 1.2)


def _ar1(rng: np.random.Generator, n: int, dims: int, sigma: float, tau: float) -> NDArray[np.float64]:
    """Stationary AR(1) noise with std sigma and correlation time tau frames."""
    phi = float(np.exp(-1.0 / max(tau, 1e-6)))
    e = rng.standard_normal((n, dims)) * sigma * np.sqrt(1 - phi ** 2)
    out = np.empty((n, dims))
    out[0] = rng.standard_normal(dims) * sigma
    for t in range(1, n):
        out[t] = phi * out[t - 1] + e[t]
    return out


def localiser_jitter(boxes: ArrayLike, rng: np.random.Generator, config: JitterConfig = JitterConfig()) -> NDArray[np.float64]:
    """Boxes [T, 4] as the runtime localiser might have reported them. NaN rows stay NaN.
    Deterministic for the generator's state."""
    b = np.asarray(boxes, dtype=np.float64)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"boxes must have shape [T, 4], got {b.shape}")
    n = len(b)
    centre = (b[:, :2] + b[:, 2:]) / 2
    size = b[:, 2:] - b[:, :2]
    side = np.maximum(size[:, 0], size[:, 1])[:, None]
    shift = _ar1(rng, n, 2, config.centre_sigma, config.centre_tau_frames)
    log_scale = _ar1(rng, n, 1, config.scale_sigma, config.scale_tau_frames)
    starts = rng.random(n) < config.miss_rate
    t = 0
    while t < n:
        if starts[t]:
            length = int(rng.integers(config.miss_frames[0], config.miss_frames[1] + 1))
            angle = rng.uniform(0, 2 * np.pi)
            mag = rng.uniform(*config.miss_offset)
            sl = slice(t, min(n, t + length))
            shift[sl] += mag * np.array([np.cos(angle), np.sin(angle)])
            log_scale[sl] += np.log(rng.uniform(*config.miss_scale))
            t += length
        else:
            t += 1
    centre = centre + shift * side
    half = size * np.exp(log_scale) / 2
    return np.column_stack([centre - half, centre + half])


def _roi(image: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    """image[y0:y1, x0:x1] with edge pixels replicated where the window leaves the image."""
    h, w = image.shape[:2]
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if cx0 >= cx1 or cy0 >= cy1:   # wholly outside: the nearest edge pixel, replicated
        cx0, cx1 = (w - 1, w) if x0 >= w else (0, 1) if x1 <= 0 else (cx0, cx1)
        cy0, cy1 = (h - 1, h) if y0 >= h else (0, 1) if y1 <= 0 else (cy0, cy1)
    part = image[cy0:cy1, cx0:cx1]
    pads = (max(cy0 - y0, 0), max(y1 - cy1, 0), max(cx0 - x0, 0), max(x1 - cx1, 0))
    if any(pads):
        part = cv2.copyMakeBorder(np.ascontiguousarray(part), *pads, cv2.BORDER_REPLICATE)
    return part


def cut_crop(image: np.ndarray, box: ArrayLike, size: int | tuple[int, int],
             landmarks: ArrayLike | None = None) -> tuple[np.ndarray, NDArray[np.float64] | None]:
    """Cut box (x0, y0, x1, y1) out of image ([H, W] or [H, W, C]) resampled to size
    (int, or (width, height)); borders replicate. Returns the crop and the landmarks
    ([..., 2] pixels) in crop-normalised coordinates, or None when none were given.

    Downscaling first low-passes the box's region (Gaussian, sigma = 0.5 sqrt(f^2 - 1) for
    a reduction f), so that a face 300 px wide cut to 80 px does not alias into moire
    that real 80 px sensors never produce.
    """
    x0, y0, x1, y1 = (float(v) for v in np.asarray(box, dtype=np.float64).reshape(4))
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"box needs x1 > x0 and y1 > y0, got {(x0, y0, x1, y1)}")
    out_w, out_h = (size, size) if isinstance(size, int) else size
    ax, ay = (x1 - x0) / out_w, (y1 - y0) / out_h
    sigma = (0.5 * np.sqrt(max(ax * ax - 1.0, 0.0)), 0.5 * np.sqrt(max(ay * ay - 1.0, 0.0)))
    pad = int(np.ceil(3 * max(sigma))) + 2
    rx0, ry0 = int(np.floor(x0)) - pad, int(np.floor(y0)) - pad
    roi = _roi(image, rx0, ry0, int(np.ceil(x1)) + pad + 1, int(np.ceil(y1)) + pad + 1)
    if max(sigma) > 0.25:
        roi = cv2.GaussianBlur(roi, (0, 0), sigmaX=max(sigma[0], 1e-3), sigmaY=max(sigma[1], 1e-3),
                               borderType=cv2.BORDER_REPLICATE)
    # crop pixel j's centre (u = (j + 0.5) / out_w) is image x = x0 + (j + 0.5) ax
    m = np.array([[ax, 0.0, x0 + 0.5 * ax - rx0], [0.0, ay, y0 + 0.5 * ay - ry0]])
    crop = cv2.warpAffine(roi, m, (out_w, out_h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)
    if landmarks is None:
        return crop, None
    pts = np.asarray(landmarks, dtype=np.float64)
    norm = (pts - np.array([x0, y0])) / np.array([x1 - x0, y1 - y0])
    return crop, norm
