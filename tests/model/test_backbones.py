import pytest
import torch

from model.complexity import measure
from model.config import ConfigError, ModelConfig
from model.network import build_model


def test_edge_default_is_grayscale_and_within_100_mflops():
    cfg = ModelConfig()
    assert cfg.in_channels == 1 and cfg.input_size == (64, 64)
    cx = measure(cfg.with_cell("fc"))
    assert cx.flops <= 100e6, f"edge costs {cx.mflops:.1f} MFLOPs per frame"
    assert cx.flops > 10e6  # a real network, not an empty one


def test_edge_rgb_option():
    model = build_model(ModelConfig(in_channels=3)).eval()
    out, _ = model.step(torch.rand(2, 3, 64, 64))
    assert out["pose"].shape == (2, 3)


@pytest.mark.parametrize("size", [(32, 32), (64, 96), (100, 72)])
def test_vgg16_takes_any_input_size(size):
    cfg = ModelConfig.for_backbone("vgg16", input_size=size, fc_sizes=(64, 64))
    model = build_model(cfg).eval()
    convs = [m for m in model.backbone.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64] * 2 + [128] * 2 + [256] * 3 + [512] * 3 + [512] * 3
    assert all(c.kernel_size == (3, 3) for c in convs)
    out, _ = model.step(torch.rand(1, 3, *size))
    assert out["pose"].shape == (1, 3)
    assert model.backbone.out_features == 512 * (size[0] // 32) * (size[1] // 32)


def test_vgg16_default_is_the_patents():
    cfg = ModelConfig.for_backbone("vgg16")
    assert cfg.fc_sizes == (4096, 4096) and cfg.input_size == (224, 224) and cfg.in_channels == 3


@pytest.mark.parametrize("bad, field", [
    (dict(backbone="resnet"), "backbone"),
    (dict(input_size=(8, 8)), "input_size"),
    (dict(dropout=1.5), "dropout"),
    (dict(in_channels=2), "in_channels"),
    (dict(edge_convs=(1,)), "edge_convs"),
])
def test_bad_config_names_the_field(bad, field):
    with pytest.raises(ConfigError, match=field):
        ModelConfig(**bad)


def test_config_dict_round_trip_and_unknown_key():
    cfg = ModelConfig(head="joint", cell="gru")
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown key 'fc_size'"):
        ModelConfig.from_dict({"fc_size": [3]}, "my.json")
