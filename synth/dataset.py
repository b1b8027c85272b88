"""The synthetic dataset: subjects, tracks, shards and the manifest.

Layout of a dataset folder::

    manifest.json                     counts, parameters, seed, splits, shards, content hash
    shards/t007_c002.npz              track 7, chunk 2 (synth.shards)

Everything derives from the seed: subject identities from (seed, "subject", id), a track's
scene and motion from (seed, "track", id), a chunk's sensor noise from
(seed, "chunk", track, chunk); so any chunk can be rendered by any job, alone, with the same
result. That is what lets a user with many machines run `--shard-index i --num-shards n`
jobs and merge their partial manifests (`dms synth merge`).

Splits are by subject: a subject's tracks are all in train, all in validation or all in
test, so evaluation never sees a face it trained on.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

from dms.angles import CONVENTION
from synth.camera import MOUNTS, Camera
from synth.head import Accessories, HeadModel, Identity, sample_accessories, sample_identity
from synth.ict_model import load_head_model
from synth.motion import MotionConfig, SubjectStyle, generate_track
from synth.realism import sample_sensor
from synth.render import Scene, sample_lighting
from dms.manifest import sha256_file
from synth.shards import Shard, ShardError, write_shard
from synth.track import ATTENTION_TARGETS, OCCLUDERS, MotionTrack
from synth.video import CropSpec, render_chunk, track_geometry
from synth.workers import one_blas_thread

if TYPE_CHECKING:
    from synth.mesh_head import MeshHead, ScannedIdentity

FORMAT = "dms-synth-dataset"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"

# The patent's synthetic set: 10 subjects, 70 motion tracks, 510,960 frames. 70 tracks of
# 7,300 frames (4 min 3 s at 30 fps) give 511,000 frames.
PATENT_FRAMES = 510_960


HEAD_KINDS = ("ellipsoid", "scanned")


class DatasetError(ValueError):
    """A dataset folder or manifest that is inconsistent; the message names the file."""


@dataclass(frozen=True)
class SynthConfig:
    """What to generate. Every field is recorded in the manifest.

    subjects: 100 by default, not the patent's 10: a network trained on 7 training
        subjects over-fits them (training note of the first release); identities are free.
    head: "ellipsoid" (the built-in parametric head) or "scanned" (ICT-FaceKit's linear
        model of real scans, read from head_model, a folder the user provides).
    mount_weights: share of tracks per camera mount (steering column is the most common
        production placement; A-pillar and rear-view mirror cover the others).
    val_fraction / test_fraction: of subjects (at least one each when there are >= 3).
    chunk_frames: frames per shard; bounds the memory of a job whatever the dataset size.
    full_every: also store a downscaled full frame every N frames (0 = none): training
        data for the runtime's head detector.
    wide_yaw_scale / extreme_pose_scale: multiply the rates of the large-yaw behaviours
        (shoulder checks, passenger looks) and of the extreme ones (stretch, look up,
        reach down, head rest); synth.motion.MotionConfig says why a training set wants
        more of them than a drive has.
    """

    subjects: int = 100
    tracks: int = 70
    frames_per_track: int = 7300
    fps: float = 30.0
    seed: int = 0
    color: str = "nir"
    crop: CropSpec = field(default_factory=CropSpec)
    chunk_frames: int = 1024
    full_every: int = 0
    full_size: tuple[int, int] = (160, 120)
    frame_size: tuple[int, int] = (640, 480)
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    mount_weights: tuple[tuple[str, float], ...] = (("steering_column", 0.5), ("a_pillar", 0.25), ("rear_view_mirror", 0.25))
    head: str = "ellipsoid"
    head_model: str = ""
    wide_yaw_scale: float = 1.0
    extreme_pose_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.head not in HEAD_KINDS:
            raise ValueError(f"head: must be one of {HEAD_KINDS}, got '{self.head}'")
        if self.head == "scanned" and not self.head_model:
            raise ValueError("head: 'scanned' needs head_model, the folder of an ICT-FaceKit copy (--head-model PATH)")
        for name in ("subjects", "tracks", "frames_per_track", "chunk_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")
        for name in ("wide_yaw_scale", "extreme_pose_scale"):
            if not 0.0 <= getattr(self, name) <= 50.0:
                raise ValueError(f"{name}: must be within 0..50, got {getattr(self, name)}")
        if self.color not in ("nir", "rgb"):
            raise ValueError(f"color: must be 'nir' or 'rgb', got '{self.color}'")
        for m, _ in self.mount_weights:
            if m not in MOUNTS:
                raise ValueError(f"mount_weights: unknown mount '{m}' (known: {sorted(MOUNTS)})")

    @property
    def total_frames(self) -> int:
        return self.tracks * self.frames_per_track

    @property
    def chunks_per_track(self) -> int:
        return -(-self.frames_per_track // self.chunk_frames)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mount_weights"] = [list(x) for x in self.mount_weights]
        d["full_size"] = list(self.full_size)
        d["frame_size"] = list(self.frame_size)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SynthConfig:
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        kw["crop"] = CropSpec(**d["crop"])
        kw["mount_weights"] = tuple((str(m), float(w)) for m, w in d["mount_weights"])
        kw["full_size"] = tuple(d["full_size"])
        kw["frame_size"] = tuple(d["frame_size"])
        return cls(**kw)


def _rng(cfg: SynthConfig, *key: int | str) -> np.random.Generator:
    words = [cfg.seed] + [int(hashlib.sha256(k.encode()).hexdigest()[:8], 16) if isinstance(k, str) else k for k in key]
    return np.random.default_rng(words)


def subject_splits(cfg: SynthConfig) -> dict[int, str]:
    """Subject id -> split. Deterministic for the seed; at least one validation and one
    test subject whenever there are three or more subjects."""
    order = _rng(cfg, "split").permutation(cfg.subjects)
    n_test = max(1, round(cfg.subjects * cfg.test_fraction)) if cfg.subjects >= 3 else 0
    n_val = max(1, round(cfg.subjects * cfg.val_fraction)) if cfg.subjects >= 3 else 0
    split = {}
    for rank, s in enumerate(order):
        split[int(s)] = "test" if rank < n_test else ("val" if rank < n_test + n_val else "train")
    return split


def track_subject(cfg: SynthConfig, track: int) -> int:
    return track % cfg.subjects


@dataclass
class TrackPlan:
    """Everything random about one track, drawn from the seed."""

    track: int
    subject: int
    scene: Scene
    motion: MotionTrack
    sensor: Any
    description: dict[str, Any]


def subject_identity(cfg: SynthConfig, subject: int) -> Identity | ScannedIdentity:
    """A subject's identity: for a scanned head the appearance draws are those of the
    ellipsoid subject with the same seed, followed by the scan model's shape coefficients."""
    rng = _rng(cfg, "subject", subject)
    if cfg.head == "scanned":
        from synth.mesh_head import sample_scanned_identity    # numba: only when scanned heads are made
        return sample_scanned_identity(rng, load_head_model(cfg.head_model).n_identity)
    return sample_identity(rng)


