"""The temporal term of the stage-2 loss: it prices jitter, not the offset."""

import torch

from train.config import LossConfig
from train.stages import losses


def _loss(pred: torch.Tensor, truth: torch.Tensor, weight: float) -> tuple[float, dict[str, float]]:
    z = torch.zeros(*pred.shape[:2], 136)
    total, parts = losses({"pose": pred}, truth, z, z, LossConfig(temporal_weight=weight))
    return float(total), parts


def test_jitter_costs_more_than_an_offset_of_the_same_size():
    truth = torch.zeros(2, 16, 3)
    offset = torch.full((2, 16, 3), 2.0)                       # 2 deg off, steady
    sign = torch.tensor([1.0, -1.0]).repeat(8)[None, :, None]
    jitter = 2.0 * sign.expand(2, 16, 3)                      # 2 deg off, flipping every frame
    assert _loss(offset, truth, 0.0)[0] == _loss(jitter, truth, 0.0)[0]  # plain L2 cannot tell
    steady, parts = _loss(offset, truth, 1.0)
    shaky, parts_shaky = _loss(jitter, truth, 1.0)
    assert steady == _loss(offset, truth, 0.0)[0]
    assert shaky > steady * 4
    assert parts["pose_jitter"] == 0.0 and abs(parts_shaky["pose_jitter"] - 4.0) < 1e-5


def test_single_frames_have_no_temporal_term():
    pred, truth = torch.ones(4, 1, 3), torch.zeros(4, 1, 3)
    assert _loss(pred, truth, 5.0)[0] == _loss(pred, truth, 0.0)[0]
