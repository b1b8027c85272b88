"""The real-face yardstick: a shipped model on labelled real faces, through the runtime.

Synthetic test figures say nothing about real drivers, so every model change is also
scored here, on the path a car runs (`dms run`: localiser, stabilised crop, the step graph
on any backend and precision, the ray-frame pose turned camera-relative), one still image
or one clip at a time with a fresh state for each.

Two crops per face, to split the blame: "runtime" (the head detector / Haar fallback, as
in the car) and "labels" (the window training would have cut from the labelled face: the
68 landmarks' box framed as train.crops frames landmark boxes, or BIWI's head centre).
A model that reads label crops well but runtime crops badly has a localiser problem, not
a pose problem.

Labels come from the readers in train.readers, which map each dataset's angle convention
to dms-head-v1 once (train/readers/ddfa.py: AFLW2000-3D; train/readers/biwi.py: BIWI).
No torch here: this runs wherever the runtime does (plus scipy for the .mat files).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from dms.perspective import Intrinsics
from runtime.config import CropConfig as RuntimeCrop
from runtime.detection import Detection
from train.readers.common import ReaderError, Sample

FORMATS = ("aflw2000", "biwi")
MODES = ("runtime", "labels")


@dataclass(frozen=True)
class RealEvalConfig:
    """What is scored and how.

    frames_per_still: frames a still image is shown for (the state carried between
        them, reset before the next image). 1 = the first frame a car would see.
    max_abs_deg: faces with any |label angle| above this are left out: the AFLW2000
        protocol of HopeNet (Ruiz et al., CVPR-W 2018) and the papers since (FSA-Net,
        6DRepNet), which drops 31 of 2000 faces whose 3DMM fits are unreliable.
    yaw_bins: |yaw| bins of the label, degrees (the issue's 0-30, 30-60, 60-99; the
        common AFLW2000 breakdown).
    worst: faces on the contact sheet of the largest errors.
    """

    frames_per_still: int = 1
    max_abs_deg: float = 99.0
    yaw_bins: tuple[tuple[float, float], ...] = ((0.0, 30.0), (30.0, 60.0), (60.0, 99.0))
    worst: int = 12

    def validate(self) -> None:
        if self.frames_per_still < 1:
            raise ValueError(f"frames_per_still must be >= 1, got {self.frames_per_still}")
        if self.max_abs_deg <= 0:
            raise ValueError(f"max_abs_deg must be > 0, got {self.max_abs_deg}")


@dataclass
class Clip:
    """Faces scored with one state: a still image alone, or the frames of one sequence in
    order. label_heads: per sample, the head box training would have framed (full-frame
    px, in head-detector units so the runtime's own crop rule turns it into the window)."""

    name: str
    samples: list[Sample]
    label_heads: list[Detection]
    intrinsics: Intrinsics | None = None
    still: bool = True


@dataclass
class FaceResult:
    """One labelled face, one crop mode."""

    name: str
    image: Path
    mode: str
    truth: tuple[float, float, float]
    pred: tuple[float, float, float] | None
    window: tuple[int, int, int] | None          # x0, y0, side of the network window
    label_window: tuple[int, int, int]
    localiser: str = ""

    @property
    def found(self) -> bool:
        return self.pred is not None

    def errors(self) -> np.ndarray:
        """|pred - truth| per angle, wrapped to [0, 180]; NaN when not found."""
        if self.pred is None:
            return np.full(3, np.nan)
        return angle_errors(np.asarray(self.pred), np.asarray(self.truth))

    def to_dict(self) -> dict[str, Any]:
        err = self.errors()
        return {"name": self.name, "image": str(self.image), "mode": self.mode, "truth": list(self.truth),
                "pred": list(self.pred) if self.pred is not None else None,
                "abs_error": [None if np.isnan(e) else round(float(e), 3) for e in err],
                "window": list(self.window) if self.window else None, "label_window": list(self.label_window),
                "localiser": self.localiser}


def angle_errors(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Absolute angle differences wrapped into [0, 180] (yaw 179 vs -179 is 2 degrees off)."""
    d = (np.asarray(pred, np.float64) - np.asarray(truth, np.float64) + 180.0) % 360.0 - 180.0
    return np.abs(d)


def geodesic_deg(pred: Sequence[Sequence[float]], truth: Sequence[Sequence[float]]) -> np.ndarray:
    """The angle of the rotation between predicted and true head orientation, per face:
    free of any angle convention (per-angle errors depend on the decomposition order, so
    the same estimate scores differently in AFLW's and in dms-head-v1's angles)."""
    from dms.angles import euler_to_matrix

    if len(pred) == 0:
        return np.zeros(0)
    rel = np.swapaxes(euler_to_matrix(np.asarray(pred, np.float64)), -1, -2) @ euler_to_matrix(np.asarray(truth, np.float64))
    cos = (np.trace(rel, axis1=-2, axis2=-1) - 1.0) / 2.0
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


# ---------------------------------------------------------------------------- label crops
# The mean synthetic head's 68 landmarks in its own frame H (metres; x out of the nose,
# y to the right ear, z down, origin at the head centre synth frames crops on), and the
# head radius of synth's crops (synth.video.CropSpec.head_radius_m).
HEAD_RADIUS_M = 0.12


@lru_cache(maxsize=1)
def mean_head_landmarks() -> np.ndarray:
    from synth.head import HeadModel, Identity

    return np.asarray(HeadModel(Identity()).landmarks_3d(), np.float64)


def landmark_head(landmarks: np.ndarray, pose: np.ndarray | Sequence[float]) -> Detection:
    """The head box training would have framed for a face with these 68 landmarks and
    this pose: synth's crop is centred on the head centre with a side of 2 head radii.

    A landmark box alone cannot give that for a turned head: the face sits in front of the
    head centre, so at 40 deg of yaw the box centre is a third of a head away from it
    (train.crops' landmark-box framing, which assumes a frontal face, cost the shipped
    model 13 deg of yaw on synthetic faces at 35-40 deg). So the mean head's landmarks,
    turned by the labelled pose, are fitted to the labelled ones (head_from_points)."""
    return head_from_points(landmarks, mean_head_landmarks(), pose)[0]


def head_from_points(points: np.ndarray, model_points: np.ndarray,
                     pose: np.ndarray | Sequence[float]) -> tuple[Detection, float]:
    """Fit model points (frame H, metres), turned by the pose, to image points: scale and
    shift, weak perspective, least squares. Returns the head box (head centre +- head
    radius) and the fit's RMS residual in head radii (a bad label fits badly)."""
    from dms.angles import euler_to_matrix

    u = np.asarray(points, np.float64)
    x = np.asarray(model_points, np.float64) @ euler_to_matrix(np.asarray(pose, np.float64)).T
    q = np.column_stack([-x[:, 1], x[:, 2]])        # F.y is image left, F.z image down
    qc, uc = q - q.mean(0), u - u.mean(0)
    scale = float((qc * uc).sum() / max((qc * qc).sum(), 1e-12))
    if scale <= 0:
        raise ValueError("landmarks do not fit the head model (mirrored, or not in the model's order)")
    cx, cy = u.mean(0) - scale * q.mean(0)
    r = scale * HEAD_RADIUS_M
    residual = float(np.sqrt(((uc - scale * qc) ** 2).sum(1).mean()) / r)
    return Detection(float(cx - r), float(cy - r), float(cx + r), float(cy + r), 1.0, "labels"), residual


def centre_head(centre_px: np.ndarray | Sequence[float], radius_px: float) -> Detection:
    """A head box from a labelled head centre and radius (BIWI): synth's own head box."""
    cx, cy = float(centre_px[0]), float(centre_px[1])
    return Detection(cx - radius_px, cy - radius_px, cx + radius_px, cy + radius_px, 1.0, "labels")


class LabelLocaliser:
    """A localiser that 'finds' the labelled head: the crop from the labels, through the
    same stabiliser and crop code as the runtime's own localiser."""

    name = "labels"

    def __init__(self) -> None:
        self.head: Detection | None = None

    def locate(self, frame: np.ndarray) -> Detection | None:
        return self.head


# ---------------------------------------------------------------------------- datasets
def load_clips(data: Path, fmt: str, max_abs_deg: float = 99.0) -> tuple[list[Clip], list[str]]:
    """(clips, names left out by the |angle| protocol). Raises ReaderError naming the file."""
    if fmt == "aflw2000":
        from train.readers import read_aflw2000

        clips, dropped = [], []
        for s in read_aflw2000(data):
            assert s.pose is not None and s.landmarks is not None
            if np.abs(s.pose).max() > max_abs_deg:
                dropped.append(s.image.name)
                continue
            clips.append(Clip(s.image.name, [s], [landmark_head(s.landmarks, s.pose)]))
        return clips, dropped
    if fmt == "biwi":
        from train.readers.biwi import head_radius_px, read_biwi, read_biwi_sequence

        folders = [read_biwi_sequence(data)] if (data / "rgb.cal").is_file() else list(read_biwi(data))
        clips, dropped = [], []
        for seq in folders:
            k = seq.rgb.intrinsics
            keep = []
            for s in seq.samples:
                assert s.pose is not None
                if np.abs(s.pose).max() > max_abs_deg:
                    dropped.append(f"{seq.folder.name}/{s.image.name}")
                else:
                    keep.append(s)
            if keep:
                heads = [centre_head(s.head_centre_px, head_radius_px(s, seq.rgb)) for s in keep]
                clips.append(Clip(seq.folder.name, list(keep), heads,
                                  Intrinsics(float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2])),
                                  still=len(keep) == 1))
        return clips, dropped
    raise ValueError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")


