"""`dms export` as a user meets it: checkpoint in, model folder out, figures printed;
`--check` on a folder or a file; errors that name the file."""

import argparse

import pytest

from dms.manifest import load_manifest, sha256_file
from export import cli
from model.checkpoint import save_checkpoint

from .conftest import tiny_config, trained_like


def _run(*argv):
    parser = argparse.ArgumentParser(prog="dms export")
    cli.add_arguments(parser)
    return cli.run(parser.parse_args([str(a) for a in argv]))


@pytest.fixture
def checkpoint(tmp_path):
    return save_checkpoint(tmp_path / "ckpt.pt", trained_like(tiny_config(cell="lstm")),
                           {"epoch": 12, "data_sha256": "ef" * 32})


def test_export_then_check(tmp_path, checkpoint, capsys):
    assert _run(checkpoint, "--out", tmp_path / "model", "--parity-frames", "50") == 0
    out = capsys.readouterr().out
    assert "TensorRT-ready for 8.5, 10.3, 10.13, 11" in out
    assert "parity PyTorch vs ONNX Runtime over 50 frames" in out and "max |pose diff|" in out
    assert f"wrote {tmp_path / 'model' / 'step.onnx'}" in out

    training = load_manifest(tmp_path / "model").training
    assert training["epoch"] == 12 and training["data_sha256"] == "ef" * 32
    assert training["checkpoint"] == {"file": "ckpt.pt", "sha256": sha256_file(checkpoint)}

    assert _run("--check", tmp_path / "model") == 0
    assert _run("--check", tmp_path / "model" / "step.onnx") == 0
    assert "TensorRT-ready" in capsys.readouterr().out


def test_check_refuses_an_altered_model_naming_the_file(tmp_path, checkpoint, capsys):
    _run(checkpoint, "--out", tmp_path, "--parity-frames", "2")
    with open(tmp_path / "step.onnx", "ab") as fh:
        fh.write(b"\0")
    assert _run("--check", tmp_path) == 1
    assert f"{tmp_path / 'step.onnx'}: sha256" in capsys.readouterr().err


def test_a_checkpoint_that_does_not_fit_stops_naming_the_layer(tmp_path, capsys):
    import torch
    path = save_checkpoint(tmp_path / "ckpt.pt", trained_like(tiny_config(cell="fc")), {})
    data = torch.load(path, weights_only=True)
    data["config"]["fc_sizes"] = [30, 16]
    torch.save(data, path)
    assert _run(path, "--out", tmp_path / "m") == 1
    err = capsys.readouterr().err
    assert "ckpt.pt: layer 'layers.0.input.weight': checkpoint has [24, " in err
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("argv, text", [
    ([], "needs CHECKPOINT and --out"),
    (["x.pt"], "needs CHECKPOINT and --out"),
    (["x.pt", "--out", "m", "--check", "m"], "--check takes only a PATH"),
    (["x.pt", "--out", "m", "--parity-frames", "0"], "--parity-frames must be >= 1"),
])
def test_usage_errors_exit_2(argv, text, capsys):
    assert _run(*argv) == 2
    assert text in capsys.readouterr().err


def test_check_on_something_that_is_not_a_model(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("hi")
    assert _run("--check", tmp_path / "notes.txt") == 1
    assert _run("--check", tmp_path) == 1   # a folder without manifest.json
    err = capsys.readouterr().err
    assert "notes.txt: expected a model folder" in err and "no model manifest here" in err


def test_a_missing_checkpoint_is_named(tmp_path, capsys):
    assert _run(tmp_path / "nope.pt", "--out", tmp_path / "m") == 1
    assert f"{tmp_path / 'nope.pt'}: no such checkpoint file" in capsys.readouterr().err


def test_help_is_one_line():
    assert "\n" not in cli.HELP and "ONNX" in cli.HELP
