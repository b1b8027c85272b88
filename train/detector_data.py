"""Training data for the head detector: the synthetic set's stored full frames (positives)
and rendered frames without a head (negatives).

Positives: `dms synth --full-every N --full-size 160x120` stores every Nth frame whole,
downscaled with cv2.INTER_AREA, with the head_box label in 640x480 pixels. Each is shrunk
again (INTER_AREA) to the detector's input (96x128) and its box expressed as (cx, cy, side):
centre as shares of the frame's width and height, side as a share of its height.

Negatives: every synthetic frame has a driver in it, yet the runtime needs a presence score
that drops when no head can be seen (Euro NCAP: a system that cannot see the driver must
say so). We render them from the same scenes (same camera, cabin, light and sensor as the
track's positives, so the network cannot tell them apart by anything but the head):
  * "empty_seat": the cabin with the seat and headrest but no driver (driver left the car);
  * "headless": the cabin with the driver's neck, torso and seat but no head -- what the
    camera sees when the head is out of its view (leaning far to the side or back) and the
    hard case that forces the network to look at the head itself, not the body below it.
A third kind, the lens covered by a hand or a sticker, is made from any frame at training
time (train.detector_augment.blocked_lens). Faces hidden behind a hand, a phone, a mask or
sunglasses stay positives: the head is there, and the box is still right.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from synth.dataset import SynthConfig, load_manifest, plan_track
from synth.geometry import Primitives
from synth.realism import add_noise, decode_jpeg, encode_jpeg, to_uint8
from synth.render import Scene, metered_gain, tone
from synth.shards import Shard

# Frame kinds, stored per sample as int8 (index into this tuple).
KINDS: tuple[str, ...] = ("head", "empty_seat", "headless", "blocked")
HEAD, EMPTY_SEAT, HEADLESS, BLOCKED = range(4)
# The body parts that make the driver; removing them leaves the empty seat.
DRIVER_PARTS = ("neck", "torso")


class DetectorDataError(ValueError):
    """A dataset that cannot train the detector (no full frames, empty split); names the folder."""


@dataclass
class FullFrameSet:
    """Frames at the detector's input size with their labels. N rows everywhere.

    images: uint8 [N, H, W] gray. boxes: float32 [N, 3] (cx, cy, side) as shares of the
    frame (zeros where no head). kind: int8 [N], index into KINDS. occluded: bool [N], the
    face is behind a hand or a phone. subject / track: int32 [N].
    """

    images: np.ndarray
    boxes: np.ndarray
    kind: np.ndarray
    occluded: np.ndarray
    subject: np.ndarray
    track: np.ndarray

    def __len__(self) -> int:
        return len(self.images)

    @property
    def present(self) -> np.ndarray:
        return self.kind == HEAD

    def subset(self, index: np.ndarray) -> FullFrameSet:
        return FullFrameSet(*(getattr(self, f.name)[index] for f in dataclasses.fields(self)))

    @staticmethod
    def concat(parts: Sequence[FullFrameSet]) -> FullFrameSet:
        return FullFrameSet(*(np.concatenate([getattr(p, f.name) for p in parts])
                              for f in dataclasses.fields(FullFrameSet)))


def head_box_to_cxcys(head_box: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    """[N, 4] (x0, y0, x1, y1) full-frame pixels -> [N, 3] (cx, cy, side) shares of the frame.
    The side is the box's height over the frame height (synth head boxes are square)."""
    w, h = frame_size
    b = np.asarray(head_box, np.float64).reshape(-1, 4)
    return np.column_stack([(b[:, 0] + b[:, 2]) / 2 / w, (b[:, 1] + b[:, 3]) / 2 / h,
                            (b[:, 3] - b[:, 1]) / h]).astype(np.float32)


def to_input(img: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
    """Any gray or RGB uint8 frame -> gray uint8 at input_size (h, w), as the runtime does it."""
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    h, w = input_size
    if img.shape[:2] == (h, w):
        return img
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)


def _split_records(manifest: dict, splits: Sequence[str], data_dir: Path) -> list[dict]:
    records = [r for r in manifest["shards"] if r["split"] in splits]
    if not records:
        raise DetectorDataError(f"{data_dir}: no shards in split(s) {list(splits)}")
    return records


