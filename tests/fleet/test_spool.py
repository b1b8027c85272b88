"""What the uploader sends, how far it got (the cursor), and what the quota deletes:
no broker needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet.spool import completions, cursor_path, enforce_quota, read_cursor, read_spool, write_cursor
from runtime.events import EventLog, EventLogError, log_files, read_file
from tests.fleet.conftest import write_alerts


def test_an_alert_is_sent_once_it_ends_with_its_final_state(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    with EventLog(path, run_id="r1") as log:
        done = write_alerts(log, 1, 2)
        open_id = write_alerts(log, 3, 1, end=False)
    got = completions(read_spool(path))
    assert [c.record.event_id for c in got] == done
    assert all(c.record.phase == "end" and c.closed_by == "end" for c in got)
    assert open_id[0] not in {c.record.event_id for c in got}           # still open: not yet
    keys = [c.key for c in got]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    # the writer is gone for good (dms upload --final): the open alert goes too, as it was
    final = completions(read_spool(path), flush_open=True)
    assert final[-1].record.event_id == open_id[0] and final[-1].closed_by == "run_ended"
    assert final[-1].key > keys[-1]


def test_an_alert_left_open_by_a_killed_run_is_sent_when_the_next_run_writes(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    with EventLog(path, run_id="r1") as log:
        left = write_alerts(log, 1, 1, end=False)
    with EventLog(path, run_id="r2") as log:
        later = write_alerts(log, 1, 1)
    got = completions(read_spool(path))
    assert [(c.record.event_id, c.closed_by) for c in got] == [(left[0], "run_ended"), (later[0], "end")]
    assert got[0].record.phase == "start" and got[0].key < got[1].key


def test_the_cursor_survives_and_is_never_torn(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    assert read_cursor(path) == (0, -1)
    write_cursor(path, (12, 1000))
    assert read_cursor(path) == (12, 1000)
    assert not cursor_path(path).with_name(cursor_path(path).name + ".tmp").exists()
    cursor_path(path).write_text("{not json")
    with pytest.raises(EventLogError, match="upload-cursor.json: not an upload cursor"):
        read_cursor(path)


def test_the_quota_deletes_uploaded_files_first_and_warns_before_dropping_unsent(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    with EventLog(path, run_id="r1", max_bytes=3000, backups=1000) as log:
        write_alerts(log, 1, 40)
    files = log_files(path)
    assert len(files) >= 6
    sizes = [p.stat().st_size for p in files]
    cursor = (read_file(files[1])[-1].seq, 1000)            # the two oldest files are uploaded
    warnings: list[str] = []
    deleted = enforce_quota(path, sum(sizes) - sizes[0] - 1, cursor, warnings.append)
    assert deleted == files[:2] and warnings == []            # uploaded ones go, nothing lost
    warnings.clear()
    deleted = enforce_quota(path, sizes[-1], cursor, warnings.append)   # only the live file fits
    assert deleted == files[2:-1]
    assert len(warnings) == len(files) - 3 and all("not yet uploaded" in w for w in warnings)
    assert log_files(path) == [path]                           # the live file is never deleted
