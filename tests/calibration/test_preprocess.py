import numpy as np
import pytest

from calibration.preprocess import PreprocessError, PreprocessSpec, to_network_input

GRAY = PreprocessSpec(height=4, width=6, channels=1, color="gray", mean=(0.5,), scale=(2.0,))


def test_formula_and_layout():
    crop = np.full((4, 6), 255, np.uint8)
    crop[0, 0] = 0
    x = to_network_input(crop, GRAY, "gray")
    assert x.shape == (1, 1, 4, 6) and x.dtype == np.float32
    assert x[0, 0, 0, 0] == -1.0 and x[0, 0, 1, 1] == 1.0


def test_resizes_and_converts_bgr_to_gray():
    bgr = np.zeros((2, 8, 12, 3), np.uint8)
    bgr[..., 2] = 255                          # pure red in BGR order
    x = to_network_input(bgr, GRAY, "bgr")
    assert x.shape == (2, 1, 4, 6)
    # OpenCV's BGR2GRAY weights red by 0.299: 76 of 255
    np.testing.assert_allclose(x, (76 / 255 - 0.5) * 2, atol=1e-6)


def test_per_channel_mean_scale_and_channel_order():
    spec = PreprocessSpec(height=2, width=2, channels=3, color="rgb", mean=(0.0, 0.5, 1.0), scale=(1.0, 2.0, 4.0))
    bgr = np.zeros((2, 2, 3), np.uint8)
    bgr[..., 0] = 255                          # blue in BGR = the third RGB channel
    x = to_network_input(bgr, spec, "bgr")[0]
    np.testing.assert_allclose(x[:, 0, 0], [0.0, -1.0, 0.0])


def test_matches_the_training_view(tiny_model_dir, tiny_synth):
    """The synthetic source feeds calibration exactly what training fed the network."""
    from calibration.sources import SynthSource
    from dms.manifest import load_manifest
    from model.config import ModelConfig
    from train.data import SynthSplit, make_batch

    manifest = load_manifest(tiny_model_dir)
    spec = PreprocessSpec.from_manifest(manifest.preprocess)
    cfg = ModelConfig.from_dict(manifest.model["config"])
    split = SynthSplit.load(tiny_synth, "train", progress=False)
    batch = make_batch(split, np.array([5]), 20, cfg.input_size, cfg.normalise)
    src = SynthSource(tiny_synth, "train")
    ours = src.images(src.tracks[0], 5, 25, spec)
    np.testing.assert_array_equal(ours, batch.images[0])


def test_bad_inputs_are_refused():
    with pytest.raises(PreprocessError, match="uint8"):
        to_network_input(np.zeros((4, 6), np.float32), GRAY, "gray")
    with pytest.raises(PreprocessError, match="preprocess.color"):
        PreprocessSpec.from_manifest({"height": 4, "width": 4, "channels": 3, "color": "gray",
                                      "mean": [0.5], "scale": [2.0], "layout": "NCHW"}, "m.json")
    with pytest.raises(PreprocessError, match="m.json: field 'preprocess.width' missing"):
        PreprocessSpec.from_manifest({"height": 4}, "m.json")
