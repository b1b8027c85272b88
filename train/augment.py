"""Training-time augmentation of crop sequences (the patent's, plus the camera's).

The patent augments with horizontal mirroring (angles and landmark order flip with the
image), reverse playback, and small random scaling and translation of the face window.
Real in-car cameras add what synthetic renders underplay: exposure and tone-curve
differences between sensors and ISPs, noise at night gain, defocus, compression, lens
shading. Everything here acts on a whole sequence with parameters drawn once per
sequence (a camera does not change its tone curve between frames); only sensor noise is
drawn per frame. All randomness comes from the numpy Generator passed in, in a fixed
order, so a seed reproduces a batch exactly.

Sequences are `Clip`s: frames [T, H, W] or [T, H, W, 3] uint8 (RGB order), pose [T, 3]
degrees (dms-head-v1) or None, landmarks [T, 68, 2] crop-normalised or None, and
optionally visible [T, 68] (per-point visibility, permuted and reversed with the points).

Crop-normalised coordinates: the stored crop spans [0, 1]; pixel i's centre is at
(i + 0.5) / W. Under that convention np.flip is exactly u -> 1 - u (dms.landmarks), and
the window's pixel resampling and its landmark mapping are the same affine map.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from dms.angles import euler_to_matrix, matrix_to_euler, mirror_pose
from dms.landmarks import MIRROR_PERMUTATION, mirror_landmarks


@dataclass(frozen=True)
class AugmentConfig:
    """Every magnitude, its default, and why.

    Structure (the patent's augmentations):
      mirror_p 0.5: half the sequences mirrored; the head-pose distribution is left-right
          symmetric, mirroring doubles identities and removes any side bias of the data.
      reverse_p 0.5: half played backwards; head motion has no arrow of time at these
          time scales, and reversing teaches the tracker decelerations as accelerations.
    In-plane rotation (off by default; a training config turns it on):
      rotate_p 0, rotate_max_deg 25: a share of the sequences turned in the image plane by
          up to this much about the crop centre, before the window. Turning the image about
          the crop centre is turning the crop's camera about its ray, so the label stays
          exact: R' = Rx(angle) R in F, a change of all three angles in general, not just
          of roll. Why: drives tilt the head within about +-15 deg, real faces up to +-40
          (AFLW2000's roll range), and a network never shown a tilt reads it as something
          else; it is also the self-consistency the real-world issue asks for.
    Face window (scale and translation):
      window_fraction 0.8: the network sees the centre 80 % of the stored crop at scale 1
          (64 of 80 px, synth.video.CropSpec; train.data.NETWORK_WINDOW).
      scale_range (0.9, 1.1): window side multiplier, about the scale error of face
          detectors between frames and subjects; stays inside the 80 px stored crop.
      shift_max 0.06: window centre shift, fraction of the window side per axis (the
          brief's ~6 %); 0.5 * 1.1 + 0.06 * 1.1 = 0.616 of 64 px = 39.4 px < 40 px, so
          even the largest shifted window stays inside the 80 px crop.
      drift_p 0.3, drift_scale 0.03, drift_shift 0.02: a third of the sequences see the
          window wander linearly by up to this much from first to last frame, the slow
          drift of a smoothed runtime localiser; the rest hold it fixed (the patent's
          consistent window).
    Photometric, infrared and colour alike:
      blur_p 0.3, blur_sigma (0.3, 1.2) px: fixed-focus in-car lenses defocus as the seat
          moves, and low-resolution sensors are soft; above ~1.2 px at 64 px the eyes
          disappear, which no working DMS camera does.
      vignette_p 0.3, vignette_max 0.35: lens shading and the IR illuminator's cone fall
          off towards the image edge (up to ~35 % darker in a crop's corner), centred
          anywhere within 30 % of the crop centre since the face is rarely on-axis.
      gain_range (0.7, 1.4), log-uniform: auto-exposure error, about +-0.5 EV.
      noise_p 0.5, noise_max 0.025: additive Gaussian noise, std up to 2.5 % of full
          scale (the top of synth's night read noise, SNR ~30 dB of automotive NIR
          sensors at high gain); per-sequence std, fresh noise every frame.
      gamma_range (0.8, 1.25), log-uniform: tone curves of different ISPs.
      contrast_range (0.75, 1.25): sunlight washing out the active IR illumination
          (lower), or a hard ISP curve (higher).
      jpeg_p 0.3, jpeg_quality (30, 90), jpeg_upscale (1.0, 2.5): fleet recordings are
          compressed hard; the crop is upscaled by a random factor before encoding
          because the 8x8 blocks fell on the full-resolution frame, where the face is
          larger than the crop.
    Colour only (ignored for grayscale):
      white_balance 0.1: per-channel gain 1 +- 0.1, colour-temperature error.
      saturation_range (0.6, 1.4): sensors and ISPs differ in colour saturation.
      gray_p 0.2: some RGB-trained deployments see monochrome frames (night mode).
    """

    mirror_p: float = 0.5
    reverse_p: float = 0.5
    rotate_p: float = 0.0
    rotate_max_deg: float = 25.0
    window_fraction: float = 0.8
    scale_range: tuple[float, float] = (0.9, 1.1)
    shift_max: float = 0.06
    drift_p: float = 0.3
    drift_scale: float = 0.03
    drift_shift: float = 0.02
    blur_p: float = 0.3
    blur_sigma: tuple[float, float] = (0.3, 1.2)
    vignette_p: float = 0.3
    vignette_max: float = 0.35
    gain_range: tuple[float, float] = (0.7, 1.4)
    noise_p: float = 0.5
    noise_max: float = 0.025
    gamma_range: tuple[float, float] = (0.8, 1.25)
    contrast_range: tuple[float, float] = (0.75, 1.25)
    jpeg_p: float = 0.3
    jpeg_quality: tuple[int, int] = (30, 90)
    jpeg_upscale: tuple[float, float] = (1.0, 2.5)
    white_balance: float = 0.1
    saturation_range: tuple[float, float] = (0.6, 1.4)
    gray_p: float = 0.2

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name.endswith("_p") and not 0.0 <= v <= 1.0:
                raise ValueError(f"augment.{f.name}: a probability in [0, 1], got {v}")
            if isinstance(v, tuple) and (len(v) != 2 or v[0] > v[1]):
                raise ValueError(f"augment.{f.name}: needs (low, high) with low <= high, got {v}")
        if not 0.0 < self.window_fraction <= 1.0:
            raise ValueError(f"augment.window_fraction: in (0, 1], got {self.window_fraction}")
        if self.scale_range[0] <= 0 or self.gain_range[0] <= 0 or self.gamma_range[0] <= 0:
            raise ValueError("augment: scale, gain and gamma ranges must be positive")
        if not 1 <= self.jpeg_quality[0] <= self.jpeg_quality[1] <= 100:
            raise ValueError(f"augment.jpeg_quality: within 1..100, got {self.jpeg_quality}")

    @classmethod
    def from_dict(cls, overrides: Mapping[str, Any]) -> AugmentConfig:
        """Defaults with overrides (e.g. a training config's "augment" section). An unknown
        key stops the run with its name: a typo must not silently keep a default."""
        known = {f.name: f for f in fields(cls)}
        kw: dict[str, Any] = {}
        for key, value in overrides.items():
            if key not in known:
                raise ValueError(f"augment.{key}: unknown setting (known: {', '.join(sorted(known))})")
            kw[key] = tuple(value) if isinstance(value, list) else value
        return cls(**kw)


@dataclass(frozen=True)
class Clip:
    """A sequence of crops and its labels (see the module docstring)."""

    frames: np.ndarray
    pose: NDArray[np.float64] | None = None
    landmarks: NDArray[np.float64] | None = None
    visible: NDArray[np.bool_] | None = None

    def __post_init__(self) -> None:
        f = self.frames
        if f.dtype != np.uint8 or f.ndim not in (3, 4) or (f.ndim == 4 and f.shape[3] != 3):
            raise ValueError(f"frames must be uint8 [T, H, W] or [T, H, W, 3], got {f.dtype} {f.shape}")
        t = len(f)
        if self.pose is not None and np.shape(self.pose) != (t, 3):
            raise ValueError(f"pose must be [T, 3] = [{t}, 3], got {np.shape(self.pose)}")
        if self.landmarks is not None and np.shape(self.landmarks) != (t, 68, 2):
            raise ValueError(f"landmarks must be [T, 68, 2] = [{t}, 68, 2], got {np.shape(self.landmarks)}")
        if self.visible is not None and np.shape(self.visible) != (t, 68):
            raise ValueError(f"visible must be [T, 68], got {np.shape(self.visible)}")


# ---- the patent's augmentations ------------------------------------------------------

def mirror(clip: Clip) -> Clip:
    """Horizontally mirrored: images flipped, yaw and roll negated, landmarks x -> 1 - x
    with left/right points swapped (and their visibility with them)."""
    visible = None
    if clip.visible is not None:
        visible = np.empty_like(clip.visible)
        visible[:, MIRROR_PERMUTATION] = clip.visible
    return Clip(np.ascontiguousarray(clip.frames[:, :, ::-1]),
                None if clip.pose is None else mirror_pose(clip.pose).astype(np.asarray(clip.pose).dtype),
                None if clip.landmarks is None else mirror_landmarks(clip.landmarks).astype(np.asarray(clip.landmarks).dtype),
                visible)


def rotate_in_plane(clip: Clip, angle_deg: float) -> Clip:
    """Every frame turned counter-clockwise (as seen) by angle_deg about the crop centre;
    landmarks follow, the pose is turned about the camera's axis (F.x) by the same angle."""
    t, h, w = clip.frames.shape[:3]
    m = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), angle_deg, 1.0)   # pixel-centre coordinates
    frames = np.stack([cv2.warpAffine(f, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                       for f in clip.frames]).reshape(clip.frames.shape)
    landmarks = None
    if clip.landmarks is not None:
        lm = np.asarray(clip.landmarks)
        centred = lm * np.array([w, h]) - np.array([w / 2.0, h / 2.0])      # edge coordinates
        landmarks = ((centred @ m[:, :2].T + np.array([w / 2.0, h / 2.0])) / np.array([w, h])).astype(lm.dtype)
    pose = None
    if clip.pose is not None:
        a = np.deg2rad(angle_deg)
        rx = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(a), -np.sin(a)], [0.0, np.sin(a), np.cos(a)]])
        pose = matrix_to_euler(rx @ euler_to_matrix(np.asarray(clip.pose, np.float64))).astype(np.asarray(clip.pose).dtype)
    return replace(clip, frames=frames, landmarks=landmarks, pose=pose)


def reverse(clip: Clip) -> Clip:
    """Played backwards: frames and every label in reverse time order."""
    def rev(a: Any) -> Any:
        return None if a is None else np.ascontiguousarray(a[::-1])
    return Clip(rev(clip.frames), rev(clip.pose), rev(clip.landmarks), rev(clip.visible))


@dataclass(frozen=True)
class Window:
    """The face window over a sequence, varying linearly from the first to the last frame:
    scale (side multiplier) and shift (x, y) of its centre in window sides."""

    scale: tuple[float, float] = (1.0, 1.0)
    shift: tuple[tuple[float, float], tuple[float, float]] = ((0.0, 0.0), (0.0, 0.0))


def sample_window(rng: np.random.Generator, cfg: AugmentConfig) -> Window:
    s0 = float(rng.uniform(*cfg.scale_range))
    sh0 = rng.uniform(-cfg.shift_max, cfg.shift_max, 2)
    drifting = rng.random() < cfg.drift_p
    ds = float(rng.uniform(-cfg.drift_scale, cfg.drift_scale))
    dsh = rng.uniform(-cfg.drift_shift, cfg.drift_shift, 2)
    s1, sh1 = (s0 + ds, sh0 + dsh) if drifting else (s0, sh0)
    return Window((s0, s1), ((float(sh0[0]), float(sh0[1])), (float(sh1[0]), float(sh1[1]))))


def window_boxes(window: Window, t: int, crop_hw: tuple[int, int], fraction: float) -> NDArray[np.float64]:
    """[T, 4] window boxes (x0, y0, x1, y1) in stored-crop pixels, edge convention
    (the crop spans [0, W] x [0, H])."""
    h, w = crop_hw
    a = np.linspace(0.0, 1.0, t)[:, None] if t > 1 else np.zeros((1, 1))
    scale = window.scale[0] + (window.scale[1] - window.scale[0]) * a[:, 0]
    shift = np.asarray(window.shift[0]) + (np.asarray(window.shift[1]) - np.asarray(window.shift[0])) * a
    size = np.column_stack([w * fraction * scale, h * fraction * scale])
    centre = np.array([w / 2, h / 2]) + shift * size
    return np.column_stack([centre - size / 2, centre + size / 2])


def apply_window(clip: Clip, window: Window, out_hw: tuple[int, int], fraction: float = 0.8) -> Clip:
    """Cut the window out of every frame, resampled to out_hw (height, width); landmarks
    follow through the same affine map, so a point marks the same pixel afterwards."""
    t, h, w = clip.frames.shape[:3]
    out_h, out_w = out_hw
    boxes = window_boxes(window, t, (h, w), fraction)
    frames = np.empty((t, out_h, out_w) + clip.frames.shape[3:], np.uint8)
    for i in range(t):
        x0, y0, x1, y1 = boxes[i]
        ax, ay = (x1 - x0) / out_w, (y1 - y0) / out_h
        src = clip.frames[i]
        if max(ax, ay) > 1.25:   # a reduction: low-pass first, as train.crops.cut_crop does
            src = cv2.GaussianBlur(src, (0, 0), sigmaX=0.5 * np.sqrt(max(ax * ax - 1, 1e-6)),
                                   sigmaY=0.5 * np.sqrt(max(ay * ay - 1, 1e-6)), borderType=cv2.BORDER_REPLICATE)
        # out pixel j's centre (edge coordinate x0 + (j + 0.5) ax) is stored pixel-centre
        # coordinate x0 + (j + 0.5) ax - 0.5
        m = np.array([[ax, 0.0, x0 + 0.5 * ax - 0.5], [0.0, ay, y0 + 0.5 * ay - 0.5]])
        if (ax == 1.0 and ay == 1.0 and float(x0).is_integer() and float(y0).is_integer()
                and 0 <= x0 and x1 <= w and 0 <= y0 and y1 <= h):
            frames[i] = src[int(y0):int(y0) + out_h, int(x0):int(x0) + out_w]   # exact copy, no resampling
        else:
            frames[i] = cv2.warpAffine(src, m, (out_w, out_h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                       borderMode=cv2.BORDER_REPLICATE)
    landmarks = None
    if clip.landmarks is not None:
        lm = np.asarray(clip.landmarks)
        px = lm * np.array([w, h])
        landmarks = ((px - boxes[:, None, :2]) / (boxes[:, None, 2:] - boxes[:, None, :2])).astype(lm.dtype)
    return replace(clip, frames=frames, landmarks=landmarks)


def centre_window(clip: Clip, out_hw: tuple[int, int], fraction: float = 0.8) -> Clip:
    """The network's view without jitter (evaluation)."""
    return apply_window(clip, Window(), out_hw, fraction)


# ---- photometric -----------------------------------------------------------------------

def _log_uniform(rng: np.random.Generator, lo_hi: tuple[float, float]) -> float:
    return float(np.exp(rng.uniform(np.log(lo_hi[0]), np.log(lo_hi[1]))))


def photometric(frames: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig = AugmentConfig()) -> np.ndarray:
    """Camera effects on uint8 frames [T, H, W] or [T, H, W, 3]; same shape and dtype out.
    Applied in the order light meets them: optics (blur, shading), sensor (gain, noise),
    ISP (gamma, contrast, colour), storage (JPEG). Labels are untouched by construction."""
    t, h, w = frames.shape[:3]
    color = frames.ndim == 4
    # Draw every parameter, always, in a fixed order: the stream stays aligned whatever
    # the probabilities are, so changing one setting does not reshuffle the others.
    blur_on, blur_s = rng.random() < cfg.blur_p, float(rng.uniform(*cfg.blur_sigma))
    vig_on, vig_k = rng.random() < cfg.vignette_p, float(rng.uniform(0.0, cfg.vignette_max))
    vig_c = rng.uniform(-0.3, 0.3, 2)
    gain = _log_uniform(rng, cfg.gain_range)
    noise_on, noise_s = rng.random() < cfg.noise_p, float(rng.uniform(0.0, cfg.noise_max))
    gamma = _log_uniform(rng, cfg.gamma_range)
    contrast = float(rng.uniform(*cfg.contrast_range))
    wb = rng.uniform(1 - cfg.white_balance, 1 + cfg.white_balance, 3)
    sat = float(rng.uniform(*cfg.saturation_range))
    gray_on = rng.random() < cfg.gray_p
    jpeg_on = rng.random() < cfg.jpeg_p
    quality = int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1))
    upscale = float(rng.uniform(*cfg.jpeg_upscale))
    noise = rng.standard_normal(frames.shape).astype(np.float32) if noise_on else None

    x = frames.astype(np.float32) / 255.0
    if blur_on:
        x = np.stack([cv2.GaussianBlur(f, (0, 0), blur_s, borderType=cv2.BORDER_REPLICATE) for f in x])
        x = x.reshape(frames.shape)
    if vig_on:
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        dx = (xx + 0.5) / w - 0.5 - vig_c[0] / 2
        dy = (yy + 0.5) / h - 0.5 - vig_c[1] / 2
        shade = 1.0 - vig_k * (dx * dx + dy * dy) / 0.5   # 0.5 = corner distance^2 from the centre
        x = x * (shade[..., None] if color else shade)
    x = x * gain
    if noise is not None:
        x = x + noise_s * noise
    x = np.clip(x, 0.0, 1.0) ** gamma
    mean = x.mean(axis=tuple(range(1, x.ndim)), keepdims=True)
    x = mean + contrast * (x - mean)
    if color:
        x = x * wb.astype(np.float32)
        luma = x @ np.array([0.299, 0.587, 0.114], np.float32)
        x = luma[..., None] + (sat if not gray_on else 0.0) * (x - luma[..., None])
    out = np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if jpeg_on:
        out = np.stack([_jpeg(f, quality, upscale) for f in out])
    return out


