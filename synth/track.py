"""The motion-track contract between synth/motion.py (which generates driving behaviour)
and the renderer, the training sets and the alert evaluation (which consume it).

Pure numpy, no rendering: a track is what the driver's head, eyes, mouth and hands do,
frame by frame, with the ground truth of what the driver attends to.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# What the driver attends to, per frame. "road" is the only on-road target; mirrors and
# the cluster are driving-related glances (short, they must not raise alerts); the rest
# are distractions. Indices into this tuple are stored per frame (int8).
ATTENTION_TARGETS: tuple[str, ...] = (
    "road",
    "left_mirror",
    "right_mirror",
    "rear_mirror",
    "cluster",
    "infotainment",
    "phone",
    "left_shoulder",   # shoulder check / blind spot, driver's left
    "right_shoulder",
    "passenger",
    "eyes_closed",     # drowsy: nodding off, long eye closure
    "other",           # away from the road at nothing named above: sun visor, floor, neck stretch
)
ON_ROAD_TARGETS: frozenset[str] = frozenset({"road"})
DRIVING_RELATED_TARGETS: frozenset[str] = frozenset(
    {"road", "left_mirror", "right_mirror", "rear_mirror", "cluster", "left_shoulder", "right_shoulder"})

# Occluders drawn in front of the face, per frame (int8).
OCCLUDERS: tuple[str, ...] = ("none", "hand", "phone")


def target_index(name: str) -> int:
    return ATTENTION_TARGETS.index(name)


@dataclass
class TrackEvent:
    """One behaviour in a track: what the alert evaluation scores against.

    kind: e.g. "mirror_check", "cluster_glance", "infotainment", "phone", "shoulder_check",
          "nodding_off", "talking", "long_distraction", "occlusion" ...
    start, end: frame indices, end exclusive; target: the attention target while away.
    """

    kind: str
    start: int
    end: int
    target: str


@dataclass
class MotionTrack:
    """Per-frame driver behaviour. All arrays have length T = number of frames.

    pose_vehicle: [T, 3] float32, head (pitch, yaw, roll) in degrees, convention
        dms-head-v1 (dms/angles.py) but relative to the VEHICLE: all zero = looking straight
        down the road, yaw > 0 = towards the driver's right. The renderer composes it with
        the camera mount to get the camera-relative pose the network learns.
    gaze_vehicle: [T, 2] float32, eye gaze (pitch, yaw) in degrees, vehicle frame. The head
        turns only part of a large gaze shift; the eyes do the rest ("owl" vs "lizard").
    target: [T] int8, index into ATTENTION_TARGETS.
    mouth_open: [T] float32 in [0, 1] (talking, yawning).
    eye_closure: [T] float32 in [0, 1], 1 = closed (blinks, drowsiness).
    occluder: [T] int8, index into OCCLUDERS.
    speed_kmh: [T] float32, vehicle speed (alerts are speed-gated).
    events: the behaviours that make up the track.
    """

    fps: float
    pose_vehicle: np.ndarray
    gaze_vehicle: np.ndarray
    target: np.ndarray
    mouth_open: np.ndarray
    eye_closure: np.ndarray
    occluder: np.ndarray
    speed_kmh: np.ndarray
    events: list[TrackEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = len(self.pose_vehicle)
        for name in ("gaze_vehicle", "target", "mouth_open", "eye_closure", "occluder", "speed_kmh"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"MotionTrack.{name}: {len(getattr(self, name))} frames, pose_vehicle has {n}")

    def __len__(self) -> int:
        return len(self.pose_vehicle)

    @property
    def times(self) -> np.ndarray:
        """Timestamps in seconds, frame i at i / fps."""
        return np.arange(len(self), dtype=np.float64) / self.fps

    def target_names(self) -> list[str]:
        return [ATTENTION_TARGETS[i] for i in self.target]
