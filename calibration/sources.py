"""Representative calibration frames with the hidden state the car would feed with them.

INT8 ranges are fitted to whatever the calibrator sees. Two things make that a trap for
a recurrent tracker:

* frames: a random sample of driving video is mostly "looking at the road in daylight";
  the rare poses (shoulder checks, phone in the lap) and lighting (night IR, harsh sun)
  that matter most to the alerts would be a handful of frames and get clipped. So frames
  are sampled evenly over strata: subject (or, for a video, time segment) x lighting x
  yaw bin x pitch bin (``stratified_pick``).
* states: the graph's ``state_i`` inputs carry the previous frame's hidden layer. A zero
  or random state has nothing like the real range (a ReLU FC-RNN's state is >= 0 and its
  scale depends on the input history), so the calibrated INT8 state inputs would be
  wrong. Each selected frame's state is therefore the one the FP32 graph produces by
  running, from zeros, the STATE_WARMUP_FRAMES frames leading up to it, exactly as the
  car does (frames near a track's start get the genuine early-track state).

Sources: the synthetic dataset (labels give the pose bins; the track's scene gives the
lighting) or a user's own video (OpenCV Haar face box, causal smoothing, the network
window around it; the FP32 model's own pose predictions give the pose bins). No torch.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from calibration.preprocess import PreprocessSpec, to_network_input
from calibration.runner import StepSession

# TensorRT's sampleINT8 README: "for ImageNet networks, around 500 images are sufficient
# for calibration". 512 (a power of two near it) frames, each with its real state; more
# mostly adds calibration time (the entropy search is per tensor, not per frame).
DEFAULT_FRAMES = 512
# 2 s at 30 fps of history before each calibration frame. A recurrent layer whose weights
# contract forgets its zero start geometrically; 60 frames is well beyond stage-2
# training's truncated-BPTT window (16 frames, configs/default.json) and keeps the state
# pass at <= 512 x 60 = 31 k steps. The calibration report shows whether INT8 states drift.
STATE_WARMUP_FRAMES = 60
SELECTION_SEED = 0

# Yaw bin edges (deg, camera-relative). +-23 is the on-road cone's half-width (openpilot's
# 0.4020 rad, runtime.attention_config.ZoneConfig) so both sides of the alert decision are
# sampled; +-10 separates the road's centre from its edges; +-60 separates mirror and
# infotainment glances from shoulder checks (runtime zones put shoulders beyond 65-75).
YAW_EDGES_DEG: tuple[float, ...] = (-60.0, -23.0, -10.0, 10.0, 23.0, 60.0)
# Pitch bin edges (deg): -18 is the cone's lower edge (openpilot 0.3133 rad); -40 starts the
# runtime's "lap" zone (phone in the lap); +-5 brackets level; +25 is the cone's upper edge
# (sun visor, roof).
PITCH_EDGES_DEG: tuple[float, ...] = (-40.0, -18.0, -5.0, 5.0, 25.0)

# A user's video: at most 5 min at 30 fps. Enough variety for 512 frames; the crops are
# kept at network size (9000 x 64 x 64 x 3 bytes = 110 MB at most).
VIDEO_MAX_FRAMES = 9000
# Time segments of a user's video stand in for "subject" (a long video may hold several
# drives or drivers); 8 so that 512 frames give 64 per segment before pose/lighting bins.
VIDEO_SEGMENTS = 8
# When the container does not say (some MJPG/AVI files report 0).
DEFAULT_FPS = 30.0
# Brightness thirds of the 8-bit range for a video's "lighting" stratum (mean crop pixel):
# video has no scene labels; dark / mid / bright crops behave like night IR / overcast / sun.
BRIGHTNESS_EDGES = (85.0, 170.0)

# OpenCV's stock frontal-face Haar cascade (ships with opencv-python in cv2.data).
HAAR_CASCADE = "haarcascade_frontalface_default.xml"
# Detect on a copy this wide: a driver's face in a 640-px in-car frame is 150-250 px, still
# >= 60 px at 320 (Haar's base window is 24 px), at a quarter of the cost.
DETECT_WIDTH = 320
# Detect every 3rd frame (10 Hz at 30 fps): a head moves little in 100 ms and the box is
# smoothed anyway; keeps a 5-min video's detection pass under a minute on one core.
DETECT_EVERY = 3
# OpenCV's default pyramid step (1.1) and a stricter neighbour vote than its default 3, so
# that textured headrests and seat seams are not taken for faces.
HAAR_SCALE_FACTOR = 1.1
HAAR_MIN_NEIGHBORS = 5
# Weight of a new detection in the box's exponential smoothing (causal, like the runtime):
# with detections at 10 Hz the box follows the head with a ~0.3 s time constant.
BOX_SMOOTHING = 0.3
# Network window side per Haar box side. Training's window is 0.8 of the stored crop
# (train.data.NETWORK_WINDOW) and the stored crop is 1.6 head heights (synth CropSpec), so
# the network sees 1.28 head heights; a Haar frontal box spans brow to chin, about 0.75 of
# a head height: 1.28 / 0.75 = 1.7. An estimate: the runtime's face localiser owns the
# production crop; calibration only needs the activations' ranges to be representative.
WINDOW_PER_HAAR_BOX = 1.7


class SourceError(ValueError):
    """Calibration data that cannot be read or has no frames; the message names the path."""


# ---- stratification -------------------------------------------------------------------------
def bin_labels(edges: tuple[float, ...]) -> list[str]:
    """Readable names of the len(edges) + 1 bins, e.g. '< -60', '[-60, -23)', '>= 60'."""
    fmt = [f"{e:g}" for e in edges]
    return [f"< {fmt[0]}", *(f"[{a}, {b})" for a, b in zip(fmt[:-1], fmt[1:])), f">= {fmt[-1]}"]


def pose_bins(pose: np.ndarray, yaw_edges: tuple[float, ...], pitch_edges: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(yaw bin, pitch bin) per frame for poses [N, 3] in (pitch, yaw, roll) degrees."""
    return (np.searchsorted(np.asarray(yaw_edges), pose[:, 1], side="right"),
            np.searchsorted(np.asarray(pitch_edges), pose[:, 0], side="right"))


