"""Recurrent layers written from Linear ops, so every cell exports to plain ONNX
(MatMul/Gemm, Add, activations) that TensorRT parses on every version.

``FCRecurrent`` is the patent's layer (claim 1, eq. 5):  f_t = H(W_io x_t + W_hh f_{t-1} + b_f).
``fc_to_recurrent`` turns a trained nn.Linear into one, keeping W_io and b_f and adding
W_hh = 0, so the converted network reproduces the per-frame network exactly until W_hh is
trained. GRU and LSTM cells are the alternatives the patent names, for ablation.

Every cell has ``state_size`` (width of its one state tensor), ``out_features`` (width of
its output h) and ``forward(x, state, recurrent_mask) -> (output, new_state)``; the LSTM
packs (h, c) into one tensor so that the step graph keeps one state tensor per recurrent
layer. ``recurrent_mask`` (variational dropout, model.dropout) multiplies h_{t-1} where it
enters the recurrent matrix, never the carried state itself (nor the LSTM's c).
"""

from __future__ import annotations

import torch
from torch import nn


class FCRecurrent(nn.Module):
    """f_t = ReLU(W_io x_t + b_f + W_hh f_{t-1}). ReLU is H: the VGG FC layers' activation."""

    def __init__(self, in_features: int, hidden: int) -> None:
        super().__init__()
        self.input = nn.Linear(in_features, hidden)               # W_io, b_f (from the trained FC)
        self.recurrent = nn.Linear(hidden, hidden, bias=False)    # W_hh (new)
        nn.init.zeros_(self.recurrent.weight)
        self.state_size = hidden
        self.out_features = hidden

    def forward(self, x: torch.Tensor, state: torch.Tensor,
                recurrent_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        prev = state if recurrent_mask is None else state * recurrent_mask
        h = torch.relu(self.input(x) + self.recurrent(prev))
        return h, h


def fc_to_recurrent(linear: nn.Linear) -> FCRecurrent:
    """Eq. 5 conversion: keep the trained W_io and b_f, add a zero W_hh."""
    if linear.bias is None:
        raise ValueError("fc_to_recurrent: the FC layer has no bias b_f to keep")
    cell = FCRecurrent(linear.in_features, linear.out_features)
    with torch.no_grad():
        cell.input.weight.copy_(linear.weight)
        cell.input.bias.copy_(linear.bias)
    return cell.to(device=linear.weight.device, dtype=linear.weight.dtype)


class GRUCell(nn.Module):
    """GRU (Cho et al. 2014) in torch.nn.GRUCell's parameterisation, from two Linears."""

    def __init__(self, in_features: int, hidden: int) -> None:
        super().__init__()
        self.input = nn.Linear(in_features, 3 * hidden)
        self.recurrent = nn.Linear(hidden, 3 * hidden)
        self.hidden = hidden
        self.state_size = hidden
        self.out_features = hidden

    def forward(self, x: torch.Tensor, state: torch.Tensor,
                recurrent_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        gi = self.input(x)
        gh = self.recurrent(state if recurrent_mask is None else state * recurrent_mask)
        i_r, i_z, i_n = gi.chunk(3, dim=1)
        h_r, h_z, h_n = gh.chunk(3, dim=1)
        r = torch.sigmoid(i_r + h_r)
        z = torch.sigmoid(i_z + h_z)
        n = torch.tanh(i_n + r * h_n)
        h = (1.0 - z) * n + z * state
        return h, h


class LSTMCell(nn.Module):
    """LSTM in torch.nn.LSTMCell's parameterisation; state = concat(h, c), width 2*hidden."""

    def __init__(self, in_features: int, hidden: int) -> None:
        super().__init__()
        self.input = nn.Linear(in_features, 4 * hidden)
        self.recurrent = nn.Linear(hidden, 4 * hidden)
        self.hidden = hidden
        self.state_size = 2 * hidden
        self.out_features = hidden

    def forward(self, x: torch.Tensor, state: torch.Tensor,
                recurrent_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        h_prev, c_prev = state[:, : self.hidden], state[:, self.hidden :]
        if recurrent_mask is not None:
            h_prev = h_prev * recurrent_mask
        gates = self.input(x) + self.recurrent(h_prev)
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c_prev + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, torch.cat([h, c], dim=1)


RecurrentCell = FCRecurrent | GRUCell | LSTMCell


def make_cell(kind: str, in_features: int, hidden: int) -> RecurrentCell:
    if kind == "fc":
        return FCRecurrent(in_features, hidden)
    if kind == "gru":
        return GRUCell(in_features, hidden)
    if kind == "lstm":
        return LSTMCell(in_features, hidden)
    raise ValueError(f"unknown recurrent cell '{kind}' (known: fc, gru, lstm)")
