"""Training the head detector (model.detector) on synthetic full frames.

Losses, per sample:
  * box (frames with a head): L1 on (cx, cy, side) in frame-height units (so a pixel
    counts the same across and down) plus GIoU, which keeps pushing when the boxes barely
    overlap and is scale-free (a 2 px error on a small head matters more than on a big one);
  * presence (every frame): binary cross-entropy on the presence logit;
  * where (frames with a head): cross-entropy of the soft-argmax's cell logits against the
    cell holding the true centre, a small auxiliary term that makes the softmax settle on
    one cell instead of averaging distant proposals.

Batches mix frames with a head and rendered frames without one (train.detector_data) at a
fixed share; augmentation (train.detector_augment) adds covered-lens negatives. Seeded:
the same seed, data and thread count give the same weights. Validation runs on the held-out
validation subjects every `eval_every` steps; the best validation checkpoint is kept.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from model.detector import HeadDetectorNet
from model.detector_config import DetectorConfig
from train.detector_augment import DetectorAugmentConfig, augment, blocked_lens
from train.detector_data import BLOCKED, KINDS, FullFrameSet
from train.detector_metrics import DetectorMetrics, evaluate_predictions

CHECKPOINT_NAME = "detector.pt"


@dataclass(frozen=True)
class DetectorTrainConfig:
    """Every training setting, its default, and why.

    steps 4000 x batch 64: ~50 passes over a 5,000-frame set; measured on one CPU thread
        (~0.1 s a step) that is under 10 minutes.
    lr 3e-3 (AdamW, weight_decay 1e-4), linear warmup over 100 steps then cosine to 0: the
        usual recipe for a small BN network trained from scratch.
    negative_share 0.2: share of each batch drawn from the head-less frames; with the
        augmentation's covered lenses about a quarter of what the network sees has no head.
    w_l1 5, w_giou 2, w_presence 1, w_where 0.1: loss weights. L1 on shares of the frame is
        small (0.01 = 5 px), so it gets the largest weight; the auxiliary term only sharpens.
    eval_every 250 steps on the validation subjects; the best checkpoint by
        mean IoU - miss rate - false presence rate is the one kept.
    threshold 0.5: the presence score above which the runtime says "head".
    seed 0: batches, augmentation and initial weights all derive from it.
    threads 1: deterministic, and this machine's other cores are busy.
    augment: train.detector_augment.DetectorAugmentConfig (documented there).
    """

    steps: int = 4000
    batch: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    warmup: int = 100
    negative_share: float = 0.2
    w_l1: float = 5.0
    w_giou: float = 2.0
    w_presence: float = 1.0
    w_where: float = 0.1
    eval_every: int = 250
    threshold: float = 0.5
    seed: int = 0
    threads: int = 1
    augment: DetectorAugmentConfig = field(default_factory=DetectorAugmentConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def preprocess(images: np.ndarray, cfg: DetectorConfig) -> np.ndarray:
    """uint8 [N, H, W] (or float32 in [0, 1]) -> float32 [N, 1, H, W], as the runtime does."""
    x = images.astype(np.float32)
    if images.dtype == np.uint8:
        x /= 255.0
    return ((x - cfg.pixel_mean) * cfg.pixel_scale)[:, None]


def _xyxy(box: torch.Tensor, aspect: float) -> torch.Tensor:
    """(cx, cy, side) shares -> corners in frame-height units (x scaled by width / height)."""
    cx, cy, half = box[:, 0] * aspect, box[:, 1], box[:, 2] / 2
    return torch.stack([cx - half, cy - half, cx + half, cy + half], 1)


def giou_loss(pred: torch.Tensor, true: torch.Tensor, aspect: float) -> torch.Tensor:
    """1 - GIoU per row (Rezatofighi et al. 2019)."""
    p, t = _xyxy(pred, aspect), _xyxy(true, aspect)
    pw, ph = (p[:, 2] - p[:, 0]).clamp(min=0), (p[:, 3] - p[:, 1]).clamp(min=0)
    tw, th = t[:, 2] - t[:, 0], t[:, 3] - t[:, 1]
    iw = (torch.minimum(p[:, 2], t[:, 2]) - torch.maximum(p[:, 0], t[:, 0])).clamp(min=0)
    ih = (torch.minimum(p[:, 3], t[:, 3]) - torch.maximum(p[:, 1], t[:, 1])).clamp(min=0)
    inter = iw * ih
    union = pw * ph + tw * th - inter
    cw = torch.maximum(p[:, 2], t[:, 2]) - torch.minimum(p[:, 0], t[:, 0])
    ch = torch.maximum(p[:, 3], t[:, 3]) - torch.minimum(p[:, 1], t[:, 1])
    hull = cw * ch
    return 1 - inter / union.clamp(min=1e-9) + (hull - union) / hull.clamp(min=1e-9)


def centre_cell(box: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Index (row-major) of the grid cell that holds each box centre."""
    gh, gw = grid
    col = (box[:, 0] * gw).long().clamp(0, gw - 1)
    row = (box[:, 1] * gh).long().clamp(0, gh - 1)
    return row * gw + col