def read_image(path: Path, frame_index: int | None = None) -> np.ndarray:
    """The sample's pixels (BGR), or an error that names the file."""
    import cv2

    if frame_index is None:
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    else:
        cap = cv2.VideoCapture(str(path))
        cap.set(cv2.CAP_PROP_POS_FRAMES, frame_index)
        ok, img = cap.read()
        cap.release()
        img = img if ok else None
    if img is None:
        where = f"frame {frame_index}" if frame_index is not None else ""
        raise ReaderError(path, where, "cannot be decoded as an image")
    return np.asarray(img)


# ---------------------------------------------------------------------------- running
@dataclass
class Runner:
    """The pieces of a `dms run` pipeline that outlive one clip: backend, manifest, the
    runtime's localiser, the runtime config. Each clip gets a fresh Pipeline (state,
    stabiliser, tracker all new) around them."""

    backend: Any
    manifest: Any
    localiser: Any
    config: Any
    intrinsics: Intrinsics | None = None     # --intrinsics; otherwise the clip's, then --hfov
    labels: LabelLocaliser = field(default_factory=LabelLocaliser)

    def pipeline(self, mode: str, clip: Clip) -> Any:
        from runtime.localise import HeadFinder
        from runtime.pipeline import Pipeline

        loc = self.localiser if mode == "runtime" else self.labels
        return Pipeline(self.backend, self.manifest, HeadFinder(loc, self.config.localise), self.config,
                        intrinsics=self.intrinsics or clip.intrinsics)


