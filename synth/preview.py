"""`dms synth preview`: a contact sheet PNG and a short MP4, to look at what was made.

The contact sheet shows full frames and crops across subjects, mounts, lighting and
accessories (with the landmarks drawn on some crops, to check that labels agree with the
pixels); the MP4 shows one track: the full frame with the crop box, the head axes and the
angles, next to the crop the network sees.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from dms.angles import euler_to_matrix
from synth.dataset import SynthConfig, _cached_plan, load_manifest
from synth.render import metered_gain, tone
from synth.shards import Shard
from synth.track import ATTENTION_TARGETS
from synth.video import frame_state, landmark_labels, track_geometry


def _to_bgr(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(img, cv2.COLOR_RGB2BGR)


def draw_landmarks(img: np.ndarray, pts: np.ndarray, visible: np.ndarray) -> np.ndarray:
    out = img.copy()
    for (x, y), v in zip(pts, visible):
        cv2.circle(out, (int(round(x)), int(round(y))), 1, (0, 255, 0) if v else (0, 0, 255), -1)
    return out


def draw_axes(img: np.ndarray, origin_uv: np.ndarray, pose_camera: np.ndarray, length: float) -> np.ndarray:
    """Head axes in the image from the camera-relative pose: red = nose (x), green = right
    ear (y), blue = down (z). The frame's x points to the camera, so a frontal face's red
    axis is a dot; image right is the driver's left (-y)."""
    r = euler_to_matrix(pose_camera)
    o = (int(origin_uv[0]), int(origin_uv[1]))
    for col, color in ((0, (0, 0, 255)), (1, (0, 255, 0)), (2, (255, 0, 0))):
        axis = r[:, col]
        end = (int(o[0] - axis[1] * length), int(o[1] + axis[2] * length))
        cv2.line(img, o, end, color, 2)
    return img


def _contact_from_data(data_dir: Path, cols: int = 8) -> np.ndarray:
    manifest = load_manifest(data_dir)
    color = manifest["config"]["color"] == "rgb"
    rng = np.random.default_rng(0)
    shards = manifest["shards"]
    picks = [shards[i] for i in rng.choice(len(shards), min(len(shards), cols * 4), replace=False)]
    tiles = []
    for k, rec in enumerate(picks):
        sh = Shard.open(data_dir / rec["file"], color)
        i = int(rng.integers(len(sh)))
        crop = _to_bgr(sh.crop(i))
        if k % 2 == 1:
            size = crop.shape[1]
            crop = draw_landmarks(crop, sh.data["landmarks_2d"][i] * size, sh.data["visibility"][i])
        tiles.append(cv2.resize(crop, (160, 160), interpolation=cv2.INTER_NEAREST))
    while len(tiles) % cols:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.hstack(tiles[i:i + cols]) for i in range(0, len(tiles), cols)]
    return np.vstack(rows)


def _render_full_frames(cfg: SynthConfig, tracks: list[int], frame: int) -> list[np.ndarray]:
    cfg_json = json.dumps(cfg.to_dict(), sort_keys=True)
    out = []
    for t in tracks:
        plan, geo = _cached_plan(cfg_json, t)
        frame = min(frame, len(plan.motion) - 1)
        state = frame_state(plan.motion, geo, frame)
        res = plan.scene.render_full(state)
        img = (tone(res["radiance"], metered_gain(res["radiance"], res["face"], plan.scene.lighting.exposure)) * 255).astype(np.uint8)
        bgr = _to_bgr(img)
        x0, y0, x1, y1 = (int(v) for v in geo.crop_box[frame])
        cv2.rectangle(bgr, (x0, y0), (x1, y1), (0, 200, 255), 1)
        d = plan.description
        label = f"t{t} {d['mount']} {d['lighting']['kind']} {d['accessories']['glasses']}"
        cv2.putText(bgr, label, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 255, 255), 1, cv2.LINE_AA)
        out.append(cv2.resize(bgr, (320, 240), interpolation=cv2.INTER_AREA))
    return out


def write_preview(out_dir: Path, data_dir: Path | None = None, config: SynthConfig | None = None,
                  track: int = 0, seconds: float = 8.0) -> list[Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if data_dir is not None:
        cfg = SynthConfig.from_dict(load_manifest(data_dir)["config"])
    else:
        assert config is not None
        cfg = config
    tracks = list(range(min(cfg.tracks, 8)))
    fulls = _render_full_frames(cfg, tracks, frame=int(cfg.fps * 3))
    rows = [np.hstack(fulls[i:i + 4]) for i in range(0, len(fulls) - len(fulls) % 4 or len(fulls), 4)]
    sheet = np.vstack(rows) if rows else np.zeros((240, 320, 3), np.uint8)
    if data_dir is not None:
        crops = _contact_from_data(Path(data_dir), cols=sheet.shape[1] // 160)
        sheet = np.vstack([sheet, crops[:, : sheet.shape[1]]])
    sheet_path = out_dir / "contact_sheet.png"
    cv2.imwrite(str(sheet_path), sheet)
    video_path = out_dir / f"track{track:03d}.mp4"
    _write_track_video(cfg, track, seconds, video_path)
    return [sheet_path, video_path]


def _write_track_video(cfg: SynthConfig, track: int, seconds: float, path: Path) -> None:
    cfg_json = json.dumps(cfg.to_dict(), sort_keys=True)
    plan, geo = _cached_plan(cfg_json, track)
    n = min(len(plan.motion), int(seconds * cfg.fps))
    w, h = cfg.frame_size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), cfg.fps, (w + h, h))
    if not writer.isOpened():
        raise RuntimeError(f"{path}: OpenCV could not open an MP4 writer")
    gain = None
    try:
        for i in range(n):
            state = frame_state(plan.motion, geo, i)
            res = plan.scene.render_full(state)
            g = metered_gain(res["radiance"], res["face"], plan.scene.lighting.exposure)
            gain = g if gain is None else 0.8 * gain + 0.2 * g
            frame = _to_bgr((tone(res["radiance"], gain) * 255).astype(np.uint8))
            lab = landmark_labels(plan.scene, state)
            frame = draw_landmarks(frame, lab["landmarks_full"], lab["visibility"])
            box = geo.crop_box[i]
            cv2.rectangle(frame, (int(box[0]), int(box[1])), (int(box[2]), int(box[3])), (0, 200, 255), 1)
            draw_axes(frame, lab["landmarks_full"][30], geo.pose_camera[i], 60)
            p, y, r = geo.pose_camera[i]
            target = ATTENTION_TARGETS[int(plan.motion.target[i])]
            cv2.putText(frame, f"pitch {p:+5.1f} yaw {y:+5.1f} roll {r:+5.1f}  {target}", (8, h - 12),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 255, 255), 1, cv2.LINE_AA)
            x0, y0, x1, y1 = box
            crop = plan.scene.render_window(state, (x0, y0, x1, y1), (cfg.crop.size, cfg.crop.size))
            crop8 = _to_bgr((tone(crop["radiance"], gain) * 255).astype(np.uint8))
            writer.write(np.hstack([frame, cv2.resize(crop8, (h, h), interpolation=cv2.INTER_NEAREST)]))
    finally:
        writer.release()
