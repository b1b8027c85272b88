"""Patent crops for real video: smoothing, filling misses, localiser jitter, cutting."""

import numpy as np
import pytest

from train.crops import (CropConfig, JitterConfig, boxes_from_centres, boxes_from_landmarks, crop_track, cut_crop,
                         localiser_jitter, on_frame_grid)


def blob_image(shape, centres, sigma=1.5, peak=200.0):
    """A dark image with Gaussian blobs centred at subpixel (x, y) OpenCV positions."""
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
    img = np.zeros(shape[:2])
    for cx, cy in centres:
        img += peak * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma ** 2))
    img = np.clip(img + 10, 0, 255).astype(np.uint8)
    return np.repeat(img[..., None], shape[2], -1) if len(shape) == 3 else img


def centroid(img, around, radius=6):
    """Intensity-weighted centre (x, y) of the blob near `around`, background removed."""
    g = img.astype(np.float64) if img.ndim == 2 else img.astype(np.float64).mean(-1)
    x0, y0 = int(round(around[0])), int(round(around[1]))
    ys, xs = np.mgrid[max(y0 - radius, 0):y0 + radius + 1, max(x0 - radius, 0):x0 + radius + 1]
    w = np.clip(g[ys, xs] - np.median(g), 0, None)
    return np.array([(w * xs).sum() / w.sum(), (w * ys).sum() / w.sum()])


def test_constant_boxes_give_a_constant_crop_with_the_configured_framing():
    boxes = np.tile([100.0, 50.0, 140.0, 90.0], (20, 1))                  # 40 px landmark box
    track = crop_track(boxes, CropConfig.for_landmark_boxes())
    side = 40 * 2.75
    centre = np.array([120.0, 70.0 - 0.24 * 40])
    np.testing.assert_allclose(track.boxes, np.tile(np.r_[centre - side / 2, centre + side / 2], (20, 1)))
    head = crop_track(boxes, CropConfig.for_head_boxes())
    np.testing.assert_allclose(head.boxes[0], [120 - 32, 70 - 32, 120 + 32, 70 + 32])
    assert not track.filled.any()


def test_missing_frames_are_interpolated_before_smoothing():
    t = np.arange(30, dtype=float)
    cx = 100 + 2 * t                                                        # steady pan
    boxes = np.column_stack([cx - 20, np.full(30, 40.0), cx + 20, np.full(30, 80.0)])
    boxes[10:14] = np.nan                                                   # four missed detections
    boxes[0] = np.nan                                                       # and the first frame
    track = crop_track(boxes, CropConfig(context=1.0, centre_offset=(0, 0), sigma_frames=2.0))
    assert track.filled.tolist() == [True] + [False] * 9 + [True] * 4 + [False] * 16
    centres = (track.boxes[:, 0] + track.boxes[:, 2]) / 2
    np.testing.assert_allclose(centres[6:24], cx[6:24], atol=0.01)     # a linear track survives smoothing
    assert np.all(np.isfinite(track.boxes))
    with pytest.raises(ValueError, match="every frame's box is missing"):
        crop_track(np.full((5, 4), np.nan))


def test_smoothing_steadies_noisy_centres_and_the_side_is_the_largest_box():
    rng = np.random.default_rng(0)
    n = 300
    noise = rng.normal(0, 3.0, (n, 2))
    sides = np.full(n, 40.0)
    sides[150] = 60.0                                                       # one large box
    c = np.array([200.0, 100.0]) + noise
    boxes = np.column_stack([c - sides[:, None] / 2, c + sides[:, None] / 2])
    whole = crop_track(boxes, CropConfig(context=1.0, centre_offset=(0, 0), size_window_frames=None, sigma_frames=2.0))
    centres = (whole.boxes[:, :2] + whole.boxes[:, 2:]) / 2
    assert np.std(np.diff(centres, axis=0)) < 0.25 * np.std(np.diff(c, axis=0))
    np.testing.assert_allclose(whole.boxes[:, 2] - whole.boxes[:, 0], 60.0)   # the clip's largest
    windowed = crop_track(boxes, CropConfig(context=1.0, centre_offset=(0, 0), size_window_frames=31))
    side = windowed.boxes[:, 2] - windowed.boxes[:, 0]
    assert side[150] > 50 and side[0] == pytest.approx(40.0) and side[-1] == pytest.approx(40.0)


