"""Shard files: a chunk of one track's crops (JPEG) and labels, in one .npz.

Why .npz with JPEG bytes: one file per chunk keeps memory bounded whatever the dataset
size, np.load needs no pickle (safe to read from anywhere), JPEG is both the storage
format and the compression artefact the sensor model asks for, and readers decode only
the frames they need.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from synth.realism import decode_jpeg

LABEL_KEYS = ("frame", "time", "pose_camera", "pose_vehicle", "gaze_vehicle", "landmarks_2d",
              "landmarks_full", "landmarks_3d", "visibility", "face_box", "head_box", "crop_box",
              "target", "eye_closure", "mouth_open", "occluder", "speed_kmh", "exposure_gain")


class ShardError(ValueError):
    """A shard that is missing, truncated or not what the manifest says."""


def _blob(items: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(items) + 1, np.int64)
    offsets[1:] = np.cumsum([len(b) for b in items])
    return np.frombuffer(b"".join(items), np.uint8), offsets


def write_shard(path: Path, crops: list[bytes], labels: dict[str, np.ndarray], meta: dict[str, int],
                full: list[bytes] | None = None, full_index: np.ndarray | None = None) -> None:
    """Write atomically (temp file + rename): a killed job never leaves a half shard
    under the final name."""
    blob, offsets = _blob(crops)
    arrays: dict[str, Any] = {"jpeg": blob, "offsets": offsets, **labels}
    for k, v in meta.items():
        arrays[f"meta_{k}"] = np.asarray(v)
    if full:
        fblob, foffsets = _blob(full)
        arrays.update(full_jpeg=fblob, full_offsets=foffsets, full_index=full_index)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


@dataclass
class Shard:
    """One shard opened for reading; crops decode lazily."""

    path: Path
    data: dict[str, np.ndarray]
    color: bool = False

    @classmethod
    def open(cls, path: Path | str, color: bool = False) -> Shard:
        path = Path(path)
        if not path.is_file():
            raise ShardError(f"{path}: shard file missing")
        try:
            with np.load(path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        except Exception as exc:  # zipfile.BadZipFile, ValueError, EOFError ...
            raise ShardError(f"{path}: unreadable shard ({exc})") from exc
        missing = [k for k in ("jpeg", "offsets", *LABEL_KEYS) if k not in data]
        if missing:
            raise ShardError(f"{path}: field '{missing[0]}' missing")
        n = len(data["offsets"]) - 1
        for k in LABEL_KEYS:
            if len(data[k]) != n:
                raise ShardError(f"{path}: field '{k}' has {len(data[k])} rows, the shard has {n} frames")
        return cls(path, data, color)

    def __len__(self) -> int:
        return len(self.data["offsets"]) - 1

    def crop(self, i: int) -> np.ndarray:
        o = self.data["offsets"]
        try:
            return decode_jpeg(self.data["jpeg"][o[i]:o[i + 1]], self.color)
        except ValueError as exc:
            raise ShardError(f"{self.path}: frame {i}: {exc}") from exc

    def crops(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        stop = len(self) if stop is None else stop
        return np.stack([self.crop(i) for i in range(start, stop)])

    def full_frames(self) -> tuple[np.ndarray, np.ndarray]:
        """Stored (downscaled) full frames and their frame indices within the track."""
        if "full_jpeg" not in self.data:
            return np.zeros((0,), np.uint8), np.zeros(0, np.int32)
        o, blob = self.data["full_offsets"], self.data["full_jpeg"]
        frames = [decode_jpeg(blob[o[i]:o[i + 1]], self.color) for i in range(len(o) - 1)]
        return np.stack(frames), self.data["full_index"]

    @property
    def labels(self) -> dict[str, np.ndarray]:
        return {k: self.data[k] for k in LABEL_KEYS}

    def meta(self, key: str) -> int:
        return int(self.data[f"meta_{key}"])