def make_head(cfg: SynthConfig, identity: Identity | ScannedIdentity, accessories: Accessories) -> HeadModel | MeshHead:
    if isinstance(identity, Identity):
        return HeadModel(identity, accessories)
    from synth.mesh_head import MeshHead
    return MeshHead(load_head_model(cfg.head_model), identity, accessories)


def plan_track(cfg: SynthConfig, track: int) -> TrackPlan:
    subject = track_subject(cfg, track)
    identity = subject_identity(cfg, subject)
    rng = _rng(cfg, "track", track)
    mounts, weights = zip(*cfg.mount_weights)
    mount = str(rng.choice(mounts, p=np.asarray(weights) / sum(weights)))
    camera = Camera.mount_preset(mount, cfg.frame_size, rng)
    rgb = cfg.color == "rgb"
    lighting = sample_lighting(rng, rgb)
    accessories = sample_accessories(rng)
    seat = rng.normal(0, [0.04, 0.025, 0.03])
    scene = Scene(camera, make_head(cfg, identity, accessories), lighting, seat, rgb)
    sensor = sample_sensor(rng, night=lighting.kind == "night")
    style = SubjectStyle.sample(_rng(cfg, "style", subject))
    motion = generate_track(seed=int(rng.integers(1 << 31)), duration_s=cfg.frames_per_track / cfg.fps,
                            fps=cfg.fps, subject_style=style,
                            config=MotionConfig(wide_yaw_rate_scale=cfg.wide_yaw_scale,
                                                extreme_rate_scale=cfg.extreme_pose_scale))
    motion = _trim(motion, cfg.frames_per_track)
    description = {"track": track, "subject": subject, "mount": mount, "lighting": lighting.to_dict(),
                   "accessories": accessories.to_dict(), "sensor": sensor.to_dict(),
                   "seat_offset_m": [round(float(v), 4) for v in seat], "frames": len(motion),
                   # what a runtime knows about its camera: turns the network's ray-relative
                   # pose into the camera-relative label (dms.perspective)
                   "intrinsics": {"fx": float(camera.fx), "fy": float(camera.fy), "cx": float(camera.cx),
                                  "cy": float(camera.cy)}}
    return TrackPlan(track, subject, scene, motion, sensor, description)


