"""The head detector's data, augmentation, training, metrics and export (a tiny synthetic
set with stored full frames; seconds on one thread)."""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np
import pytest
import torch

from dms.detector_manifest import load_detector_manifest
from export.detector_export import export_detector, export_graph
from export.trt_readiness import check_model
from model.detector import HeadDetectorNet, measure_detector
from model.detector_config import DetectorConfig, DetectorConfigError
from synth.cli import add_arguments, run
from train.detector import DetectorTrainConfig, detector_losses, giou_loss, preprocess, train_detector
from train.detector_augment import DetectorAugmentConfig, augment, geometric
from train.detector_data import EMPTY_SEAT, HEADLESS, head_box_to_cxcys, load_full_frames, render_negatives
from train.detector_metrics import cxcys_to_xyxy, iou, roc_auc

INPUT = (96, 128)


@pytest.fixture(scope="module")
def full_synth(tmp_path_factory):
    """3 subjects (one per split), 3 tracks, a full frame every 4th of 40 frames."""
    out = tmp_path_factory.mktemp("full_synth")
    p = argparse.ArgumentParser()
    add_arguments(p)
    argv = ["--subjects", "3", "--tracks", "3", "--frames-per-track", "40", "--chunk-frames", "40",
            "--crop-size", "24", "--full-every", "4", "--workers", "1", "--seed", "4", "--out", str(out)]
    assert run(p.parse_args(argv)) == 0
    return out


@pytest.fixture(scope="module")
def train_negatives(full_synth):
    return render_negatives(full_synth, ["train"], INPUT, per_track=2, seed=1)


def test_full_frames_and_their_boxes(full_synth):
    data = load_full_frames(full_synth, ["train", "val", "test"], INPUT)
    assert data.images.shape == (30, *INPUT) and data.images.dtype == np.uint8
    assert data.present.all()
    assert ((data.boxes[:, :2] > 0) & (data.boxes[:, :2] < 1)).all()
    assert ((data.boxes[:, 2] > 0.2) & (data.boxes[:, 2] < 0.9)).all()
    # the box conversion: a 640x480 box centred at (320, 120), 96 px high
    np.testing.assert_allclose(head_box_to_cxcys(np.array([[272, 72, 368, 168]]), (640, 480)),
                               [[0.5, 0.25, 0.2]], atol=1e-6)


def test_negatives_have_no_head_and_are_seeded(full_synth, train_negatives):
    a = train_negatives
    b = render_negatives(full_synth, ["train"], INPUT, per_track=2, seed=1)
    assert len(a) == 4 and not a.present.any()
    assert sorted(set(a.kind.tolist())) == [EMPTY_SEAT, HEADLESS]
    np.testing.assert_array_equal(a.images, b.images)
    # the empty seat differs from the headless driver where the body was
    assert np.abs(a.images[a.kind == EMPTY_SEAT][0].astype(int) - a.images[a.kind == HEADLESS][0]).max() > 20


def _blob_frame(box: np.ndarray) -> np.ndarray:
    img = np.zeros(INPUT, np.float32)
    x0, y0, x1, y1 = cxcys_to_xyxy(box, (INPUT[1], INPUT[0]))[0]
    img[int(round(y0)):int(round(y1)), int(round(x0)):int(round(x1))] = 1.0
    return img


def _centroid(img: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(img > 0.5)
    return (xs.mean() + 0.5) / img.shape[1], (ys.mean() + 0.5) / img.shape[0]


@pytest.mark.parametrize("seed", range(6))
def test_geometric_augmentation_moves_the_box_with_the_image(seed):
    box = np.array([0.3, 0.4, 0.25], np.float32)
    rng = np.random.default_rng(seed)
    out, moved = geometric(_blob_frame(box), box, True, rng, DetectorAugmentConfig(flip_p=0.5))
    cx, cy = _centroid(out)
    assert abs(cx - moved[0]) < 0.015 and abs(cy - moved[1]) < 0.015
    side = (out > 0.5).sum(0).max() / INPUT[0]        # tallest column of the blob
    assert abs(side - moved[2]) < 0.03


def test_flip_mirrors_the_box_centre():
    box = np.array([0.3, 0.4, 0.25], np.float32)
    cfg = DetectorAugmentConfig(flip_p=1.0, scale=(1.0, 1.0), translate=0.0)
    out, moved = geometric(_blob_frame(box), box, True, np.random.default_rng(0), cfg)
    assert moved[0] == pytest.approx(0.7) and moved[1] == pytest.approx(0.4)
    assert _centroid(out)[0] == pytest.approx(0.7, abs=0.01)


def test_augment_output_range_and_blocked_lens():
    img = np.full(INPUT, 128, np.uint8)
    box = np.array([0.5, 0.5, 0.4], np.float32)
    x, b, here = augment(img, box, True, np.random.default_rng(0), DetectorAugmentConfig(blocked_p=1.0))
    assert x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert not here and not b.any()


def test_metrics():
    a = np.array([[0, 0, 10, 10], [0, 0, 10, 10]], float)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10]], float)
    np.testing.assert_allclose(iou(a, b), [1.0, 50 / 150])
    assert roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1], bool)) == pytest.approx(0.75)
    assert roc_auc(np.array([0.5, 0.5]), np.array([0, 1], bool)) == pytest.approx(0.5)
    assert roc_auc(np.array([0.5]), np.array([1], bool)) is None