def stratified_pick(strata: list[tuple[Any, ...]] | np.ndarray, n: int, seed: int) -> np.ndarray:
    """Indices of up to n candidates, taken round-robin over the strata in a seeded order.

    Every non-empty stratum gives one frame before any gives a second, so rare strata
    (night, shoulder checks) are represented as fully as they can be and common ones fill
    what is left. Within a stratum frames are drawn at random. Deterministic for the seed.
    """
    keys = [tuple(k) for k in strata]
    if n <= 0 or not keys:
        return np.zeros(0, np.int64)
    ids: dict[tuple[Any, ...], int] = {}
    for k in sorted(set(keys), key=repr):
        ids[k] = len(ids)
    sid = np.array([ids[k] for k in keys], np.int64)
    rng = np.random.default_rng(seed)
    stratum_order = rng.permutation(len(ids))            # which stratum goes first in a round
    shuffle = rng.permutation(len(keys))                  # random order within each stratum
    order = shuffle[np.argsort(sid[shuffle], kind="stable")]
    rank = np.empty(len(keys), np.int64)                  # position of each candidate in its stratum
    starts = np.searchsorted(sid[order], np.arange(len(ids)))
    rank[order] = np.arange(len(keys)) - starts[sid[order]]
    pick = np.lexsort((stratum_order[sid], rank))[:n]
    return np.sort(pick)


def strata_summary(strata: list[tuple[Any, ...]], picked: np.ndarray, names: tuple[str, ...],
                   labels: dict[str, list[str]]) -> dict[str, Any]:
    """Counts of the picked frames per stratum dimension, and coverage of the strata."""
    chosen = [strata[i] for i in picked]
    out: dict[str, Any] = {"frames": len(chosen), "strata_available": len(set(map(tuple, strata))),
                           "strata_covered": len(set(map(tuple, chosen))), "dimensions": list(names)}
    for d, name in enumerate(names):
        counts = Counter(k[d] for k in chosen)
        lab = labels.get(name)
        out[f"by_{name}"] = {(lab[int(v)] if lab else str(v)): int(c)
                             for v, c in sorted(counts.items(), key=lambda kv: repr(kv[0]))}
    return out


