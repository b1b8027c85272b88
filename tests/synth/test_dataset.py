"""The dataset as a user runs it: deterministic, split by subject, shardable, checked."""

import argparse
import json

import numpy as np
import pytest

from synth.cli import add_arguments, run
from synth.dataset import (DatasetError, SynthConfig, all_tasks, build_manifest, job_tasks, load_manifest,
                           merge_parts, subject_splits)
from synth.shards import LABEL_KEYS, Shard, ShardError

SMALL = ["--subjects", "3", "--tracks", "4", "--frames-per-track", "40", "--chunk-frames", "25",
         "--crop-size", "48", "--workers", "1", "--seed", "7"]


def _dms_synth(*argv):
    p = argparse.ArgumentParser()
    add_arguments(p)
    return run(p.parse_args(list(argv)))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    assert _dms_synth(*SMALL, "--out", str(out), "--full-every", "20") == 0
    return out


def test_manifest_counts_and_files(dataset):
    m = load_manifest(dataset, verify=True)
    assert m["counts"]["frames"] == 4 * 40 and m["counts"]["tracks"] == 4 and m["counts"]["shards"] == 8
    assert m["counts"]["full_frames"] == 4 * 2
    assert len(m["content_hash"]) == 64 and m["config"]["seed"] == 7


def test_split_is_by_subject_and_disjoint(dataset):
    m = load_manifest(dataset)
    sets = {k: set(v) for k, v in m["splits"].items()}
    assert sets["train"].isdisjoint(sets["val"]) and sets["train"].isdisjoint(sets["test"])
    assert sets["val"].isdisjoint(sets["test"])
    assert sets["train"] | sets["val"] | sets["test"] == {0, 1, 2}
    for shard in m["shards"]:
        assert shard["subject"] in sets[shard["split"]]
    for name in ("train", "val", "test"):
        assert sets[name], f"no {name} subject"


def test_splits_at_the_patents_scale():
    splits = subject_splits(SynthConfig(subjects=10))
    assert sorted(splits.values()).count("test") == 2 and sorted(splits.values()).count("val") == 1


def test_shards_hold_crops_and_every_label(dataset):
    m = load_manifest(dataset)
    rec = m["shards"][0]
    sh = Shard.open(dataset / rec["file"])
    assert len(sh) == rec["frames"] == 25
    crops = sh.crops()
    assert crops.shape == (25, 48, 48) and crops.dtype == np.uint8
    assert 20 < crops.mean() < 230 and crops.std() > 10          # a picture, not a blank
    lab = sh.labels
    assert set(LABEL_KEYS) <= set(lab)
    assert lab["landmarks_2d"].shape == (25, 68, 2) and lab["visibility"].dtype == bool
    assert np.all(np.abs(lab["pose_camera"]) < 180)
    np.testing.assert_array_equal(lab["frame"], np.arange(25))
    # landmarks of visible points lie inside the crop
    vis = lab["landmarks_2d"][lab["visibility"]]
    assert ((vis > -0.05) & (vis < 1.05)).mean() > 0.98
    full, index = sh.full_frames()
    assert full.shape[1:] == (120, 160) and list(index) == [0, 20]


def test_same_seed_same_bytes_and_other_seed_differs(dataset, tmp_path):
    again = tmp_path / "again"
    argv = [a if a != "40" else "40" for a in SMALL]
    assert _dms_synth(*argv, "--out", str(again), "--full-every", "20") == 0
    a, b = load_manifest(dataset), load_manifest(again)
    assert a["content_hash"] == b["content_hash"]
    other = tmp_path / "other"
    argv = SMALL[:-1] + ["8"]
    assert _dms_synth(*argv, "--out", str(other), "--full-every", "20") == 0
    assert load_manifest(other)["content_hash"] != a["content_hash"]


def test_shard_jobs_merge_into_the_same_dataset(dataset, tmp_path):
    """Three machines, three jobs, one merge: the same content as one run."""
    out = tmp_path / "jobs"
    for i in range(3):
        assert _dms_synth(*SMALL, "--out", str(out), "--full-every", "20", "--shard-index", str(i), "--num-shards", "3") == 0
    assert not (out / "manifest.json").exists()
    assert _dms_synth("merge", str(out)) == 0
    assert load_manifest(out)["content_hash"] == load_manifest(dataset)["content_hash"]


def test_merge_refuses_missing_jobs_and_other_parameters(tmp_path):
    out = tmp_path / "partial"
    assert _dms_synth(*SMALL, "--out", str(out), "--shard-index", "0", "--num-shards", "2") == 0
    with pytest.raises(DatasetError, match=r"job\(s\) \[1\] of 2"):
        merge_parts(out)
    part = next(out.glob("manifest.part-*"))
    data = json.loads(part.read_text())
    data["part"]["index"] = 1
    data["config"]["seed"] = 99
    (out / "manifest.part-0001-of-0002.json").write_text(json.dumps(data))
    with pytest.raises(DatasetError, match="config field 'seed' differs"):
        merge_parts(out)


