"""A live synthetic camera: full 640x480 frames of a synthetic drive, rendered on demand.

It is the one source that knows the truth: each frame carries the exact camera-relative
head pose, the head box, the attention target and the speed, and the source knows its
exact camera intrinsics. Tests and the bench use it to check the whole loop (perspective
included) without a video file. Needs the synth room (scipy): not for the car.

Rendering follows synth.preview's full-frame path (background once per drive, the head
ray-cast in its box, auto-exposure settling over a few frames) plus synth.realism's
sensor noise; about 40 ms a frame on one core, so callers that need speed pre-render a
few frames and replay them (runtime.sources.ReplaySource).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dms.perspective import Intrinsics
from runtime.sources import DEFAULT_FPS, Frame

# Seconds of drive planned when the caller does not say (the source stops there).
DEFAULT_SECONDS = 60.0
# Auto-exposure: weight of the new frame's metered gain (synth.video uses 0.2 per frame).
EXPOSURE_SMOOTHING = 0.2


class SyntheticSource:
    """Frames of synthetic drive ``seed`` (one track of a one-subject dataset).

    mount: camera mount ("steering_column", "a_pillar", "rear_view_mirror") or None for
    synth's random mix. color: "nir" (gray frames) or "rgb" (BGR frames, as OpenCV gives).
    """

    def __init__(self, seed: int = 0, fps: float = DEFAULT_FPS, frames: int | None = None,
                 mount: str | None = None, color: str = "nir", noise: bool = True,
                 seconds: float = DEFAULT_SECONDS, motion: Any = None) -> None:
        """motion: a synth.track.MotionTrack to play instead of the seed's random drive
        (the demo's scripted drive, synth.motion.scripted_track); its length and rate win."""
        from dataclasses import replace

        from synth.dataset import SynthConfig, plan_track
        from synth.video import track_geometry

        if motion is not None:
            fps, frames = float(motion.fps), len(motion)
        n = int(frames) if frames is not None else int(round(seconds * fps))
        kw: dict[str, Any] = {}
        if mount is not None:
            kw["mount_weights"] = ((mount, 1.0),)
        self.config = SynthConfig(subjects=1, tracks=1, frames_per_track=max(n, 2), fps=float(fps), seed=seed,
                                  color=color, **kw)
        self.plan = plan_track(self.config, 0)
        if motion is not None:
            self.plan = replace(self.plan, motion=motion)
        self.geometry = track_geometry(self.plan.scene, self.plan.motion, self.config.crop)
        self.frames = n
        self.fps = float(fps)
        self.noise = noise
        self.name = f"synthetic:{seed}"
        self.intrinsics = Intrinsics.from_dict(self.plan.description["intrinsics"])
        self.size = self.config.frame_size
        self._rng = np.random.default_rng([seed, 7])
        self._gain: float | None = None
        self._index = 0

    def truth(self, i: int) -> dict[str, Any]:
        """The exact labels of frame i."""
        from synth.track import ATTENTION_TARGETS

        g, m = self.geometry, self.plan.motion
        r = float(g.head_radius_px[i])
        u, v = (float(x) for x in g.head_uv[i])
        return {"pose_camera": [float(x) for x in g.pose_camera[i]],
                "head_box": [u - r, v - r, u + r, v + r],
                "target": ATTENTION_TARGETS[int(m.target[i])],
                "speed_kmh": float(m.speed_kmh[i])}

    def render(self, i: int) -> np.ndarray:
        """Frame i's pixels: uint8 gray (nir) or BGR (rgb)."""
        import cv2

        from synth.realism import add_noise, to_uint8
        from synth.render import metered_gain, tone
        from synth.video import frame_state

        scene = self.plan.scene
        res = scene.render_full(frame_state(self.plan.motion, self.geometry, i))
        gain = metered_gain(res["radiance"], res["face"], scene.lighting.exposure)
        self._gain = gain if self._gain is None else (1 - EXPOSURE_SMOOTHING) * self._gain + EXPOSURE_SMOOTHING * gain
        img = tone(res["radiance"], self._gain).astype(np.float32)
        if self.noise:
            img = add_noise(img, self.plan.sensor, self._rng)
        out = to_uint8(img)
        return cv2.cvtColor(out, cv2.COLOR_RGB2BGR) if out.ndim == 3 else out

    def read(self) -> Frame | None:
        if self._index >= self.frames:
            return None
        i = self._index
        frame = Frame(i, i / self.fps, self.render(i), truth=self.truth(i))
        self._index += 1
        return frame

    def close(self) -> None:
        pass
