"""`dms doctor --config`: the installed-bundle checks join the machine report."""

import json
import subprocess
import sys
from pathlib import Path

from deploy.service import ServiceConfig, deploy_config

ROOT = Path(__file__).resolve().parents[2]


def _doctor(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dms.cli", "doctor", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def test_without_an_installed_bundle_there_is_no_target_section():
    out = _doctor("--json")
    assert "target_checks" not in json.loads(out.stdout)


def test_with_a_config_the_target_checks_are_printed_and_decide_the_exit_code(tmp_path):
    config = tmp_path / "etc/dms/dms.json"
    config.parent.mkdir(parents=True)
    config.write_text(json.dumps(deploy_config(ServiceConfig(), {"model": "none"})))
    out = _doctor("--config", str(config), "--root", str(tmp_path))
    assert out.returncode == 1
    assert "installed bundle" in out.stdout and "target NOT ready" in out.stdout
    assert "model" in out.stdout and "FAILED" in out.stdout and "fix: reinstall the bundle" in out.stdout
    config.write_text("{}")
    bad = _doctor("--json", "--config", str(config))
    report = json.loads(bad.stdout)
    assert bad.returncode == 1 and report["target_checks"][0]["name"] == "config"
    assert "field 'format'" in report["target_checks"][0]["detail"]
