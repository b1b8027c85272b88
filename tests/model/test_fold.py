import torch

from model.fold import count_batchnorm, fold_batchnorm
from model.network import build_model

from .conftest import moving_clip, small_config


def test_folded_network_has_no_batchnorm_and_same_outputs():
    model = build_model(small_config())
    model.train()
    with torch.no_grad():  # give BN non-trivial running statistics
        for _ in range(3):
            model.forward_sequence(moving_clip(batch=4, frames=4) * 3 + 0.5)
    model.eval()
    folded = fold_batchnorm(model)
    assert count_batchnorm(model) == 2 and count_batchnorm(folded) == 0
    clip = moving_clip(batch=2, frames=5)
    with torch.no_grad():
        a, _ = model.forward_sequence(clip)
        b, _ = folded.forward_sequence(clip)
    torch.testing.assert_close(a["pose"], b["pose"], rtol=1e-5, atol=1e-5)
    assert model.training is False and count_batchnorm(model) == 2  # original untouched
