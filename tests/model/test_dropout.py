"""Variational dropout: one mask per sequence, the same at every step, off in eval."""

import torch

from model.network import build_model, convert_to_recurrent

from .conftest import small_config


def _rnn(**kw):
    return convert_to_recurrent(build_model(small_config(**kw)), "fc")


def _still_clip(batch, frames):
    frame = torch.rand(1, 1, 1, 32, 32)
    return frame.expand(batch, frames, 1, 32, 32).contiguous()


def test_mask_is_constant_over_time():
    """Identical frames and W_hh = 0: each step sees the same input, so with ONE mask per
    sequence every step's output is identical; per-step dropout would make them differ."""
    rnn = _rnn().train()
    rnn.backbone.eval()  # keep batch-norm statistics out of the comparison
    out, _ = rnn.forward_sequence(_still_clip(1, 8))
    pose = out["pose"][0]
    for t in range(1, 8):
        assert torch.equal(pose[t], pose[0])
    plain = build_model(small_config()).train()
    plain.backbone.eval()
    frame_out, _ = plain.forward_sequence(_still_clip(1, 8))
    assert not torch.equal(frame_out["pose"][0, 1], frame_out["pose"][0, 0]), "per-frame dropout varies"


def test_masks_differ_between_sequences():
    rnn = _rnn().train()
    rnn.backbone.eval()
    out, _ = rnn.forward_sequence(_still_clip(4, 3))
    pose = out["pose"][:, 0]
    assert len({tuple(p.tolist()) for p in pose}) == 4
    masks = rnn.sample_dropout(4)
    assert masks is not None
    for lm in masks.layers:
        assert lm.input.shape[0] == 4 and not torch.equal(lm.input[0], lm.input[1])
        assert not torch.equal(lm.recurrent[0], lm.recurrent[1])
        kept = (lm.input > 0).float().mean().item()
        assert 0.5 < kept < 0.95  # rate 0.25 by default
        assert torch.allclose(lm.input[lm.input > 0], torch.tensor(1 / 0.75))


def test_recurrent_connection_is_masked():
    rnn = _rnn().train()
    rnn.backbone.eval()
    with torch.no_grad():
        for layer in rnn.layers:
            layer.recurrent.weight.normal_(0, 0.3)
    clip = torch.rand(1, 5, 1, 32, 32)
    masks = rnn.sample_dropout(1)
    for lm in masks.layers:
        lm.input.fill_(1.0)
    base, _ = rnn.forward_sequence(clip, dropout=masks)
    for lm in masks.layers:
        lm.recurrent.zero_()
    no_recurrence, _ = rnn.forward_sequence(clip, dropout=masks)
    assert torch.equal(base["pose"][:, 0], no_recurrence["pose"][:, 0])    # no past at t=0
    assert not torch.equal(base["pose"][:, 1:], no_recurrence["pose"][:, 1:])


def test_dropout_is_off_in_eval_mode():
    rnn = _rnn().eval()
    assert rnn.sample_dropout(2) is None
    no_dropout = convert_to_recurrent(build_model(small_config(dropout=0.0)), "fc").eval()
    no_dropout.load_state_dict(rnn.state_dict())
    clip = torch.rand(2, 4, 1, 32, 32)
    with torch.no_grad():
        a, _ = rnn.forward_sequence(clip)
        b, _ = rnn.forward_sequence(clip)
        c, _ = no_dropout.forward_sequence(clip)
    assert torch.equal(a["pose"], b["pose"]) and torch.equal(a["pose"], c["pose"])