def window_of(head: Detection, crop: RuntimeCrop) -> tuple[int, int, int]:
    from runtime.crop import network_window

    w = network_window(head.centre, head.size, crop)
    return (w.x0, w.y0, w.side)


def run_clip(runner: Runner, clip: Clip, mode: str, cfg: RealEvalConfig) -> Iterator[FaceResult]:
    """One clip through a fresh pipeline; one FaceResult per labelled sample (the last of
    the frames a still is shown for)."""
    from runtime.sources import Frame

    pipe = runner.pipeline(mode, clip)
    fps = runner.config.fps or 30.0
    index = 0
    for sample, head in zip(clip.samples, clip.label_heads):
        image = read_image(sample.image, sample.frame_index)
        runner.labels.head = head
        result = None
        for _ in range(cfg.frames_per_still if clip.still else 1):
            result = pipe.process(Frame(index, index / fps, image))
            index += 1
        if result is None:
            raise ReaderError(sample.image, "", "the runtime rejected the image (too small or not 8-bit)")
        assert sample.pose is not None
        pred: tuple[float, float, float] | None = None
        if result.pose is not None:
            pred = (float(result.pose[0]), float(result.pose[1]), float(result.pose[2]))
        window = (result.window.x0, result.window.y0, result.window.side) if result.window is not None else None
        src = result.located.source if result.located is not None else ""
        yield FaceResult(clip.name if clip.still else f"{clip.name}/{sample.image.name}", sample.image, mode,
                         (float(sample.pose[0]), float(sample.pose[1]), float(sample.pose[2])),
                         pred, window, window_of(head, runner.config.crop), src)


# ---------------------------------------------------------------------------- scoring
def _stats(err: np.ndarray) -> dict[str, float | None]:
    if len(err) == 0:
        return {"mae": None, "median": None, "p90": None}
    return {"mae": float(np.mean(err)), "median": float(np.median(err)), "p90": float(np.percentile(err, 90))}


