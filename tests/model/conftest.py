import numpy as np
import pytest
import torch

from export.parity import placeholder_clip
from model.config import ModelConfig


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def small_config(**overrides) -> ModelConfig:
    """A tiny edge network so that the whole model suite runs in seconds."""
    base = dict(input_size=(32, 32), edge_channels=(8, 16), edge_convs=(1, 1), fc_sizes=(24, 16))
    base.update(overrides)
    return ModelConfig(**base)


def moving_clip(batch: int = 2, frames: int = 12, size=(32, 32), seed: int = 0) -> torch.Tensor:
    """Clips with temporal structure (a face-like blob sweeping sideways): [B, T, 1, H, W]."""
    clips = [placeholder_clip(frames, size, seed + b) for b in range(batch)]
    return torch.from_numpy(np.stack(clips))
