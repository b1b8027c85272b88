"""Eq. 5 and the alternative cells."""

import torch
from torch import nn

from model.network import build_model, convert_to_recurrent
from model.recurrent import GRUCell, LSTMCell, fc_to_recurrent

from .conftest import moving_clip, small_config


def test_conversion_keeps_w_io_and_b_and_adds_zero_w_hh():
    lin = nn.Linear(10, 6)
    cell = fc_to_recurrent(lin)
    assert torch.equal(cell.input.weight, lin.weight) and torch.equal(cell.input.bias, lin.bias)
    assert torch.count_nonzero(cell.recurrent.weight) == 0 and cell.recurrent.weight.shape == (6, 6)


def test_converted_network_reproduces_the_per_frame_network_on_real_sequences():
    per_frame = build_model(small_config(head="joint")).eval()
    rnn = convert_to_recurrent(per_frame, "fc").eval()
    clip = moving_clip(batch=3, frames=20)
    with torch.no_grad():
        expected, _ = per_frame.forward_sequence(clip)
        got, state = rnn.forward_sequence(clip)
    for name in ("pose", "landmarks"):
        assert torch.equal(got[name], expected[name]), name
    assert any(s.abs().sum() > 0 for s in state), "the hidden state must carry something"


def test_once_w_hh_is_trained_the_past_matters():
    rnn = convert_to_recurrent(build_model(small_config()), "fc").eval()
    with torch.no_grad():
        for layer in rnn.layers:
            layer.recurrent.weight.normal_(0, 0.3)
    clip = moving_clip(batch=1, frames=10)
    with torch.no_grad():
        full, _ = rnn.forward_sequence(clip)
        last_only, _ = rnn.forward_sequence(clip[:, -1:])
    assert not torch.allclose(full["pose"][:, -1], last_only["pose"][:, 0])


def test_conversion_refuses_an_already_recurrent_model():
    rnn = convert_to_recurrent(build_model(small_config()), "fc")
    try:
        convert_to_recurrent(rnn, "fc")
    except ValueError as exc:
        assert "already recurrent" in str(exc)
    else:
        raise AssertionError("expected ValueError")


def test_gru_cell_matches_torch_gru_cell():
    ref = nn.GRUCell(7, 5)
    ours = GRUCell(7, 5)
    with torch.no_grad():
        ours.input.weight.copy_(ref.weight_ih); ours.input.bias.copy_(ref.bias_ih)
        ours.recurrent.weight.copy_(ref.weight_hh); ours.recurrent.bias.copy_(ref.bias_hh)
    x, h = torch.randn(4, 7), torch.randn(4, 5)
    out, state = ours(x, h)
    torch.testing.assert_close(out, ref(x, h), rtol=0, atol=1e-6)
    assert torch.equal(out, state)


def test_lstm_cell_matches_torch_lstm_cell_with_packed_state():
    ref = nn.LSTMCell(7, 5)
    ours = LSTMCell(7, 5)
    with torch.no_grad():
        ours.input.weight.copy_(ref.weight_ih); ours.input.bias.copy_(ref.bias_ih)
        ours.recurrent.weight.copy_(ref.weight_hh); ours.recurrent.bias.copy_(ref.bias_hh)
    x, h, c = torch.randn(4, 7), torch.randn(4, 5), torch.randn(4, 5)
    out, state = ours(x, torch.cat([h, c], 1))
    h_ref, c_ref = ref(x, (h, c))
    torch.testing.assert_close(out, h_ref, rtol=0, atol=1e-6)
    torch.testing.assert_close(state, torch.cat([h_ref, c_ref], 1), rtol=0, atol=1e-6)
    assert ours.state_size == 10