# ---- the calibration set --------------------------------------------------------------------
@dataclass
class CalibrationSet:
    """Network inputs for the calibrator: images [N, C, H, W] and, per state pair of the
    manifest, the real state fed with each image [N, *shape[1:]]."""

    images: np.ndarray
    states: list[np.ndarray]
    state_names: list[str]
    image_name: str
    frames: list[tuple[str, int]]                         # (clip id, frame index) per sample
    stratification: dict[str, Any]
    source: dict[str, Any]

    def __len__(self) -> int:
        return len(self.images)

    def feeds(self) -> list[dict[str, np.ndarray]]:
        """One ONNX Runtime feed per sample, batch 1, as the step graph takes it."""
        return [{self.image_name: self.images[i:i + 1],
                 **{name: st[i:i + 1] for name, st in zip(self.state_names, self.states)}}
                for i in range(len(self.images))]

    def state_ranges(self) -> dict[str, dict[str, float]]:
        return {name: {"min": float(st.min()), "max": float(st.max()), "mean": float(st.mean()),
                       "zero_share": float(np.mean(st == 0.0))}
                for name, st in zip(self.state_names, self.states)}


@dataclass(frozen=True)
class SelectionConfig:
    """How frames are chosen (see the module docstring and the constants' reasons)."""

    frames: int = DEFAULT_FRAMES
    warmup_frames: int = STATE_WARMUP_FRAMES
    yaw_edges_deg: tuple[float, ...] = YAW_EDGES_DEG
    pitch_edges_deg: tuple[float, ...] = PITCH_EDGES_DEG
    seed: int = SELECTION_SEED

    def validate(self) -> None:
        if self.frames < 1:
            raise ValueError(f"frames: must be >= 1, got {self.frames}")
        if self.warmup_frames < 0:
            raise ValueError(f"warmup_frames: must be >= 0, got {self.warmup_frames}")
        for name in ("yaw_edges_deg", "pitch_edges_deg"):
            edges = getattr(self, name)
            if list(edges) != sorted(edges) or len(set(edges)) != len(edges) or not edges:
                raise ValueError(f"{name}: must be strictly increasing, got {edges}")


@dataclass
class Sequence:
    """A held-out clip for the report: network inputs [T, C, H, W], labels [T, 3] or None."""

    clip: str
    images: np.ndarray
    pose: np.ndarray | None
    fps: float


