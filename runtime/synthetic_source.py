"""A live synthetic camera: full 640x480 frames of a synthetic drive, rendered on demand.

It is the one source that knows the truth: each frame carries the exact camera-relative
head pose, the head box, the attention target and the speed, and the source knows its
exact camera intrinsics. Tests and the bench use it to check the whole loop (perspective
included) without a video file. Needs the synth room (scipy): not for the car.

Rendering follows synth.preview's full-frame path (background once per drive, the head
ray-cast in its box, auto-exposure settling over a few frames) plus synth.realism's
sensor noise; about 40 ms a frame on one core, slower than the loop it feeds. So with
``workers`` the ray-casting (nine tenths of that) runs in worker processes ahead of the
reader, and only the sequential part (auto-exposure smoothing, tone, noise: the same
random stream) stays in the reading process: the frames are identical to the serial
ones, whatever the number of workers. Callers that need speed without processes
pre-render a few frames and replay them (runtime.sources.ReplaySource).
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from multiprocessing.pool import AsyncResult, Pool
from typing import Any, Tuple

import numpy as np

from dms.perspective import Intrinsics
from runtime.sources import DEFAULT_FPS, Frame

# Seconds of drive planned when the caller does not say (the source stops there).
DEFAULT_SECONDS = 60.0
# Auto-exposure: weight of the new frame's metered gain (synth.video uses 0.2 per frame).
EXPOSURE_SMOOTHING = 0.2
# Frames each render worker may have in flight ahead of the reader: enough to hide the
# jitter of one slow frame, few enough that memory stays a few MB per worker.
AHEAD_PER_WORKER = 4

# What one ray-cast frame sends back: the head box (x0, y0, x1, y1), its radiance (the
# rest of the frame is the background) and the frame's own metered gain.
Cast = Tuple[Tuple[int, int, int, int], np.ndarray, float]   # typing.Tuple: Python 3.8 on JetPack 5.1


class SyntheticSource:
    """Frames of synthetic drive ``seed`` (one track of a one-subject dataset).

    mount: camera mount ("steering_column", "a_pillar", "rear_view_mirror") or None for
    synth's random mix. color: "nir" (gray frames) or "rgb" (BGR frames, as OpenCV gives).
    """

    def __init__(self, seed: int = 0, fps: float = DEFAULT_FPS, frames: int | None = None,
                 mount: str | None = None, color: str = "nir", noise: bool = True,
                 seconds: float = DEFAULT_SECONDS, motion: Any = None, workers: int = 0) -> None:
        """motion: a synth.track.MotionTrack to play instead of the seed's random drive
        (the demo's scripted drive, synth.motion.scripted_track); its length and rate win.
        workers: processes that ray-cast frames ahead of read() (0: all in this one)."""
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
        self._pool: Pool | None = None
        self._pending: deque[tuple[int, AsyncResult[Cast]]] = deque()
        self._submitted = 0
        if workers > 0:
            # spawn, not fork: the reader may already run threads (ONNX Runtime, tqdm)
            from synth.workers import one_blas_thread
            ctx = multiprocessing.get_context("spawn")
            with one_blas_thread():
                self._pool = ctx.Pool(workers, _init_worker, (dict(seed=seed, fps=fps, frames=frames, mount=mount,
                                                                    color=color, seconds=seconds, motion=motion),))
            self._ahead = AHEAD_PER_WORKER * workers

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

    def cast(self, i: int) -> Cast:
        """The part of frame i that needs no earlier frame: the head ray-cast in its box,
        and the gain auto-exposure would meter on this frame alone."""
        from synth.render import metered_gain
        from synth.video import frame_state

        scene = self.plan.scene
        res = scene.render_full(frame_state(self.plan.motion, self.geometry, i))
        x0, y0, x1, y1 = (int(v) for v in res["box"])
        gain = metered_gain(res["radiance"], res["face"], scene.lighting.exposure)
        return (x0, y0, x1, y1), np.ascontiguousarray(res["radiance"][y0:y1, x0:x1]), gain

    def develop(self, cast: Cast) -> np.ndarray:
        """The sequential part, in frame order: the exposure settles over frames (each
        frame's gain is smoothed into the running one), then tone and sensor noise from
        the one random stream."""
        import cv2

        from synth.realism import add_noise, to_uint8
        from synth.render import tone

        (x0, y0, x1, y1), part, gain = cast
        radiance = self.plan.scene.background().copy()
        radiance[y0:y1, x0:x1] = part
        self._gain = gain if self._gain is None else (1 - EXPOSURE_SMOOTHING) * self._gain + EXPOSURE_SMOOTHING * gain
        img = tone(radiance, self._gain).astype(np.float32)
        if self.noise:
            img = add_noise(img, self.plan.sensor, self._rng)
        out = to_uint8(img)
        return cv2.cvtColor(out, cv2.COLOR_RGB2BGR) if out.ndim == 3 else out

    def render(self, i: int) -> np.ndarray:
        """Frame i's pixels: uint8 gray (nir) or BGR (rgb). Frames must be developed in
        order (the exposure and the noise carry over), as read() does."""
        return self.develop(self.cast(i))

    def _next_cast(self, i: int) -> Cast:
        if self._pool is None:
            return self.cast(i)
        while self._submitted < self.frames and len(self._pending) < self._ahead:
            self._pending.append((self._submitted, self._pool.apply_async(_cast_in_worker, (self._submitted,))))
            self._submitted += 1
        index, result = self._pending.popleft()
        if index != i:
            raise RuntimeError(f"{self.name}: frame {i} asked for, worker frames run from {index} (read in order)")
        return result.get()

    def read(self) -> Frame | None:
        if self._index >= self.frames:
            return None
        i = self._index
        frame = Frame(i, i / self.fps, self.develop(self._next_cast(i)), truth=self.truth(i))
        self._index += 1
        return frame

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None
            self._pending.clear()


_worker_source: SyntheticSource | None = None


def _init_worker(kwargs: dict[str, Any]) -> None:
    """Each render worker plans the same drive once (a fraction of a second)."""
    global _worker_source
    _worker_source = SyntheticSource(**kwargs)


def _cast_in_worker(i: int) -> Cast:
    assert _worker_source is not None, "render worker used before its initialiser ran"
    return _worker_source.cast(i)