def _trim(track: MotionTrack, frames: int) -> MotionTrack:
    """Exactly `frames` frames (the generator may round the duration)."""
    if len(track) < frames:
        raise DatasetError(f"motion generator returned {len(track)} frames, {frames} needed")
    if len(track) == frames:
        return track
    return MotionTrack(track.fps, track.pose_vehicle[:frames], track.gaze_vehicle[:frames], track.target[:frames],
                       track.mouth_open[:frames], track.eye_closure[:frames], track.occluder[:frames],
                       track.speed_kmh[:frames], [e for e in track.events if e.start < frames])


@lru_cache(maxsize=2)
def _cached_plan(cfg_json: str, track: int) -> tuple[TrackPlan, Any]:
    """Per worker process: a track's plan and geometry, reused by its chunks."""
    cfg = SynthConfig.from_dict(json.loads(cfg_json))
    plan = plan_track(cfg, track)
    return plan, track_geometry(plan.scene, plan.motion, cfg.crop)


def shard_name(track: int, chunk: int) -> str:
    return f"shards/t{track:03d}_c{chunk:03d}.npz"


def render_task(cfg_json: str, out_dir: str, track: int, chunk: int) -> dict[str, Any]:
    """Render and write one shard; returns its manifest record. Safe to run anywhere:
    depends only on the config, the track and the chunk. A shard already on disk that
    opens and holds the expected frames is kept (an interrupted run resumes): rendering is
    deterministic, and write_config() has checked that the folder's parameters are ours."""
    cfg = SynthConfig.from_dict(json.loads(cfg_json))
    start = chunk * cfg.chunk_frames
    stop = min(start + cfg.chunk_frames, cfg.frames_per_track)
    rel = shard_name(track, chunk)
    path = Path(out_dir) / rel
    if path.is_file():
        try:
            done = Shard.open(path)
            if len(done) == stop - start:
                return _record(path, rel, track, done.meta("subject"), chunk, start, stop - start,
                               len(done.full_frames()[1]))
        except ShardError:
            pass   # half-written or damaged: render it again
    plan, geometry = _cached_plan(cfg_json, track)
    rng = _rng(cfg, "chunk", track, chunk)
    rendered = render_chunk(plan.scene, plan.motion, geometry, start, stop, cfg.crop, plan.sensor, rng,
                            cfg.full_every, cfg.full_size)
    write_shard(path, rendered.crops, rendered.labels, {"track": track, "subject": plan.subject, "chunk": chunk},
                rendered.full, rendered.full_index)
    return _record(path, rel, track, plan.subject, chunk, start, stop - start, len(rendered.full))


def _record(path: Path, rel: str, track: int, subject: int, chunk: int, start: int, frames: int,
            full_frames: int) -> dict[str, Any]:
    return {"file": rel, "sha256": sha256_file(path), "bytes": path.stat().st_size, "track": track,
            "subject": subject, "chunk": chunk, "start": start, "frames": frames, "full_frames": full_frames}


CONFIG_NAME = "generation.json"


def write_config(cfg: SynthConfig, out_dir: Path) -> None:
    """Record the parameters a folder is generated with; refuse a folder made with others,
    so that resuming (or a shard job) never mixes two datasets."""
    path = out_dir / CONFIG_NAME
    mine = cfg.to_dict()
    if path.is_file():
        theirs = json.loads(path.read_text())
        if theirs != mine:
            key = next((k for k in mine if mine[k] != theirs.get(k)), "?")
            raise DatasetError(f"{path}: this folder holds a dataset made with other parameters "
                               f"(field '{key}': {theirs.get(key)!r}, now {mine[key]!r}); use another --out")
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(path, mine)


