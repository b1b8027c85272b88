"""Checkpoints: what training writes is what export loads, and a checkpoint that does not
fit its config stops with the layer and both shapes."""

import pytest
import torch

from model.checkpoint import (
    CHECKPOINT_FORMAT, CheckpointError, load_checkpoint, save_checkpoint,
)
from model.network import build_model

from .conftest import moving_clip, small_config


def _trained_like(cfg):
    """A model whose every weight differs from a fresh init (incl. W_hh and BN stats)."""
    model = build_model(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    return model.eval()


@pytest.mark.parametrize("cell", ["none", "fc", "gru", "lstm"])
def test_round_trip_gives_the_same_network_and_meta(tmp_path, cell):
    model = _trained_like(small_config(cell=cell, head="joint"))
    meta = {"epoch": 7, "val_mae_deg": 3.07, "data": {"sha256": "ab" * 32}, "tags": ["stage2", None]}
    path = save_checkpoint(tmp_path / "run" / "ckpt.pt", model, meta)
    loaded, got_meta = load_checkpoint(path)
    assert got_meta == meta
    assert loaded.config == model.config and not loaded.training
    clip = moving_clip(batch=1, frames=6)
    with torch.no_grad():
        a, sa = model.forward_sequence(clip)
        b, sb = loaded.forward_sequence(clip)
    for k in a:
        assert torch.equal(a[k], b[k])
    assert all(torch.equal(x, y) for x, y in zip(sa, sb))
    assert not list(tmp_path.glob("run/*.tmp"))  # written atomically, nothing left behind


def test_file_is_plain_data_that_loads_with_weights_only(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", build_model(small_config(cell="fc")), {"epoch": 1})
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == CHECKPOINT_FORMAT and raw["version"] == 1
    assert raw["config"]["cell"] == "fc" and "layers.0.recurrent.weight" in raw["state_dict"]


class _Payload:
    """Stands in for an object a malicious or careless pickle carries."""

    def __reduce__(self):
        return (print, ("code ran while loading",))


def test_a_pickle_with_python_objects_is_refused_without_running_it(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "version": 1, "meta": {"x": _Payload()}}, path)
    with pytest.raises(CheckpointError, match=r"evil.pt: not a readable dms checkpoint: .*Python objects.*print"):
        load_checkpoint(path)
    assert "code ran" not in capsys.readouterr().out


def _edit(path, edit):
    data = torch.load(path, weights_only=True)
    edit(data)
    torch.save(data, path)


def test_a_checkpoint_that_does_not_fit_its_config_names_layer_and_shapes(tmp_path):
    small = small_config(cell="fc", fc_sizes=(24, 16))
    path = save_checkpoint(tmp_path / "ckpt.pt", build_model(small), {})
    _edit(path, lambda d: d["config"].__setitem__("fc_sizes", [32, 16]))
    in_features = build_model(small).backbone.out_features
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    msg = str(err.value)
    assert msg.startswith(str(path))
    assert f"layer 'layers.0.input.weight': checkpoint has [24, {in_features}], config builds [32, {in_features}]" in msg


def test_missing_and_unexpected_keys_are_named(tmp_path):
    path = save_checkpoint(tmp_path / "ckpt.pt", build_model(small_config(cell="fc")), {})

    def edit(d):
        del d["state_dict"]["heads.pose.bias"]
        d["state_dict"]["extra.weight"] = torch.zeros(2)
    _edit(path, edit)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert "missing from the checkpoint: 'heads.pose.bias'" in str(err.value)
    assert "'extra.weight'" in str(err.value)


def test_a_checkpoint_of_another_cell_is_refused(tmp_path):
    path = save_checkpoint(tmp_path / "ckpt.pt", build_model(small_config(cell="fc")), {})
    _edit(path, lambda d: d["config"].__setitem__("cell", "gru"))
    with pytest.raises(CheckpointError, match=r"layer 'layers\.0\.input\.weight'.*missing from the checkpoint: "
                                              r"'layers\.0\.recurrent\.bias'"):
        load_checkpoint(path)


@pytest.mark.parametrize("edit, match", [
    (lambda d: d.__setitem__("format", "something-else"), "field 'format'"),
    (lambda d: d.__setitem__("version", 2), "field 'version': 2 is newer"),
    (lambda d: d["config"].__setitem__("widht", 3), "field 'config': unknown key 'widht'"),
    (lambda d: d["config"].__setitem__("cell", "transformer"), "field 'config'.*cell"),
    (lambda d: d.pop("state_dict"), "field 'state_dict'"),
])
def test_malformed_checkpoints_name_the_field(tmp_path, edit, match):
    path = save_checkpoint(tmp_path / "ckpt.pt", build_model(small_config(cell="fc")), {})
    _edit(path, edit)
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(path)


def test_a_bare_state_dict_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save(build_model(small_config()).state_dict(), path)
    with pytest.raises(CheckpointError, match="weights.pt: field 'format'"):
        load_checkpoint(path)


def test_a_truncated_file_is_refused_naming_it(tmp_path):
    path = save_checkpoint(tmp_path / "ckpt.pt", build_model(small_config()), {})
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="ckpt.pt: not a readable dms checkpoint"):
        load_checkpoint(path)


def test_missing_file_and_non_plain_meta(tmp_path):
    with pytest.raises(CheckpointError, match="nope.pt: no such checkpoint file"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match="meta field 'optim.lr_fn'"):
        save_checkpoint(tmp_path / "c.pt", build_model(small_config()), {"optim": {"lr_fn": lambda e: 0.1}})
    assert not (tmp_path / "c.pt").exists()
