"""The durable event log: every alert update as one JSON line, on disk before it is reported.

Why this shape: a fleet operator must be able to trust that an alert the driver saw is in
the log, even if the process is killed or the power goes a moment later. So each record
is one ``json.dumps`` line written with a single ``os.write`` on an ``O_APPEND`` file
descriptor and then ``os.fsync``'d; only when ``EventLog.append`` returns may the alert be
shown or sent on. A crash can therefore leave at most one partial line at the end of the
newest file: an update that was never reported. The writer cuts it off when it reopens
the log, and the reader ignores it, so a reader never chokes on a crash.

Schema ``dms-event-v1`` (also in docs/events.md). One JSON object per line, UTF-8:

    schema         "dms-event-v1"
    seq            int, 1, 2, 3 ... contiguous across rotation and restarts (the writer
                   recovers the last one from the newest file when it opens the log)
    event_id       str, "<run_id>-<alert_no>": unique per alert; all updates of one alert
                   share it, and the last line of an event_id is the alert's latest state
    run_id         str, one per writer process (random unless given)
    phase          "start" | "escalate" | "end"
    type           "long_distraction" | "visual_time_sharing" | "monitoring_unavailable" |
                   "eyes_closed" | "drowsy_perclos" | "nodding"
    severity       "prewarning" | "warning" | "critical" (the level after this update)
    t              sample time of this update (s, the video's clock, not the wall clock)
    frame          frame index of this update
    start_t        when the behaviour began (first off-road sample of the glance ...)
    alert_t        when the rule fired
    end_t          when the behaviour ended (driver back on the road ...); null until "end"
    duration_s     end_t - start_t, or t - start_t while the alert is open
    frame_range    [first, last] frame of the behaviour so far, inclusive
    escalations    [{"severity", "t", "frame", "rule"}, ...] every level reached, in order
    speed_kmh      vehicle speed when the alert fired
    max_speed_kmh  the highest speed while the alert was open
    zone           where the driver mostly looked ("infotainment", "lap", "no_face" ...)
    pose           {"neutral": [p, y, r], "samples": n, "mean": [p, y, r],
                    "mean_offset": [dp, dy], "peak_offset": [dp, dy]} in degrees
    detail         rule-specific numbers (glance_s, cumulative_s, perclos, nods ...)
    model_hash     sha256 (or any id) of the model that produced the poses
    logged_at      wall-clock UTC time of the write, ISO 8601 (the only wall-clock field)

Rotation: when the next line would push the file past ``max_bytes``, ``events.jsonl`` is
renamed to ``events.jsonl.1`` (older ones shift to .2, .3 ...; the oldest beyond
``backups`` is deleted) and a new file starts. Renames are atomic and the directory is
fsync'd, so a crash mid-rotation loses nothing: readers take whatever files exist, oldest
first. One writer per log (an exclusive lock enforces it where fcntl exists).

Standard library only: the Jetson runtime and the crash test import this without numpy.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol

try:  # advisory lock: one writer per log
    import fcntl
except ImportError:  # pragma: no cover - not on Linux
    fcntl = None  # type: ignore[assignment]

SCHEMA = "dms-event-v1"
PHASES = ("start", "escalate", "end")
SEVERITIES = ("prewarning", "warning", "critical")
DEFAULT_MAX_BYTES = 8 * 1024 * 1024   # ~8000 records of ~1 KB: days of driving per file
DEFAULT_BACKUPS = 5


class EventLogError(ValueError):
    """A log that cannot be written or read; the message names the file (and line)."""


class HasEventFields(Protocol):
    def event_fields(self) -> dict[str, Any]: ...


@dataclass
class EventRecord:
    """One line of the log. See the module docstring for what each field means."""

    seq: int
    event_id: str
    run_id: str
    phase: str
    type: str
    severity: str
    t: float
    frame: int
    start_t: float
    end_t: float | None
    duration_s: float
    alert_t: float
    frame_range: list[int]
    escalations: list[dict[str, Any]] = field(default_factory=list)
    speed_kmh: float = 0.0
    max_speed_kmh: float = 0.0
    zone: str | None = None
    pose: dict[str, Any] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)
    model_hash: str = ""
    logged_at: str = ""
    schema: str = SCHEMA

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_line(self) -> bytes:
        # allow_nan=False: NaN is not JSON; a record that carries one is a bug, not a line
        return (json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False) + "\n").encode("utf-8")

    @classmethod
    def from_dict(cls, data: Any, where: str = "record") -> "EventRecord":
        if not isinstance(data, dict):
            raise EventLogError(f"{where}: expected a JSON object, got {type(data).__name__}")
        if data.get("schema") != SCHEMA:
            raise EventLogError(f"{where}: field 'schema' is {data.get('schema')!r}, expected {SCHEMA!r}")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise EventLogError(f"{where}: unknown field(s) {', '.join(unknown)}")
        required = ("seq", "event_id", "run_id", "phase", "type", "severity", "t", "frame", "start_t", "end_t",
                    "duration_s", "alert_t", "frame_range")
        for name in required:
            if name not in data:
                raise EventLogError(f"{where}: missing field {name!r}")
        if not isinstance(data["seq"], int) or isinstance(data["seq"], bool) or data["seq"] < 1:
            raise EventLogError(f"{where}: field 'seq' must be an integer >= 1, got {data['seq']!r}")
        if data["phase"] not in PHASES:
            raise EventLogError(f"{where}: field 'phase' is {data['phase']!r}, expected one of {PHASES}")
        if data["severity"] not in SEVERITIES:
            raise EventLogError(f"{where}: field 'severity' is {data['severity']!r}, expected one of {SEVERITIES}")
        fr = data["frame_range"]
        if not (isinstance(fr, list) and len(fr) == 2 and all(isinstance(v, int) for v in fr)):
            raise EventLogError(f"{where}: field 'frame_range' must be [first, last] frame indices, got {fr!r}")
        return cls(**data)


def log_files(path: str | os.PathLike[str]) -> list[Path]:
    """The files of a rotated log, oldest first (events.jsonl.N ... events.jsonl.1, events.jsonl)."""
    base = Path(path)
    numbered: list[tuple[int, Path]] = []
    if base.parent.is_dir():
        prefix = base.name + "."
        for p in base.parent.iterdir():
            if p.name.startswith(prefix) and p.name[len(prefix):].isdigit():
                numbered.append((int(p.name[len(prefix):]), p))
    out = [p for _, p in sorted(numbered, reverse=True)]
    if base.exists():
        out.append(base)
    return out


def read_file(path: str | os.PathLike[str]) -> list[EventRecord]:
    """Records of one file. A partial last line (no newline: a crash mid-write, never
    reported) is ignored; any other bad line is an error naming the file and line."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise EventLogError(f"{p}: cannot read: {exc.strerror}") from None
    lines = data.split(b"\n")
    # the segment after the last newline is empty for a clean file, partial after a crash
    out: list[EventRecord] = []
    for lineno, raw in enumerate(lines[:-1], start=1):
        if not raw.strip():
            raise EventLogError(f"{p}:{lineno}: empty line")
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise EventLogError(f"{p}:{lineno}: not a JSON line ({exc})") from None
        out.append(EventRecord.from_dict(obj, f"{p}:{lineno}"))
    return out


