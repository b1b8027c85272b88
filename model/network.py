"""The head-pose network: conv trunk -> FC layers (per-frame) or recurrent layers -> heads.

One class covers the per-frame CNN (stage 1, ``cell="none"``) and its recurrent versions
(stage 2, ``cell="fc"`` is the patent's FC-RNN), so the conversion is a change of config
plus a copy of weights, and every variant has the same two entry points:

* ``step(image, state) -> (outputs, state)``: one frame, what the runtime and the ONNX step
  graph do. Single-pass: only the hidden state carries over, never an output.
* ``forward_sequence(images) -> (outputs, state)``: a clip, what training does. The trunk
  runs on all frames in one batch; the recurrent layers then walk the time axis.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from model.backbones import build_backbone
from model.config import ModelConfig
from model.dropout import DropoutMasks, sample_masks
from model.recurrent import RecurrentCell, fc_to_recurrent, make_cell

State = tuple[torch.Tensor, ...]
Outputs = dict[str, torch.Tensor]


class HeadPoseNet(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.config = cfg
        self.backbone = build_backbone(cfg)
        layers: list[nn.Module] = []
        width = self.backbone.out_features
        for size in cfg.fc_sizes:
            layers.append(nn.Linear(width, size) if cfg.cell == "none" else make_cell(cfg.cell, width, size))
            width = size
        self.layers = nn.ModuleList(layers)
        self.heads = nn.ModuleDict({name: nn.Linear(width, n) for name, n in cfg.outputs.items()})

    # ---- state -------------------------------------------------------------------------
    @property
    def state_sizes(self) -> list[int]:
        """Width of each recurrent layer's state tensor; empty for a per-frame network."""
        if not self.config.recurrent:
            return []
        return [self._cell(i).state_size for i in range(len(self.layers))]

    def init_state(self, batch: int = 1) -> State:
        """The state at start (and after every reset): zeros, like the hidden state the
        recurrent layers were trained to start from."""
        p = next(self.parameters())
        return tuple(torch.zeros(batch, n, device=p.device, dtype=p.dtype) for n in self.state_sizes)

    def sample_dropout(self, batch: int, generator: torch.Generator | None = None) -> DropoutMasks | None:
        """Variational-dropout masks for `batch` sequences (None when off: eval mode,
        rate 0, or a per-frame network, which uses ordinary dropout)."""
        if not self.uses_variational_dropout:
            return None
        widths = [(self._cell(i).input.in_features, self._cell(i).out_features) for i in range(len(self.layers))]
        device = next(self.parameters()).device
        return sample_masks(batch, widths, self.config.dropout, device, generator)

    @property
    def uses_variational_dropout(self) -> bool:
        return self.training and self.config.recurrent and self.config.dropout > 0

    def _cell(self, i: int) -> RecurrentCell:
        return self.layers[i]  # type: ignore[return-value]

    # ---- one frame ---------------------------------------------------------------------
    def _fc_layers(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = torch.relu(layer(F.dropout(x, self.config.dropout, self.training)))
        return x

    def _recurrent_layers(self, x: torch.Tensor, state: State,
                          masks: DropoutMasks | None) -> tuple[torch.Tensor, State]:
        new_state: list[torch.Tensor] = []
        for i, s in enumerate(state):
            m = masks.layers[i] if masks is not None else None
            if m is not None:
                x = x * m.input
            x, s_new = self._cell(i)(x, s, m.recurrent if m is not None else None)
            new_state.append(s_new)
        return x, tuple(new_state)

    def _heads(self, x: torch.Tensor) -> Outputs:
        return {name: head(x) for name, head in self.heads.items()}

    def _check_state(self, state: State, batch: int) -> None:
        sizes = self.state_sizes
        if len(state) != len(sizes):
            raise ValueError(f"state: expected {len(sizes)} tensors (one per recurrent layer), got {len(state)}")
        for i, (s, n) in enumerate(zip(state, sizes)):
            if tuple(s.shape) != (batch, n):
                raise ValueError(f"state[{i}]: expected shape {(batch, n)}, got {tuple(s.shape)}")

    def _after_trunk(self, features: torch.Tensor, state: State,
                     dropout: DropoutMasks | None) -> tuple[Outputs, State]:
        """Everything after the conv trunk for one time step. step() and
        forward_sequence() both go through here, so they agree bit for bit."""
        if not self.config.recurrent:
            return self._heads(self._fc_layers(features)), ()
        x, new_state = self._recurrent_layers(features, state, dropout)
        return self._heads(x), new_state

    def step(self, image: torch.Tensor, state: State | None = None,
             dropout: DropoutMasks | None = None) -> tuple[Outputs, State]:
        """One frame [B, C, H, W] and the previous state -> outputs [B, n] and new state.

        In training mode a recurrent model needs the sequence's dropout masks
        (``sample_dropout``) so that every step of a sequence uses the same ones.
        """
        if state is None:
            state = self.init_state(image.shape[0])
        self._check_state(state, image.shape[0])
        if dropout is None and self.uses_variational_dropout:
            raise ValueError("step() in training mode needs the sequence's dropout masks "
                             "(dropout=model.sample_dropout(batch)): one mask per sequence")
        return self._after_trunk(self.backbone(image), state, dropout)

    # ---- a clip ------------------------------------------------------------------------
    def forward_sequence(self, images: torch.Tensor, state: State | None = None,
                         dropout: DropoutMasks | None = None) -> tuple[Outputs, State]:
        """A clip [B, T, C, H, W] -> outputs [B, T, n] and the state after the last frame.

        Masks are sampled once here when training and none are given (one per sequence).
        """
        b, t = images.shape[:2]
        # The trunk sees all B*T frames in one batch (the expensive part, and batch norm
        # statistics over the whole clip); the rest walks the time axis.
        features = self.backbone(images.reshape(b * t, *images.shape[2:])).reshape(b, t, -1)
        if state is None:
            state = self.init_state(b)
        self._check_state(state, b)
        if dropout is None:
            dropout = self.sample_dropout(b)
        per_step: list[Outputs] = []
        for i in range(t):
            out, state = self._after_trunk(features[:, i], state, dropout)
            per_step.append(out)
        return {k: torch.stack([o[k] for o in per_step], 1) for k in per_step[0]}, state

    def forward(self, image: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Flat signature for ONNX export: (image, *states) -> (*outputs, *new_states)."""
        outputs, new_state = self.step(image, tuple(state) if state else None)
        return (*outputs.values(), *new_state)


def build_model(cfg: ModelConfig) -> HeadPoseNet:
    return HeadPoseNet(cfg)


def convert_to_recurrent(model: HeadPoseNet, cell: str = "fc") -> HeadPoseNet:
    """Stage 2 of the patent: the per-frame network's FC layers become recurrent layers.

    cell="fc" is eq. 5: each trained nn.Linear keeps W_io and b_f and gains W_hh = 0, so
    the result reproduces the per-frame network exactly until W_hh is trained. The trunk
    and heads are copied. cell="gru"/"lstm" (ablation) have no exact counterpart of a
    ReLU FC layer: their cells start from fresh initialisation, trunk and heads copied.
    """
    if model.config.recurrent:
        raise ValueError(f"convert_to_recurrent: the model is already recurrent (cell='{model.config.cell}')")
    new = HeadPoseNet(model.config.with_cell(cell))
    new.backbone.load_state_dict(model.backbone.state_dict())
    new.heads.load_state_dict(model.heads.state_dict())
    if cell == "fc":
        new.layers = nn.ModuleList(fc_to_recurrent(lin) for lin in model.layers)  # type: ignore[arg-type]
    p = next(model.parameters())
    new = new.to(device=p.device, dtype=p.dtype)
    new.train(model.training)
    return new
