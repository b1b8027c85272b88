"""The uploader's configuration: a JSON file (in the bundle, /etc/dms/upload.json), never
command-line secrets. Every number has its reason; errors name the file and field."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

FORMAT = "dms-upload-config"
FORMAT_VERSION = 1
# Topic levels may not hold MQTT's wildcards or separators (MQTT 3.1.1, 4.7).
_TOPIC_LEVEL = re.compile(r"^[^/#+\x00]+$")


class UploadConfigError(ValueError):
    """A configuration that cannot work; the message names the file and field."""


@dataclass(frozen=True)
class UploadConfig:
    """Where and how events are sent.

    host / port: the fleet's broker; 8883 is MQTT over TLS (IANA), 1883 plain MQTT, for a
      broker on the vehicle's own network only.
    vehicle_id / driver_id: who the events are about; the topic and the payload carry them.
    vehicle_id_file: where the vehicle id is read from when vehicle_id is empty (a bundle
      serves a whole fleet: each unit's id is provisioned as a file, e.g. /etc/dms/vehicle_id).
    topic_prefix: topics are `<prefix>/<vehicle_id>/events/<type>`; "dms/v1" versions the
      payload schema in the topic, so a receiver can subscribe to one version.
    ca_file / cert_file / key_file: TLS with the fleet's CA and, for mutual TLS, the
      vehicle's certificate and key (paths; the files are read when connecting).
    username / password_file: MQTT credentials; the password is read from its file at
      connect time, never given on a command line (visible to every user in `ps`).
    keepalive_s: 30 s: a dead cellular link is noticed within 1.5x that (MQTT's rule),
      cheap in data (a 2-byte PINGREQ).
    backoff_min_s / backoff_max_s: reconnect delay doubling from 1 s to 120 s, so a fleet
      whose broker comes back is not hit by every vehicle at once.
    quota_mb: the spool (the event log folder) is trimmed to this size, oldest uploaded
      files first; 512 MB is ~500,000 events: weeks offline at any plausible alert rate.
    poll_s: how often the log is checked for new completed events (1 s).
    publish_timeout_s: how long one PUBACK may take before the link counts as down.
    """

    host: str
    vehicle_id: str = ""
    vehicle_id_file: str = ""
    port: int = 8883
    driver_id: str = ""
    topic_prefix: str = "dms/v1"
    client_id: str = ""
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    username: str = ""
    password_file: str = ""
    keepalive_s: int = 30
    backoff_min_s: float = 1.0
    backoff_max_s: float = 120.0
    quota_mb: float = 512.0
    poll_s: float = 1.0
    publish_timeout_s: float = 10.0

    @property
    def tls(self) -> bool:
        return bool(self.ca_file)

    @property
    def effective_client_id(self) -> str:
        return self.client_id or f"dms-{self.vehicle_id}"

    def topic(self, event_type: str) -> str:
        return f"{self.topic_prefix}/{self.vehicle_id}/events/{event_type}"

    def password(self) -> str | None:
        if not self.password_file:
            return None
        try:
            return Path(self.password_file).read_text().strip()
        except OSError as exc:
            raise UploadConfigError(f"password_file: {self.password_file}: cannot be read ({exc.strerror})") from None

    def validate(self) -> None:
        if not self.host:
            raise UploadConfigError("host: the broker's host name is required")
        if not 0 < self.port < 65536:
            raise UploadConfigError(f"port: must be 1-65535, got {self.port}")
        for name in ("vehicle_id",):
            value = getattr(self, name)
            if not value or not _TOPIC_LEVEL.match(value):
                raise UploadConfigError(f"{name}: must be non-empty without '/', '+' or '#', got {value!r}")
        if self.driver_id and not _TOPIC_LEVEL.match(self.driver_id):
            raise UploadConfigError(f"driver_id: must not contain '/', '+' or '#', got {self.driver_id!r}")
        if not self.topic_prefix or any(not _TOPIC_LEVEL.match(p) for p in self.topic_prefix.split("/")):
            raise UploadConfigError(f"topic_prefix: levels without wildcards, got {self.topic_prefix!r}")
        if (self.cert_file or self.key_file) and not (self.cert_file and self.key_file and self.ca_file):
            raise UploadConfigError("cert_file / key_file: mutual TLS needs ca_file, cert_file and key_file")
        if self.username and not self.password_file:
            raise UploadConfigError("password_file: required with username (secrets are read from files)")
        if not 5 <= self.keepalive_s <= 65535:
            raise UploadConfigError(f"keepalive_s: must be 5-65535, got {self.keepalive_s}")
        if not 0 < self.backoff_min_s <= self.backoff_max_s:
            raise UploadConfigError(f"backoff_min_s / backoff_max_s: need 0 < min <= max, got "
                                    f"{self.backoff_min_s} / {self.backoff_max_s}")
        for name in ("quota_mb", "poll_s", "publish_timeout_s"):
            if getattr(self, name) <= 0:
                raise UploadConfigError(f"{name}: must be > 0, got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "format_version": FORMAT_VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, data: Any, source: str = "upload config", resolve: bool = True) -> UploadConfig:
        """resolve=False: check a template without reading the per-vehicle files (the bundle)."""
        if not isinstance(data, dict):
            raise UploadConfigError(f"{source}: expected a JSON object")
        if data.get("format", FORMAT) != FORMAT:
            raise UploadConfigError(f"{source}: field 'format': expected '{FORMAT}'")
        body = {k: v for k, v in data.items() if k not in ("format", "format_version")}
        if "password" in data:
            raise UploadConfigError(f"{source}: field 'password': secrets go in password_file")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(body) - known)
        if unknown:
            raise UploadConfigError(f"{source}: field '{unknown[0]}': unknown")
        try:
            cfg = cls(**body)
        except TypeError as exc:
            raise UploadConfigError(f"{source}: {exc}") from None
        if not cfg.vehicle_id and cfg.vehicle_id_file and resolve:
            try:
                cfg = replace(cfg, vehicle_id=Path(cfg.vehicle_id_file).read_text().strip())
            except OSError as exc:
                raise UploadConfigError(f"{source}: field 'vehicle_id_file': {cfg.vehicle_id_file}: cannot be read "
                                        f"({exc.strerror}); provision this unit's id there") from None
        if not resolve and not cfg.vehicle_id and cfg.vehicle_id_file:
            cfg = replace(cfg, vehicle_id="unresolved")     # checked on the vehicle
        try:
            cfg.validate()
        except UploadConfigError as exc:
            name, _, why = str(exc).partition(": ")
            raise UploadConfigError(f"{source}: field '{name}': {why}") from None
        return cfg

    @classmethod
    def load(cls, path: Path | str) -> UploadConfig:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except OSError as exc:
            raise UploadConfigError(f"{path}: cannot be read ({exc.strerror})") from None
        except json.JSONDecodeError as exc:
            raise UploadConfigError(f"{path}: not valid JSON (line {exc.lineno}): {exc.msg}") from None
        return cls.from_dict(data, str(path))
