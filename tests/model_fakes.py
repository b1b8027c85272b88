"""Models that look trained, for tests of export and calibration (no training needed)."""

import torch

from model.config import ModelConfig
from model.network import HeadPoseNet, build_model, convert_to_recurrent


def trained_like(cfg: ModelConfig, seed: int = 0, radius: float = 0.9) -> HeadPoseNet:
    """A model that looks trained where it matters for export: batch-norm statistics that
    are not the identity (so folding changes the convs), recurrent weights W_hh != 0 (so
    the state changes the outputs: a freshly converted FC-RNN ignores it) and outputs of
    tens of degrees (so a relative error would show)."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    # built the patent's way: a per-frame network whose FC layers are then converted
    model = build_model(cfg.with_cell("none"))
    if cfg.recurrent:
        model = convert_to_recurrent(model, cfg.cell)
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
                # Spectral radius ~radius: the state matters for many frames and never explodes.
                w.copy_(radius * torch.randn(w.shape, generator=gen) / w.shape[1] ** 0.5)
        for head in model.heads.values():
            head.weight.mul_(30.0)  # pose in tens of degrees, like a trained head
    return model.eval()