def detector_losses(net: HeadDetectorNet, x: torch.Tensor, box: torch.Tensor, present: torch.Tensor,
                    cfg: DetectorTrainConfig) -> dict[str, torch.Tensor]:
    """The weighted loss terms and their total ('loss') for one batch."""
    h, w = net.config.input_size
    pred, logit, where = net.forward_train(x)
    out = {"presence": F.binary_cross_entropy_with_logits(logit[:, 0], present.float())}
    pos = present.bool()
    if pos.any():
        aspect = w / h
        scale = torch.tensor([aspect, 1.0, 1.0])
        out["l1"] = (torch.abs(pred[pos] - box[pos]) * scale).sum(1).mean()
        out["giou"] = giou_loss(pred[pos], box[pos], aspect).mean()
        out["where"] = F.cross_entropy(where[pos], centre_cell(box[pos], net.config.grid))
    else:
        zero = logit.sum() * 0
        out.update(l1=zero, giou=zero, where=zero)
    out["loss"] = (cfg.w_l1 * out["l1"] + cfg.w_giou * out["giou"] + cfg.w_presence * out["presence"]
                   + cfg.w_where * out["where"])
    return out


def make_batch(pos: FullFrameSet, neg: FullFrameSet | None, rng: np.random.Generator, cfg: DetectorTrainConfig,
               net_cfg: DetectorConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One augmented batch: (images [B, 1, H, W], boxes [B, 3], presence [B])."""
    n_neg = int(round(cfg.batch * cfg.negative_share)) if neg is not None and len(neg) else 0
    picks = [(pos, i) for i in rng.integers(0, len(pos), cfg.batch - n_neg)]
    if n_neg:
        assert neg is not None
        picks += [(neg, i) for i in rng.integers(0, len(neg), n_neg)]
    imgs, boxes, present = [], [], []
    for src, i in picks:
        img, box, here = augment(src.images[i], src.boxes[i], bool(src.present[i]), rng, cfg.augment)
        imgs.append(img)
        boxes.append(box)
        present.append(here)
    x = preprocess(np.stack(imgs), net_cfg)
    return torch.from_numpy(x), torch.from_numpy(np.stack(boxes)), torch.tensor(present)


def with_blocked(data: FullFrameSet, every: int = 10, seed: int = 0) -> FullFrameSet:
    """`data` plus a covered-lens version of every `every`-th frame (the third negative
    kind, made deterministically for evaluation)."""
    rng = np.random.default_rng([seed, 0x626C6B])   # "blk"
    idx = np.arange(0, len(data), every)
    if not len(idx):
        return data
    imgs = np.stack([np.clip(blocked_lens(data.images[i].astype(np.float32) / 255, rng) * 255 + 0.5, 0, 255)
                     .astype(np.uint8) for i in idx])
    blocked = FullFrameSet(imgs, np.zeros((len(idx), 3), np.float32), np.full(len(idx), BLOCKED, np.int8),
                           np.zeros(len(idx), bool), data.subject[idx], data.track[idx])
    return FullFrameSet.concat([data, blocked])


@torch.no_grad()
def predict(net: HeadDetectorNet, images: np.ndarray, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(boxes [N, 3], presence scores [N]) for uint8 frames [N, H, W] at the input size."""
    was = net.training
    net.eval()
    boxes, scores = [], []
    for s in range(0, len(images), batch):
        b, p = net(torch.from_numpy(preprocess(images[s:s + batch], net.config)))
        boxes.append(b.numpy())
        scores.append(torch.sigmoid(p[:, 0]).numpy())
    net.train(was)
    return np.concatenate(boxes), np.concatenate(scores)


def evaluate(net: HeadDetectorNet, data: FullFrameSet, frame_size: tuple[int, int],
             threshold: float = 0.5) -> DetectorMetrics:
    box, score = predict(net, data.images)
    return evaluate_predictions(box, score, data.boxes, data.kind, KINDS, frame_size, threshold, data.occluded)


def _selection_score(m: DetectorMetrics) -> float:
    return m.mean_iou - m.miss_rate - (m.false_presence or 0.0)


@dataclass
class TrainResult:
    net: HeadDetectorNet
    history: list[dict[str, float]]          # every eval_every steps: mean train losses + validation figures
    best_step: int
    seconds: float


def train_detector(train_pos: FullFrameSet, train_neg: FullFrameSet | None, val: FullFrameSet | None,
                   cfg: DetectorTrainConfig = DetectorTrainConfig(), net_cfg: DetectorConfig = DetectorConfig(),
                   frame_size: tuple[int, int] = (640, 480), show_progress: bool = True,
                   on_eval: Callable[[dict[str, float]], object] | None = None) -> TrainResult:
    """Train from scratch; returns the best validation model (the last one without `val`)."""
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    net = HeadDetectorNet(net_cfg)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda t: min(1.0, (t + 1) / cfg.warmup) * 0.5 * (1 + math.cos(math.pi * min(t, cfg.steps) / cfg.steps)))
    history: list[dict[str, float]] = []
    sums: dict[str, float] = {}
    count = 0
    best: tuple[float, int, dict[str, torch.Tensor]] | None = None
    start = time.perf_counter()
    net.train()
    bar = tqdm(range(1, cfg.steps + 1), unit="step", disable=not show_progress, smoothing=0.05)
    for step in bar:
        x, box, present = make_batch(train_pos, train_neg, rng, cfg, net_cfg)
        losses = detector_losses(net, x, box, present, cfg)
        opt.zero_grad(set_to_none=True)
        losses["loss"].backward()
        opt.step()
        sched.step()
        for k, v in losses.items():
            sums[k] = sums.get(k, 0.0) + float(v.detach())
        count += 1
        if step % cfg.eval_every == 0 or step == cfg.steps:
            row = {"step": float(step), "lr": float(opt.param_groups[0]["lr"]),
                   "seconds": time.perf_counter() - start, **{k: v / count for k, v in sums.items()}}
            sums, count = {}, 0
            if val is not None and len(val):
                m = evaluate(net, val, frame_size, cfg.threshold)
                row.update(val_mean_iou=m.mean_iou, val_iou_ge_0_5=m.iou_ge_0_5,
                           val_presence_auc=m.presence_auc if m.presence_auc is not None else float("nan"),
                           val_presence_accuracy=m.presence_accuracy)
                score = _selection_score(m)
                if best is None or score > best[0]:
                    best = (score, step, copy.deepcopy(net.state_dict()))
            history.append(row)
            bar.set_postfix(loss=f"{row['loss']:.3f}", val_iou=f"{row.get('val_mean_iou', float('nan')):.3f}")
            if on_eval:
                on_eval(row)
    bar.close()
    best_step = cfg.steps
    if best is not None:
        net.load_state_dict(best[2])
        best_step = best[1]
    net.eval()
    return TrainResult(net, history, best_step, time.perf_counter() - start)


def save_detector(path: Path | str, net: HeadDetectorNet, meta: dict[str, Any] | None = None) -> Path:
    """Plain tensors and JSON-able values only: loadable with weights_only=True."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": net.config.to_dict(), "state_dict": net.state_dict(), "meta": dict(meta or {})}, path)
    return path


def load_detector(path: Path | str) -> tuple[HeadDetectorNet, dict[str, Any]]:
    data = torch.load(Path(path), map_location="cpu", weights_only=True)
    net = HeadDetectorNet(DetectorConfig.from_dict(data["config"]))
    net.load_state_dict(data["state_dict"])
    return net.eval(), data.get("meta", {})