def all_tasks(cfg: SynthConfig) -> list[tuple[int, int]]:
    return [(t, c) for t in range(cfg.tracks) for c in range(cfg.chunks_per_track)]


def job_tasks(cfg: SynthConfig, shard_index: int, num_shards: int) -> list[tuple[int, int]]:
    """The tasks of job `shard_index` of `num_shards`: whole tracks round-robin, so that a
    job renders each of its tracks' chunks in order and plans each track once."""
    if not 0 <= shard_index < num_shards:
        raise ValueError(f"--shard-index must be in [0, {num_shards}), got {shard_index}")
    return [(t, c) for t, c in all_tasks(cfg) if t % num_shards == shard_index]


def run_tasks(cfg: SynthConfig, out_dir: Path, tasks: list[tuple[int, int]], workers: int,
              progress: Callable[[int], object] | None = None) -> list[dict[str, Any]]:
    """Render tasks on `workers` processes (1 = in this process). Memory per process is one
    chunk, whatever the dataset size."""
    cfg_json = json.dumps(cfg.to_dict(), sort_keys=True)
    records: list[dict[str, Any]] = []
    if workers <= 1:
        for t, c in tasks:
            rec = render_task(cfg_json, str(out_dir), t, c)
            records.append(rec)
            if progress:
                progress(rec["frames"])
        return records
    import multiprocessing as mp
    ctx = mp.get_context("spawn")       # fresh interpreters: the only way to one BLAS thread each
    with one_blas_thread(), ctx.Pool(workers, maxtasksperchild=64) as pool:
        jobs = [(cfg_json, str(out_dir), t, c) for t, c in tasks]
        for rec in pool.imap_unordered(_star_render, jobs, chunksize=1):
            records.append(rec)
            if progress:
                progress(rec["frames"])
    return records


def _star_render(args: tuple[str, str, int, int]) -> dict[str, Any]:
    return render_task(*args)


def track_descriptions(cfg: SynthConfig, tracks: list[int]) -> list[dict[str, Any]]:
    cfg_json = json.dumps(cfg.to_dict(), sort_keys=True)
    return [_cached_plan(cfg_json, t)[0].description for t in tracks]


def build_manifest(cfg: SynthConfig, records: list[dict[str, Any]], tracks: list[dict[str, Any]],
                   part: tuple[int, int] | None = None) -> dict[str, Any]:
    splits = subject_splits(cfg)
    records = sorted(records, key=lambda r: (r["track"], r["chunk"]))
    for r in records:
        r["split"] = splits[r["subject"]]
    for t in tracks:
        t["split"] = splits[t["subject"]]
    digest = hashlib.sha256()
    for r in records:
        digest.update(f"{r['file']}:{r['sha256']}\n".encode())
    subjects = []
    for s in range(cfg.subjects):
        subjects.append({"subject": s, "split": splits[s],
                         "identity": subject_identity(cfg, s).to_dict()})
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "config": cfg.to_dict(),
        # which head model made it (its content, not where it lay): the model is never copied
        "head_model": head_model_record(cfg),
        "angles": {"convention": CONVENTION, "order": ["pitch", "yaw", "roll"], "units": "degrees",
                   "label": "pose_camera (relative to the camera) is the training label; pose_vehicle is relative to the road"},
        "landmarks": "68 iBUG points; landmarks_2d crop-normalised (x, y in [0, 1] of the stored crop)",
        "attention_targets": list(ATTENTION_TARGETS),
        "occluders": list(OCCLUDERS),
        "counts": {"frames": int(sum(r["frames"] for r in records)), "tracks": len({r["track"] for r in records}),
                   "subjects": len({r["subject"] for r in records}), "shards": len(records),
                   "bytes": int(sum(r["bytes"] for r in records)),
                   "full_frames": int(sum(r.get("full_frames", 0) for r in records))},
        "splits": {name: sorted(s for s, v in splits.items() if v == name) for name in ("train", "val", "test")},
        "subjects": subjects,
        "tracks": sorted(tracks, key=lambda t: t["track"]),
        "shards": records,
        "content_hash": digest.hexdigest(),
    }
    if part is not None:
        manifest["part"] = {"index": part[0], "of": part[1]}
    return manifest


