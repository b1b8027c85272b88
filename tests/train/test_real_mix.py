"""Real faces mixed into stage 1: trusted by the teacher's range, held out by identity, a
fixed share of every batch, and recorded in what the model is made of."""

import json

import numpy as np
import pytest
import torch

from dms.perspective import Intrinsics, camera_to_ray_pose, ray_rotation
from model.checkpoint import load_checkpoint
from train.config import LossConfig, RealConfig, TrainConfig, TrainConfigError
from train.real_mix import real_splits, teacher_weight
from train.real_pool import RealPool, write_pool
from train.run import run_training
from train.stages import losses

from .test_training import tiny_config


def make_pool(folder, n=40, seed=0):
    """A pool of n faces (two per identity) with yaw spread over +-70 deg, not on the axis."""
    rng = np.random.default_rng(seed)
    pose = np.column_stack([rng.uniform(-20, 20, n), np.linspace(-70, 70, n), rng.uniform(-10, 10, n)])
    rays = ray_rotation(rng.uniform(20, 60, n), rng.uniform(20, 60, n), Intrinsics.from_hfov((80, 80), 50.0))
    arrays = {"crops": rng.integers(0, 256, (n, 80, 80), dtype=np.uint8), "pose_camera": pose.astype(np.float32),
              "rays": rays.astype(np.float32), "group": (np.arange(n) // 2).astype(np.int32),
              "kind": np.zeros(n, np.int8), "teacher_yaw": pose[:, 1].astype(np.float32)}
    write_pool(folder, arrays, {"stats": {"stills": n}})
    return RealPool.load(folder)


def test_teacher_weight_trusts_the_teacher_by_range():
    cfg = RealConfig()
    w = teacher_weight(np.array([0.0, -30.0, 45.0, -52.5, 60.0, 85.0]), cfg)
    np.testing.assert_allclose(w, [1.0, 1.0, 0.5, 0.25, 0.0, 0.0])


def test_splits_hold_out_whole_identities_and_drop_untrusted_faces(tmp_path):
    pool = make_pool(tmp_path / "pool")
    cfg = RealConfig(val_fraction=0.25)
    train, val = real_splits(pool, cfg, "ray", seed=3)
    assert val is not None
    # faces beyond |yaw| 60 (weight 0) are in neither split; tracks are pool indices
    trusted = set(np.flatnonzero(np.abs(pool.pose_camera[:, 1]) < 60).tolist())
    assert set(train.track.tolist()) | set(val.track.tolist()) == trusted
    val_groups = set(pool.group[val.track].tolist())
    assert val_groups and not (val_groups & set(pool.group[train.track].tolist()))
    # labels in the ray frame of each crop; weights follow the camera yaw
    want = camera_to_ray_pose(pool.pose_camera[train.track].astype(np.float64), pool.rays[train.track].astype(np.float64))
    np.testing.assert_allclose(train.pose, want, atol=1e-3)
    np.testing.assert_allclose(train.pose_weight, teacher_weight(pool.pose_camera[train.track, 1], cfg))
    assert np.array_equal(train.crops, pool.crops[train.track])
    assert not train.has_landmarks


def test_weighted_pose_loss_ignores_weight_zero_frames_and_equals_plain_l2_at_weight_one():
    torch.manual_seed(0)
    pred = torch.randn(4, 1, 3, requires_grad=True)
    truth = torch.randn(4, 1, 3)
    lm, lm_w = torch.zeros(4, 1, 136), torch.zeros(4, 1, 136)
    cfg = LossConfig()
    plain, _ = losses({"pose": pred}, truth, lm, lm_w, cfg)
    ones, _ = losses({"pose": pred}, truth, lm, lm_w, cfg, torch.ones(4, 1))
    assert torch.allclose(plain, ones)
    w = torch.tensor([[1.0], [0.0], [0.5], [1.0]])
    loss, _ = losses({"pose": pred}, truth, lm, lm_w, cfg, w)
    loss.backward()
    assert torch.all(pred.grad[1] == 0) and torch.all(pred.grad[0] != 0)
    # a half-trusted frame pulls half as hard as a trusted one with the same error
    grads = pred.grad / (pred - truth).detach()
    assert torch.allclose(grads[2], 0.5 * grads[0])


def test_config_refuses_nonsense_real_settings():
    with pytest.raises(TrainConfigError, match="real.fraction"):
        TrainConfig.from_dict({"real": {"fraction": 1.5}})
    with pytest.raises(TrainConfigError, match="trust_yaw_deg < max_yaw_deg"):
        TrainConfig.from_dict({"real": {"trust_yaw_deg": 60, "max_yaw_deg": 30}})
    with pytest.raises(TrainConfigError, match="unknown key 'pool_dir'"):
        TrainConfig.from_dict({"real": {"pool_dir": "x"}})


def test_stage1_mixes_real_faces_reports_them_and_records_the_pool(tiny_synth, tmp_path, monkeypatch):
    pool = make_pool(tmp_path / "pool", n=60)
    cfg = tiny_config(tiny_synth, tmp_path / "run", steps=8, eval_every=4)
    cfg.real = RealConfig(pool=str(tmp_path / "pool"), fraction=0.25, val_fraction=0.2)
    cfg.stage2.steps = 2
    seen = []
    import train.stages as stages
    real_make_batch = stages.make_batch

    def spy(split, starts, seq_len, out_size, normalise, rng=None, *a, **k):
        if rng is not None:                                   # a training draw, not validation
            seen.append((split.has_landmarks, len(starts), seq_len))
        return real_make_batch(split, starts, seq_len, out_size, normalise, rng, *a, **k)

    monkeypatch.setattr(stages, "make_batch", spy)
    run_training(cfg, augment=None)
    # stage 1: 16 per step = 12 synthetic + 4 real; stage 2 (sequences) takes no stills
    assert seen[:16] == [(True, 12, 1), (False, 4, 1)] * 8
    assert seen[16:] == [(True, 4, 8)] * 1
    hist = json.loads((tmp_path / "run" / "stage1" / "history.json").read_text())
    assert "val_real_mae" in hist["val"][-1] and np.isfinite(hist["val"][-1]["val_real_mae"])
    for stage in ("stage1", "stage2"):
        _, meta = load_checkpoint(tmp_path / "run" / stage / "model.pt")
        assert meta["data"]["real"]["pool_sha256"] == pool.content_hash
        assert meta["data"]["synthetic"]["content_hash"]


def test_dms_train_names_a_missing_pool_in_one_line_before_loading_anything(tiny_synth, tmp_path, capsys):
    from dms.cli import main

    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"data": str(tiny_synth), "out": str(tmp_path / "run"),
                               "real": {"pool": str(tmp_path / "no_pool")}}))
    assert main(["train", "--config", str(cfg), "--stage", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"dms train: real.pool: {tmp_path / 'no_pool' / 'manifest.json'}: not found "
                   f"(build the pool with `dms real-pool --out {tmp_path / 'no_pool'}`)"]
    assert not (tmp_path / "run" / "stage1").exists()
