"""The `dms` command as a user meets it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dms.cli import SUBCOMMANDS, main
from dms.doctor import Check, runtime_ready

ROOT = Path(__file__).resolve().parents[2]
DMS = [sys.executable, "-m", "dms.cli"]


def _run(*args, **kw):
    return subprocess.run([*DMS, *args], capture_output=True, text=True, cwd=ROOT, timeout=300, **kw)


def test_help_lists_every_subcommand():
    out = _run("--help")
    assert out.returncode == 0
    for name in SUBCOMMANDS:
        assert name in out.stdout


def test_building_the_command_does_not_import_torch_or_cv2():
    """Heavy imports happen inside subcommands: a Jetson runtime has no torch."""
    code = "import sys; from dms.cli import build_parser; build_parser(); print(sorted(m for m in ('torch', 'cv2', 'onnxruntime') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def test_doctor_reports_versions_and_passes_here():
    out = _run("doctor", "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert report["runtime_ready"] is True
    assert checks["numpy"]["version"] and checks["onnxruntime"]["version"]
    assert "CPUExecutionProvider" in checks["onnxruntime"]["detail"]
    # The tensorrt-stubs package leaves an empty 'tensorrt' namespace: not a TensorRT.
    assert checks["tensorrt"]["version"] is None


def test_doctor_fails_when_the_runtime_minimum_is_missing():
    checks = [Check("numpy", "2.0"), Check("opencv", "4.9"), Check("jsonschema", "4"),
              Check("onnxruntime", None), Check("tensorrt", "10.3"), Check("pycuda", None),
              Check("cuda-python", None)]
    ok, verdict = runtime_ready(checks)
    assert not ok and "backend" in verdict
    checks[5] = Check("pycuda", "2024.1")  # TensorRT + pycuda is a backend on a Jetson
    assert runtime_ready(checks)[0]
    checks[1] = Check("opencv", None)
    ok, verdict = runtime_ready(checks)
    assert not ok and "opencv" in verdict


def test_doctor_exit_code_follows_the_verdict(monkeypatch, capsys):
    import dms.doctor as doctor
    monkeypatch.setattr(doctor, "gather", lambda: [Check("numpy", None)])
    assert main(["doctor"]) == 1
    assert "runtime NOT ready" in capsys.readouterr().out


def test_model_info_reports_both_backbones():
    out = _run("model-info", "--json")
    assert out.returncode == 0, out.stderr
    rows = {r["backbone"]: r for r in json.loads(out.stdout)}
    assert rows["edge"]["mflops"] <= 100 and rows["edge"]["input"] == "1x64x64"
    assert rows["vgg16"]["input"] == "3x224x224" and rows["vgg16"]["mflops"] > 30_000
    table = _run("model-info", "--backbone", "edge", "--input-size", "96x96")
    assert "1x96x96" in table.stdout


def test_model_info_rejects_a_bad_size():
    out = _run("model-info", "--input-size", "sixty")
    assert out.returncode == 2 and "64x64" in out.stderr


@pytest.mark.skipif(os.environ.get("DMS_SKIP_DEMO") == "1", reason="DMS_SKIP_DEMO=1")
def test_demo_raises_one_long_distraction_on_time_and_none_for_the_mirror_check(tmp_path):
    """The README's main command on its short drive, with the shipped model: the scripted
    4 s phone look (from 5.0 s) yields exactly one long-distraction alert within 0.3 s of
    the 3 s mark (8.0 s), the mirror check at 3.0 s none; the outputs are written."""
    import json

    out = _run("demo", "--short", "--out", str(tmp_path / "demo"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "demo: OK" in out.stdout and "ALERT long_distraction" in out.stdout
    events = [json.loads(line) for line in open(tmp_path / "demo" / "events.jsonl")]
    starts = [e for e in events if e["phase"] == "start"]
    long = [e for e in starts if e["type"] == "long_distraction"]
    assert len(long) == 1 and 8.0 <= long[0]["alert_t"] <= 8.3
    assert not [e for e in starts if e["alert_t"] < 5.0]          # the mirror check raised nothing
    for name in ("annotated.mp4", "poses.csv", "pose_tracks.png", "demo_summary.json"):
        assert (tmp_path / "demo" / name).stat().st_size > 0
