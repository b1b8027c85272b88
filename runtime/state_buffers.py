"""Two buffers per recurrent state, swapped every frame: never the same buffer as the
step's state input and its state output.

TensorRT reads the state input and writes the state output during one enqueue; binding
one device buffer as both has been reported to give wrong results (SPEC.md, deployment
facts), because a layer may write its output before every read of the input is done.
So each state has buffers A and B: frame k reads A and writes B, frame k + 1 reads B and
writes A, and the new state never moves. Pure Python over any buffer objects (device
pointers, page-locked host arrays, test fakes), so the logic is tested on a CPU.
"""

from __future__ import annotations

from typing import Generic, Sequence, TypeVar

T = TypeVar("T")


class StateBuffers(Generic[T]):
    """pairs[i] = (buffer A, buffer B) of state i. ``input(i)`` / ``output(i)`` for this frame,
    ``swap()`` after it; ``reset()`` makes A the input again."""

    def __init__(self, pairs: Sequence[tuple[T, T]]) -> None:
        for i, (a, b) in enumerate(pairs):
            # device pointers are ints (equal = the same memory); other buffers by identity
            if a is b or (isinstance(a, int) and isinstance(b, int) and a == b):
                raise ValueError(f"state {i}: its two buffers are the same object; input and output would alias")
        self._pairs = [tuple(p) for p in pairs]
        self._flip = 0

    def __len__(self) -> int:
        return len(self._pairs)

    @property
    def slot(self) -> int:
        """Which of the two buffers (0 = A, 1 = B) is this frame's input."""
        return self._flip

    def input(self, i: int) -> T:
        return self._pairs[i][self._flip]

    def output(self, i: int) -> T:
        return self._pairs[i][1 - self._flip]

    def swap(self) -> None:
        """After a step: what was written becomes what is read."""
        self._flip = 1 - self._flip

    def reset(self) -> None:
        self._flip = 0