def load_full_frames(data_dir: Path | str, splits: Sequence[str], input_size: tuple[int, int],
                     progress: Callable[[int], object] | None = None) -> FullFrameSet:
    """Every stored full frame of the given splits, resized to input_size, with its box."""
    data_dir = Path(data_dir)
    manifest = load_manifest(data_dir)
    cfg = SynthConfig.from_dict(manifest["config"])
    if not cfg.full_every:
        raise DetectorDataError(f"{data_dir}: the dataset stores no full frames; make one with "
                                f"`dms synth --out DIR --full-every 6 --full-size 160x120`")
    images, boxes, occluded, subject, track = [], [], [], [], []
    for rec in _split_records(manifest, splits, data_dir):
        shard = Shard.open(data_dir / rec["file"], color=cfg.color == "rgb")
        frames, index = shard.full_frames()
        if progress:
            progress(1)
        if not len(index):
            continue
        local = index - rec["start"]
        lab = shard.labels
        images += [to_input(f, input_size) for f in frames]
        boxes.append(head_box_to_cxcys(lab["head_box"][local], cfg.frame_size))
        occluded.append(lab["occluder"][local] != 0)
        subject.append(np.full(len(local), rec["subject"], np.int32))
        track.append(np.full(len(local), rec["track"], np.int32))
    if not images:
        raise DetectorDataError(f"{data_dir}: split(s) {list(splits)} hold no full frames")
    return FullFrameSet(np.stack(images), np.concatenate(boxes), np.zeros(len(images), np.int8),
                        np.concatenate(occluded), np.concatenate(subject), np.concatenate(track))


def split_tracks(data_dir: Path | str, splits: Sequence[str]) -> list[tuple[int, int]]:
    """(track, subject) of every track in the given splits."""
    manifest = load_manifest(data_dir)
    return sorted({(r["track"], r["subject"]) for r in _split_records(manifest, splits, Path(data_dir))})


def without_driver(scene: Scene) -> Scene:
    """A copy of the scene whose body keeps the seat and headrest only (an empty seat)."""
    empty = dataclasses.replace(scene)            # re-runs __post_init__: own body, no cached background
    keep = Primitives()
    for i, name in enumerate(empty.body.names):
        if name not in DRIVER_PARTS:
            keep.add(name, tuple(empty.body.center[i]), tuple(empty.body.axes[i]), int(empty.body.material[i]),
                     empty.body.rot[i])
    empty.body = keep
    return empty


def render_negatives(data_dir: Path | str, splits: Sequence[str], input_size: tuple[int, int],
                     per_track: int = 4, seed: int = 0,
                     progress: Callable[[int], object] | None = None) -> FullFrameSet:
    """`per_track` empty-seat and `per_track` headless frames for every track of the splits,
    through the track's own camera pipeline: auto-exposure (metered on the whole frame when
    there is no face, or still at the driver's gain a moment after the head left, and
    anything between), sensor noise, downscale to the stored full-frame size, JPEG at the
    track's quality, then to input_size -- the path a positive took."""
    data_dir = Path(data_dir)
    manifest = load_manifest(data_dir)
    cfg = SynthConfig.from_dict(manifest["config"])
    full_size = tuple(cfg.full_size)
    images, kinds, subjects, tracks = [], [], [], []
    for track, subject in split_tracks(data_dir, splits):
        plan = plan_track(cfg, track)
        rng = np.random.default_rng([seed, track, 0x6E6567])   # "neg"
        # The driver's exposure, for the "just left" case: metered on the rendered face
        # would need the head; the shards' recorded gains are the same thing, cheaper.
        driver_gain = _driver_gain(data_dir, manifest, track)
        for kind, scene in ((EMPTY_SEAT, without_driver(plan.scene)), (HEADLESS, plan.scene)):
            radiance = scene.background()
            metered = metered_gain(radiance, np.zeros(radiance.shape[:2], bool), scene.lighting.exposure)
            for _ in range(per_track):
                mix = rng.uniform()
                gain = float(np.exp(mix * np.log(metered) + (1 - mix) * np.log(driver_gain or metered)))
                img = add_noise(tone(radiance, gain * float(np.exp(rng.uniform(-0.3, 0.3)))).astype(np.float32),
                                plan.sensor, rng)
                small = cv2.resize(to_uint8(img), full_size, interpolation=cv2.INTER_AREA)
                stored = decode_jpeg(encode_jpeg(small, plan.sensor.jpeg_quality), cfg.color == "rgb")
                images.append(to_input(stored, input_size))
                kinds.append(kind)
                subjects.append(subject)
                tracks.append(track)
        if progress:
            progress(1)
    n = len(images)
    if not n:
        raise DetectorDataError(f"{data_dir}: no tracks in split(s) {list(splits)} to render negatives from")
    return FullFrameSet(np.stack(images), np.zeros((n, 3), np.float32), np.asarray(kinds, np.int8),
                        np.zeros(n, bool), np.asarray(subjects, np.int32), np.asarray(tracks, np.int32))


def _driver_gain(data_dir: Path, manifest: dict, track: int) -> float | None:
    rec = next((r for r in manifest["shards"] if r["track"] == track), None)
    if rec is None:
        return None
    gains = Shard.open(data_dir / rec["file"]).labels["exposure_gain"]
    return float(np.median(gains)) if len(gains) else None

