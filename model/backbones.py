"""Convolutional trunks in plain torch (there is no torchvision here).

Both are stacks of 3x3 conv groups with a 2x2 max pool after each group, flattened into
the fully connected layers. Flattening (rather than global pooling) keeps where each
facial part is, which is exactly what head pose is read from.
"""

from __future__ import annotations

import torch
from torch import nn

from model.config import VGG16_CHANNELS, VGG16_CONVS, ModelConfig


class ConvTrunk(nn.Module):
    """Conv groups -> flat feature vector. ``out_features`` is the flattened size."""

    def __init__(self, in_channels: int, channels: tuple[int, ...], convs: tuple[int, ...],
                 input_size: tuple[int, int], batch_norm: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = in_channels
        for c_out, n in zip(channels, convs):
            for _ in range(n):
                # No conv bias when BN follows: BN's shift is the bias, and folding puts it back.
                layers.append(nn.Conv2d(c_in, c_out, 3, padding=1, bias=not batch_norm))
                if batch_norm:
                    layers.append(nn.BatchNorm2d(c_out))
                layers.append(nn.ReLU(inplace=True))
                c_in = c_out
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        h, w = input_size
        for _ in channels:
            h, w = h // 2, w // 2
        self.out_shape = (c_in, h, w)
        self.out_features = c_in * h * w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.features(x), 1)


def build_backbone(cfg: ModelConfig) -> ConvTrunk:
    if cfg.backbone == "vgg16":
        # The patent's VGG16 (configuration D), without batch norm as published.
        return ConvTrunk(cfg.in_channels, VGG16_CHANNELS, VGG16_CONVS, cfg.input_size, batch_norm=False)
    # edge: conv-BN-ReLU groups; BN trains stably from scratch and folds into the conv
    # for export (model.fold), so it costs nothing at run time.
    return ConvTrunk(cfg.in_channels, cfg.edge_channels, cfg.edge_convs, cfg.input_size, batch_norm=True)
