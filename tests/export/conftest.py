import pytest
import torch

from model.config import ModelConfig
from tests.model_fakes import trained_like  # noqa: F401  (the export tests import it from here)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def tiny_config(**overrides) -> ModelConfig:
    """A tiny edge network so that export tests run in a fraction of a second."""
    base = dict(input_size=(32, 32), edge_channels=(8, 16), edge_convs=(1, 1), fc_sizes=(24, 16))
    base.update(overrides)
    return ModelConfig(**base)
