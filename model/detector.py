"""The head detector: a tiny CNN that finds the driver's head box and says whether there
is a head at all, in a downscaled grayscale full frame. Plain torch (no torchvision).

Why this shape:
* one driver, one head: the network regresses one box, so there are no anchors and no
  non-maximum suppression to port to TensorRT or numpy;
* the box is a soft-argmax over a coarse grid (6x8 cells at 96x128): each cell proposes
  a box near itself (its centre + a learned offset, the size prior + a learned offset)
  and a softmax over the cells' "head here" logits weights the proposals. Convolutions
  are translation-equivariant, so a head in a corner the training cameras rarely showed
  is still found; yet the graph's output is just the box, no decoding left to the caller;
* presence is the max over the cells' presence logits: "is there a head anywhere", which
  does not depend on where the head is.

Outputs (batch N): ``box`` [N, 3] = (cx, cy, side): the centre as a share of the frame's
width and height (pixel i's centre is at (i + 0.5) / W) and the side of the square head
box as a share of the frame height; ``presence`` [N, 1], a logit (sigmoid -> score).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from model.detector_config import DetectorConfig


class HeadDetectorNet(nn.Module):
    """Conv trunk -> per-cell (head-here logit, presence logit, box offsets) -> one box."""

    def __init__(self, cfg: DetectorConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = cfg or DetectorConfig()
        layers: list[nn.Module] = []
        c_in = 1
        for i, c_out in enumerate(cfg.channels):
            stride = 2 if i < cfg.strided else 1
            layers.append(nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=not cfg.batch_norm))
            if cfg.batch_norm:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.ReLU(inplace=True))
            c_in = c_out
        self.trunk = nn.Sequential(*layers)
        self.where = nn.Conv2d(c_in, 1, 1)      # "the head is centred in this cell" logit
        self.presence = nn.Conv2d(c_in, 1, 1)   # "there is a head here" logit
        self.offsets = nn.Conv2d(c_in, 3, 1)    # dx, dy (in cells), dside (in size_scale units)
        gh, gw = cfg.grid
        ys, xs = torch.meshgrid(torch.arange(gh, dtype=torch.float32), torch.arange(gw, dtype=torch.float32),
                                indexing="ij")
        prior = torch.stack([(xs.flatten() + 0.5) / gw, (ys.flatten() + 0.5) / gh,
                             torch.full((gh * gw,), cfg.size_prior)])
        self.register_buffer("prior", prior[None])                                     # [1, 3, G]
        self.register_buffer("scale", torch.tensor([1 / gw, 1 / gh, cfg.size_scale])[None, :, None])  # [1, 3, 1]
        # Start with the size prior and a flat softmax: the first box is the frame's centre
        # at the typical head size, a sane place for the loss to start from.
        for conv in (self.where, self.offsets):
            nn.init.zeros_(conv.weight)
            if conv.bias is not None:
                nn.init.zeros_(conv.bias)

    def forward_train(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(box [N, 3], presence logit [N, 1], cell logits [N, G]); the cell logits feed an
        auxiliary loss that sharpens the softmax onto the cell holding the head's centre."""
        f = self.trunk(image)
        n = f.shape[0]
        where = torch.flatten(self.where(f), 1)                             # [N, G]
        weights = torch.softmax(where, dim=1)
        offsets = self.offsets(f).reshape(n, 3, -1)                         # [N, 3, G]
        proposals = self.prior + self.scale * offsets
        box = (proposals * weights[:, None, :]).sum(dim=2)                  # [N, 3]
        presence = torch.amax(torch.flatten(self.presence(f), 1), dim=1, keepdim=True)
        return box, presence, where

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        box, presence, _ = self.forward_train(image)
        return box, presence


@dataclass
class DetectorComplexity:
    params: int
    flops: int       # a multiply-add counts 2, as model.complexity does

    @property
    def mflops(self) -> float:
        return self.flops / 1e6


def measure_detector(cfg: DetectorConfig | None = None) -> DetectorComplexity:
    """Parameters and FLOPs of one frame, counted by torch's FlopCounterMode."""
    net = HeadDetectorNet(cfg).eval()
    image = torch.zeros(1, 1, *net.config.input_size)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(image)
    return DetectorComplexity(params=sum(p.numel() for p in net.parameters()),
                              flops=int(counter.get_total_flops()))
