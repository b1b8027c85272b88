"""The per-frame loop: frame -> head -> stabilised crop -> one network step with the carried
state -> camera-relative pose -> attention monitor -> event log.

``Pipeline.process`` does one frame and never raises on bad input: a frame that fails the
checks (runtime.frame_check) is counted and skipped, a lost face becomes a "no face"
sample, a non-finite output is dropped and the state restarts (runtime.state). Only the
hidden state crosses frames (single pass, SPEC.md): nothing the network outputs is fed
back. The network sees the window runtime.crop cuts, and its pose, when the manifest says
it is relative to the viewing ray through the crop centre (model.pose_frame "ray"), is
turned into the camera-relative pose with the window's centre and the camera intrinsics
(dms.perspective): the source's own (synthetic) or runtime.config.CameraConfig's.

``run_loop`` drives a source through the pipeline into sinks, times every stage
(runtime.profiler) and always closes the source and the sinks, at the end of the stream,
on Ctrl-C, or when ``stop`` says so (SIGTERM from a service manager).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from calibration.preprocess import PreprocessSpec
from dms.manifest import ModelManifest
from dms.perspective import Intrinsics
from runtime.attention import Sample
from runtime.backends.base import Backend
from runtime.config import RuntimeConfig
from runtime.crop import Cropper, Window, network_window
from runtime.frame_check import FrameChecker
from runtime.localise import HeadFinder, Located
from runtime.perspective_step import ray_to_camera
from runtime.profiler import Profiler
from runtime.sources import Frame, FrameSource
from runtime.stabiliser import CropStabiliser
from runtime.state import FAR, LOST, REOPENED, START, StateKeeper

POSE_OUTPUT = "pose"
LANDMARKS_OUTPUT = "landmarks"


class SpeedAt(Protocol):
    def speed_at(self, t: float) -> float | None: ...


class Monitor(Protocol):
    def update(self, sample: Any) -> list[Any]: ...


class Logger(Protocol):
    def log_all(self, outputs: Any) -> list[Any]: ...


@dataclass
class FrameResult:
    """What the loop concluded about one frame (what the sinks write)."""

    index: int
    t: float
    image: np.ndarray                       # the checked frame (not a copy)
    located: Located | None                 # this frame's localisation (None: not found)
    detector_ran: bool
    window: Window | None                   # the square fed to the network (None: no step)
    coasting: bool                          # not found; stepped on the held window
    reset: str | None                       # why the state restarted before this step
    pose: tuple[float, float, float] | None  # camera-relative, degrees (None: no usable face)
    pose_net: tuple[float, float, float] | None  # the network's own output (ray or camera frame)
    landmarks: np.ndarray | None = None
    alerts: list[Any] = field(default_factory=list)
    truth: dict[str, Any] | None = None

    @property
    def trusted(self) -> bool:
        return self.pose is not None


def _pose_frame(manifest: ModelManifest) -> str:
    return str(manifest.model.get("pose_frame", "camera"))


class Pipeline:
    """One driver camera's loop state. Build once per stream; ``process`` per frame."""

    def __init__(self, backend: Backend, manifest: ModelManifest, finder: HeadFinder,
                 config: RuntimeConfig | None = None, *, monitor: Monitor | None = None,
                 events: Logger | None = None, speed: SpeedAt | None = None,
                 profiler: Profiler | None = None, intrinsics: Intrinsics | None = None) -> None:
        self.config = config or RuntimeConfig()
        self.config.validate()
        self.backend = backend
        self.manifest = manifest
        self.finder = finder
        self.monitor = monitor
        self.events = events
        self.speed = speed
        self.profiler = profiler
        self.spec = PreprocessSpec.from_manifest(manifest.preprocess)
        self.cropper = Cropper(self.spec, self.config.crop)
        self.stabiliser = CropStabiliser(self.config.stabiliser)
        self.keeper = StateKeeper(backend.zero_states, self.config.state)
        self.checker = FrameChecker(self.config.input.min_side_px)
        self.pose_frame = _pose_frame(manifest)
        self.has_pose = any(t.name == POSE_OUTPUT for t in manifest.outputs)
        self.has_landmarks = any(t.name == LANDMARKS_OUTPUT for t in manifest.outputs)
        self._fixed_intrinsics = intrinsics
        self._intrinsics: Intrinsics | None = intrinsics
        self._intrinsics_size: tuple[int, int] | None = None
        self.frames = 0              # processed (good) frames
        self.stepped = 0
        self.found = 0

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Release the backend (a TensorRT backend pops its CUDA context and frees its
        buffers: left to interpreter exit, pycuda aborts the process). Whoever builds the
        pipeline owns it: `with build_pipeline(...) as pipeline:` or close() in finally."""
        self.backend.close()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ helpers
    @property
    def skipped(self) -> int:
        return self.checker.total_bad

    def intrinsics(self, image: np.ndarray) -> Intrinsics:
        if self._fixed_intrinsics is not None:
            return self._fixed_intrinsics
        size = (int(image.shape[1]), int(image.shape[0]))
        if self._intrinsics is None or self._intrinsics_size != size:
            self._intrinsics = self.config.camera.intrinsics(size)
            self._intrinsics_size = size
        return self._intrinsics

    def camera_pose(self, pose_net: tuple[float, float, float], centre: tuple[float, float],
                    image: np.ndarray) -> tuple[float, float, float]:
        """The network's pose -> camera-relative (identity for a camera-frame model)."""
        if self.pose_frame != "ray":
            return pose_net
        return ray_to_camera(pose_net, centre[0], centre[1], self.intrinsics(image))

    def _lap(self, stage: str, t0: int) -> int:
        return self.profiler.lap(stage, t0) if self.profiler is not None else t0

    # ------------------------------------------------------------------ one frame
    def process(self, frame: Frame) -> FrameResult | None:
        """One frame; None when the frame was bad (counted in ``skipped``)."""
        t0 = time.perf_counter_ns()
        c0 = time.thread_time_ns() if self.profiler is not None else 0
        if frame.reopened:
            self.keeper.source_reopened()
            self.stabiliser.reset()
            self.finder.reset()
            self.checker.forget_size()
        if self.checker.reason(frame.image, frame.t) is not None:
            if self.profiler is not None:
                self.profiler.drop_frame()
            return None
        assert isinstance(frame.image, np.ndarray)
        image = self.checker.normalise(frame.image)
        t = frame.t
        self.frames += 1

        # localise
        runs_before = self.finder.detector_runs
        loc = self.finder.find(image, t)
        detector_ran = self.finder.detector_runs != runs_before
        t0 = self._lap("localise", t0)

        # state rules, then stabilise (a reset jumps the crop to the new place)
        size_guess = self.stabiliser.size if self.stabiliser.size is not None else (loc.size if loc else None)
        plan = self.keeper.plan(t, loc.centre if loc else None, size_guess)
        if plan.reset in (START, LOST, FAR, REOPENED):
            self.stabiliser.reset()
        if loc is not None:
            self.found += 1
            size = loc.size if loc.size is not None else (None if self.stabiliser.size is not None
                                                          else self.finder.tracker.size)
            self.stabiliser.update(t, loc.centre, size)
        else:
            self.stabiliser.update(t, None)

        window: Window | None = None
        pose: tuple[float, float, float] | None = None
        pose_net: tuple[float, float, float] | None = None
        landmarks: np.ndarray | None = None
        if plan.step and self.stabiliser.centre is not None and self.stabiliser.size is not None:
            window = network_window(self.stabiliser.centre, self.stabiliser.size, self.config.crop)
            _, x = self.cropper(image, window)
            t0 = self._lap("crop", t0)
            cs = time.thread_time_ns() if self.profiler is not None else 0
            outputs, new_states = self.backend.step(x, self.keeper.current())
            t0 = self._lap("step", t0)
            if self.profiler is not None:
                self.profiler.add_cpu("step", time.thread_time_ns() - cs)
            self.stepped += 1
            if self.keeper.accept(outputs, new_states):
                if self.has_pose:
                    raw = outputs[POSE_OUTPUT].reshape(3).tolist()
                    pose_net = (float(raw[0]), float(raw[1]), float(raw[2]))
                    pose = self.camera_pose(pose_net, window.centre, image)
                if self.has_landmarks:
                    landmarks = np.asarray(outputs[LANDMARKS_OUTPUT], np.float32).reshape(-1)
            t0 = self._lap("post", t0)

        alerts: list[Any] = []
        if self.monitor is not None:
            speed = self.speed.speed_at(t) if self.speed is not None else None
            if speed is None and frame.truth is not None:
                speed = frame.truth.get("speed_kmh")
            outs = self.monitor.update(Sample(t, frame.index, pose, speed, landmarks, pose is not None))
            if self.events is not None and outs:
                self.events.log_all(outs)      # on disk before anyone is told
            alerts = [o for o in outs if hasattr(o, "event_fields")]
            t0 = self._lap("monitor", t0)
        if self.profiler is not None:
            self.profiler.add_cpu("end_to_end", time.thread_time_ns() - c0)
            self.profiler.end_frame(detector_ran)
        return FrameResult(frame.index, t, image, loc, detector_ran, window, plan.coasting, plan.reset,
                           pose, pose_net, landmarks, alerts, frame.truth)


