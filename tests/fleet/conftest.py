"""A real MQTT broker (Debian's mosquitto, installed by scripts/bootstrap.sh) on 127.0.0.1
with a free port, a receiver that records what reaches it, and an alert writer."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from runtime.events import EventLog

MOSQUITTO = shutil.which("mosquitto") or next((p for p in ("/usr/sbin/mosquitto",) if Path(p).is_file()), None)
needs_broker = pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto is not installed here (scripts/bootstrap.sh "
                                                            "installs it with apt where it runs as root)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    """mosquitto with persistence (a graceful restart keeps queued QoS 1 messages for the
    receiver's persistent session), optionally TLS and a password file."""

    def __init__(self, folder: Path, extra: str = "", port: int | None = None) -> None:
        self.folder = folder
        self.port = port or free_port()
        folder.mkdir(parents=True, exist_ok=True)
        self.conf = folder / "mosquitto.conf"
        # user: mosquitto started as root drops to the `mosquitto` account, which cannot read
        # pytest's private temporary folders; as anyone else the option changes nothing
        self.conf.write_text(f"user {pwd.getpwuid(os.getuid()).pw_name}\n"
                             f"listener {self.port} 127.0.0.1\npersistence true\npersistence_location {folder}/\n"
                             f"log_dest file {folder}/mosquitto.log\n" + (extra or "allow_anonymous true\n"))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert MOSQUITTO is not None
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        log = self.folder / "mosquitto.log"
        raise RuntimeError("mosquitto did not start: " + (log.read_text()[-2000:] if log.exists() else "no log"))

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()              # graceful: persistence is saved
            self.proc.wait(timeout=10)
            self.proc = None


class Receiver:
    """A fleet back end's subscriber: persistent session, QoS 1, records every payload."""

    def __init__(self, port: int, topic: str = "dms/v1/#", **tls: Any) -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fleet-receiver", clean_session=False,
                        protocol=mqtt.MQTTv311)
        if tls:
            c.tls_set(**tls)
        c.reconnect_delay_set(1, 1)
        c.on_connect = lambda cl, u, f, rc, p: cl.subscribe(topic, qos=1)
        c.on_subscribe = lambda cl, u, mid, codes, p: self.subscribed.set()
        c.on_message = self._on_message
        self.subscribed = threading.Event()
        c.connect_async("127.0.0.1", port, keepalive=10)
        c.loop_start()
        self.client = c
        # subscribed before anything is published: the broker keeps this session's QoS 1
        # messages from then on, through the receiver's own disconnections and broker restarts
        if not self.subscribed.wait(15):
            self.close()
            raise RuntimeError(f"the receiver could not subscribe on port {port}")

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        with self.lock:
            self.messages.append({"topic": msg.topic, **json.loads(msg.payload)})

    def event_ids(self) -> list[str]:
        with self.lock:
            return [m["event"]["event_id"] for m in self.messages if "event" in m]

    def drive(self) -> list[dict[str, Any]]:
        with self.lock:
            return [m for m in self.messages if "drive" in m]

    def wait_for(self, ids: set[str], timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ids <= set(self.event_ids()):
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def write_alerts(log: EventLog, first: int, count: int, end: bool = True) -> list[str]:
    """`count` alerts numbered from `first`: a start and (with `end`) an end record each."""
    ids = []
    for n in range(first, first + count):
        base = {"alert_no": n, "type": "long_distraction", "severity": "warning", "t": n * 1.0, "frame": n * 30,
                "start_t": n * 1.0 - 3.0, "duration_s": 3.0, "alert_t": n * 1.0, "frame_range": [n * 30 - 90, n * 30]}
        rec = log.append({**base, "phase": "start", "end_t": None})
        if end:
            log.append({**base, "phase": "end", "end_t": n * 1.0 + 1.0, "duration_s": 4.0})
        ids.append(rec.event_id)
    return ids


@pytest.fixture
def broker(tmp_path: Path):
    b = Broker(tmp_path / "broker")
    b.start()
    yield b
    b.stop()


def upload_config(path: Path, port: int, **kw: Any) -> Path:
    cfg = {"format": "dms-upload-config", "host": "127.0.0.1", "port": port, "vehicle_id": "VIN-TEST-1",
           "driver_id": "driver-7", "poll_s": 0.1, "publish_timeout_s": 5, "backoff_min_s": 1, "backoff_max_s": 1,
           **kw}
    path.write_text(json.dumps(cfg))
    return path