# ---- the synthetic dataset ------------------------------------------------------------------
class SynthSource:
    """One split of a `dms synth` dataset, read shard by shard (only the frames needed are
    decoded: the patent-scale train split is 357 k frames)."""

    kind = "synth"

    def __init__(self, data_dir: Path | str, split: str) -> None:
        from synth.dataset import MANIFEST_NAME, load_manifest

        self.data_dir = Path(data_dir)
        self.manifest_path = self.data_dir / MANIFEST_NAME
        manifest = load_manifest(self.data_dir)
        self.split = split
        self.color = manifest["config"]["color"] == "rgb"
        self.fps = float(manifest["config"]["fps"])
        self.content_hash = str(manifest["content_hash"])
        records = [r for r in manifest["shards"] if r.get("split") == split]
        if not records:
            have = sorted({str(r.get("split")) for r in manifest["shards"]})
            raise SourceError(f"{self.manifest_path}: no shards in split '{split}' (the dataset has {have}); "
                              "a dataset with fewer than 3 subjects has no held-out split")
        self.records: dict[int, list[dict[str, Any]]] = {}
        for r in sorted(records, key=lambda r: (r["track"], r["chunk"])):
            self.records.setdefault(int(r["track"]), []).append(r)
        info = {int(t["track"]): t for t in manifest.get("tracks", [])}
        self._manifest = manifest
        self.subject = {t: int(recs[0]["subject"]) for t, recs in self.records.items()}
        self.lighting = {t: str(info.get(t, {}).get("lighting", {}).get("kind", "unknown")) for t in self.records}
        self._open: tuple[str, Any] | None = None

    @property
    def tracks(self) -> list[int]:
        return sorted(self.records)

    def track_frames(self, track: int) -> int:
        return int(sum(r["frames"] for r in self.records[track]))

    def _shard(self, rec: dict[str, Any]) -> Any:
        from synth.shards import Shard

        if self._open is None or self._open[0] != rec["file"]:
            self._open = (rec["file"], Shard.open(self.data_dir / rec["file"], self.color))
        return self._open[1]

    def poses(self, track: int, pose_frame: str = "camera") -> np.ndarray:
        """Pose labels [n, 3] (pitch, yaw, roll) of every frame of a track, relative to the
        camera or to each crop's viewing ray (the frame a "ray" model outputs,
        dms.perspective)."""
        pose = np.concatenate([self._shard(r).labels["pose_camera"] for r in self.records[track]])
        if pose_frame == "ray":
            from dms.perspective import Intrinsics, box_centre, camera_to_ray_pose, ray_rotation
            from synth.dataset import track_intrinsics

            boxes = np.concatenate([self._shard(r).labels["crop_box"] for r in self.records[track]])
            k = Intrinsics.from_dict(track_intrinsics(self._manifest, track))
            pose = camera_to_ray_pose(pose, ray_rotation(*box_centre(boxes), k))
        return pose.astype(np.float32)

    def images(self, track: int, start: int, stop: int, spec: PreprocessSpec) -> np.ndarray:
        """Network inputs [stop - start, C, H, W] of frames [start, stop) of a track: the
        training view (train.data.center_window, no jitter), then the manifest's preprocess."""
        from train.data import center_window

        crops = []
        for rec in self.records[track]:
            a, b = max(start, rec["start"]), min(stop, rec["start"] + rec["frames"])
            if a < b:
                crops.append(self._shard(rec).crops(a - rec["start"], b - rec["start"]))
        if not crops:
            return np.zeros((0, *spec.shape), np.float32)
        stack = np.concatenate(crops)
        window, _ = center_window(stack, np.zeros((len(stack), 68, 2), np.float32), (spec.height, spec.width))
        return to_network_input(window, spec, "rgb" if self.color else "gray")

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": str(self.data_dir), "split": self.split,
                "content_hash": self.content_hash, "tracks": len(self.records),
                "frames": int(sum(self.track_frames(t) for t in self.records))}

    def calibration_set(self, session: StepSession, spec: PreprocessSpec, cfg: SelectionConfig) -> CalibrationSet:
        cfg.validate()
        strata: list[tuple[Any, ...]] = []
        where: list[tuple[int, int]] = []
        for track in self.tracks:
            pose = self.poses(track)
            yb, pb = pose_bins(pose, cfg.yaw_edges_deg, cfg.pitch_edges_deg)
            subj, light = f"subject {self.subject[track]}", self.lighting[track]
            strata += [(subj, light, int(y), int(p)) for y, p in zip(yb, pb)]
            where += [(track, i) for i in range(len(pose))]
        picked = stratified_pick(strata, cfg.frames, cfg.seed)
        by_track: dict[int, list[int]] = {}
        for i in picked:
            by_track.setdefault(where[i][0], []).append(where[i][1])
        images: list[np.ndarray] = []
        states: list[list[np.ndarray]] = [[] for _ in session.states]
        frames: list[tuple[str, int]] = []
        for track, positions in sorted(by_track.items()):
            for pos, img, st in _states_leading_to(self, session, spec, track, sorted(positions), cfg.warmup_frames):
                images.append(img)
                for i, s in enumerate(st):
                    states[i].append(s[0])
                frames.append((f"track {track}", pos))
        summary = strata_summary(strata, picked, ("subject", "lighting", "yaw_bin", "pitch_bin"),
                                 {"yaw_bin": bin_labels(cfg.yaw_edges_deg), "pitch_bin": bin_labels(cfg.pitch_edges_deg)})
        summary["warmup_frames"] = cfg.warmup_frames
        return CalibrationSet(np.stack(images), [np.stack(s) for s in states], [s.input for s in session.states],
                              session.image_name, frames, summary, self.describe())

    def sequences(self, spec: PreprocessSpec, max_frames: int | None = None,
                  pose_frame: str = "camera") -> Iterator[Sequence]:
        """Each track of the split from its first frame (at most max_frames long; None:
        the whole track), decoded one at a time; labels in the model's pose frame."""
        for track in self.tracks:
            n = self.track_frames(track) if max_frames is None else min(self.track_frames(track), max_frames)
            yield Sequence(f"track {track}", self.images(track, 0, n, spec), self.poses(track, pose_frame)[:n],
                           self.fps)


