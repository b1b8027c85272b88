"""The recurrent state, carried frame to frame, and the rules that start it afresh.

Single pass (SPEC.md, patent step 6): only the hidden state crosses frames; no output is
ever fed back as an input. The state belongs to one head's recent motion, so it restarts
from zeros (the state training starts every sequence with):

* ``start``: the first frame that is stepped;
* ``reopened``: the camera was re-opened (time jumped, the driver may have moved);
* ``lost``: the face was not seen for longer than ``reset_after_lost_s`` (applied when it
  is seen again; nothing is stepped meanwhile); a source that stalled (a gap in the
  frames' timestamps) counts the same, as the face was not seen during the gap;
* ``far``: the head is found more than ``reappear_far`` head heights from where it was
  last seen (another face, or the localiser had locked onto something else);
* ``non-finite``: an output or the new state holds inf/nan; the frame's output is dropped
  (reported as no pose) and the next frame starts from zeros.

Short misses (up to ``coast_s``) are stepped on the held crop, as training's smoothing
filled missed detections, and still count as seen. Timing uses the frames' timestamps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from runtime.config import StateConfig

START = "start"
REOPENED = "reopened"
LOST = "lost"
FAR = "far"
NON_FINITE = "non-finite"
RESET_REASONS = (START, REOPENED, LOST, FAR, NON_FINITE)


@dataclass(frozen=True)
class Plan:
    """What to do this frame: step the network (on the found or the held crop), after a
    reset (reason) or not; ``coasting`` when the head was not found and the crop is held."""

    step: bool
    reset: str | None
    coasting: bool


def all_finite(arrays: Sequence[np.ndarray] | Any) -> bool:
    return all(bool(np.isfinite(a).all()) for a in arrays)


class StateKeeper:
    """Owns the state between frames. ``plan`` before the step, ``accept`` after it."""

    def __init__(self, zero: Callable[[], Any], cfg: StateConfig | None = None) -> None:
        self.cfg = cfg or StateConfig()
        self._zero = zero
        self.states: Any = None               # None: the next step starts from zeros
        self._pending: str | None = START
        self._seen_t: float | None = None
        self._seen_centre: tuple[float, float] | None = None
        self._seen_size: float | None = None
        self.resets: dict[str, int] = {r: 0 for r in RESET_REASONS}

    def source_reopened(self) -> None:
        self.states = None
        self._pending = REOPENED
        self._seen_t = self._seen_centre = None

    def plan(self, t: float, centre: tuple[float, float] | None, size: float | None) -> Plan:
        """Decide for a frame at time t where the head was found at ``centre`` (head size
        ``size`` px, the stabilised one) or not found (None)."""
        c = self.cfg
        if centre is None:
            if self._seen_t is not None and t - self._seen_t <= c.coast_s and self._pending is None:
                return Plan(True, None, True)
            return Plan(False, None, False)
        reason = self._pending
        if reason is None and self._seen_t is not None and t - self._seen_t > c.reset_after_lost_s:
            reason = LOST
        if (reason is None and self._seen_centre is not None and size is not None and size > 0
                and math.dist(centre, self._seen_centre) > c.reappear_far * size):
            reason = FAR
        self._seen_t, self._seen_centre, self._seen_size = t, centre, size
        if reason is not None:
            self.states = None
            self._pending = None
            self.resets[reason] += 1
        return Plan(True, reason, False)

    def current(self) -> Any:
        """The state to feed this frame (zeros after a reset)."""
        if self.states is None:
            self.states = self._zero()
        return self.states

    def accept(self, outputs: dict[str, np.ndarray], new_states: Any) -> bool:
        """Carry the new state if everything is finite; else drop it and reset next frame."""
        if all_finite(outputs.values()) and all_finite(new_states):
            self.states = new_states
            return True
        self.states = None
        self._pending = NON_FINITE      # counted (and reported) on the frame that restarts
        return False
