"""The event log as the uploader's spool: which alerts are complete, how far the broker
has acknowledged them (the cursor), and the disk quota.

What is sent: one message per alert once it is complete, carrying its final record (which
holds the whole alert: escalations, duration, pose summary). An alert is complete at its
"end" record; an alert that a run left open (the process was killed or the car switched
off mid-alert) is complete when a later run writes its first record, with its last known
state. Completions are numbered by the seq of the record that completes them (and their
order within it), so "everything up to the cursor was acknowledged" is well defined
across restarts, rotation and the quota.

The cursor is one small JSON file beside the log, replaced atomically (write, fsync,
rename, fsync the folder): after a kill -9 or a power cut it holds the last
acknowledged completion, and only the tail after it is sent again. Receivers see each
alert at least once and de-duplicate by `event_id` (docs/fleet.md).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, List, Tuple

from runtime.events import EventLogError, EventRecord, log_files, read_file

CURSOR_FORMAT = "dms-upload-cursor"
Key = Tuple[int, int]          # (seq of the completing record, order within it)
NOTHING: Key = (0, -1)
# Within one seq, alerts closed by a new run come first (0, 1, ...), an "end" after them.
END_ORDER = 1000


@dataclass(frozen=True)
class Completion:
    """An alert ready to send: `record` is its latest state; `closed_by` is "end" (the
    alert ended) or "run_ended" (its run stopped with the alert open)."""

    key: Key
    record: EventRecord
    closed_by: str


def completions(records: Iterable[EventRecord], flush_open: bool = False) -> List[Completion]:
    """Every completed alert in log order. flush_open: also complete the alerts still open
    at the end (a spool left behind, `dms upload --final`)."""
    out: list[Completion] = []
    open_alerts: dict[str, EventRecord] = {}
    run: str | None = None
    last_seq = 0
    for r in records:
        if run is not None and r.run_id != run and open_alerts:
            for k, left in enumerate(sorted(open_alerts.values(), key=lambda x: x.seq)):
                out.append(Completion((r.seq, k), left, "run_ended"))
            open_alerts.clear()
        run = r.run_id
        last_seq = r.seq
        if r.phase == "end":
            open_alerts.pop(r.event_id, None)
            out.append(Completion((r.seq, END_ORDER), r, "end"))
        else:
            open_alerts[r.event_id] = r
    if flush_open and open_alerts:
        for k, left in enumerate(sorted(open_alerts.values(), key=lambda x: x.seq)):
            out.append(Completion((last_seq + 1, k), left, "run_ended"))
    return out


def read_spool(events_path: Path) -> List[EventRecord]:
    """All records still in the spool, oldest first (seq gaps allowed: the quota trims).
    A file renamed by the writer's rotation between listing and reading is read again."""
    for _attempt in range(3):
        out: list[EventRecord] = []
        try:
            for p in log_files(events_path):
                out.extend(read_file(p))
        except EventLogError as exc:
            if "cannot read" in str(exc):
                continue             # rotated under us: list again
            raise
        out.sort(key=lambda r: r.seq)
        return out
    raise EventLogError(f"{events_path}: the log kept rotating while it was read; try again")


# ---------------------------------------------------------------------------- the cursor
def cursor_path(events_path: Path) -> Path:
    return events_path.with_name(events_path.name + ".upload-cursor.json")


def read_cursor(events_path: Path) -> Key:
    path = cursor_path(events_path)
    if not path.exists():
        return NOTHING
    try:
        data = json.loads(path.read_text())
        if data.get("format") != CURSOR_FORMAT:
            raise ValueError(f"field 'format' is {data.get('format')!r}")
        return (int(data["seq"]), int(data["k"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EventLogError(f"{path}: not an upload cursor ({exc}); move it away to resend the whole spool") from None


def write_cursor(events_path: Path, key: Key) -> None:
    """Atomically: a reader (or the next start after a power cut) sees the old cursor or
    the new one, never a torn file."""
    path = cursor_path(events_path)
    tmp = path.with_name(path.name + ".tmp")
    data = json.dumps({"format": CURSOR_FORMAT, "seq": key[0], "k": key[1]}).encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


# ---------------------------------------------------------------------------- the quota
def enforce_quota(events_path: Path, quota_bytes: int, cursor: Key,
                  warn: Callable[[str], None]) -> List[Path]:
    """Delete the oldest rotated files until the spool fits in quota_bytes: files whose
    every record is acknowledged first; only if that is not enough, unsent ones, each with
    a warning saying how many events are lost. The live file is never deleted.
    Returns the deleted files."""
    deleted: list[Path] = []
    files = log_files(events_path)
    sizes = {p: p.stat().st_size for p in files if p.exists()}
    total = sum(sizes.values())
    for p in files[:-1]:                       # oldest first; files[-1] is the live file
        if total <= quota_bytes:
            break
        try:
            records = read_file(p)
        except EventLogError:
            continue                           # rotated away meanwhile: next pass
        unsent = [r for r in records if r.seq > cursor[0]]
        if unsent:
            warn(f"{p}: disk quota of {quota_bytes / 2**20:.0f} MB reached: deleting {len(unsent)} event "
                 f"record(s) not yet uploaded (seq {unsent[0].seq}-{unsent[-1].seq}); the broker has been "
                 "unreachable for long")
        try:
            p.unlink()
        except FileNotFoundError:
            continue
        total -= sizes.get(p, 0)
        deleted.append(p)
    return deleted
