import cv2
import numpy as np

from calibration.pipeline import calibrate
from dms.manifest import load_manifest
from synth.shards import Shard

from .conftest import fast_config

VIDEO_FRAMES = 45


def _write_video(path, tiny_synth):
    """A small MJPG .avi: synthetic face crops sliding across a dark cabin-like frame."""
    crops = Shard.open(sorted((tiny_synth / "shards").glob("*.npz"))[0]).crops()
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (160, 120))
    assert writer.isOpened()
    for t in range(VIDEO_FRAMES):
        frame = np.full((120, 160, 3), 30, np.uint8)
        face = cv2.resize(crops[t % len(crops)], (80, 80))
        frame[20:100, 20 + t:100 + t] = face[..., None]
        writer.write(frame)
    writer.release()


def test_a_video_file_is_a_calibration_source(model_copy, tiny_synth, tmp_path):
    video = tmp_path / "drive.avi"
    _write_video(video, tiny_synth)
    result = calibrate(model_copy, video, fast_config("minmax"))
    manifest = load_manifest(model_copy, verify_files=True)
    cal = manifest.extra["calibration"]
    assert cal["source"]["kind"] == "video" and cal["source"]["frames"] == VIDEO_FRAMES
    assert cal["data_hash"] == cal["source"]["sha256"]
    assert cal["frames"] == 24 and cal["stratification"]["dimensions"][0] == "segment"
    assert all(r["max"] > 0.0 for r in cal["state_ranges"].values())
    acc = result.report["accuracy"]
    assert not acc["labelled"] and acc["frames"] == VIDEO_FRAMES   # no labels: deviations only
    assert "mae_deg" not in acc["precisions"]["int8"]
    assert acc["precisions"]["int8"]["max_dev_from_fp32_deg"]["mean"] >= 0.0


def test_a_video_calibration_can_report_on_the_synthetic_test_split(model_copy, tiny_synth, tmp_path):
    video = tmp_path / "drive.avi"
    _write_video(video, tiny_synth)
    result = calibrate(model_copy, video, fast_config("minmax"), report_data=tiny_synth)
    assert result.report["accuracy"]["labelled"]
    assert result.summary["report_data"]["split"] == "test"