def test_giou_is_zero_for_equal_boxes_and_grows_apart():
    t = torch.tensor([[0.5, 0.5, 0.3]])
    assert float(giou_loss(t, t, 4 / 3)) == pytest.approx(0.0, abs=1e-6)
    near = float(giou_loss(torch.tensor([[0.55, 0.5, 0.3]]), t, 4 / 3))
    far = float(giou_loss(torch.tensor([[0.9, 0.5, 0.3]]), t, 4 / 3))
    assert 0 < near < far and far > 1.0                     # disjoint boxes: GIoU < 0


def test_config_and_cost():
    assert DetectorConfig().grid == (6, 8)
    assert DetectorConfig.from_dict(DetectorConfig().to_dict()) == DetectorConfig()
    with pytest.raises(DetectorConfigError, match="multiple of the grid stride"):
        DetectorConfig(input_size=(100, 128))
    with pytest.raises(DetectorConfigError, match="unknown detector config key 'depth'"):
        DetectorConfig.from_dict({"depth": 3})
    c = measure_detector()
    assert c.mflops < 8 and c.params < 50_000


def test_a_few_training_steps_reduce_the_loss(full_synth, train_negatives):
    pos = load_full_frames(full_synth, ["train", "val"], INPUT)
    neg = train_negatives
    cfg = DetectorTrainConfig(steps=80, batch=16, eval_every=20, warmup=5, lr=5e-3, seed=0)
    res = train_detector(pos, neg, None, cfg, show_progress=False)
    losses = [h["loss"] for h in res.history]
    assert losses[-1] < 0.7 * losses[0], losses
    # seeded: the same run gives the same first-batch loss
    net_cfg = DetectorConfig()
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    from train.detector import make_batch
    x, box, present = make_batch(pos, neg, rng, cfg, net_cfg)
    x2, box2, _ = make_batch(pos, neg, np.random.default_rng(0), cfg, net_cfg)
    assert torch.equal(x, x2) and torch.equal(box, box2)
    with torch.no_grad():
        assert float(detector_losses(res.net.train(), x, box, present, cfg)["loss"]) < losses[0]


def _random_net() -> HeadDetectorNet:
    torch.manual_seed(0)
    net = HeadDetectorNet()
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):        # non-trivial BN so folding is exercised
            assert m.running_mean is not None and m.running_var is not None
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    torch.nn.init.normal_(net.where.weight, std=0.3)
    torch.nn.init.normal_(net.offsets.weight, std=0.3)
    return net.eval()


def test_export_parity_and_manifest(tmp_path):
    net = _random_net()
    frames = preprocess(np.random.default_rng(0).integers(0, 256, (20, *INPUT), dtype=np.uint8), net.config)
    res = export_detector(net, tmp_path / "det", frames, presence_threshold=0.4, training={"note": "test"})
    assert res.parity.passed and res.parity.max_box_diff < 1e-5
    assert res.readiness.ok
    proto = export_graph(net)
    assert check_model(proto).ok
    assert {i.name for i in proto.graph.input} == {"image"}
    shape = [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert shape == [1, 1, *INPUT]
    m = load_detector_manifest(tmp_path / "det")
    assert (m.height, m.width, m.presence_threshold) == (*INPUT, 0.4)
    assert json.loads((tmp_path / "det" / "manifest.json").read_text())["extra"]["export"]["opset"] == 17
    # ONNX Runtime and torch agree on a real-looking frame, too
    import onnxruntime as ort
    sess = ort.InferenceSession(str(res.onnx_path), providers=["CPUExecutionProvider"])
    ob, op = sess.run(None, {"image": frames[:1]})
    with torch.no_grad():
        tb, tp = net(torch.from_numpy(frames[:1]))
    np.testing.assert_allclose(ob, tb.numpy(), atol=1e-5)
    np.testing.assert_allclose(op, tp.numpy(), atol=1e-4)
    with pytest.raises(Exception, match="already holds a model"):
        export_detector(net, tmp_path / "det", frames)


def test_cli_end_to_end(full_synth, tmp_path):
    from dms.cli import main
    out = tmp_path / "run"
    assert main(["train-detector", "--data", str(full_synth), "--out", str(out), "--steps", "20", "--batch", "8",
                 "--negatives-per-track", "1", "--no-progress"]) == 0
    for name in ("detector.pt", "curves.png", "examples.png", "report.json", "report.md", "model/detector.onnx",
                 "model/manifest.json", "model/report.md"):
        assert (out / name).is_file(), name
    report = json.loads((out / "report.json").read_text())
    assert set(report["results"]) == {"test", "val"}
    assert 0 <= report["results"]["test"]["mean_iou"] <= 1
    load_detector_manifest(out / "model")


def test_train_config_is_documented():
    doc = DetectorTrainConfig.__doc__ or ""
    for f in dataclasses.fields(DetectorTrainConfig):
        assert f.name in doc, f.name
    aug_doc = DetectorAugmentConfig.__doc__ or ""
    for f in dataclasses.fields(DetectorAugmentConfig):
        assert f.name in aug_doc, f.name
