"""Parameters and FLOPs per frame, counted by torch's own FlopCounterMode.

FLOPs here are floating-point operations (a multiply-add counts 2), which is what the
edge target (<= 100 MFLOPs per frame) is stated in; multiply-accumulates (MACs, which
many papers call "FLOPs") are half of it. A per-frame figure is one `step`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from model.config import ModelConfig
from model.network import build_model


@dataclass
class Complexity:
    backbone: str
    input: str
    cell: str
    params: int
    trunk_params: int
    flops: int

    @property
    def mflops(self) -> float:
        return self.flops / 1e6

    @property
    def macs(self) -> int:
        return self.flops // 2


def measure(cfg: ModelConfig) -> Complexity:
    model = build_model(cfg).eval()
    image = torch.zeros(1, cfg.in_channels, *cfg.input_size)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.step(image, model.init_state(1))
    return Complexity(
        backbone=cfg.backbone,
        input=f"{cfg.in_channels}x{cfg.input_size[0]}x{cfg.input_size[1]}",
        cell=cfg.cell,
        params=sum(p.numel() for p in model.parameters()),
        trunk_params=sum(p.numel() for p in model.backbone.parameters()),
        flops=int(counter.get_total_flops()),
    )