def test_box_helpers():
    lm = np.zeros((3, 68, 2))
    lm[:, :, 0] = np.linspace(10, 50, 68)
    lm[:, :, 1] = np.linspace(20, 40, 68)
    lm[1, 5] = np.nan
    b = boxes_from_landmarks(lm)
    np.testing.assert_allclose(b[0], [10, 20, 50, 40])
    assert np.isnan(b[1]).all()
    np.testing.assert_allclose(boxes_from_centres([[10, 20]], 5.0), [[5, 15, 15, 25]])
    grid, filled = on_frame_grid([3, 4, 7], np.arange(12.0).reshape(3, 4))
    assert grid.tolist() == [3, 4, 5, 6, 7]
    assert np.isnan(filled[2:4]).all() and filled[4].tolist() == [8, 9, 10, 11]


def test_localiser_jitter_is_deterministic_correlated_and_of_the_documented_size():
    n = 4000
    boxes = np.tile([100.0, 100.0, 200.0, 200.0], (n, 1))
    boxes[7] = np.nan
    a = localiser_jitter(boxes, np.random.default_rng(5))
    b = localiser_jitter(boxes, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    assert np.isnan(a[7]).all() and np.isfinite(np.delete(a, 7, 0)).all()
    quiet = localiser_jitter(boxes, np.random.default_rng(6), JitterConfig(miss_rate=0.0))
    dx = ((quiet[:, 0] + quiet[:, 2]) / 2 - 150.0) / 100.0
    dx = dx[np.isfinite(dx)]
    assert 0.02 < dx.std() < 0.04                                          # centre_sigma = 0.03 sides
    lag1 = np.corrcoef(dx[:-1], dx[1:])[0, 1]
    assert lag1 == pytest.approx(np.exp(-1 / 6), abs=0.05)                 # slow wander, not white noise
    side = (quiet[:, 2] - quiet[:, 0])[np.isfinite(quiet[:, 0])]
    assert 0.03 < np.log(side / 100).std() < 0.05
    misses = localiser_jitter(boxes, np.random.default_rng(7),
                              JitterConfig(centre_sigma=0.0, scale_sigma=0.0, miss_rate=0.05))
    off = np.hypot(*(((misses[:, :2] + misses[:, 2:]) / 2 - 150) / 100).T)
    off = off[np.isfinite(off)]
    assert 0.05 < (off > 0.09).mean() < 0.4 and off.max() <= 0.25 + 1e-9


def test_cut_crop_identity_box_returns_the_image():
    img = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    crop, lm = cut_crop(img, (-0.5, -0.5, 29.5, 19.5), (30, 20), landmarks=[[0.0, 0.0], [29.0, 19.0]])
    np.testing.assert_array_equal(crop, img)
    np.testing.assert_allclose(lm, [[0.5 / 30, 0.5 / 20], [29.5 / 30, 19.5 / 20]])


@pytest.mark.parametrize("box, size", [((40.3, 30.7, 140.3, 130.7), 80),      # downscale 1.25
                                       ((70.2, 55.9, 102.2, 87.9), 80),       # upscale 2.5
                                       ((-20.0, -10.0, 280.0, 290.0), 64)])   # 4.7x down, partly outside
def test_cut_crop_keeps_a_landmark_on_the_pixel_it_marks(box, size):
    spot = np.array([[85.37, 71.21]])
    sigma = 2.5 if box[2] - box[0] > 200 else 1.5
    img = blob_image((200, 240), spot, sigma=sigma)
    crop, lm = cut_crop(img, box, size, landmarks=spot)
    expected = lm[0] * size - 0.5                     # crop-normalised -> crop pixel centre coords
    radius = int(3 * sigma * size / (box[2] - box[0])) + 3
    np.testing.assert_allclose(centroid(crop, expected, radius=radius), expected, atol=0.1)


def test_cut_crop_outside_the_image_replicates_the_border():
    img = np.tile(np.arange(10, dtype=np.uint8)[None, :] * 20, (10, 1))
    crop, _ = cut_crop(img, (20.0, 0.0, 30.0, 10.0), 10)                 # wholly to the right
    assert crop.shape == (10, 10) and (crop == 180).all()
    with pytest.raises(ValueError, match="x1 > x0"):
        cut_crop(img, (5, 5, 5, 9), 10)
