"""Fakes and small builders for the per-frame loop's tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from runtime.detection import Detection
from runtime.sources import Frame


@dataclass
class Clip:
    frames: list[Frame]
    intrinsics: Any
    fps: float


def render_clip(seed: int, frames: int, fps: float = 30.0) -> Clip:
    from runtime.synthetic_source import SyntheticSource

    src = SyntheticSource(seed=seed, frames=frames, fps=fps)
    out = []
    while (f := src.read()) is not None:
        out.append(f)
    return Clip(out, src.intrinsics, fps)


class ListSource:
    """Frames from a list (any objects as images: the loop must cope)."""

    def __init__(self, frames: list[Frame], fps: float = 30.0, name: str = "list") -> None:
        self.frames = list(frames)
        self.fps = fps
        self.name = name
        self.closed = False
        self._i = 0

    def read(self) -> Frame | None:
        if self._i >= len(self.frames):
            return None
        f = self.frames[self._i]
        self._i += 1
        return f

    def close(self) -> None:
        self.closed = True


class TruthLocaliser:
    """Returns the synthetic truth head box of the frame it is given (looked up by the
    pixel buffer), or None for frames listed in ``hide``."""

    name = "truth"

    def __init__(self, clip: Clip, hide: set[int] | None = None) -> None:
        self.boxes = {f.image.ctypes.data: (i, f.truth["head_box"]) for i, f in enumerate(clip.frames)}
        self.hide = hide or set()
        self.calls = 0

    def locate(self, frame: np.ndarray) -> Detection | None:
        self.calls += 1
        hit = self.boxes.get(frame.ctypes.data)
        if hit is None or hit[0] in self.hide:
            return None
        x0, y0, x1, y1 = hit[1]
        return Detection(x0, y0, x1, y1, 1.0, "truth")


@dataclass
class ScriptedLocaliser:
    """A head box per call from a script (None = not found)."""

    boxes: list[tuple[float, float, float, float] | None]
    name: str = "scripted"
    calls: int = 0

    def locate(self, frame: np.ndarray) -> Detection | None:
        box = self.boxes[min(self.calls, len(self.boxes) - 1)]
        self.calls += 1
        return None if box is None else Detection(*box, score=1.0, source="scripted")


@dataclass
class FakeBackend:
    """A backend whose state counts the frames since the last reset and whose pose output
    is a constant; ``nan_at`` makes the output of those calls non-finite."""

    pose: tuple[float, float, float] = (0.0, 0.0, 0.0)
    nan_at: set[int] = field(default_factory=set)
    name: str = "fake"
    precision: str = "fp32"
    device: str = "fake"
    calls: int = 0
    fed: list[float] = field(default_factory=list)      # state value fed at each call

    def zero_states(self) -> list[np.ndarray]:
        return [np.zeros((1, 2), np.float32)]

    def step(self, image: np.ndarray, states: list[np.ndarray]) -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
        self.fed.append(float(states[0][0, 0]))
        out = np.array([self.pose], np.float32)
        if self.calls in self.nan_at:
            out = out * np.nan
        self.calls += 1
        return {"pose": out}, [states[0] + 1.0]

    def close(self) -> None:
        pass


def fake_manifest(pose_frame: str = "ray", size: int = 32) -> Any:
    from dms.manifest import ModelManifest, TensorSpec

    return ModelManifest(
        model={"name": "fake", "backbone": "edge", "head": "pose", "cell": "fc", "pose_frame": pose_frame},
        preprocess={"height": size, "width": size, "channels": 1, "color": "gray", "mean": [0.5], "scale": [4.0],
                    "layout": "NCHW"},
        inputs=[TensorSpec("image", [1, 1, size, size]), TensorSpec("state_0", [1, 2])],
        outputs=[TensorSpec("pose", [1, 3]), TensorSpec("state_0_out", [1, 2])],
        states=[{"input": "state_0", "output": "state_0_out", "shape": [1, 2]}])


def gray_frames(n: int, fps: float = 30.0, size: tuple[int, int] = (120, 160), seed: int = 0) -> list[Frame]:
    rng = np.random.default_rng(seed)
    return [Frame(i, i / fps, rng.integers(0, 255, size, dtype=np.uint8)) for i in range(n)]
