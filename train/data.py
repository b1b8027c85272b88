"""Training data from the synthetic dataset: a split decoded into memory, and batches.

Why in memory: the patent-scale train split is ~360k crops of 80x80 bytes (~2.3 GB), which
fits this machine's RAM many times over; decoding each JPEG once (~15 s) and then slicing
arrays keeps two CPU cores busy with the network instead of the decoder.

Batches are drawn from a generator seeded by (seed, step), never from a stateful iterator,
so a run resumed from a checkpoint at step k draws exactly the batches it would have.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from dms.perspective import Intrinsics, box_centre, camera_to_ray_pose, ray_rotation
from synth.dataset import DatasetError, load_manifest, track_intrinsics
from train.augment import SequenceAugment
from synth.shards import Shard

# The network sees the centre of the stored crop: 64 of 80 pixels (synth.video.CropSpec),
# i.e. 1.28 head heights; the margin is room for training-time window jitter.
NETWORK_WINDOW = 0.8


@dataclass
class SynthSplit:
    """All frames of one split, in track order.

    crops [N, H, W] (or [N, H, W, 3]) uint8; pose [N, 3] the training label in degrees,
    relative to the camera or to the ray through the crop centre (pose_frame,
    dms.perspective); pose_camera [N, 3] the camera-relative pose (what is evaluated);
    rays [N, 3, 3] the ray frame of each crop (turns ray-relative outputs into camera-
    relative ones); landmarks [N, 68, 2] crop-normalised; visible [N, 68]; track [N];
    frame [N] (index in its track). A sequence never crosses a track boundary.
    """

    crops: np.ndarray
    pose: np.ndarray
    landmarks: np.ndarray
    visible: np.ndarray
    track: np.ndarray
    frame: np.ndarray
    fps: float
    content_hash: str
    pose_camera: np.ndarray
    rays: np.ndarray
    pose_frame: str = "camera"
    # [N] loss weight of each frame's pose (None = 1 everywhere): pseudo-labels are trusted
    # by range (train.real_mix), synthetic labels are exact
    pose_weight: np.ndarray | None = None
    has_landmarks: bool = True       # False: landmark loss weight 0 whatever visible_only says

    @classmethod
    def load(cls, data_dir: Path | str, split: str, max_frames: int | None = None,
             progress: bool = True, pose_frame: str = "camera") -> SynthSplit:
        data_dir = Path(data_dir)
        manifest = load_manifest(data_dir)
        color = manifest["config"]["color"] == "rgb"
        records = sorted((r for r in manifest["shards"] if r["split"] == split), key=lambda r: (r["track"], r["chunk"]))
        if not records:
            raise DatasetError(f"{data_dir / 'manifest.json'}: no shards in split '{split}'")
        if max_frames is not None:
            records = _spread(records, max_frames)
        if pose_frame not in ("camera", "ray"):
            raise ValueError(f"pose_frame: '{pose_frame}' is not 'camera' or 'ray'")
        keys = ("crops", "pose_camera", "rays", "landmarks", "visible", "track", "frame")
        parts: dict[str, list[np.ndarray]] = {k: [] for k in keys}
        intrinsics: dict[int, Intrinsics] = {}
        for rec in tqdm(records, desc=f"loading {split}", unit="shard", disable=not progress):
            sh = Shard.open(data_dir / rec["file"], color)
            lab = sh.labels
            parts["crops"].append(sh.crops())
            parts["pose_camera"].append(lab["pose_camera"])
            if rec["track"] not in intrinsics:
                intrinsics[rec["track"]] = Intrinsics.from_dict(track_intrinsics(manifest, rec["track"]))
            parts["rays"].append(ray_rotation(*box_centre(lab["crop_box"]), intrinsics[rec["track"]]).astype(np.float32))
            parts["landmarks"].append(lab["landmarks_2d"])
            parts["visible"].append(lab["visibility"])
            parts["track"].append(np.full(len(sh), rec["track"], np.int32))
            parts["frame"].append(lab["frame"])
        arrays = {k: np.concatenate(v) for k, v in parts.items()}
        pose = arrays["pose_camera"]
        if pose_frame == "ray":
            pose = camera_to_ray_pose(pose, arrays["rays"].astype(np.float64)).astype(np.float32)
        return cls(crops=arrays["crops"], pose=pose, landmarks=arrays["landmarks"], visible=arrays["visible"],
                   track=arrays["track"], frame=arrays["frame"], fps=float(manifest["config"]["fps"]),
                   content_hash=manifest["content_hash"], pose_camera=arrays["pose_camera"], rays=arrays["rays"],
                   pose_frame=pose_frame)

    def __len__(self) -> int:
        return len(self.crops)

    def sequence_starts(self, seq_len: int) -> np.ndarray:
        """Indices where a seq_len window of consecutive frames of one track starts."""
        n = len(self)
        if seq_len > n:
            return np.zeros(0, np.int64)
        same = (self.track[seq_len - 1:] == self.track[: n - seq_len + 1]) & \
               (self.frame[seq_len - 1:] - self.frame[: n - seq_len + 1] == seq_len - 1)
        return np.flatnonzero(same)

    def tracks(self) -> list[tuple[int, slice]]:
        """(track id, slice) of each track's contiguous frames."""
        edges = np.flatnonzero(np.diff(self.track) != 0) + 1
        bounds = np.concatenate([[0], edges, [len(self)]])
        return [(int(self.track[a]), slice(int(a), int(b))) for a, b in zip(bounds[:-1], bounds[1:])]


