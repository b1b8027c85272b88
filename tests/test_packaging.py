"""The install groups keep their promise: a Jetson runtime install never pulls torch."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _names(reqs):
    return {r.split(";")[0].split("[")[0].split("=")[0].split(">")[0].split("<")[0].strip().lower() for r in reqs}


def test_core_and_jetson_groups_never_pull_torch_or_pip_opencv():
    core = _names(PROJECT["dependencies"])
    jetson = _names(PROJECT["optional-dependencies"]["jetson"])
    for group in (core, jetson):
        assert "torch" not in group
        assert not any(n.startswith("opencv") for n in group), "JetPack's OpenCV (with GStreamer) must not be shadowed"


def test_groups_exist_for_each_job():
    extras = PROJECT["optional-dependencies"]
    assert "torch" in _names(extras["train"])
    assert "onnxruntime" in _names(extras["cpu"])
    assert "pycuda" in _names(extras["jetson"])
    assert {"pytest", "mypy"} <= _names(extras["dev"])


def test_every_room_is_a_package_with_a_test_folder():
    for room in ("model", "synth", "train", "export", "calibration", "runtime", "deploy"):
        assert (ROOT / room / "__init__.py").is_file(), room


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make test" in ci
