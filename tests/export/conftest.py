import pytest
import torch

from model.config import ModelConfig
from model.network import HeadPoseNet, build_model


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def tiny_config(**overrides) -> ModelConfig:
    """A tiny edge network so that export tests run in a fraction of a second."""
    base = dict(input_size=(32, 32), edge_channels=(8, 16), edge_convs=(1, 1), fc_sizes=(24, 16))
    base.update(overrides)
    return ModelConfig(**base)


def trained_like(cfg: ModelConfig, seed: int = 0) -> HeadPoseNet:
    """A model that looks trained where it matters for export: batch-norm statistics that
    are not the identity (so folding changes the convs), recurrent weights W_hh != 0 (so
    the state changes the outputs: a freshly converted FC-RNN ignores it) and outputs of
    tens of degrees (so a relative error would show)."""
    gen = torch.Generator().manual_seed(seed)
    model = build_model(cfg)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(0.2 * torch.randn(m.num_features, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=gen))
                m.weight.copy_(1.0 + 0.2 * torch.randn(m.num_features, generator=gen))
                m.bias.copy_(0.1 * torch.randn(m.num_features, generator=gen))
        if cfg.recurrent:
            for layer in model.layers:
                w = layer.recurrent.weight  # type: ignore[union-attr]
                # Spectral radius ~0.9: the state matters for many frames and never explodes.
                w.copy_(0.9 * torch.randn(w.shape, generator=gen) / w.shape[1] ** 0.5)
        for head in model.heads.values():
            head.weight.mul_(30.0)  # pose in tens of degrees, like a trained head
    return model.eval()
