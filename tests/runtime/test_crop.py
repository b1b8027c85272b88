"""The runtime crop reproduces the training crop: geometry constants shared with synth and
train, position-exact resampling, border replication."""

import cv2
import numpy as np
import pytest

from runtime.config import CropConfig
from runtime.crop import Window, cut, network_window


def test_crop_constants_are_training_s():
    from synth.video import CropSpec
    from train.data import NETWORK_WINDOW

    cfg = CropConfig()
    assert cfg.context == CropSpec().context and cfg.network_window == NETWORK_WINDOW
    assert cfg.window_per_head == pytest.approx(1.28)


def test_network_window_around_the_head():
    win = network_window((320.4, 240.6), 200.0, CropConfig())
    assert win.side == 256
    assert win.centre[0] == pytest.approx(320.4, abs=0.5) and win.centre[1] == pytest.approx(240.6, abs=0.5)


def test_training_crop_window_and_runtime_window_coincide():
    """synth's stored crop box (side 1.6 head heights on the smoothed head centre), its
    central 0.8: the runtime's window from the head box covers the same pixels."""
    from synth.video import CropSpec

    head_box = np.array([220.0, 110.0, 446.0, 336.0])          # side 226 = 2 x head radius
    centre = (head_box[:2] + head_box[2:]) / 2
    stored_side = 2 * 113.0 * CropSpec().context
    net_side = stored_side * 0.8
    win = network_window(tuple(centre), head_box[2] - head_box[0], CropConfig())
    assert abs(win.side - net_side) <= 0.5
    assert np.allclose(win.centre, centre, atol=0.5)


@pytest.mark.parametrize("side", [351, 200, 129, 100, 64, 40])
def test_cut_keeps_positions_exact(side):
    dot = np.zeros((480, 640), np.uint8)
    cv2.circle(dot, (320, 240), 12, 255, -1)          # centred on continuous (320.5, 240.5)
    win = Window(320 - side // 2, 240 - side // 2, side)
    g = cut(dot, win, (64, 64)).astype(float)
    ys, xs = np.mgrid[0:64, 0:64]
    cx, cy = (g * (xs + 0.5)).sum() / g.sum(), (g * (ys + 0.5)).sum() / g.sum()
    assert cx == pytest.approx((320.5 - win.x0) / side * 64, abs=0.08)
    assert cy == pytest.approx((240.5 - win.y0) / side * 64, abs=0.08)


def test_cut_is_an_area_average_close_to_opencvs():
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.integers(0, 255, (480, 640)).astype(np.uint8), (0, 0), 6)
    img = cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX)
    for win in (Window(150, 20, 351), Window(200, 100, 130)):
        ref = cv2.resize(img[win.y0:win.y0 + win.side, win.x0:win.x0 + win.side], (64, 64),
                         interpolation=cv2.INTER_AREA)
        assert np.abs(ref.astype(int) - cut(img, win, (64, 64))).mean() < 2.0


def test_window_outside_the_frame_replicates_the_border():
    img = np.tile(np.arange(640, dtype=np.uint8)[None] // 3, (480, 1))
    out = cut(img, Window(-64, 100, 128), (64, 64))
    assert out.shape == (64, 64)
    assert (out[:, :30] == img[0, 0]).all()             # left half: the first column repeated
    colour = np.dstack([img] * 3)
    assert cut(colour, Window(600, 440, 100), (32, 32)).shape == (32, 32, 3)
    assert (cut(img, Window(2000, 2000, 50), (16, 16)) == 0).all()    # nothing of the frame