def head_model_record(cfg: SynthConfig) -> dict[str, Any] | None:
    if cfg.head != "scanned":
        return None
    m = load_head_model(cfg.head_model)
    return {"kind": "ict-facekit", "file": str(m.path), "sha256": m.sha256, "identity_modes": m.n_identity,
            "triangles": int(len(m.triangles))}


def write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    tmp.replace(path)


def part_name(index: int, of: int) -> str:
    return f"manifest.part-{index:04d}-of-{of:04d}.json"


def merge_parts(out_dir: Path) -> dict[str, Any]:
    """Merge the partial manifests of shard jobs into manifest.json, refusing parts made
    with other parameters, missing jobs, or missing / altered shard files."""
    parts = sorted(out_dir.glob("manifest.part-*-of-*.json"))
    if not parts:
        raise DatasetError(f"{out_dir}: no partial manifests (manifest.part-*-of-*.json) to merge")
    loaded = [(p, json.loads(p.read_text())) for p in parts]
    first_path, first = loaded[0]
    of = first["part"]["of"]
    seen = set()
    records, tracks = [], []
    for p, m in loaded:
        if m["config"] != first["config"]:
            key = next(k for k in m["config"] if m["config"][k] != first["config"].get(k))
            raise DatasetError(f"{p}: config field '{key}' differs from {first_path.name}: not the same dataset")
        if m["part"]["of"] != of:
            raise DatasetError(f"{p}: part of {m['part']['of']} jobs, {first_path.name} says {of}")
        seen.add(m["part"]["index"])
        records += m["shards"]
        tracks += m["tracks"]
    missing = sorted(set(range(of)) - seen)
    if missing:
        raise DatasetError(f"{out_dir}: job(s) {missing} of {of} have no partial manifest yet")
    cfg = SynthConfig.from_dict(first["config"])
    expected = {shard_name(t, c) for t, c in all_tasks(cfg)}
    have = {r["file"] for r in records}
    if expected - have:
        raise DatasetError(f"{out_dir}: shard {sorted(expected - have)[0]} is in no partial manifest")
    verify_shards(out_dir, records)
    manifest = build_manifest(cfg, records, tracks)
    write_json(out_dir / MANIFEST_NAME, manifest)
    return manifest


def verify_shards(out_dir: Path, records: list[dict[str, Any]]) -> None:
    for r in records:
        path = out_dir / r["file"]
        if not path.is_file():
            raise DatasetError(f"{path}: listed in the manifest but missing")
        if sha256_file(path) != r["sha256"]:
            raise DatasetError(f"{path}: sha256 does not match the manifest (corrupt or replaced)")


def track_intrinsics(manifest: dict[str, Any], track: int) -> dict[str, float]:
    """Camera intrinsics (fx, fy, cx, cy; full-frame pixels) of one track. Datasets made
    before they were recorded in the track descriptions get them from the seed, which
    draws the camera before anything else about the track."""
    for t in manifest.get("tracks", []):
        if t["track"] == track and "intrinsics" in t:
            return {k: float(v) for k, v in t["intrinsics"].items()}
    cfg = SynthConfig.from_dict(manifest["config"])
    cam = plan_track(cfg, track).scene.camera
    return {"fx": cam.fx, "fy": cam.fy, "cx": cam.cx, "cy": cam.cy}


def load_manifest(data_dir: Path | str, verify: bool = False) -> dict[str, Any]:
    data_dir = Path(data_dir)
    path = data_dir / MANIFEST_NAME
    if not path.is_file():
        raise DatasetError(f"{path}: no dataset manifest (run `dms synth --out {data_dir}`)")
    try:
        manifest: dict[str, Any] = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}: not valid JSON (line {exc.lineno}): {exc.msg}") from exc
    if manifest.get("format") != FORMAT:
        raise DatasetError(f"{path}: field 'format' is {manifest.get('format')!r}, expected {FORMAT!r}")
    if verify:
        verify_shards(data_dir, manifest["shards"])
    return manifest


def iter_shards(manifest: dict[str, Any], split: str | None = None) -> Iterator[dict[str, Any]]:
    for r in manifest["shards"]:
        if split is None or r["split"] == split:
            yield r