def read_log(path: str | os.PathLike[str], check_sequence: bool = True) -> list[EventRecord]:
    """All records of a rotated log, oldest first; with ``check_sequence`` the seq numbers
    must be contiguous (a gap means a deleted or corrupted file)."""
    out: list[EventRecord] = []
    for p in log_files(path):
        recs = read_file(p)
        if check_sequence and out and recs and recs[0].seq != out[-1].seq + 1:
            raise EventLogError(f"{p}:1: seq {recs[0].seq} does not follow {out[-1].seq} of the previous file")
        if check_sequence:
            for i in range(1, len(recs)):
                if recs[i].seq != recs[i - 1].seq + 1:
                    raise EventLogError(f"{p}:{i + 1}: seq {recs[i].seq} does not follow {recs[i - 1].seq}")
        out.extend(recs)
    return out


def latest_by_event(records: Iterable[EventRecord]) -> dict[str, EventRecord]:
    """The latest state of every alert: the last record per event_id."""
    out: dict[str, EventRecord] = {}
    for r in records:
        out[r.event_id] = r
    return out


def _fsync_dir(directory: Path) -> None:
    """Make a create or rename durable (the directory entry), where the OS allows it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _utc_now(clock: Callable[[], float]) -> str:
    return datetime.fromtimestamp(clock(), tz=timezone.utc).isoformat(timespec="milliseconds")


class EventLog:
    """Append-only, fsync'd, size-rotated JSON-lines log of alert updates.

    ``append`` returns only after the line is on disk: report the alert after it returns.
    One writer (process and thread) per log.
    """

    def __init__(self, path: str | os.PathLike[str], *, model_hash: str = "", run_id: str | None = None,
                 max_bytes: int = DEFAULT_MAX_BYTES, backups: int = DEFAULT_BACKUPS,
                 clock: Callable[[], float] = time.time) -> None:
        if max_bytes < 1:
            raise EventLogError(f"{path}: max_bytes must be >= 1, got {max_bytes}")
        if backups < 1:
            raise EventLogError(f"{path}: backups must be >= 1 (rotation keeps at least one old file), got {backups}")
        self.path = Path(path)
        self.model_hash = model_hash
        self.run_id = run_id if run_id is not None else uuid.uuid4().hex[:12]
        self.max_bytes = max_bytes
        self.backups = backups
        self.clock = clock
        self.repaired_bytes = 0   # bytes of a partial last line cut off when opening
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = None
        self._open()
        self.last_seq = self._recover_seq()

    # ------------------------------------------------------------------ open / repair
    def _open(self) -> None:
        created = not self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise EventLogError(f"{self.path}: another process is writing this log") from None
        self._fd = fd
        self.repaired_bytes += self._repair(fd)
        self._size = os.fstat(fd).st_size
        if created:
            _fsync_dir(self.path.parent)

    def _repair(self, fd: int) -> int:
        """Cut a partial last line (a crash mid-write) so the next record starts on a fresh line."""
        size = os.fstat(fd).st_size
        if size == 0:
            return 0
        # look back in growing chunks for the last newline
        chunk = 4096
        while True:
            start = max(0, size - chunk)
            tail = os.pread(fd, size - start, start)
            if tail.endswith(b"\n"):
                return 0
            nl = tail.rfind(b"\n")
            if nl >= 0 or start == 0:
                keep = start + nl + 1 if nl >= 0 else 0
                os.ftruncate(fd, keep)
                os.fsync(fd)
                return size - keep
            chunk *= 4

    def _recover_seq(self) -> int:
        """The last seq written: from the newest file that has a record (also after a crash
        between a rotation's rename and the new file's first line)."""
        for p in reversed(log_files(self.path)):
            try:
                data = p.read_bytes()
            except OSError:
                continue
            for raw in reversed(data.split(b"\n")[:-1]):
                try:
                    seq = json.loads(raw.decode("utf-8")).get("seq")
                except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
                    continue
                if isinstance(seq, int):
                    return seq
        return 0

    # ------------------------------------------------------------------ writing
    def _rotate(self) -> None:
        assert self._fd is not None
        os.close(self._fd)
        self._fd = None
        # highest number first, so no rename overwrites a file still to be moved
        for old in log_files(self.path)[:-1]:
            i = int(old.name.rsplit(".", 1)[1])
            if i >= self.backups:
                old.unlink()
            else:
                os.replace(old, self.path.with_name(f"{self.path.name}.{i + 1}"))
        os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        _fsync_dir(self.path.parent)
        self._open()

    def append(self, fields_: dict[str, Any]) -> EventRecord:
        """Write one alert update durably and return the record (with its seq).

        ``fields_`` are AlertUpdate.event_fields(): event_id comes from its ``alert_no``
        (or an explicit ``event_id``). Raises EventLogError if the record is not JSON.
        """
        if self._fd is None:
            raise EventLogError(f"{self.path}: log is closed")
        data = dict(fields_)
        alert_no = data.pop("alert_no", None)
        event_id = data.pop("event_id", None)
        if event_id is None:
            if alert_no is None:
                raise EventLogError(f"{self.path}: a record needs 'alert_no' or 'event_id'")
            event_id = f"{self.run_id}-{int(alert_no):05d}"
        try:
            record = EventRecord(seq=self.last_seq + 1, event_id=str(event_id), run_id=self.run_id,
                                 model_hash=self.model_hash, logged_at=_utc_now(self.clock), **data)
            line = record.to_line()
            EventRecord.from_dict(record.to_dict(), f"record {record.seq}")  # what readers will demand
        except EventLogError as exc:
            raise EventLogError(f"{self.path}: cannot write {exc}") from None
        except (TypeError, ValueError) as exc:
            raise EventLogError(f"{self.path}: cannot write record {self.last_seq + 1}: {exc}") from None
        if self._size > 0 and self._size + len(line) > self.max_bytes:
            self._rotate()
        assert self._fd is not None
        view = memoryview(line)
        while view:  # one write in practice; loop only for a short write
            n = os.write(self._fd, view)
            view = view[n:]
        os.fsync(self._fd)
        self._size += len(line)
        self.last_seq = record.seq
        return record

    def log(self, update: HasEventFields) -> EventRecord:
        """Append one monitor AlertUpdate."""
        return self.append(update.event_fields())

    def log_all(self, outputs: Iterable[Any]) -> list[EventRecord]:
        """Append every alert update among a monitor's outputs (state changes are skipped),
        in order; report them after this returns."""
        return [self.log(o) for o in outputs if hasattr(o, "event_fields")]

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "EventLog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
