"""The synthetic camera renders the same frames whether or not worker processes ray-cast
them ahead of the reader (the demo's speed-up must not change what the model sees)."""

from __future__ import annotations

import numpy as np
import pytest

from runtime.synthetic_source import SyntheticSource


def _frames(workers: int, n: int) -> list[np.ndarray]:
    src = SyntheticSource(seed=3, frames=n, workers=workers)
    try:
        out = []
        while (frame := src.read()) is not None:
            out.append(frame.image)
        return out
    finally:
        src.close()


def test_render_workers_give_the_frames_of_the_serial_render():
    serial = _frames(0, 6)
    parallel = _frames(2, 6)
    assert len(serial) == len(parallel) == 6
    for a, b in zip(serial, parallel):
        np.testing.assert_array_equal(a, b)
    # consecutive frames differ (noise and motion): the comparison is not of blank images
    assert np.abs(serial[0].astype(int) - serial[5].astype(int)).mean() > 0.5


def test_frames_must_be_read_in_order_from_workers():
    src = SyntheticSource(seed=3, frames=4, workers=1)
    try:
        with pytest.raises(RuntimeError, match="read in order"):
            src._next_cast(2)
    finally:
        src.close()
