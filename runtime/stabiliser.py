"""Causal crop stabilisation: a steady head centre and a steady head size, from noisy and
sometimes missing measurements.

The patent stabilises training crops with a Gaussian over the whole clip (past and
future) and the largest box of the clip. A car only knows the past, so the runtime keeps
the two properties that matter to the network, a centre without frame-to-frame jitter
and a size that does not breathe, with causal filters (numbers in
runtime.config.StabiliserConfig):

* centre: a One Euro filter (Casiez et al., CHI 2012) in head-height units, driven by the
  frames' own timestamps, so it behaves the same at any frame rate;
* size: held; it moves (exponentially, time constant size_tau_s) only towards a
  measurement outside a +-size_deadband band around the held size.
"""

from __future__ import annotations

import math

from runtime.config import StabiliserConfig


def _alpha(cutoff_hz: float, dt: float) -> float:
    tau = 1.0 / (2.0 * math.pi * cutoff_hz)
    return 1.0 / (1.0 + tau / dt)


class CropStabiliser:
    """Feed it (t, centre, size) measurements; read the stabilised ``centre`` and ``size``."""

    def __init__(self, cfg: StabiliserConfig | None = None) -> None:
        self.cfg = cfg or StabiliserConfig()
        self.reset()

    def reset(self) -> None:
        """Forget the track (a new face, or the state was reset)."""
        self.centre: tuple[float, float] | None = None
        self.size: float | None = None
        self._target_size: float | None = None
        self._velocity = (0.0, 0.0)          # filtered, head heights per second
        self._t: float | None = None

    @property
    def ready(self) -> bool:
        return self.centre is not None and self.size is not None

    def update(self, t: float, centre: tuple[float, float] | None, size: float | None = None) -> None:
        """One frame's measurement: a centre (px) and optionally a size (px, head-box side).
        None for both (a frame where the head was not found) only advances time."""
        c = self.cfg
        dt = None if self._t is None else t - self._t
        if dt is not None and dt <= 0:
            return                              # a repeated timestamp adds nothing
        self._t = t
        if size is not None and size > 0:
            if self.size is None or self._target_size is None:
                self.size = self._target_size = float(size)
            elif abs(size / self._target_size - 1.0) > c.size_deadband:
                self._target_size = float(size)
        if self.size is not None and self._target_size is not None and dt is not None:
            k = 1.0 if c.size_tau_s == 0 else 1.0 - math.exp(-dt / c.size_tau_s)
            self.size += (self._target_size - self.size) * k
        if centre is None:
            return
        if self.centre is None or dt is None or self.size is None:
            self.centre = (float(centre[0]), float(centre[1]))
            self._velocity = (0.0, 0.0)
            return
        scale = self.size
        px, py = self.centre
        vx_raw = (centre[0] - px) / scale / dt
        vy_raw = (centre[1] - py) / scale / dt
        ad = _alpha(c.d_cutoff_hz, dt)
        vx = self._velocity[0] + ad * (vx_raw - self._velocity[0])
        vy = self._velocity[1] + ad * (vy_raw - self._velocity[1])
        self._velocity = (vx, vy)
        cutoff = c.min_cutoff_hz + c.beta * math.hypot(vx, vy)
        a = _alpha(cutoff, dt)
        self.centre = (px + a * (centre[0] - px), py + a * (centre[1] - py))
