"""Training labels relative to the crop's viewing ray, and the way back for evaluation."""

import copy

import numpy as np
import pytest

from dms.perspective import ray_to_camera_pose
from synth.dataset import load_manifest, track_intrinsics
from train.data import SynthSplit


def test_ray_labels_round_trip_to_the_camera_labels(tiny_synth):
    cam = SynthSplit.load(tiny_synth, "train", progress=False)
    ray = SynthSplit.load(tiny_synth, "train", progress=False, pose_frame="ray")
    np.testing.assert_array_equal(cam.pose, cam.pose_camera)
    np.testing.assert_array_equal(ray.pose_camera, cam.pose_camera)
    # the crops are off the optical axis, so the labels really change...
    assert np.abs(ray.pose - cam.pose).mean() > 0.3
    # ...and every one of them turns back into the camera label with its crop's ray
    back = ray_to_camera_pose(ray.pose, ray.rays.astype(np.float64))
    np.testing.assert_allclose(back, cam.pose_camera, atol=2e-3)


def test_intrinsics_are_recorded_and_also_follow_from_the_seed(tiny_synth):
    manifest = load_manifest(tiny_synth)
    track = manifest["tracks"][0]["track"]
    recorded = track_intrinsics(manifest, track)
    assert set(recorded) == {"fx", "fy", "cx", "cy"} and recorded["fx"] > 100
    older = copy.deepcopy(manifest)      # a dataset made before intrinsics were recorded
    for t in older["tracks"]:
        t.pop("intrinsics")
    assert track_intrinsics(older, track) == pytest.approx(recorded)


def test_unknown_pose_frame_is_refused(tiny_synth):
    with pytest.raises(ValueError, match="pose_frame"):
        SynthSplit.load(tiny_synth, "train", progress=False, pose_frame="vehicle")
