"""Rendering a motion track into face-centred crops (and optionally full frames) with
exact per-frame labels.

Crops follow the patent: the face centre is smoothed over time with a Gaussian filter and
the crop keeps the largest box over a window of the clip, giving the stable face-centred
sequence the recurrent tracker is trained on. Because the renderer casts rays straight
through the crop window's pixel centres, a crop costs what its own pixels cost.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d, maximum_filter1d

from dms.angles import euler_to_matrix, nose_direction
from synth.head import Expression, HeadModel
from synth.realism import SensorParams, add_noise, encode_jpeg, motion_blur, to_uint8
from synth.render import FrameState, Scene, metered_gain, tone
from synth.track import MotionTrack


@dataclass(frozen=True)
class CropSpec:
    """The stored crop. The network's default 64x64 input is the centre 64/80 of it, which
    leaves room for training-time jitter of the window (scale and shift) that imitates the
    runtime face localiser.

    size: stored crop side in pixels.
    context: crop side in head heights (head height = 2 * head_radius_m).
    head_radius_m: half the height of a head (~0.12 m, chin to vertex 0.23-0.25 m).
    smooth_sigma_frames: Gaussian smoothing of the crop centre (the patent's smoothing).
    size_window_s: the crop side is the largest over a window this long (the patent uses
        the largest box of the clip; a sliding window keeps long tracks tight).
    """

    size: int = 80
    context: float = 1.6
    head_radius_m: float = 0.12
    smooth_sigma_frames: float = 2.0
    size_window_s: float = 2.0

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


# A point on the forehead above each brow (H frame): with the landmarks it spans the face box.
FOREHEAD_H = np.array([[0.085, 0.04, -0.07], [0.085, -0.04, -0.07]])
NOSE_TIP_H = np.array([0.12, 0.0, 0.03])


@dataclass
class TrackGeometry:
    """Everything about a track's frames that is pure geometry (cheap, whole track)."""

    r_head_v: np.ndarray      # [T, 3, 3]
    pose_camera: np.ndarray   # [T, 3] the label: head pose relative to the camera
    head_uv: np.ndarray       # [T, 2] projected head centre, full frame
    head_radius_px: np.ndarray  # [T]
    crop_box: np.ndarray      # [T, 4] x0, y0, x1, y1 in full-frame pixels
    nose_uv: np.ndarray       # [T, 2] for motion blur


def track_geometry(scene: Scene, track: MotionTrack, crop: CropSpec) -> TrackGeometry:
    r = euler_to_matrix(track.pose_vehicle.astype(np.float64))
    cam = scene.camera
    centres = scene.head_position(r)
    head_uv, z = cam.project(centres)
    rad_px = cam.fx * crop.head_radius_m / z
    nose_v = centres + np.einsum("tij,j->ti", r, NOSE_TIP_H)
    nose_uv, _ = cam.project(nose_v)
    centre = gaussian_filter1d(head_uv, crop.smooth_sigma_frames, axis=0, mode="nearest")
    window = max(1, int(round(crop.size_window_s * track.fps)) | 1)
    side = maximum_filter1d(2 * rad_px * crop.context, window, mode="nearest")
    side = gaussian_filter1d(side, crop.smooth_sigma_frames, mode="nearest")
    box = np.column_stack([centre - side[:, None] / 2, centre + side[:, None] / 2])
    return TrackGeometry(r, cam.head_pose_in_camera(r), head_uv, rad_px, box, nose_uv)


@dataclass
class RenderedChunk:
    """Frames [start, stop) of a track: JPEG crops and labels, arrays with T rows."""

    crops: list[bytes]
    labels: dict[str, np.ndarray]
    full: list[bytes]
    full_index: np.ndarray


def frame_state(track: MotionTrack, geometry: TrackGeometry, i: int) -> FrameState:
    gp, gy = track.gaze_vehicle[i]
    return FrameState(
        r_head_v=geometry.r_head_v[i],
        gaze_v=nose_direction([float(gp), float(gy), 0.0]),
        expression=Expression(float(track.mouth_open[i]), float(track.eye_closure[i])),
        occluder=int(track.occluder[i]),
        time=i / track.fps,
    )


def landmark_labels(scene: Scene, state: FrameState, depth: np.ndarray | None = None,
                    box: tuple[float, float, float, float] | None = None) -> dict[str, np.ndarray]:
    """The 68 landmarks of one frame: 3D in camera coordinates, 2D in the full frame, and
    visibility (not hidden by the head itself or an occluder, and inside the frame).
    Ellipsoid heads cast exact rays; a mesh head reads the depth buffer of the window just
    rendered (depth [h, w] over the full-frame box), or renders one."""
    head, cam = scene.head, scene.camera
    head.set_expression(state.expression)
    r = state.r_head_v
    centre = scene.head_position(r)
    if isinstance(head, HeadModel):
        pts_v = centre + head.landmarks_3d() @ r.T
        rays = pts_v - cam.position
        dist = np.linalg.norm(rays, axis=1)
        o_h = r.T @ (cam.position - centre)
        t, _ = head.cast(o_h, (rays / dist[:, None]) @ r, state.occluder)
        unoccluded = t >= dist - 0.003
    else:
        from synth.mesh_render import landmark_visibility
        head.set_gaze(r.T @ state.gaze_v)
        pts_v = centre + head.landmarks_3d() @ r.T
        unoccluded = landmark_visibility(scene, state, pts_v, depth, box)
    uv, _ = cam.project(pts_v)
    w, h = cam.size
    inside = (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
    visible = unoccluded & inside
    fore_uv, _ = cam.project(centre + FOREHEAD_H @ r.T)
    all_uv = np.vstack([uv, fore_uv])
    face_box = np.array([*all_uv.min(0), *all_uv.max(0)])
    return {"landmarks_3d": ((pts_v - cam.position) @ cam.r_w2c.T).astype(np.float32),
            "landmarks_full": uv.astype(np.float32), "visibility": visible, "face_box": face_box.astype(np.float32)}


def render_chunk(scene: Scene, track: MotionTrack, geometry: TrackGeometry, start: int, stop: int,
                 crop: CropSpec, sensor: SensorParams, rng: np.random.Generator,
                 full_every: int = 0, full_size: tuple[int, int] = (160, 120)) -> RenderedChunk:
    """Render frames [start, stop) of a track. Deterministic for the given rng state."""
    n = stop - start
    color = scene.rgb
    crops: list[bytes] = []
    full: list[bytes] = []
    full_index: list[int] = []
    lab: dict[str, list[np.ndarray]] = {k: [] for k in ("landmarks_3d", "landmarks_full", "visibility", "face_box", "exposure_gain")}
    gain_state: float | None = None
    for i in range(start, stop):
        state = frame_state(track, geometry, i)
        box = tuple(float(v) for v in geometry.crop_box[i])
        res = scene.render_window(state, box, (crop.size, crop.size))  # type: ignore[arg-type]
        gain = metered_gain(res["radiance"], res["face"], scene.lighting.exposure)
        # auto-exposure settles over a few frames rather than jumping
        gain_state = gain if gain_state is None else 0.8 * gain_state + 0.2 * gain
        img = tone(res["radiance"], gain_state)
        prev = max(i - 1, 0)
        scale = crop.size / (box[2] - box[0])
        dx, dy = (geometry.nose_uv[i] - geometry.nose_uv[prev]) * scale * sensor.exposure_frac
        img = add_noise(motion_blur(img.astype(np.float32), dx, dy), sensor, rng)
        crops.append(encode_jpeg(to_uint8(img), sensor.jpeg_quality))
        labels = landmark_labels(scene, state, res["depth"], box)  # type: ignore[arg-type]
        for k, v in labels.items():
            lab[k].append(v)
        lab["exposure_gain"].append(np.asarray(gain_state, np.float32))
        if full_every and (i % full_every == 0):
            fr = scene.render_full(state)
            fimg = add_noise(tone(fr["radiance"], gain_state).astype(np.float32), sensor, rng)
            small = cv2.resize(to_uint8(fimg), full_size, interpolation=cv2.INTER_AREA)
            full.append(encode_jpeg(small, sensor.jpeg_quality))
            full_index.append(i)
    sl = slice(start, stop)
    boxes = geometry.crop_box[sl].astype(np.float32)
    side = (boxes[:, 2] - boxes[:, 0])[:, None, None]
    lm_full = np.stack(lab["landmarks_full"])
    labels_out: dict[str, np.ndarray] = {
        "frame": np.arange(start, stop, dtype=np.int32),
        "time": np.arange(start, stop, dtype=np.float64) / track.fps,
        "pose_camera": geometry.pose_camera[sl].astype(np.float32),
        "pose_vehicle": track.pose_vehicle[sl].astype(np.float32),
        "gaze_vehicle": track.gaze_vehicle[sl].astype(np.float32),
        "landmarks_2d": ((lm_full - boxes[:, None, :2]) / side).astype(np.float32),
        "landmarks_full": lm_full,
        "landmarks_3d": np.stack(lab["landmarks_3d"]),
        "visibility": np.stack(lab["visibility"]),
        "face_box": np.stack(lab["face_box"]),
        "head_box": np.column_stack([geometry.head_uv[sl] - geometry.head_radius_px[sl, None],
                                     geometry.head_uv[sl] + geometry.head_radius_px[sl, None]]).astype(np.float32),
        "crop_box": boxes,
        "target": track.target[sl].astype(np.int8),
        "eye_closure": track.eye_closure[sl].astype(np.float32),
        "mouth_open": track.mouth_open[sl].astype(np.float32),
        "occluder": track.occluder[sl].astype(np.int8),
        "speed_kmh": track.speed_kmh[sl].astype(np.float32),
        "exposure_gain": np.asarray(lab["exposure_gain"], np.float32),
    }
    assert all(len(v) == n for v in labels_out.values())
    return RenderedChunk(crops, labels_out, full, np.asarray(full_index, np.int32))
