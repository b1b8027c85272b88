"""Every number the per-frame loop depends on, with its default and where it comes from.

One dataclass per job (camera, crop geometry, stabiliser, localisation schedule, state
rules, input checks), gathered in ``RuntimeConfig``. Nothing here imports OpenCV or an
inference library: the command line builds these before deciding what to load.

The crop geometry copies numbers that training owns (synth.video.CropSpec,
train.data.NETWORK_WINDOW) instead of importing them, because the Jetson runtime has
neither scipy nor torch; tests/runtime/test_crop.py fails if they ever drift apart.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from dms.perspective import Intrinsics

# A typical DMS lens: 40-60 degree horizontal field of view so that the head fills a
# useful part of a VGA frame; the synthetic steering-column and A-pillar mounts use 50
# (synth.camera.MOUNT_HFOV_DEG), the mirror mount 56.
DEFAULT_HFOV_DEG = 50.0


@dataclass(frozen=True)
class CameraConfig:
    """Pinhole intrinsics of the driver camera in full-frame pixels.

    Give fx, fy, cx, cy (from a calibration, e.g. cv2.calibrateCamera) or only the lens's
    horizontal field of view (``hfov_deg``, square pixels, principal point at the frame
    centre: what a datasheet gives). The ray-relative pose the network outputs becomes
    camera-relative through them (dms.perspective); an hfov off by 5 degrees moves a head
    at the frame's edge by about 1 degree.
    """

    hfov_deg: float = DEFAULT_HFOV_DEG
    fx: float | None = None
    fy: float | None = None
    cx: float | None = None
    cy: float | None = None

    def validate(self) -> None:
        given = [v is not None for v in (self.fx, self.fy, self.cx, self.cy)]
        if any(given) and not all(given):
            raise ValueError("camera: give all of fx, fy, cx, cy or none (then hfov_deg is used)")
        if not 1.0 < self.hfov_deg < 179.0:
            raise ValueError(f"camera.hfov_deg must be in (1, 179), got {self.hfov_deg}")
        if all(given) and (self.fx is not None and self.fx <= 0 or self.fy is not None and self.fy <= 0):
            raise ValueError("camera: fx and fy must be > 0")

    def intrinsics(self, frame_size: tuple[int, int]) -> Intrinsics:
        """Intrinsics for a frame of ``frame_size`` (width, height)."""
        if self.fx is not None and self.fy is not None and self.cx is not None and self.cy is not None:
            return Intrinsics(float(self.fx), float(self.fy), float(self.cx), float(self.cy))
        return Intrinsics.from_hfov(frame_size, self.hfov_deg)


@dataclass(frozen=True)
class CropConfig:
    """How a head box becomes the network's window (must reproduce the training crop).

    Training (synth.video + train.data): the stored crop's side is ``context`` head heights,
    a head height being 2 * head_radius (0.12 m projected), centred on the head centre;
    the network sees the central ``network_window`` of it. So the network window's side is
    network_window * context * (2 * head radius in pixels) = 1.28 head heights. The head
    detector is trained on synth's ``head_box`` labels (head centre +- head radius), so its
    box side IS one head height; ``haar_face_to_head`` converts OpenCV's face box.
    """

    context: float = 1.6              # synth.video.CropSpec.context
    network_window: float = 0.8       # train.data.NETWORK_WINDOW (64 of the stored 80 px)
    # Haar face box side / head height, measured on synthetic full frames (drive 0, yaw
    # 35-40 deg): median 0.76 over its first 8 frames (tests/runtime/test_haar.py), 0.78
    # over 9 frames spread across 10 s; calibration's anthropometric estimate was 0.75
    # (brow to chin of a 0.24 m head).
    haar_face_to_head: float = 0.77
    # Haar box centre -> head centre, in head heights, +y down. Measured on the same frames:
    # vertical within 1.5 % of the head; horizontal -11 % at 40 deg of yaw (the face box
    # sits on the face, the head centre behind it). Not corrected: it depends on yaw, which
    # is what we are estimating; it is within training's window jitter (shift_max 0.06 of
    # the window = 8 % of a head height) at moderate yaw.
    haar_centre_offset: tuple[float, float] = (0.0, 0.0)
    # Resampling of the window to the network size: INTER_AREA averages the ~2-5x
    # downscale (no aliasing of the fine IR texture), as calibration.preprocess does.
    interpolation: str = "area"

    @property
    def window_per_head(self) -> float:
        """Network window side per head-box side (1.28 with the defaults)."""
        return self.network_window * self.context

    def validate(self) -> None:
        if self.context <= 0 or not 0 < self.network_window <= 1:
            raise ValueError(f"crop: context must be > 0 and network_window in (0, 1], got "
                             f"{self.context}, {self.network_window}")
        if not 0.3 <= self.haar_face_to_head <= 1.5:
            raise ValueError(f"crop.haar_face_to_head must be in [0.3, 1.5], got {self.haar_face_to_head}")
        if self.interpolation not in ("area", "linear"):
            raise ValueError(f"crop.interpolation must be 'area' or 'linear', got {self.interpolation!r}")


@dataclass(frozen=True)
class StabiliserConfig:
    """Causal crop stabilisation (the patent smooths the face centre with a Gaussian and
    keeps the largest box of the clip; on a live camera only the past is known).

    Centre: a One Euro filter (Casiez, Roussel, Vogel, CHI 2012) on head-size-normalised
    coordinates: a low-pass whose cutoff rises with speed, so the window is steady when
    the head rests and lags little when it moves. ``min_cutoff_hz`` 2.0 equals the -3 dB
    point of training's Gaussian (sigma 2 frames at 30 fps: 0.1325 / 0.0667 s = 2.0 Hz);
    ``beta`` 4.0 doubles the cutoff at 0.5 head heights per second (a brisk head turn).
    Size: held steady; it follows a new measurement only when that differs by more than
    ``size_deadband`` (0.05: half the +-10 % scale jitter training saw, train.augment
    scale_range), then with time constant ``size_tau_s``.
    """

    min_cutoff_hz: float = 2.0
    beta: float = 4.0
    d_cutoff_hz: float = 1.0
    size_deadband: float = 0.05
    size_tau_s: float = 0.3

    def validate(self) -> None:
        if self.min_cutoff_hz <= 0 or self.d_cutoff_hz <= 0 or self.beta < 0:
            raise ValueError("stabiliser: cutoffs must be > 0 and beta >= 0")
        if not 0 <= self.size_deadband < 1 or self.size_tau_s < 0:
            raise ValueError("stabiliser: size_deadband in [0, 1) and size_tau_s >= 0")


@dataclass(frozen=True)
class LocaliseConfig:
    """When to run the (expensive) head detector and how to follow the head in between.

    MediaPipe FaceMesh runs its detector only when tracking fails; we do the same with a
    cheap template tracker (normalised cross-correlation of the head patch taken at the
    last detection) and also refresh every ``redetect_every_s``. The tracker's score drops
    when the head turns far from the pose it was taken at or leaves, which triggers the
    detector at once. ``detect_every_frame`` turns skipping off (the bench reports both).
    """

    detect_every_frame: bool = False
    # Periodic refresh while the track is trusted: 5 s keeps detector frames below 1 % of
    # frames at 30 fps (so p99 latency is the tracked path), and the score threshold
    # catches appearance changes long before that.
    redetect_every_s: float = 5.0
    # Template side in pixels (the head box is resampled to this): 32 px keeps a match under
    # 0.1 ms on one core and still resolves a quarter-pixel shift with a parabolic fit.
    template_px: int = 32
    # Search +-0.25 head heights around the last centre: a head centre moves < 0.2 head
    # heights in one frame even in a shoulder check (synth.motion peak speeds).
    search_margin: float = 0.25
    # TM_CCOEFF_NORMED below this -> the tracker is not trusted, run the detector. Measured
    # on 40-frame synthetic drives: 0.89-0.95 at every frame of day and night scenes
    # (centre error 1-3 px, jitter < 1 px), 0.55-0.75 when hard sun shadows sweep across the
    # face (the match then follows the shadow, 20 px off): 0.8 separates the two.
    min_track_score: float = 0.8
    # Detections below this score are ignored. 0: each localiser applies its own threshold
    # (the head detector its manifest's presence_threshold); raise it to be stricter.
    min_detection_score: float = 0.0

    def validate(self) -> None:
        if self.redetect_every_s <= 0 or self.template_px < 8 or self.search_margin <= 0:
            raise ValueError("localise: redetect_every_s > 0, template_px >= 8, search_margin > 0")
        if not -1 <= self.min_track_score <= 1 or not 0 <= self.min_detection_score <= 1:
            raise ValueError("localise: min_track_score in [-1, 1], min_detection_score in [0, 1]")


@dataclass(frozen=True)
class StateConfig:
    """When the recurrent state is carried and when it starts again from zeros.

    The state summarises the last second or so of one head's motion; feeding it with a
    crop of another place, after a long gap, or after it became inf/nan would poison every
    later frame. Resets: at start; when the face has been lost longer than
    ``reset_after_lost_s``; when it re-appears more than ``reappear_far`` head heights from
    where it was last seen (another person, or the tracker had locked onto something
    else); when an output or the state is not finite; when the source was re-opened.
    """

    # Training sequences never have gaps; stage 2 trains with a 16-frame truncated-BPTT
    # window (0.53 s at 30 fps, configs/default.json), the longest span the state was
    # taught to bridge. A gap longer than that starts afresh.
    reset_after_lost_s: float = 0.5
    # Short misses (a blink of the detector) are filled as training's smoothing filled them:
    # the crop holds at the stabilised box and the network still steps, for up to 0.1 s
    # (3 frames at 30 fps: the reach of the sigma-2-frame Gaussian).
    coast_s: float = 0.1
    # One head height: a driver's head centre moves at most about half a head height in a
    # shoulder check; further means another face or a false track.
    reappear_far: float = 1.0

    def validate(self) -> None:
        if self.reset_after_lost_s < 0 or self.coast_s < 0 or self.reappear_far <= 0:
            raise ValueError("state: reset_after_lost_s >= 0, coast_s >= 0, reappear_far > 0")
        if self.coast_s > self.reset_after_lost_s:
            raise ValueError(f"state: coast_s ({self.coast_s}) must not exceed reset_after_lost_s "
                             f"({self.reset_after_lost_s})")


@dataclass(frozen=True)
class InputConfig:
    """Frame checks: a frame that fails them is counted and skipped, never processed."""

    # The smallest frame worth processing: a 64 px network window needs a head of >= 50 px.
    min_side_px: int = 32

    def validate(self) -> None:
        if self.min_side_px < 1:
            raise ValueError("input: min_side_px >= 1")


@dataclass(frozen=True)
class RuntimeConfig:
    """All of the loop's settings. ``fps`` is the camera rate deadlines are judged at."""

    camera: CameraConfig = field(default_factory=CameraConfig)
    crop: CropConfig = field(default_factory=CropConfig)
    stabiliser: StabiliserConfig = field(default_factory=StabiliserConfig)
    localise: LocaliseConfig = field(default_factory=LocaliseConfig)
    state: StateConfig = field(default_factory=StateConfig)
    input: InputConfig = field(default_factory=InputConfig)
    # Euro NCAP tests DMS at camera rates of 25-60 fps; 30 fps is the common VGA NIR rate.
    fps: float = 30.0

    def validate(self) -> None:
        for part in (self.camera, self.crop, self.stabiliser, self.localise, self.state, self.input):
            part.validate()
        if not math.isfinite(self.fps) or self.fps <= 0:
            raise ValueError(f"fps must be > 0, got {self.fps}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
