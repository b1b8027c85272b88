"""Training as a user runs it: it learns, it resumes exactly, it runs under torchrun."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from model.checkpoint import load_checkpoint
from train.config import TrainConfig, TrainConfigError
from train.run import run_training

ROOT = Path(__file__).resolve().parents[2]


def tiny_config(data, out, **stage_overrides) -> TrainConfig:
    cfg = TrainConfig.from_dict({
        "data": str(data), "out": str(out), "seed": 1, "val_frames": 60, "threads": 1,
        "model": {"input_size": [32, 32], "edge_channels": [8, 16], "edge_convs": [1, 1], "fc_sizes": [32, 24]},
        "stage1": {"steps": 12, "batch": 16, "lr": 3e-3, "warmup_steps": 2, "eval_every": 6, **stage_overrides},
        "stage2": {"steps": 6, "batch": 4, "seq_len": 8, "tbptt": 4, "lr": 1e-3, "warmup_steps": 1, "eval_every": 3},
    })
    return cfg


def test_both_stages_train_and_write_what_export_and_resume_need(tiny_synth, tmp_path):
    info = run_training(tiny_config(tiny_synth, tmp_path), augment=None)
    assert info["ranks_in_sync"] and info["world_size"] == 1
    per_frame, meta1 = load_checkpoint(tmp_path / "stage1" / "model.pt")
    rnn, meta2 = load_checkpoint(tmp_path / "stage2" / "model.pt")
    assert per_frame.config.cell == "none" and rnn.config.cell == "fc"
    assert meta1["step"] == 12 and meta2["step"] == 6
    # the recurrent weights moved away from their zero start: stage 2 trained W_hh
    assert any(layer.recurrent.weight.abs().sum() > 0 for layer in rnn.layers)
    # the frozen trunk is stage 1's, untouched
    for a, b in zip(per_frame.backbone.state_dict().values(), rnn.backbone.state_dict().values()):
        assert torch.equal(a, b)
    hist = json.loads((tmp_path / "stage1" / "history.json").read_text())
    assert [r["step"] for r in hist["val"]] == [6, 12]
    assert (tmp_path / "stage1" / "training_curves.png").stat().st_size > 1000


@pytest.mark.parametrize("head", ["landmarks", "joint"])
def test_landmark_and_joint_models_train(tiny_synth, tmp_path, head):
    cfg = tiny_config(tiny_synth, tmp_path, steps=30, eval_every=30)
    cfg.model = cfg.model.__class__.from_dict({**cfg.model.to_dict(), "head": head})
    cfg.stage2.steps = 2
    run_training(cfg, augment=None)
    hist = json.loads((tmp_path / "stage1" / "history.json").read_text())["train"]
    assert "landmark_rmse" in hist[-1]
    assert hist[-1]["landmark_rmse"] < hist[0]["landmark_rmse"]
    rnn, _ = load_checkpoint(tmp_path / "stage2" / "model.pt")
    assert rnn.config.head == head


def test_loss_goes_down(tiny_synth, tmp_path):
    cfg = tiny_config(tiny_synth, tmp_path, steps=40, eval_every=40)
    run_training(cfg, stages="1", augment=None)
    hist = json.loads((tmp_path / "stage1" / "history.json").read_text())["train"]
    first = sum(r["loss"] for r in hist[:5]) / 5
    last = sum(r["loss"] for r in hist[-5:]) / 5
    assert last < 0.7 * first, (first, last)


def test_resume_continues_exactly(tiny_synth, tmp_path):
    straight = tiny_config(tiny_synth, tmp_path / "a")
    run_training(straight, stages="1", augment=None)
    interrupted = tiny_config(tiny_synth, tmp_path / "b")
    run_training(interrupted, stages="1", augment=None, stop_at=5)   # killed mid-way, between evals
    assert load_checkpoint(tmp_path / "b" / "stage1" / "model.pt")[1]["step"] == 5
    run_training(interrupted, stages="1", augment=None)              # resumed
    a, _ = load_checkpoint(tmp_path / "a" / "stage1" / "model.pt")
    b, _ = load_checkpoint(tmp_path / "b" / "stage1" / "model.pt")
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(x, y), name


def test_unknown_config_key_is_named(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"stage1": {"stpes": 3}}))
    with pytest.raises(TrainConfigError, match="stage1: unknown key 'stpes'"):
        TrainConfig.load(bad)


def test_shipped_default_config_loads():
    cfg = TrainConfig.load(ROOT / "configs" / "default.json")
    assert cfg.stage1.clip_grad_norm == 10.0 and cfg.model.dropout == 0.25 and cfg.cell == "fc"


def test_torchrun_ddp_with_gloo_on_two_processes(tiny_synth, tmp_path):
    cfg = tiny_config(tiny_synth, tmp_path / "ddp").to_dict()
    cfg["stage1"]["steps"], cfg["stage2"]["steps"] = 4, 2
    path = tmp_path / "ddp.json"
    path.write_text(json.dumps(cfg))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          "-m", "dms.cli", "train", "--config", str(path), "--no-augment"],
                         capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    # the abort at interpreter exit (process group never destroyed) printed this and
    # failed the job about one run in four, after training had finished
    assert "terminate called" not in out.stderr and "exitcode" not in out.stderr, out.stderr[-4000:]
    info = json.loads((tmp_path / "ddp" / "train_info_all.json").read_text())
    assert info["world_size"] == 2 and info["ranks_in_sync"] is True
    assert load_checkpoint(tmp_path / "ddp" / "stage2" / "model.pt")[1]["step"] == 2


def test_evaluate_compares_cnn_kalman_and_fc_rnn(tiny_synth, tmp_path):
    from dms.cli import main
    run_training(tiny_config(tiny_synth, tmp_path / "run"), augment=None)
    assert main(["evaluate", "--run", str(tmp_path / "run"), "--data", str(tiny_synth), "--out", str(tmp_path / "eval")]) == 0
    report = json.loads((tmp_path / "eval" / "evaluation.json").read_text())
    text = json.dumps(report)
    for method in ("cnn", "cnn+kalman", "cnn+fc-rnn"):
        assert f'"{method}"' in text
    md = (tmp_path / "eval" / "evaluation.md").read_text()
    assert "cnn+fc-rnn" in md and "jitter" in md.lower()
    assert (tmp_path / "eval" / "evaluation_tracks.png").stat().st_size > 1000