def _spread(records: list[dict], max_frames: int) -> list[dict]:
    """At most max_frames, taken as whole shards spread over all tracks of the split."""
    out, total = [], 0
    by_chunk = sorted(records, key=lambda r: (r["chunk"], r["track"]))
    for rec in by_chunk:
        if total >= max_frames:
            break
        out.append(rec)
        total += rec["frames"]
    return sorted(out, key=lambda r: (r["track"], r["chunk"]))


def step_rng(seed: int, step: int, rank: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, step, rank])


@dataclass
class Batch:
    """Network-ready arrays: images [B, T, C, H, W] float32, pose [B, T, 3],
    landmarks [B, T, 136], landmark weights [B, T, 136] (0 for hidden points), pose
    weights [B, T]."""

    images: np.ndarray
    pose: np.ndarray
    landmarks: np.ndarray
    landmark_weight: np.ndarray
    pose_weight: np.ndarray

    @staticmethod
    def concat(parts: list[Batch]) -> Batch:
        return Batch(*(np.concatenate([getattr(b, f) for b in parts]) for f in
                       ("images", "pose", "landmarks", "landmark_weight", "pose_weight")))


Augment = SequenceAugment  # train.augment.make_sequence_augment builds the standard one


def center_window(crops: np.ndarray, landmarks: np.ndarray, out_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The network's view of one sequence's stored crops ([T, H, W] or [T, H, W, 3]) without
    jitter: the central NETWORK_WINDOW share, resized to out_size (h, w) when the sizes
    differ. Landmarks [T, 68, 2] follow."""
    import cv2
    h, w = crops.shape[1:3]
    side = int(round(min(h, w) * NETWORK_WINDOW))
    y0, x0 = (h - side) // 2, (w - side) // 2
    win = crops[:, y0:y0 + side, x0:x0 + side]
    if (side, side) != tuple(out_size):
        win = np.stack([cv2.resize(f, (out_size[1], out_size[0]), interpolation=cv2.INTER_AREA) for f in win])
    lm = (landmarks * np.array([w, h]) - np.array([x0, y0])) / side
    return win, lm


def make_batch(split: SynthSplit, starts: np.ndarray, seq_len: int, out_size: tuple[int, int],
               normalise: Callable[[np.ndarray], np.ndarray], rng: np.random.Generator | None = None,
               augment: Augment | None = None, visible_only: bool = True) -> Batch:
    """Sequences of seq_len frames starting at `starts`. With `augment` (training) each
    sequence is augmented consistently over its frames; without, the centre window."""
    idx = starts[:, None] + np.arange(seq_len)[None]
    crops = split.crops[idx]                      # [B, T, H, W(, 3)]
    pose = split.pose[idx].astype(np.float32)
    lms = split.landmarks[idx].astype(np.float32)
    vis = split.visible[idx]
    images, out_lms, out_pose, out_vis = [], [], [], []
    for b in range(len(starts)):
        if augment is not None and rng is not None:
            img, p, lm, v = augment(crops[b], pose[b], lms[b], vis[b], rng)
        else:
            img, lm = center_window(crops[b], lms[b], out_size)
            p, v = pose[b], vis[b]
        images.append(img)
        out_pose.append(p)
        out_lms.append(lm)
        out_vis.append(v)
    arr = np.stack(images).astype(np.float32)
    arr = normalise(arr)
    arr = arr[:, :, None] if arr.ndim == 4 else np.moveaxis(arr, -1, 2)
    weight = np.repeat(np.stack(out_vis)[..., None], 2, -1).reshape(len(starts), seq_len, 136).astype(np.float32)
    if not visible_only:
        weight[:] = 1.0
    if not split.has_landmarks:
        weight[:] = 0.0
    pose_w = np.ones(idx.shape, np.float32) if split.pose_weight is None else split.pose_weight[idx].astype(np.float32)
    return Batch(np.ascontiguousarray(arr, np.float32), np.stack(out_pose).astype(np.float32),
                 np.stack(out_lms).reshape(len(starts), seq_len, 136).astype(np.float32), weight, pose_w)
