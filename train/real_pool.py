"""A pool of real faces with the offline teacher's pose as pseudo-labels, cut as training crops.

Why: a network trained on rendered heads alone reads real faces 8-10 deg off even near
frontal (`dms evaluate-real`, label crops, |yaw| 0-30: 7.6 / 10.1 / 9.3 deg p/y/r). No
renderer closes that appearance gap; real pixels do. The project may not ship real frames
(their licences differ), so the pool is built from the user's copy of the realdata folder
into a local cache (`dms real-pool`), mixed into training (train.real_mix), and only the
trained weights, with the pool's provenance in their manifest, are shipped.

What goes in, each cut exactly as the car's crops are cut (stored 80 px = 1.6 head heights
around the head centre; the network sees the centre 64 px):

* stills (real_faces/cuhk_cnn_facepoint_80px): the head box comes from fitting the mean
  synthetic head's 5 points (eye centres, nose tip, mouth corners), turned by the teacher's
  pose, to the labelled 5 points (train.real_eval.head_from_points), i.e. synth's framing.
  The 5-point labels of the web-photo half are often off (MANIFEST.md: ~1 in 4); a fit
  whose residual is large is left out and counted.
* video frames (real_faces/clm_framework_samples/videos): the head box is the runtime's
  own localiser's (head detector, Haar fallback), so the network also learns the framing
  it meets in the car (on AFLW2000 the runtime window is median 0.84 of the label window
  and 0.15 of a window off centre).

The liveportrait_driving clips are NOT used: they are the held-out real video of the eye
and jitter checks (issue 16), and training on them would score the model on its own data.
AFLW2000 is never used: it is the yardstick.

Labels: the teacher's angles (AFLW2000 convention) are turned into dms-head-v1, camera-
relative under an assumed field of view (the yardstick's own --hfov default), and the ray
frame of each crop's centre is stored so training can use either pose frame. Colour goes
to one channel with NIR-like weights (skin under 850-940 nm is bright and smooth; of the
visible channels red comes closest, blue is furthest: Steiner et al., "Design of an active
multispectral SWIR camera system for skin detection", 2016, fig. 3): 0.6 R + 0.3 G + 0.1 B.

No torch: building the pool needs the runtime's pieces only.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from dms.manifest import sha256_file
from train.real_rotate import RotateConfig

POOL_FILE = "pool.npz"
MANIFEST_FILE = "manifest.json"
FORMAT = "dms-real-pool"
CROP_SIZE = 80                     # synth.video.CropSpec.size
CONTEXT = 1.6                      # stored crop side / head height (runtime.config.CropConfig.context)
NIR_WEIGHTS = (0.1, 0.3, 0.6)      # B, G, R (OpenCV order); see the module docstring
KINDS = ("still", "video", "rotated")
ARRAYS = ("crops", "pose_camera", "rays", "group", "kind", "teacher_yaw")

STILLS_CSV = "real_faces/teacher_mediapipe_images.csv"
STILLS_POINTS = "real_faces/cuhk_cnn_facepoint_80px/new_training.txt"
STILLS_DIR = "real_faces/cuhk_cnn_facepoint_80px"
CLIPS_CSV = "real_faces/teacher_mediapipe_clips.csv"
CLIPS_ROOT = "real_faces"


class RealPoolError(ValueError):
    """The realdata folder or a pool cache is missing or malformed; the message names the file."""


@dataclass(frozen=True)
class RealPoolConfig:
    """How the pool is cut.

    hfov_deg: field of view assumed for the teacher's camera-relative angles; 50 is
        `dms evaluate-real --hfov`'s default, so the pool and the yardstick agree.
    clip_stride: every n-th video frame (neighbouring frames at 25 fps are near copies;
        2 keeps motion variety at half the size).
    max_fit_residual: largest RMS distance of the 5 labelled points from the fitted mean
        head, in head radii, for a still to be kept. 0.15 head radii (~1.8 cm) keeps
        ordinary faces and drops the shifted/scaled web-photo labels (measured on the pool:
        see `dms real-pool`'s printed residual quantiles).
    max_localiser_offset / localiser_size_range: a still is kept only where the runtime's
        localiser (run on the still upscaled still_upscale times) agrees with the fitted
        head: centres within 0.3 head sizes, sizes within 0.6-1.5x. A uniform shift or
        scale of all 5 points fits the head perfectly, so the residual cannot catch the
        web-photo half's bad labels; the localiser can. Measured on 800 random stills:
        LFW offset p95 0.26, size ratio p5-p95 0.74-1.13; web photos offset p75 0.55.
    skip_clips: clip files left out: multi_face.avi shows several people and the teacher
        follows one of them, the localiser may pick another.
    """

    hfov_deg: float = 50.0
    clip_stride: int = 2
    max_fit_residual: float = 0.15
    max_localiser_offset: float = 0.3
    localiser_size_range: tuple[float, float] = (0.6, 1.5)
    still_upscale: int = 3
    skip_clips: tuple[str, ...] = ("multi_face.avi",)
    stills: bool = True
    clips: bool = True


@dataclass
class RealPool:
    """crops [N, 80, 80] uint8 (one channel); pose_camera [N, 3] teacher pose, dms-head-v1,
    degrees; rays [N, 3, 3] ray frame of each crop's centre; group [N] an id per identity or
    clip (for a held-out split that never shares a person); kind [N] 0 = still, 1 = video."""

    crops: NDArray[np.uint8]
    pose_camera: NDArray[np.float32]
    rays: NDArray[np.float32]
    group: NDArray[np.int32]
    kind: NDArray[np.int8]
    teacher_yaw: NDArray[np.float32]
    content_hash: str
    manifest: dict[str, Any]

    def __len__(self) -> int:
        return len(self.crops)

    @classmethod
    def load(cls, folder: Path | str) -> RealPool:
        folder = Path(folder)
        man_path, npz_path = folder / MANIFEST_FILE, folder / POOL_FILE
        for p in (man_path, npz_path):
            if not p.is_file():
                raise RealPoolError(f"{p}: not found (build the pool with `dms real-pool --out {folder}`)")
        try:
            manifest = json.loads(man_path.read_text())
        except json.JSONDecodeError as exc:
            raise RealPoolError(f"{man_path}: not valid JSON (line {exc.lineno}): {exc.msg}") from None
        if manifest.get("format") != FORMAT:
            raise RealPoolError(f"{man_path}: format: expected '{FORMAT}', got {manifest.get('format')!r}")
        if sha256_file(npz_path) != manifest.get("sha256"):
            raise RealPoolError(f"{npz_path}: sha256 differs from {man_path.name} (a partial or edited pool)")
        with np.load(npz_path) as z:
            missing = [k for k in ARRAYS if k not in z.files]
            if missing:
                raise RealPoolError(f"{npz_path}: array '{missing[0]}' missing (a pool from an older version: rebuild it)")
            arrays = {k: z[k] for k in ARRAYS}
        return cls(**arrays, content_hash=str(manifest["sha256"]), manifest=manifest)


def to_nir(bgr: np.ndarray) -> NDArray[np.uint8]:
    """One NIR-like channel from a BGR (or already grey) image."""
    if bgr.ndim == 2:
        return np.asarray(bgr, np.uint8)
    w = np.asarray(NIR_WEIGHTS, np.float32)
    return np.clip(bgr.astype(np.float32) @ w + 0.5, 0, 255).astype(np.uint8)


def teacher_pose(pitch_deg: float, yaw_deg: float, roll_deg: float) -> NDArray[np.float64]:
    """The teacher's angles (AFLW2000 Pose_Para convention, degrees) -> dms-head-v1 degrees."""
    from train.readers.ddfa import pose_from_3ddfa

    return pose_from_3ddfa(np.radians([pitch_deg, yaw_deg, roll_deg]))


def stored_crop(image: np.ndarray, centre: tuple[float, float], head_side: float) -> tuple[NDArray[np.uint8], tuple[float, float]]:
    """The stored 80 px crop (CONTEXT head heights around the head centre), cut with the
    runtime's own resampler; also the crop's centre in image pixels."""
    from runtime.crop import Window, cut

    side = max(2, int(round(head_side * CONTEXT)))
    win = Window(int(round(centre[0] - side / 2)), int(round(centre[1] - side / 2)), side)
    return cut(to_nir(image), win, (CROP_SIZE, CROP_SIZE)), win.centre


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise RealPoolError(f"{path}: not found (is --realdata the realdata folder?)")
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _float(path: Path, line: int, row: dict[str, str], key: str) -> float:
    try:
        v = float(row[key])
    except (KeyError, TypeError, ValueError):
        raise RealPoolError(f"{path}: line {line}: field '{key}' missing or not a number") from None
    if not math.isfinite(v):
        raise RealPoolError(f"{path}: line {line}: field '{key}' is not finite")
    return v


def five_point_model() -> NDArray[np.float64]:
    """The mean synthetic head's 5 points in the CUHK order (image-left eye, image-right
    eye, nose tip, image-left and image-right mouth corners of a frontal face), frame H."""
    from train.real_eval import mean_head_landmarks

    lm = mean_head_landmarks()
    return np.stack([lm[36:42].mean(0), lm[42:48].mean(0), lm[30], lm[48], lm[54]])


def _localiser_agrees(image: np.ndarray, head: Any, localiser: Any, cfg: RealPoolConfig) -> bool:
    import cv2

    k = cfg.still_upscale
    det = localiser.locate(cv2.resize(image, None, fx=k, fy=k, interpolation=cv2.INTER_CUBIC))
    if det is None:
        return False
    offset = float(np.hypot(det.centre[0] / k - head.centre[0], det.centre[1] / k - head.centre[1])) / head.size
    ratio = det.size / k / head.size
    lo, hi = cfg.localiser_size_range
    return offset <= cfg.max_localiser_offset and lo <= ratio <= hi


def _stills(root: Path, cfg: RealPoolConfig, localiser: Any, stats: dict[str, Any]) -> Iterator[tuple[NDArray[np.uint8], NDArray[np.float64], tuple[float, float], tuple[int, int], str]]:
    """(crop, camera pose, crop centre px, image size, group key) per kept still."""
    import cv2

    from train.real_eval import head_from_points

    points_path = root / STILLS_POINTS
    if not points_path.is_file():
        raise RealPoolError(f"{points_path}: not found")
    points: dict[str, NDArray[np.float64]] = {}
    for n, line in enumerate(points_path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 11:
            raise RealPoolError(f"{points_path}: line {n}: expected a path and 10 numbers, got {len(parts)} fields")
        v = np.asarray([float(x) for x in parts[1:]])
        points[parts[0]] = np.stack([v[:5], v[5:]], 1)   # x1..x5, y1..y5 (80x80 pixels)
    model = five_point_model()
    csv_path = root / STILLS_CSV
    residuals = []
    for n, row in enumerate(_read_csv(csv_path), 2):
        if row.get("found") != "1":
            stats["stills_no_teacher"] += 1
            continue
        prefix = "cuhk_cnn_facepoint_80px/"
        rel = row["file"][len(prefix):] if row["file"].startswith(prefix) else row["file"]
        if rel not in points:
            raise RealPoolError(f"{csv_path}: line {n}: '{rel}' has no line in {points_path.name}")
        pose = teacher_pose(*(_float(csv_path, n, row, k) for k in ("pitch_deg", "yaw_deg", "roll_deg")))
        head, residual = head_from_points(points[rel], model, pose)
        residuals.append(residual)
        if residual > cfg.max_fit_residual:
            stats["stills_bad_fit"] += 1
            continue
        img = cv2.imread(str(root / STILLS_DIR / rel), cv2.IMREAD_COLOR)
        if img is None:
            raise RealPoolError(f"{root / STILLS_DIR / rel}: cannot be decoded as an image")
        if localiser is not None and not _localiser_agrees(img, head, localiser, cfg):
            stats["stills_localiser_disagrees"] += 1
            continue
        crop, centre = stored_crop(img, head.centre, head.size)
        stats["stills"] += 1
        group = rel.split("/")[-1].rsplit("_", 1)[0]      # LFW: the person's name
        yield crop, pose, centre, (img.shape[1], img.shape[0]), group
    if residuals:
        q = np.quantile(residuals, [0.5, 0.75, 0.9, 0.95])
        stats["fit_residual_quantiles_50_75_90_95"] = [round(float(x), 3) for x in q]


def _clip_frames(root: Path, cfg: RealPoolConfig, localiser: Any, stats: dict[str, Any]) -> Iterator[tuple[NDArray[np.uint8], NDArray[np.float64], tuple[float, float], tuple[int, int], str]]:
    import cv2

    csv_path = root / CLIPS_CSV
    by_clip: dict[str, dict[int, tuple[int, dict[str, str]]]] = {}
    for n, row in enumerate(_read_csv(csv_path), 2):
        if row.get("found") == "1":
            by_clip.setdefault(row["clip"], {})[int(row["frame"])] = (n, row)
    for clip in sorted(by_clip):
        if Path(clip).name in cfg.skip_clips:
            continue
        path = root / CLIPS_ROOT / clip
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            raise RealPoolError(f"{path}: cannot be opened as a video")
        rows, i = by_clip[clip], 0
        try:
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                if i % cfg.clip_stride == 0 and i in rows:
                    n, row = rows[i]
                    det = localiser.locate(frame)
                    if det is None:
                        stats["clip_frames_not_located"] += 1
                    else:
                        pose = teacher_pose(*(_float(csv_path, n, row, k) for k in ("pitch_deg", "yaw_deg", "roll_deg")))
                        crop, centre = stored_crop(frame, det.centre, det.size)
                        stats["clip_frames"] += 1
                        yield crop, pose, centre, (frame.shape[1], frame.shape[0]), clip
                i += 1
        finally:
            cap.release()


def build_pool(realdata: Path | str, out: Path | str, cfg: RealPoolConfig = RealPoolConfig(),
               localiser: Any = None, progress: bool = True, rotate: RotateConfig | None = None) -> dict[str, Any]:
    """Cut the pool from a realdata folder into out/ (pool.npz + manifest.json, written
    atomically, manifest last). localiser: the runtime's localiser, which frames the video
    frames and vets the stills' labels (None: clips left out, stills unvetted). rotate:
    add faces re-rendered at new yaw (train.real_rotate; None = none). Returns the manifest."""
    from tqdm import tqdm

    from dms.perspective import Intrinsics, ray_rotation

    root, out = Path(realdata), Path(out)
    stats: dict[str, Any] = {"stills": 0, "stills_no_teacher": 0, "stills_bad_fit": 0, "stills_localiser_disagrees": 0,
                             "clip_frames": 0, "clip_frames_not_located": 0, "rotated": 0}
    sources: list[tuple[int, Iterator[Any]]] = []
    if cfg.stills:
        sources.append((KINDS.index("still"), _stills(root, cfg, localiser, stats)))
    if cfg.clips and localiser is not None:
        sources.append((KINDS.index("video"), _clip_frames(root, cfg, localiser, stats)))
    crops, poses, rays, groups, kinds = [], [], [], [], []
    group_ids: dict[str, int] = {}
    bar = tqdm(desc="real pool", unit="face", disable=not progress)
    for kind, source in sources:
        for crop, pose, centre, size, group in source:
            k = Intrinsics.from_hfov(size, cfg.hfov_deg)
            rays.append(ray_rotation(centre[0], centre[1], k))
            crops.append(crop)
            poses.append(pose)
            groups.append(group_ids.setdefault(group, len(group_ids)))
            kinds.append(kind)
            bar.update(1)
    bar.close()
    if not crops:
        raise RealPoolError(f"{root}: no face was kept (stats: {stats})")
    pose_arr = np.asarray(poses, np.float32)
    arrays: dict[str, np.ndarray] = {"crops": np.stack(crops).astype(np.uint8), "pose_camera": pose_arr,
                                     "rays": np.asarray(rays, np.float32), "group": np.asarray(groups, np.int32),
                                     "kind": np.asarray(kinds, np.int8), "teacher_yaw": pose_arr[:, 1].copy()}
    if rotate is not None and rotate.per_face > 0:
        arrays = _with_rotated(arrays, rotate, stats, progress)
    inputs = [p for p in (STILLS_CSV, STILLS_POINTS, CLIPS_CSV) if (root / p).is_file()]
    return write_pool(out, arrays, {
        "groups": len(group_ids), "config": asdict(cfg), "rotate": asdict(rotate) if rotate else None,
        "kinds": list(KINDS), "localiser": getattr(localiser, "name", None) if cfg.clips else None,
        "realdata": str(root.resolve()), "inputs_sha256": {p: sha256_file(root / p) for p in inputs},
        "stats": stats})


def _with_rotated(arrays: dict[str, np.ndarray], rotate: RotateConfig, stats: dict[str, Any],
                  progress: bool) -> dict[str, np.ndarray]:
    """The pool plus per_face re-rendered copies of every face the teacher is trusted on.
    The turn is about the crop's own (ray) vertical axis, where the crop is a picture of
    the head; the label goes back to the camera frame through the same ray."""
    from tqdm import tqdm

    from dms.perspective import camera_to_ray_pose, ray_to_camera_pose
    from train.real_rotate import draw_delta, rotate_crop

    rng = np.random.default_rng([rotate.seed, 4242])
    rays = arrays["rays"].astype(np.float64)
    ray_pose = camera_to_ray_pose(arrays["pose_camera"].astype(np.float64), rays)
    trusted = np.flatnonzero(np.abs(arrays["pose_camera"][:, 1]) <= rotate.trust_yaw_deg)
    new: dict[str, list[Any]] = {k: [] for k in arrays}
    for i in tqdm(np.repeat(trusted, rotate.per_face), desc="re-rendering at new yaw", unit="face", disable=not progress):
        delta = draw_delta(float(ray_pose[i, 1]), rng, rotate)
        crop, pose = rotate_crop(arrays["crops"][i], ray_pose[i], delta, rotate)
        new["crops"].append(crop)
        new["pose_camera"].append(ray_to_camera_pose(pose[None], rays[i:i + 1])[0])
        for k in ("rays", "group", "teacher_yaw"):
            new[k].append(arrays[k][i])
        new["kind"].append(KINDS.index("rotated"))
    stats["rotated"] = len(new["crops"])
    if not new["crops"]:
        return arrays
    return {k: np.concatenate([arrays[k], np.asarray(new[k]).astype(arrays[k].dtype)]) for k in arrays}


def write_pool(out: Path, arrays: dict[str, np.ndarray], facts: dict[str, Any]) -> dict[str, Any]:
    """pool.npz, then the manifest that vouches for it (its sha256), each written atomically:
    a pool interrupted mid-write is refused on load, never half-used."""
    from dms.perspective import camera_to_ray_pose

    out.mkdir(parents=True, exist_ok=True)
    tmp = out / (POOL_FILE + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)  # type: ignore[arg-type]  # numpy stubs: allow_pickle overlaps **kwds
    os.replace(tmp, out / POOL_FILE)
    # the ray pose is what a ray-frame network learns; its spread is worth seeing
    ray_pose = camera_to_ray_pose(arrays["pose_camera"].astype(np.float64), arrays["rays"].astype(np.float64))
    manifest = {"format": FORMAT, "format_version": 1, "sha256": sha256_file(out / POOL_FILE),
                "faces": len(arrays["crops"]), **facts,
                "teacher_yaw_quantiles_1_50_99": [round(float(x), 1) for x in np.quantile(ray_pose[:, 1], [0.01, 0.5, 0.99])],
                "note": "real faces (research-only licences): a local cache, never to be committed or shipped"}
    tmp_m = out / (MANIFEST_FILE + ".tmp")
    tmp_m.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp_m, out / MANIFEST_FILE)
    return manifest
