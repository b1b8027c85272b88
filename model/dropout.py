"""Variational dropout (Gal & Ghahramani 2016), as the patent trains its RNN: ONE dropout
mask per sequence, repeated at every time step, on both the feed-forward input and the
recurrent connection of each recurrent layer. Re-sampling per step (ordinary dropout)
would inject noise into the hidden state at every frame, which the recurrent weights
then learn to fight instead of learning the dynamics.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class LayerMasks:
    """Masks of one recurrent layer, shapes [batch, in_features] and [batch, hidden]."""

    input: torch.Tensor
    recurrent: torch.Tensor


@dataclass
class DropoutMasks:
    """The masks of a whole sequence batch: one LayerMasks per recurrent layer."""

    layers: list[LayerMasks]


def bernoulli_mask(batch: int, width: int, rate: float, device: torch.device,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Inverted-dropout mask: 0 with probability `rate`, else 1/(1-rate), so that the
    expected activation is unchanged and evaluation needs no rescaling."""
    keep = 1.0 - rate
    draw = torch.rand(batch, width, device=device, generator=generator)
    return (draw < keep).to(torch.float32) / keep


def sample_masks(batch: int, widths: list[tuple[int, int]], rate: float, device: torch.device,
                 generator: torch.Generator | None = None) -> DropoutMasks:
    """One mask pair per layer for `batch` sequences; widths = [(in_features, hidden), ...]."""
    return DropoutMasks([
        LayerMasks(bernoulli_mask(batch, w_in, rate, device, generator),
                   bernoulli_mask(batch, w_h, rate, device, generator))
        for w_in, w_h in widths
    ])
