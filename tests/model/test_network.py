"""step() over a clip equals forward_sequence(): the runtime and training agree.

Everything after the conv trunk is one code path for both (HeadPoseNet._after_trunk), so
it agrees bit for bit. The trunk itself runs a batch of B*T frames in forward_sequence and
B frames in step, and CPU convolutions round differently for different batch sizes
(~1e-9). The exact tests therefore make the trunk compute every frame alone in both paths
(`_per_frame_trunk`), so that they compare the step/sequence logic bit for bit; a separate
test bounds the batched trunk's rounding at the default size.
"""

import pytest
import torch

from model.network import build_model, convert_to_recurrent

from .conftest import moving_clip, small_config


def _model(cell, head):
    per_frame = build_model(small_config(head=head))
    return per_frame if cell == "none" else convert_to_recurrent(per_frame, cell)


def _per_frame_trunk(model):
    trunk = model.backbone.forward
    model.backbone.forward = lambda x: torch.cat([trunk(x[i : i + 1]) for i in range(x.shape[0])])
    return model


def _randomise_recurrence(model):
    with torch.no_grad():
        for layer in model.layers:
            if hasattr(layer, "recurrent"):
                # spectral radius ~0.5: a stable recurrence, like a trained one
                layer.recurrent.weight.normal_(0, 0.5 / layer.recurrent.weight.shape[1] ** 0.5)


@pytest.mark.parametrize("cell", ["none", "fc", "gru", "lstm"])
@pytest.mark.parametrize("head", ["pose", "landmarks", "joint"])
def test_step_over_a_clip_equals_forward_sequence(cell, head):
    model = _per_frame_trunk(_model(cell, head).eval())
    _randomise_recurrence(model)
    clip = moving_clip(batch=2, frames=9)
    with torch.no_grad():
        whole, final = model.forward_sequence(clip)
        state = model.init_state(2)
        steps = []
        for t in range(clip.shape[1]):
            out, state = model.step(clip[:, t], state)
            steps.append(out)
    for name, tensor in whole.items():
        stepped = torch.stack([s[name] for s in steps], 1)
        assert torch.equal(stepped, tensor), f"{name}: max diff {(stepped - tensor).abs().max()}"
    assert all(torch.equal(a, b) for a, b in zip(state, final))
    widths = {"pose": 3, "landmarks": 136}
    assert {k: v.shape for k, v in whole.items()} == {k: (2, 9, widths[k]) for k in whole}


@pytest.mark.parametrize("cell", ["fc", "gru", "lstm"])
def test_step_equals_forward_sequence_in_training_with_the_sequences_masks(cell):
    model = _model(cell, "pose").train()
    model.backbone.eval()
    _per_frame_trunk(model)
    _randomise_recurrence(model)
    clip = moving_clip(batch=2, frames=6)
    masks = model.sample_dropout(2)
    whole, _ = model.forward_sequence(clip, dropout=masks)
    state = model.init_state(2)
    stepped = []
    for t in range(6):
        out, state = model.step(clip[:, t], state, dropout=masks)
        stepped.append(out["pose"])
    assert torch.equal(torch.stack(stepped, 1), whole["pose"])


def test_training_step_without_masks_is_refused():
    model = _model("fc", "pose").train()
    with pytest.raises(ValueError, match="one mask per sequence"):
        model.step(torch.rand(1, 1, 32, 32), model.init_state(1))


def test_state_shapes_are_checked():
    model = _model("lstm", "pose").eval()
    assert model.state_sizes == [48, 32]
    with pytest.raises(ValueError, match=r"state\[1\]"):
        model.step(torch.rand(1, 1, 32, 32), (torch.zeros(1, 48), torch.zeros(1, 16)))


def test_flat_forward_for_export():
    model = _model("fc", "joint").eval()
    state = model.init_state(1)
    flat = model(torch.rand(1, 1, 32, 32), *state)
    assert [t.shape for t in flat] == [(1, 3), (1, 136), (1, 24), (1, 16)]


def test_default_edge_fc_rnn_step_matches_clip_with_the_batched_trunk():
    from model.config import ModelConfig
    model = convert_to_recurrent(build_model(ModelConfig()), "fc").eval()
    _randomise_recurrence(model)
    clip = moving_clip(batch=1, frames=30, size=(64, 64))
    with torch.no_grad():
        whole, _ = model.forward_sequence(clip)
        state = model.init_state(1)
        stepped = []
        for t in range(30):
            out, state = model.step(clip[:, t], state)
            stepped.append(out["pose"])
    torch.testing.assert_close(torch.stack(stepped, 1), whole["pose"], rtol=0, atol=1e-5)
