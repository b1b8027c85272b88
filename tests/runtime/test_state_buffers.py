"""Two buffers per state, swapped every frame: the step never reads and writes one buffer,
and what a step writes is what the next one reads."""

import numpy as np
import pytest

from runtime.state_buffers import StateBuffers


class FakeDevice:
    """Device memory as a dict of address -> array; a 'kernel' that, like TensorRT, may
    write its output while still reading its input (so aliasing would corrupt it)."""

    def __init__(self):
        self.mem = {}

    def alloc(self, addr, n):
        self.mem[addr] = np.zeros(n, np.float64)
        return addr

    def step(self, x, src, dst):
        """h_t = 0.5 h_{t-1} + x, written element by element in reverse order, reading
        the neighbour of each element: aliasing src and dst would mix old and new values."""
        a, b = self.mem[src], self.mem[dst]
        for i in reversed(range(len(a))):
            b[i] = 0.5 * a[i] + 0.1 * a[(i + 1) % len(a)] + x


def test_input_and_output_never_alias_and_alternate():
    buffers = StateBuffers([(100, 200), (300, 400)])
    seen = []
    for _ in range(6):
        for i in range(2):
            assert buffers.input(i) != buffers.output(i)
        seen.append((buffers.input(0), buffers.output(0)))
        buffers.swap()
    assert seen == [(100, 200), (200, 100)] * 3
    buffers.reset()
    assert buffers.input(0) == 100 and buffers.slot == 0


def test_the_carried_state_equals_the_reference_recurrence():
    dev = FakeDevice()
    buffers = StateBuffers([(dev.alloc(1, 4), dev.alloc(2, 4))])
    ref = np.zeros(4)
    for t in range(8):
        x = float(t)
        dev.step(x, buffers.input(0), buffers.output(0))
        ref = 0.5 * ref + 0.1 * np.roll(ref, -1) + x
        np.testing.assert_allclose(dev.mem[buffers.output(0)], ref)
        buffers.swap()
    np.testing.assert_allclose(dev.mem[buffers.input(0)], ref)   # what the next frame reads


def test_aliased_buffer_pair_is_refused():
    with pytest.raises(ValueError, match="alias"):
        StateBuffers([(7, 7)])
    arr = np.zeros(3)
    with pytest.raises(ValueError, match="state 0"):
        StateBuffers([(arr, arr)])
    pinned = StateBuffers([(np.zeros(3), np.zeros(3))])    # equal contents, distinct memory: fine
    assert pinned.input(0) is not pinned.output(0)
