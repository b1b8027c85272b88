"""Store-and-forward upload of completed alerts to the fleet's MQTT broker (paho-mqtt).

At-least-once, QoS 1: a completion is published, and the cursor (fleet.spool) moves past
it only when the broker's PUBACK has arrived, in log order. Nothing is held in memory
that is not also in the log: a kill -9, a power cut or days without a network lose
nothing, and after a restart only the unacknowledged tail is sent again.

The uploader never touches the frame loop: it reads the log files the loop has already
fsync'd, from its own thread (`dms run --upload`) or process (`dms upload`), and paho's
network thread does the I/O. Reconnection is paho's, with the configured back-off.

Payload (schema `dms-upload-v1`, JSON, UTF-8), topic `<prefix>/<vehicle_id>/events/<type>`:

    schema       "dms-upload-v1"
    vehicle_id   str
    driver_id    str ("" when unknown)
    closed_by    "end" | "run_ended"  (see fleet.spool)
    event        the alert's latest dms-event-v1 record (runtime/events.py), unchanged
    sent_at      wall-clock UTC of this publish (a resend has a later one)

and for each minute of monitored driving (fleet.drive_log), topic `<prefix>/<vehicle_id>/drive`:
the same envelope with `drive` (a dms-drive-v1 record) instead of `event` and `closed_by`.
Receivers de-duplicate alerts by `event.event_id`, drive minutes by (`drive.run_id`,
`drive.seq`).
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from fleet.drive_log import read_drive
from fleet.spool import (NOTHING, Completion, Key, completions, enforce_quota, read_cursor, read_spool,
                         write_cursor)
from fleet.upload_config import UploadConfig

PAYLOAD_SCHEMA = "dms-upload-v1"


def drive_payload(cfg: UploadConfig, segment: dict[str, Any], now: Callable[[], float] = time.time) -> bytes:
    body = {"schema": PAYLOAD_SCHEMA, "vehicle_id": cfg.vehicle_id, "driver_id": cfg.driver_id, "drive": segment,
            "sent_at": datetime.fromtimestamp(now(), timezone.utc).isoformat(timespec="milliseconds")}
    return json.dumps(body, separators=(",", ":"), allow_nan=False).encode("utf-8")


class UploadError(RuntimeError):
    """The broker refused us for good (credentials, TLS), or the spool cannot be read."""


def payload(cfg: UploadConfig, c: Completion, now: Callable[[], float] = time.time) -> bytes:
    body = {"schema": PAYLOAD_SCHEMA, "vehicle_id": cfg.vehicle_id, "driver_id": cfg.driver_id,
            "closed_by": c.closed_by, "event": c.record.to_dict(),
            "sent_at": datetime.fromtimestamp(now(), timezone.utc).isoformat(timespec="milliseconds")}
    return json.dumps(body, separators=(",", ":"), allow_nan=False).encode("utf-8")


class Uploader:
    """One broker connection and one spool. `pump()` sends what is pending while
    connected; `start()` runs it in a daemon thread until `stop()`."""

    def __init__(self, cfg: UploadConfig, events_path: Path | str, warn: Callable[[str], None] | None = None,
                 flush_open: bool = False) -> None:
        cfg.validate()
        self.cfg = cfg
        self.events_path = Path(events_path)
        self.warn = warn or (lambda m: None)
        self.flush_open = flush_open
        self.sent = 0                      # acknowledged publishes by this process
        self.connected = threading.Event()
        self.refused: str | None = None    # the broker's reason when it refused the connection
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._spool_stamp: tuple[Any, ...] | None = None
        self._cursor: Key = NOTHING           # the last acknowledged completion (mirrors the file)
        self._pending: list[Completion] = []
        self._drive_stamp: tuple[int, int] | None = None
        self._client: Any = None

    # ------------------------------------------------------------------ connection
    def connect(self) -> None:
        import paho.mqtt.client as mqtt

        cfg = self.cfg
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cfg.effective_client_id,
                             protocol=mqtt.MQTTv311)
        if cfg.tls:
            client.tls_set(ca_certs=cfg.ca_file, certfile=cfg.cert_file or None, keyfile=cfg.key_file or None)
        if cfg.username:
            client.username_pw_set(cfg.username, cfg.password())
        client.reconnect_delay_set(min_delay=max(1, int(cfg.backoff_min_s)), max_delay=max(1, int(cfg.backoff_max_s)))
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        self._client = client
        client.connect_async(cfg.host, cfg.port, keepalive=cfg.keepalive_s)
        client.loop_start()

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            self.refused = str(reason)
            self.warn(f"upload: {self.cfg.host}:{self.cfg.port} refused the connection: {reason}")
            self.connected.clear()
        else:
            self.refused = None
            self.connected.set()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self.connected.clear()

    def _on_connect_fail(self, client: Any, userdata: Any) -> None:
        self.last_error = f"cannot reach {self.cfg.host}:{self.cfg.port}"

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()
        self.connected.clear()

    # ------------------------------------------------------------------ sending
    def pending(self) -> list[Completion]:
        """Completions after the cursor (the log is re-read only when it changed)."""
        stamp = tuple((p.name, st.st_size, st.st_mtime_ns) for p in self._files() for st in (p.stat(),))
        if stamp != self._spool_stamp:
            cursor = self._cursor = read_cursor(self.events_path)
            self._pending = [c for c in completions(read_spool(self.events_path), self.flush_open)
                             if c.key > cursor]
            self._spool_stamp = stamp
        return self._pending

    def _files(self) -> list[Path]:
        from runtime.events import log_files

        return [p for p in log_files(self.events_path) if p.exists()]

    def pump(self) -> int:
        """Publish pending completions in order while connected; the cursor follows each
        PUBACK. Returns how many were acknowledged now. Then trims the spool to the quota."""
        done = 0
        pending = self.pending()
        while pending and self.connected.is_set() and not self._stop.is_set():
            c = pending[0]
            if not self._publish(c):
                break
            write_cursor(self.events_path, c.key)
            self._cursor = c.key
            pending.pop(0)
            done += 1
            self.sent += 1
        done += self._pump_drive()
        if enforce_quota(self.events_path, int(self.cfg.quota_mb * 2**20), self._cursor, self.warn):
            self._spool_stamp = None
        return done

    @property
    def drive_path(self) -> Path:
        return self.events_path.with_name("drive.jsonl")

    def _pump_drive(self) -> int:
        """The drive minutes after their own cursor, in order, each after its PUBACK."""
        path = self.drive_path
        if not path.exists() or not self.connected.is_set():
            return 0
        st = path.stat()
        stamp = (st.st_size, st.st_mtime_ns)
        if stamp == self._drive_stamp:
            return 0
        last = read_cursor(path)[0]
        done = 0
        for seg in read_drive(path):
            if int(seg.get("seq", 0)) <= last:
                continue
            if self._stop.is_set() or not self._publish_bytes(f"{self.cfg.topic_prefix}/{self.cfg.vehicle_id}/drive",
                                                              drive_payload(self.cfg, seg)):
                return done
            write_cursor(path, (int(seg["seq"]), 0))
            done += 1
        self._drive_stamp = stamp
        return done

    def _publish(self, c: Completion) -> bool:
        return self._publish_bytes(self.cfg.topic(c.record.type), payload(self.cfg, c))

    def _publish_bytes(self, topic: str, body: bytes) -> bool:
        client = self._client
        if client is None:
            return False
        info = client.publish(topic, body, qos=1)
        try:
            info.wait_for_publish(timeout=self.cfg.publish_timeout_s)
        except (RuntimeError, ValueError) as exc:      # not connected any more
            self.last_error = str(exc)
            return False
        return bool(info.is_published())

    # ------------------------------------------------------------------ the thread
    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.pump()
            except Exception as exc:  # noqa: BLE001 - the uploader must never take the monitor down
                self.warn(f"upload: {exc}")
            self._stop.wait(self.cfg.poll_s)

    def start(self) -> None:
        if self._client is None:
            self.connect()
        self._thread = threading.Thread(target=self.run, name="dms-upload", daemon=True)
        self._thread.start()

    def stop(self, flush_s: float = 5.0) -> None:
        """A last pump (up to flush_s while connected), then disconnect. Unsent events stay
        in the spool for the next start."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.cfg.publish_timeout_s + 1)
            self._thread = None
        deadline = time.monotonic() + flush_s
        self._stop.clear()
        try:
            if self.connected.is_set():
                self.pump()                # what completed last (the final drive minute too)
            while time.monotonic() < deadline and self.connected.is_set() and self.pending():
                self.pump()
        except Exception as exc:  # noqa: BLE001
            self.warn(f"upload: {exc}")
        finally:
            self._stop.set()
            self.close()

    def wait_connected(self, timeout: float) -> bool:
        """True once connected; False on timeout or a refusal (see `refused`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.connected.wait(0.1):
                return True
            if self.refused is not None:
                return False
        return False