def _states_leading_to(source: SynthSource, session: StepSession, spec: PreprocessSpec, track: int,
                       positions: list[int], warmup: int) -> list[tuple[int, np.ndarray, list[np.ndarray]]]:
    """(frame, image [C, H, W], state fed at that frame) for sorted positions of one track.

    Runs the FP32 graph from zeros over the `warmup` frames before each position; when
    the next position is within `warmup` frames of the last, the run simply continues, so
    each frame of the track is stepped at most once.
    """
    out = []
    cursor = -1
    states: list[np.ndarray] = session.zero_state()
    for p in positions:
        start = max(0, p - warmup)
        if cursor < 0 or start > cursor:
            cursor, states = start, session.zero_state()
        imgs = source.images(track, cursor, p + 1, spec)
        if len(imgs) > 1:
            states = session.run_sequence(imgs[:-1], states).final
        out.append((p, imgs[-1], [s.copy() for s in states]))
        cursor = p
    return out


# ---- a user's video ---------------------------------------------------------------------------
def sha256_path(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class FaceCropper:
    """Face box per frame (Haar cascade, largest face, causal exponential smoothing) and the
    network window around it. Falls back to the largest centred square when no cascade is
    available or no face has been seen yet (e.g. a video that is already a face crop)."""

    out_size: tuple[int, int]
    detector: Any = None
    box: np.ndarray | None = None                     # smoothed (cx, cy, side) in pixels
    frame_index: int = 0
    detections: int = 0
    method: str = field(default="")

    def __post_init__(self) -> None:
        import cv2

        data = getattr(cv2, "data", None)
        path = Path(getattr(data, "haarcascades", "")) / HAAR_CASCADE if data is not None else None
        if path is not None and path.is_file():
            det = cv2.CascadeClassifier(str(path))
            self.detector = None if det.empty() else det
        self.method = (f"OpenCV Haar cascade {HAAR_CASCADE} every {DETECT_EVERY} frames, largest face, "
                       f"exponential smoothing {BOX_SMOOTHING}, window {WINDOW_PER_HAAR_BOX} x box"
                       if self.detector is not None else "largest centred square (no Haar cascade available)")

    def _detect(self, frame: np.ndarray) -> np.ndarray | None:
        import cv2

        gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        f = min(1.0, DETECT_WIDTH / gray.shape[1])
        small = cv2.resize(gray, None, fx=f, fy=f, interpolation=cv2.INTER_AREA) if f < 1.0 else gray
        faces = self.detector.detectMultiScale(small, scaleFactor=HAAR_SCALE_FACTOR, minNeighbors=HAAR_MIN_NEIGHBORS)
        if len(faces) == 0:
            return None
        x, y, w, h = max(faces, key=lambda b: b[2] * b[3])
        return np.array([x + w / 2, y + h / 2, max(w, h)], np.float64) / f

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """The network-size crop (uint8, frame's colour order) of one BGR or gray frame."""
        import cv2

        if self.detector is not None and self.frame_index % DETECT_EVERY == 0:
            found = self._detect(frame)
            if found is not None:
                self.detections += 1
                self.box = found if self.box is None else (1 - BOX_SMOOTHING) * self.box + BOX_SMOOTHING * found
        self.frame_index += 1
        h, w = frame.shape[:2]
        if self.box is None:
            cx, cy, side = w / 2, h / 2, float(min(h, w))
        else:
            cx, cy, side = self.box[0], self.box[1], self.box[2] * WINDOW_PER_HAAR_BOX
        half = max(1, int(round(side / 2)))
        x0, y0 = int(round(cx)) - half, int(round(cy)) - half
        pad = max(0, -x0, -y0, x0 + 2 * half - w, y0 + 2 * half - h)
        if pad:  # the window leaves the frame: repeat the border rather than shift the face
            frame = cv2.copyMakeBorder(frame, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
            x0, y0 = x0 + pad, y0 + pad
        window = frame[y0:y0 + 2 * half, x0:x0 + 2 * half]
        return cv2.resize(window, (self.out_size[1], self.out_size[0]), interpolation=cv2.INTER_AREA)


class VideoSource:
    """A user's own video (any file OpenCV opens): face crops at network size, one clip."""

    kind = "video"

    def __init__(self, path: Path | str, spec: PreprocessSpec, max_frames: int = VIDEO_MAX_FRAMES) -> None:
        import cv2

        self.path = Path(path)
        if not self.path.is_file():
            raise SourceError(f"{self.path}: no such video file")
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            raise SourceError(f"{self.path}: OpenCV cannot open this video (codec or container not supported)")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if fps > 0 else DEFAULT_FPS
        self.cropper = FaceCropper((spec.height, spec.width))
        crops: list[np.ndarray] = []
        try:
            while len(crops) < max_frames:
                ok, frame = cap.read()
                if not ok:
                    break
                crops.append(self.cropper(frame))
        finally:
            cap.release()
        if not crops:
            raise SourceError(f"{self.path}: no frame could be read")
        self.crops = np.stack(crops)
        self.crop_color = "bgr" if self.crops.ndim == 4 else "gray"
        self.sha256 = sha256_path(self.path)
        self.images = to_network_input(self.crops, spec, self.crop_color)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": str(self.path), "sha256": self.sha256, "frames": len(self.crops),
                "fps": self.fps, "face_crop": self.cropper.method, "face_detections": self.cropper.detections}

    def calibration_set(self, session: StepSession, spec: PreprocessSpec, cfg: SelectionConfig) -> CalibrationSet:
        """One FP32 pass over the whole video (it is one continuous sequence) gives every
        frame's real state and a predicted pose for the pose bins."""
        cfg.validate()
        run = session.run_sequence(self.images, record_states=True)
        pose = run.outputs.get("pose")
        n = len(self.images)
        if pose is None:  # a landmarks-only model: no pose bins, the other strata remain
            yb = pb = np.zeros(n, np.int64)
        else:
            yb, pb = pose_bins(pose, cfg.yaw_edges_deg, cfg.pitch_edges_deg)
        segment = np.minimum(np.arange(n) * VIDEO_SEGMENTS // max(n, 1), VIDEO_SEGMENTS - 1)
        brightness = self.crops.reshape(n, -1).mean(axis=1)
        light = np.searchsorted(np.asarray(BRIGHTNESS_EDGES), brightness, side="right")
        strata = [(int(s), int(li), int(y), int(p)) for s, li, y, p in zip(segment, light, yb, pb)]
        picked = stratified_pick(strata, cfg.frames, cfg.seed)
        summary = strata_summary(strata, picked, ("segment", "brightness", "yaw_bin", "pitch_bin"),
                                 {"brightness": ["dark", "mid", "bright"], "yaw_bin": bin_labels(cfg.yaw_edges_deg),
                                  "pitch_bin": bin_labels(cfg.pitch_edges_deg)})
        summary["pose_bins_from"] = "the FP32 model's own predictions (a video has no labels)"
        summary["warmup_frames"] = "whole video (one continuous run from zeros)"
        return CalibrationSet(self.images[picked], [s[picked] for s in run.states_in],
                              [s.input for s in session.states], session.image_name,
                              [(self.path.name, int(i)) for i in picked], summary, self.describe())

    def sequences(self, spec: PreprocessSpec, max_frames: int | None = None,
                  pose_frame: str = "camera") -> Iterator[Sequence]:
        yield Sequence(self.path.name, self.images[:max_frames], None, self.fps)


def open_source(data: Path | str, spec: PreprocessSpec, split: str) -> SynthSource | VideoSource:
    """A `dms synth` dataset folder (its split) or a video file."""
    path = Path(data)
    if path.is_dir():
        if not (path / "manifest.json").is_file():
            raise SourceError(f"{path}: a folder without manifest.json is not a `dms synth` dataset "
                              "(pass a dataset folder or a video file)")
        return SynthSource(path, split)
    if path.is_file():
        return VideoSource(path, spec)
    raise SourceError(f"{path}: no such dataset folder or video file")