def _jpeg(frame: np.ndarray, quality: int, upscale: float) -> np.ndarray:
    """Encode and decode one frame (RGB frames as the BGR OpenCV's encoder expects, so
    its luma weights fall on the right channels)."""
    h, w = frame.shape[:2]
    color = frame.ndim == 3
    big = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR) if color else frame
    if upscale > 1.01:
        big = cv2.resize(big, (int(round(w * upscale)), int(round(h * upscale))), interpolation=cv2.INTER_LINEAR)
    ok, buf = cv2.imencode(".jpg", big, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    dec = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if dec is None:
        raise RuntimeError("JPEG decoding failed")
    if dec.shape[:2] != (h, w):
        dec = cv2.resize(dec, (w, h), interpolation=cv2.INTER_AREA)
    if color:
        dec = cv2.cvtColor(dec, cv2.COLOR_BGR2RGB)
    return dec.reshape(frame.shape)


# ---- the whole pipeline ------------------------------------------------------------------

def augment_clip(clip: Clip, rng: np.random.Generator, out_hw: tuple[int, int],
                 cfg: AugmentConfig = AugmentConfig()) -> Clip:
    """Reverse (maybe), mirror (maybe), in-plane rotation (maybe), window (scale and shift),
    photometric; one draw of each per sequence. Deterministic for the generator's state."""
    if rng.random() < cfg.reverse_p:
        clip = reverse(clip)
    if rng.random() < cfg.mirror_p:
        clip = mirror(clip)
    if cfg.rotate_p > 0 and rng.random() < cfg.rotate_p:   # drawn only when on: old streams unchanged
        clip = rotate_in_plane(clip, float(rng.uniform(-cfg.rotate_max_deg, cfg.rotate_max_deg)))
    clip = apply_window(clip, sample_window(rng, cfg), out_hw, cfg.window_fraction)
    return replace(clip, frames=photometric(clip.frames, rng, cfg))


# augment(crops, pose, landmarks, visible, rng) -> (frames, pose, landmarks, visible)
SequenceAugment = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.random.Generator],
                           tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]


def make_sequence_augment(input_size: tuple[int, int], overrides: Mapping[str, Any] | None = None) -> SequenceAugment:
    """The training loop's augment(crops, pose, landmarks, visible, rng) ->
    (frames, pose, landmarks, visible) for a network input of input_size (height, width).
    Visibility travels with the landmarks: mirroring permutes it, reversal reverses it."""
    cfg = AugmentConfig.from_dict(overrides or {})
    out_hw = (int(input_size[0]), int(input_size[1]))

    def augment(crops: np.ndarray, pose: np.ndarray, landmarks: np.ndarray, visible: np.ndarray,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        out = augment_clip(Clip(crops, pose, landmarks, visible), rng, out_hw, cfg)
        assert out.pose is not None and out.landmarks is not None and out.visible is not None
        return out.frames, out.pose, out.landmarks, out.visible

    return augment
