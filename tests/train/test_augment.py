"""Sequence augmentation: mirroring, reverse playback, the face window, photometrics."""

import numpy as np
import pytest

from dms.landmarks import GROUPS, MIRROR_PERMUTATION
from train.augment import (AugmentConfig, Clip, Window, apply_window, augment_clip, centre_window,
                           make_sequence_augment, mirror, photometric, reverse, sample_window)

T, S, OUT = 6, 80, 64


def blobs(t, size, centres_px, sigma=1.6, color=False):
    """[t, size, size] frames with a Gaussian blob per frame at subpixel pixel-centre coords."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    out = np.empty((t, size, size), np.uint8)
    for i, (cx, cy) in enumerate(centres_px):
        out[i] = np.clip(20 + 200 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma ** 2)), 0, 255)
    return np.repeat(out[..., None], 3, -1) if color else out


def centroid(img, around, radius):
    g = img.astype(np.float64) if img.ndim == 2 else img.astype(np.float64).mean(-1)
    x0, y0 = int(round(around[0])), int(round(around[1]))
    ys, xs = np.mgrid[max(y0 - radius, 0):y0 + radius + 1, max(x0 - radius, 0):x0 + radius + 1]
    w = np.clip(g[ys, xs] - 20.0, 0, None)
    return np.array([(w * xs).sum() / w.sum(), (w * ys).sum() / w.sum()])


def random_clip(seed=0, color=False, t=T):
    rng = np.random.default_rng(seed)
    shape = (t, S, S, 3) if color else (t, S, S)
    return Clip(rng.integers(0, 256, shape, dtype=np.uint8), rng.uniform(-40, 40, (t, 3)),
                rng.uniform(0.1, 0.9, (t, 68, 2)), rng.random((t, 68)) < 0.8)


def assert_clips_equal(a, b):
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_allclose(a.pose, b.pose)
    np.testing.assert_allclose(a.landmarks, b.landmarks)
    np.testing.assert_array_equal(a.visible, b.visible)


@pytest.mark.parametrize("color", [False, True])
def test_mirroring_twice_is_identity(color):
    clip = random_clip(1, color)
    assert_clips_equal(mirror(mirror(clip)), clip)


def test_mirror_moves_an_asymmetric_blob_and_negates_yaw_and_roll():
    # A blob on the subject's right eye (image left); its landmark marks it.
    lo, _ = GROUPS["right_eye"]
    px = np.array([22.3, 31.6])
    lm = np.full((1, 68, 2), 0.5)
    lm[0, lo] = (px + 0.5) / S                                     # pixel centre -> crop-normalised
    clip = Clip(blobs(1, S, [px]), np.array([[10.0, 25.0, -8.0]]), lm, np.ones((1, 68), bool))
    clip.visible[0, lo] = False
    out = mirror(clip)
    moved = centroid(out.frames[0], (S - 1 - px[0], px[1]), 6)
    np.testing.assert_allclose(moved, [S - 1 - px[0], px[1]], atol=0.05)    # now on the image right
    np.testing.assert_allclose(out.pose, [[10.0, -25.0, 8.0]])
    assert lo == 36 and MIRROR_PERMUTATION[36] == 45                 # right outer corner <-> left outer
    np.testing.assert_allclose(out.landmarks[0, 45] * S - 0.5, moved, atol=0.05)   # the label follows the blob
    assert not out.visible[0, 45] and out.visible[0, lo]             # visibility permuted with the points


def test_reverse_playback_reverses_frames_and_labels():
    clip = random_clip(2)
    out = reverse(clip)
    np.testing.assert_array_equal(out.frames, clip.frames[::-1])
    np.testing.assert_array_equal(out.pose, clip.pose[::-1])
    np.testing.assert_array_equal(out.landmarks, clip.landmarks[::-1])
    np.testing.assert_array_equal(out.visible, clip.visible[::-1])
    assert_clips_equal(reverse(out), clip)


def test_centre_window_is_an_exact_copy_of_the_central_64_pixels():
    clip = random_clip(3)
    out = centre_window(clip, (OUT, OUT))
    np.testing.assert_array_equal(out.frames, clip.frames[:, 8:72, 8:72])
    np.testing.assert_allclose(out.landmarks, (clip.landmarks * S - 8) / 64)


@pytest.mark.parametrize("seed", range(6))
def test_scale_and_translation_keep_a_landmark_on_the_pixel_it_marks(seed):
    # Draw a dot at each frame's landmark, augment the window, and find the dot again
    # exactly where the mapped landmark says it is.
    rng = np.random.default_rng(seed)
    px = rng.uniform(22, 58, (T, 2))
    lm = np.full((T, 68, 2), 0.5)
    lm[:, 30] = (px + 0.5) / S
    clip = Clip(blobs(T, S, px), np.zeros((T, 3)), lm)
    cfg = AugmentConfig(drift_p=1.0 if seed % 2 else 0.0, drift_scale=0.05, drift_shift=0.04)
    window = sample_window(rng, cfg)
    out = apply_window(clip, window, (OUT, OUT))
    for i in range(T):
        where = out.landmarks[i, 30] * OUT - 0.5
        np.testing.assert_allclose(centroid(out.frames[i], where, 6), where, atol=0.08)
    if seed % 2:                                                     # a drifting window moves
        assert not np.allclose(out.landmarks[0, 0], out.landmarks[-1, 0])


def test_window_to_a_smaller_network_input_low_passes_and_maps_exactly():
    px = np.array([[37.3, 45.8]])
    lm = np.full((1, 68, 2), 0.5)
    lm[0, 8] = (px[0] + 0.5) / S
    clip = Clip(blobs(1, S, px, sigma=2.5), None, lm)
    out = apply_window(clip, Window(scale=(1.05, 1.05), shift=((0.03, -0.02), (0.03, -0.02))), (32, 32))
    where = out.landmarks[0, 8] * 32 - 0.5
    np.testing.assert_allclose(centroid(out.frames[0], where, 4), where, atol=0.1)


@pytest.mark.parametrize("color", [False, True])
def test_photometric_keeps_shape_dtype_and_labels(color):
    clip = random_clip(4, color)
    still = AugmentConfig(mirror_p=0.0, reverse_p=0.0, scale_range=(1.0, 1.0), shift_max=0.0, drift_p=0.0,
                          blur_p=1.0, vignette_p=1.0, noise_p=1.0, jpeg_p=1.0)
    out = augment_clip(clip, np.random.default_rng(0), (OUT, OUT), still)
    ref = centre_window(clip, (OUT, OUT))
    assert out.frames.shape == ref.frames.shape and out.frames.dtype == np.uint8
    assert not np.array_equal(out.frames, ref.frames)
    np.testing.assert_array_equal(out.pose, clip.pose)
    np.testing.assert_array_equal(out.landmarks, ref.landmarks)
    np.testing.assert_array_equal(out.visible, clip.visible)
    direct = photometric(clip.frames, np.random.default_rng(1))
    assert direct.shape == clip.frames.shape and direct.dtype == np.uint8


def test_gray_conversion_of_colour_frames():
    clip = random_clip(5, color=True)
    out = photometric(clip.frames, np.random.default_rng(0), AugmentConfig(gray_p=1.0, jpeg_p=0.0))
    assert out.shape == clip.frames.shape
    assert np.abs(out[..., 0].astype(int) - out[..., 2]).max() <= 1


def test_photometric_parameters_are_per_sequence_and_noise_per_frame():
    flat = np.full((4, 32, 32), 128, np.uint8)
    cfg = AugmentConfig(blur_p=0.0, vignette_p=0.0, noise_p=1.0, noise_max=0.02, jpeg_p=0.0)
    out = photometric(flat, np.random.default_rng(3), cfg).astype(float)
    means = out.mean(axis=(1, 2))
    assert np.ptp(means) < 1.0                     # one gain / gamma / contrast for all frames
    assert not np.array_equal(out[0], out[1])      # but fresh noise each frame


def test_same_seed_same_result_and_seeds_differ():
    clip = random_clip(6)
    a = augment_clip(clip, np.random.default_rng(11), (OUT, OUT))
    b = augment_clip(clip, np.random.default_rng(11), (OUT, OUT))
    assert_clips_equal(a, b)
    c = augment_clip(clip, np.random.default_rng(12), (OUT, OUT))
    assert not np.array_equal(a.frames, c.frames)


def test_make_sequence_augment_for_the_training_loop():
    clip = random_clip(7)
    aug = make_sequence_augment((64, 64), {"mirror_p": 1.0, "reverse_p": 1.0, "scale_range": [1.0, 1.0],
                                           "shift_max": 0.0, "drift_p": 0.0})
    visible = np.zeros((T, 68), bool)
    visible[0, 36:42] = True                      # the right eye, on the first frame only
    frames, pose, lms, vis = aug(clip.frames, clip.pose.astype(np.float32), clip.landmarks.astype(np.float32),
                                 visible, np.random.default_rng(0))
    assert frames.shape == (T, 64, 64) and frames.dtype == np.uint8
    assert pose.dtype == np.float32 and lms.dtype == np.float32
    expected = centre_window(mirror(reverse(clip)), (64, 64))
    np.testing.assert_allclose(pose, expected.pose, atol=1e-5)
    np.testing.assert_allclose(lms, expected.landmarks, atol=1e-6)
    # visibility follows its landmarks: mirrored (left eye) and reversed (last frame)
    assert vis[-1, 42:48].all() and vis.sum() == 6
    with pytest.raises(ValueError, match=r"augment\.mirror_prob: unknown setting"):
        make_sequence_augment((64, 64), {"mirror_prob": 0.5})


@pytest.mark.parametrize("kw, match", [({"mirror_p": 1.5}, "mirror_p"), ({"scale_range": (1.1, 0.9)}, "scale_range"),
                                       ({"jpeg_quality": (0, 50)}, "jpeg_quality"),
                                       ({"window_fraction": 0.0}, "window_fraction")])
def test_bad_settings_are_refused_by_name(kw, match):
    with pytest.raises(ValueError, match=match):
        AugmentConfig(**kw)


def test_clip_checks_shapes():
    with pytest.raises(ValueError, match="uint8"):
        Clip(np.zeros((2, 8, 8), np.float32))
    with pytest.raises(ValueError, match=r"pose must be \[T, 3\]"):
        Clip(np.zeros((2, 8, 8), np.uint8), np.zeros((3, 3)))


def test_in_plane_rotation_keeps_image_landmarks_and_pose_in_agreement():
    """Project the mean head's landmarks at a pose (orthographic, crop-centred); turn the
    crop; the turned landmarks must be the projection at the turned pose, and a dot drawn
    on a landmark must land on its turned position."""
    from dms.angles import euler_to_matrix
    from train.augment import Clip, rotate_in_plane
    from train.real_eval import mean_head_landmarks

    size = 80

    def project(pose):
        x = mean_head_landmarks() @ euler_to_matrix(pose).T
        return (np.column_stack([-x[:, 1], x[:, 2]]) * 250.0 + size / 2) / size     # crop-normalised

    pose = np.array([[8.0, -25.0, 5.0]])
    lm = project(pose[0])[None]
    frames = np.zeros((1, size, size), np.uint8)
    u, v = (lm[0, 30] * size).astype(int)                        # the nose tip's pixel
    frames[0, v - 1:v + 2, u - 1:u + 2] = 255
    out = rotate_in_plane(Clip(frames, pose, lm, np.ones((1, 68), bool)), 20.0)
    np.testing.assert_allclose(out.landmarks[0], project(out.pose[0]), atol=1e-6)
    assert not np.allclose(out.pose, pose)
    ys, xs = np.nonzero(out.frames[0] > 60)
    dot = np.array([np.average(xs + 0.5, weights=out.frames[0][ys, xs]), np.average(ys + 0.5, weights=out.frames[0][ys, xs])])
    np.testing.assert_allclose(dot / size, out.landmarks[0, 30], atol=1.0 / size)
    # counter-clockwise as seen: a point right of the centre moves up (y down in images)
    right = out.landmarks[0, 16] - 0.5
    assert np.arctan2(-right[1], right[0]) > np.arctan2(-(lm[0, 16] - 0.5)[1], (lm[0, 16] - 0.5)[0])


def test_rotation_off_by_default_leaves_the_augmentation_stream_as_it_was():
    from train.augment import AugmentConfig, augment_clip

    clip = Clip(np.random.default_rng(0).integers(0, 255, (2, 80, 80), dtype=np.uint8), np.zeros((2, 3)),
                np.full((2, 68, 2), 0.5), np.ones((2, 68), bool))
    a = augment_clip(clip, np.random.default_rng(5), (64, 64), AugmentConfig())
    b = augment_clip(clip, np.random.default_rng(5), (64, 64), AugmentConfig(rotate_p=0.0, rotate_max_deg=40.0))
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.pose, b.pose)
    c = augment_clip(clip, np.random.default_rng(5), (64, 64), AugmentConfig(rotate_p=1.0))
    assert not np.allclose(c.pose, a.pose)