class Sink(Protocol):
    def write(self, result: FrameResult) -> None: ...

    def close(self) -> None: ...


@dataclass
class RunSummary:
    frames_read: int = 0
    frames_processed: int = 0
    frames_skipped: int = 0
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    frames_with_pose: int = 0
    alerts: int = 0
    resets: dict[str, int] = field(default_factory=dict)
    detector_runs: int = 0
    interrupted: bool = False
    wall_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def run_loop(source: FrameSource, pipeline: Pipeline, sinks: Sequence[Sink] = (), *,
             max_frames: int | None = None, stop: Callable[[], bool] | None = None,
             on_frame: Callable[[FrameResult | None], None] | None = None) -> RunSummary:
    """Frames from ``source`` through ``pipeline`` into ``sinks`` until the stream ends,
    ``max_frames`` were read, ``stop()`` is true, or Ctrl-C; then closes everything."""
    summary = RunSummary()
    prof = pipeline.profiler
    start = time.perf_counter()
    try:
        while stop is None or not stop():
            if max_frames is not None and summary.frames_read >= max_frames:
                break
            t0 = time.perf_counter_ns()
            frame = source.read()
            if frame is None:
                break
            if prof is not None:
                prof.add("capture", time.perf_counter_ns() - t0)
            summary.frames_read += 1
            result = pipeline.process(frame)
            if result is not None:
                t1 = time.perf_counter_ns()
                for sink in sinks:
                    sink.write(result)
                if prof is not None and sinks:
                    prof.stages["sink"].add(time.perf_counter_ns() - t1)
                summary.frames_with_pose += result.pose is not None
                summary.alerts += len(result.alerts)
            if on_frame is not None:
                on_frame(result)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        summary.wall_s = time.perf_counter() - start
        errors: list[BaseException] = []
        for closer in (source.close, *(s.close for s in sinks)):
            try:
                closer()
            except Exception as exc:  # close every sink even if one fails; report the first
                errors.append(exc)
        summary.frames_processed = pipeline.frames
        summary.frames_skipped = pipeline.skipped
        summary.skipped_by_reason = dict(pipeline.checker.bad)
        summary.resets = {k: v for k, v in pipeline.keeper.resets.items() if v}
        summary.detector_runs = pipeline.finder.detector_runs
        if errors:
            raise errors[0]
    return summary
