import argparse
import json
import shutil

import pytest

from calibration import cli
from calibration.pipeline import CalibrationError, calibrate
from calibration.sources import SourceError
from dms.manifest import ManifestError

from .conftest import fast_config


def _no_test_split(tiny_synth, tmp_path):
    data = tmp_path / "no_test"
    shutil.copytree(tiny_synth, data)
    manifest = json.loads((data / "manifest.json").read_text())
    for rec in manifest["shards"]:
        if rec["split"] == "test":
            rec["split"] = "train"
    (data / "manifest.json").write_text(json.dumps(manifest))
    return data


def test_missing_model_dir_names_the_path(tmp_path, tiny_synth):
    with pytest.raises(CalibrationError, match=str(tmp_path / "nope")):
        calibrate(tmp_path / "nope", tiny_synth, fast_config())


def test_folder_without_manifest_names_the_file(tmp_path, tiny_synth):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ManifestError, match="manifest.json"):
        calibrate(tmp_path / "empty", tiny_synth, fast_config())


def test_dataset_without_test_split_stops_before_any_work(model_copy, tiny_synth, tmp_path):
    data = _no_test_split(tiny_synth, tmp_path)
    with pytest.raises(SourceError, match=rf"{data / 'manifest.json'}: no shards in split 'test'"):
        calibrate(model_copy, data, fast_config())
    assert not (model_copy / "step_int8.onnx").exists()


def test_missing_data_names_the_path(model_copy, tmp_path):
    with pytest.raises(SourceError, match=str(tmp_path / "missing.avi")):
        calibrate(model_copy, tmp_path / "missing.avi", fast_config())


def _cli(argv):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return cli.run(parser.parse_args(argv))


def test_cli_reports_errors_with_the_path(model_copy, tiny_synth, tmp_path, capsys):
    data = _no_test_split(tiny_synth, tmp_path)
    assert _cli([str(model_copy), "--data", str(data)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("dms calibrate: error: ") and str(data / "manifest.json") in err
    assert _cli([str(tmp_path / "nope"), "--data", str(tiny_synth)]) == 1
    assert str(tmp_path / "nope") in capsys.readouterr().err
    assert _cli([str(model_copy), "--data", str(tiny_synth), "--frames", "0"]) == 2


def test_cli_calibrates(model_copy, tiny_synth, capsys):
    argv = [str(model_copy), "--data", str(tiny_synth), "--method", "minmax", "--frames", "16",
            "--latency-steps", "5", "--report-seconds", "0"]
    assert _cli(argv) == 0
    out = capsys.readouterr().out
    assert "int8: max deviation from FP32" in out and f"updated {model_copy / 'manifest.json'}" in out
    report = json.loads((model_copy / "calibration_report.json").read_text())
    assert report["accuracy"]["frames"] == 60                     # 0 s: the whole held-out track
    assert report["calibration"]["frames"] == 16