def test_job_tasks_partition_all_tasks():
    cfg = SynthConfig(tracks=7, frames_per_track=100, chunk_frames=30)
    jobs = [job_tasks(cfg, i, 3) for i in range(3)]
    flat = sorted(t for j in jobs for t in j)
    assert flat == sorted(all_tasks(cfg)) and len(set(flat)) == len(flat)


def test_a_damaged_shard_is_named(dataset, tmp_path):
    m = load_manifest(dataset)
    src = dataset / m["shards"][0]["file"]
    bad = tmp_path / "bad.npz"
    bad.write_bytes(src.read_bytes()[:1000])
    with pytest.raises(ShardError, match="bad.npz: unreadable"):
        Shard.open(bad)
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "manifest.json").write_text((dataset / "manifest.json").read_text())
    with pytest.raises(DatasetError, match="t000_c000.npz: listed in the manifest but missing"):
        load_manifest(copy, verify=True)


def test_manifest_records_the_scene_of_every_track(dataset):
    m = load_manifest(dataset)
    for t in m["tracks"]:
        assert t["mount"] in ("steering_column", "a_pillar", "rear_view_mirror")
        assert t["lighting"]["kind"] in ("night", "overcast", "day", "harsh_sun")
        assert set(t["accessories"]) == {"glasses", "sunglasses_nir", "cap", "mask"}


def test_build_manifest_is_order_independent():
    cfg = SynthConfig(subjects=3, tracks=2, frames_per_track=10, chunk_frames=10)
    recs = [{"file": f"shards/t00{t}_c000.npz", "sha256": str(t) * 64, "bytes": 1, "track": t, "subject": t,
             "chunk": 0, "start": 0, "frames": 10} for t in range(2)]
    a = build_manifest(cfg, [dict(r) for r in recs], [{"track": 0, "subject": 0}, {"track": 1, "subject": 1}])
    b = build_manifest(cfg, [dict(r) for r in recs[::-1]], [{"track": 1, "subject": 1}, {"track": 0, "subject": 0}])
    assert a["content_hash"] == b["content_hash"]


def test_rgb_option_gives_colour_crops(tmp_path):
    out = tmp_path / "rgb"
    argv = ["--subjects", "1", "--tracks", "1", "--frames-per-track", "6", "--crop-size", "40", "--workers", "1",
            "--color", "rgb"]
    assert _dms_synth(*argv, "--out", str(out)) == 0
    m = load_manifest(out)
    crop = Shard.open(out / m["shards"][0]["file"], color=True).crop(0)
    assert crop.shape == (40, 40, 3)
    assert np.abs(crop[..., 0].astype(int) - crop[..., 2].astype(int)).mean() > 2   # not grey


def test_preview_writes_a_contact_sheet_and_a_playable_mp4(dataset, tmp_path):
    import cv2
    assert _dms_synth("preview", "--data", str(dataset), "--out", str(tmp_path), "--seconds", "0.5") == 0
    sheet = cv2.imread(str(tmp_path / "contact_sheet.png"))
    assert sheet is not None and sheet.shape[0] >= 240 and sheet.std() > 10
    cap = cv2.VideoCapture(str(tmp_path / "track000.mp4"))
    frames = 0
    while cap.read()[0]:
        frames += 1
    assert frames == 15


def test_an_interrupted_run_resumes_and_a_foreign_folder_is_refused(dataset, tmp_path):
    out = tmp_path / "resumed"
    out.mkdir()
    import shutil
    (out / "shards").mkdir()
    shutil.copy(dataset / "generation.json", out / "generation.json")
    for rec in load_manifest(dataset)["shards"][:3]:
        shutil.copy(dataset / rec["file"], out / rec["file"])
    half = out / load_manifest(dataset)["shards"][3]["file"]
    half.write_bytes((dataset / load_manifest(dataset)["shards"][3]["file"]).read_bytes()[:500])  # killed mid-write
    assert _dms_synth(*SMALL, "--out", str(out), "--full-every", "20") == 0
    assert load_manifest(out)["content_hash"] == load_manifest(dataset)["content_hash"]
    other = SMALL[:-1] + ["99"]
    assert _dms_synth(*other, "--out", str(out), "--full-every", "20") == 1


def test_wide_yaw_scale_is_recorded_checked_and_changes_only_the_motion(tmp_path):
    with pytest.raises(ValueError, match="wide_yaw_scale"):
        SynthConfig(wide_yaw_scale=-1.0)
    args = ["--subjects", "3", "--tracks", "3", "--frames-per-track", "450", "--chunk-frames", "450",
            "--crop-size", "24", "--workers", "1", "--seed", "5"]
    assert _dms_synth(*args, "--out", str(tmp_path / "base")) == 0
    assert _dms_synth(*args, "--out", str(tmp_path / "wide"), "--wide-yaw-scale", "40") == 0
    base, wide = load_manifest(tmp_path / "base"), load_manifest(tmp_path / "wide")
    assert base["config"]["wide_yaw_scale"] == 1.0 and wide["config"]["wide_yaw_scale"] == 40.0
    # the same subjects and scenes, another drive
    assert [t["subject"] for t in wide["tracks"]] == [t["subject"] for t in base["tracks"]]
    assert [t["lighting"] for t in wide["tracks"]] == [t["lighting"] for t in base["tracks"]]
    assert wide["content_hash"] != base["content_hash"]
