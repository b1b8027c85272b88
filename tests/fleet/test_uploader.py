"""The uploader against a real broker (mosquitto on 127.0.0.1): at-least-once delivery
through broker outages, restarts and kill -9 of the uploader, TLS, and a refused login.
What is asserted is what a fleet operator would see: every alert arrives (none lost),
duplicates only after a crash, nothing marked sent that the broker did not acknowledge."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dms.cli import main
from fleet.spool import read_cursor
from fleet.upload_config import UploadConfig, UploadConfigError
from fleet.uploader import PAYLOAD_SCHEMA, Uploader
from runtime.events import EventLog
from tests.fleet.conftest import Broker, Receiver, needs_broker, upload_config, write_alerts

ROOT = Path(__file__).resolve().parents[2]
pytestmark = needs_broker


def test_alerts_reach_the_fleet_once_and_a_rerun_sends_only_the_new_tail(broker: Broker, tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    events = tmp_path / "events" / "events.jsonl"
    receiver = Receiver(broker.port)
    try:
        with EventLog(events, run_id="r1") as log:
            first = write_alerts(log, 1, 5)
        cfg = upload_config(tmp_path / "upload.json", broker.port)
        assert main(["upload", "--config", str(cfg), "--events", str(events.parent)]) == 0
        assert receiver.wait_for(set(first))
        msg = receiver.messages[0]
        assert msg["schema"] == PAYLOAD_SCHEMA and msg["vehicle_id"] == "VIN-TEST-1" and msg["driver_id"] == "driver-7"
        assert msg["topic"] == "dms/v1/VIN-TEST-1/events/long_distraction" and msg["closed_by"] == "end"
        assert msg["event"]["phase"] == "end" and msg["event"]["schema"] == "dms-event-v1"
        assert "5 alert(s) acknowledged" in capsys.readouterr().out
        with EventLog(events, run_id="r2") as log:
            later = write_alerts(log, 1, 2)
        assert main(["upload", "--config", str(cfg), "--events", str(events)]) == 0
        assert receiver.wait_for(set(first + later))
        assert "2 alert(s) acknowledged" in capsys.readouterr().out
        time.sleep(0.3)
        assert sorted(receiver.event_ids()) == sorted(first + later)     # nothing twice without a crash
    finally:
        receiver.close()


def test_a_broker_outage_loses_nothing(tmp_path: Path) -> None:
    """Broker down at start, then up, then restarted mid-stream: the uploader thread (as in
    `dms run --upload`) keeps the spool and sends it when the broker is back."""
    b = Broker(tmp_path / "broker")
    b.start()
    receiver = Receiver(b.port)                            # the fleet's session exists on the broker
    b.stop()
    events = tmp_path / "events.jsonl"
    cfg = UploadConfig.load(upload_config(tmp_path / "upload.json", b.port))
    up = Uploader(cfg, events)
    log = EventLog(events, run_id="r1")
    try:
        up.start()                                        # no broker: retries with back-off
        ids = write_alerts(log, 1, 4)
        time.sleep(0.5)
        assert up.sent == 0 and read_cursor(events) == (0, -1)
        b.start()
        assert receiver.wait_for(set(ids), timeout=30)
        b.stop()                                          # outage mid-stream
        more = write_alerts(log, 5, 4)
        time.sleep(0.5)
        b.start()
        assert receiver.wait_for(set(ids + more), timeout=30)
        deadline = time.monotonic() + 10
        while up.sent < 8 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert up.sent == 8 and read_cursor(events)[0] == log.last_seq
    finally:
        up.stop(flush_s=1)
        log.close()
        receiver.close()
        b.stop()


def test_kill_9_of_the_uploader_loses_nothing_and_resends_only_the_tail(broker: Broker, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    cfg = upload_config(tmp_path / "upload.json", broker.port)
    receiver = Receiver(broker.port)
    log = EventLog(events, run_id="r1")
    written: list[str] = []
    kills = 0
    try:
        for round_ in range(4):
            proc = subprocess.Popen([sys.executable, "-m", "dms.cli", "upload", "--config", str(cfg), "--events",
                                     str(events), "--follow"], cwd=ROOT, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE)
            before = read_cursor(events)[0]
            written += write_alerts(log, 1 + 10 * round_, 10)
            deadline = time.monotonic() + 20
            while read_cursor(events)[0] <= before and time.monotonic() < deadline:
                time.sleep(0.01)                          # kill as soon as it has sent something
            assert read_cursor(events)[0] > before, "the uploader sent nothing"
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            kills += 1
        assert main(["upload", "--config", str(cfg), "--events", str(events)]) == 0
        assert receiver.wait_for(set(written))
        ids = receiver.event_ids()
        lost = set(written) - set(ids)
        assert not lost and kills == 4
        assert read_cursor(events)[0] == log.last_seq
        # duplicates are possible only for what was in flight at a kill: at most one per kill
        assert len(ids) - len(set(ids)) <= kills
    finally:
        log.close()
        receiver.close()


def _tls_material(folder: Path) -> dict[str, Path]:
    """A test CA and a server certificate for 127.0.0.1, made with openssl."""
    folder.mkdir()
    p = {k: folder / f"{k}.pem" for k in ("ca_key", "ca", "key", "csr", "cert")}
    run = lambda *a: subprocess.run(["openssl", *map(str, a)], check=True, capture_output=True)  # noqa: E731
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=dms test CA",
        "-keyout", p["ca_key"], "-out", p["ca"])
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", p["key"], "-out", p["csr"])
    ext = folder / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", p["csr"], "-CA", p["ca"], "-CAkey", p["ca_key"], "-CAcreateserial", "-days", "2",
        "-extfile", ext, "-out", p["cert"])
    return p


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed here")
def test_tls_with_the_fleets_ca(tmp_path: Path) -> None:
    tls = _tls_material(tmp_path / "tls")
    b = Broker(tmp_path / "broker", extra=f"allow_anonymous true\ncafile {tls['ca']}\ncertfile {tls['cert']}\n"
                                          f"keyfile {tls['key']}\n")
    b.start()
    events = tmp_path / "events.jsonl"
    receiver = Receiver(b.port, ca_certs=str(tls["ca"]))
    try:
        with EventLog(events, run_id="r1") as log:
            ids = write_alerts(log, 1, 3)
        cfg = upload_config(tmp_path / "upload.json", b.port, ca_file=str(tls["ca"]))
        assert main(["upload", "--config", str(cfg), "--events", str(events)]) == 0
        assert receiver.wait_for(set(ids))
        # the same broker without the CA (plain MQTT to a TLS port): no connection, nothing marked sent
        plain = upload_config(tmp_path / "plain.json", b.port)
        with EventLog(events, run_id="r2") as log:
            write_alerts(log, 1, 1)
        cursor = read_cursor(events)
        assert main(["upload", "--config", str(plain), "--events", str(events), "--connect-timeout", "2"]) == 1
        assert read_cursor(events) == cursor
    finally:
        receiver.close()
        b.stop()


def test_a_wrong_password_is_one_clear_line_and_nothing_is_marked_sent(tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwd), "truck7", "right-secret"], check=True,
                   capture_output=True)
    os.chmod(passwd, 0o600)
    b = Broker(tmp_path / "broker", extra=f"allow_anonymous false\npassword_file {passwd}\n")
    b.start()
    events = tmp_path / "events.jsonl"
    try:
        with EventLog(events, run_id="r1") as log:
            write_alerts(log, 1, 2)
        secret = tmp_path / "secret"
        secret.write_text("wrong-secret\n")
        cfg = upload_config(tmp_path / "upload.json", b.port, username="truck7", password_file=str(secret))
        proc = subprocess.run([sys.executable, "-m", "dms.cli", "upload", "--config", str(cfg), "--events",
                               str(events), "--connect-timeout", "10"], cwd=ROOT, capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 2
        lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("dms upload:")]
        assert len(lines) == 1 and "refused the connection" in lines[0] and "nothing was marked sent" in lines[0]
        assert "Traceback" not in proc.stderr
        assert read_cursor(events) == (0, -1)
        secret.write_text("right-secret\n")
        assert main(["upload", "--config", str(cfg), "--events", str(events)]) == 0
        assert read_cursor(events)[0] == 4
    finally:
        b.stop()


def test_the_password_never_goes_on_the_command_line_or_in_the_config(tmp_path: Path) -> None:
    cfg = tmp_path / "u.json"
    cfg.write_text(json.dumps({"host": "h", "vehicle_id": "v", "username": "u", "password": "p"}))
    with pytest.raises(UploadConfigError, match="field 'password': secrets go in password_file"):
        UploadConfig.load(cfg)


def test_dms_run_uploads_from_a_thread_and_refuses_a_bad_config_in_one_line(broker: Broker, tmp_path: Path,
                                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """The frame loop and the uploader share only the log on disk: an alert written by
    the run is sent, and the run ends cleanly (the uploader stops with it)."""
    model = ROOT / "models" / "default"
    out = tmp_path / "run"
    receiver = Receiver(broker.port)
    try:
        # an alert an earlier run completed but never sent (no network then): the thread
        # inside this `dms run` sends it while the loop runs
        with EventLog(out / "events.jsonl", run_id="earlier") as log:
            earlier = write_alerts(log, 1, 1)
        cfg = upload_config(tmp_path / "upload.json", broker.port)
        rc = main(["run", "--source", "synthetic:3", "--seconds", "3", "--model", str(model), "--out", str(out),
                   "--no-video", "--no-plot", "--quiet", "--upload", str(cfg)])
        assert rc == 0
        assert receiver.wait_for(set(earlier))
        assert read_cursor(out / "events.jsonl")[0] >= 2
        # the monitored time went too (the fleet report's hours driven)
        from fleet.drive_log import read_drive

        segments = read_drive(out / "drive.jsonl")
        assert segments and abs(sum(s["monitored_s"] for s in segments) - 3.0) < 0.2
        deadline = time.monotonic() + 10
        while len(receiver.drive()) < len(segments) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [m["drive"]["seq"] for m in receiver.drive()] == [s["seq"] for s in segments]
        assert receiver.drive()[0]["topic"] == "dms/v1/VIN-TEST-1/drive"
        bad = tmp_path / "bad.json"
        bad.write_text('{"host": "", "vehicle_id": "v"}')
        capsys.readouterr()
        assert main(["run", "--source", "synthetic:3", "--seconds", "1", "--model", str(model), "--out",
                     str(tmp_path / "r2"), "--quiet", "--upload", str(bad)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--upload" in err[0] and "field 'host'" in err[0]
    finally:
        receiver.close()