def summarise(faces: Sequence[FaceResult], yaw_bins: Sequence[tuple[float, float]]) -> dict[str, Any]:
    """Found / total; per angle and overall (per-face mean of the three) MAE, median and
    p90 over the faces found; the same MAE per |yaw| bin of the label."""
    found = [f for f in faces if f.found]
    err = np.array([f.errors() for f in found]).reshape(-1, 3)
    out: dict[str, Any] = {"total": len(faces), "found": len(found)}
    for k, name in enumerate(("pitch", "yaw", "roll")):
        out[name] = _stats(err[:, k])
    out["overall"] = _stats(err.mean(1) if len(err) else err[:, 0])
    out["geodesic"] = _stats(geodesic_deg([f.pred for f in found if f.pred is not None], [f.truth for f in found]))
    bins = []
    for lo, hi in yaw_bins:
        inside = [f for f in faces if lo <= abs(f.truth[1]) < hi or (hi == yaw_bins[-1][1] and abs(f.truth[1]) == hi)]
        e = np.array([f.errors() for f in inside if f.found]).reshape(-1, 3)
        bins.append({"yaw_from": lo, "yaw_to": hi, "total": len(inside), "found": len(e),
                     "mae": [float(v) for v in e.mean(0)] if len(e) else None,
                     "mae_overall": float(e.mean()) if len(e) else None})
    out["yaw_bins"] = bins
    if found:
        t = np.array([f.truth for f in found])
        p = np.array([f.pred for f in found])
        out["bias"] = [float(v) for v in (p - t).mean(0)]
        out["correlation"] = [float(np.corrcoef(p[:, k], t[:, k])[0, 1]) if len(found) > 2 and p[:, k].std() > 0
                              else None for k in range(3)]
    return out


def crop_agreement(runtime: Sequence[FaceResult]) -> dict[str, Any]:
    """How the runtime's window compares with the label window, over the faces it found:
    side ratio (runtime / label) and centre offset in label-window sides; 'off the face'
    counts windows whose centre is outside the label window."""
    rows = [f for f in runtime if f.window is not None]
    if not rows:
        return {"faces": 0}
    ratio = np.array([f.window[2] / f.label_window[2] for f in rows if f.window])
    off = []
    for f in rows:
        assert f.window is not None
        wx, wy, ws = f.window
        lx, ly, ls = f.label_window
        off.append(np.hypot((wx + ws / 2) - (lx + ls / 2), (wy + ws / 2) - (ly + ls / 2)) / ls)
    offset = np.array(off)
    return {"faces": len(rows),
            "side_ratio": {"median": float(np.median(ratio)), "p10": float(np.percentile(ratio, 10)),
                           "p90": float(np.percentile(ratio, 90))},
            "centre_offset": {"median": float(np.median(offset)), "p90": float(np.percentile(offset, 90))},
            "off_the_face": int((offset > 0.5).sum())}


# ---------------------------------------------------------------------------- the teacher
def read_teacher(path: Path, names: Sequence[str]) -> dict[str, tuple[float, float, float] | None]:
    """A teacher CSV (scripts/teacher_mediapipe.py, or the one shipped beside the data):
    file, found, pitch_deg, yaw_deg, roll_deg in the AFLW2000 (3DDFA) convention ->
    dms-head-v1 per file name, None where it found no face. Errors name the line."""
    import csv

    from train.readers.ddfa import pose_from_3ddfa

    out: dict[str, tuple[float, float, float] | None] = {}
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        need = {"file", "found", "pitch_deg", "yaw_deg", "roll_deg"}
        if reader.fieldnames is None or not need <= set(reader.fieldnames):
            raise ReaderError(path, "line 1", f"expected columns {sorted(need)}, got {reader.fieldnames}")
        for line, row in enumerate(reader, start=2):
            try:
                if int(row["found"]) and row["pitch_deg"] not in ("", None):
                    deg = [float(row[k]) for k in ("pitch_deg", "yaw_deg", "roll_deg")]
                    p = pose_from_3ddfa(np.deg2rad(deg))
                    out[row["file"]] = (float(p[0]), float(p[1]), float(p[2]))
                else:
                    out[row["file"]] = None
            except (TypeError, ValueError) as exc:
                raise ReaderError(path, f"line {line}", f"bad value ({exc})") from None
    missing = [n for n in names if n not in out]
    if missing:
        raise ReaderError(path, "", f"no row for {len(missing)} image(s), e.g. {missing[0]}")
    return out


def teacher_faces(teacher: dict[str, tuple[float, float, float] | None],
                  reference: Sequence[FaceResult]) -> list[FaceResult]:
    """The teacher's poses as FaceResults over the same faces (for the same scoring)."""
    return [FaceResult(f.name, f.image, "teacher", f.truth, teacher[f.name], None, f.label_window, "mediapipe")
            for f in reference]
