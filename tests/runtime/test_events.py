"""The durable event log: fsync before reporting, rotation, repair, and real SIGKILLs."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import fields
from pathlib import Path

import pytest

from runtime import events as ev
from runtime.attention import LONG_DISTRACTION, AttentionMonitor
from runtime.events import EventLog, EventLogError, EventRecord, latest_by_event, log_files, read_file, read_log
from tests.runtime.timeline import LAP, ROAD, WARMUP, Seg, timeline

ROOT = Path(__file__).resolve().parents[2]


def _fields(n: int, pad: int = 0) -> dict:
    """A minimal alert update as the monitor would hand it over."""
    return {"alert_no": n, "phase": "start", "type": LONG_DISTRACTION, "severity": "warning", "t": n * 0.05,
            "frame": n, "start_t": 0.0, "end_t": None, "duration_s": n * 0.05, "alert_t": n * 0.05,
            "frame_range": [0, n], "detail": {"pad": "x" * pad}}


def test_monitor_events_are_logged_and_read_back(tmp_path):
    log_path = tmp_path / "events.jsonl"
    monitor = AttentionMonitor()
    with EventLog(log_path, model_hash="sha256:abc", run_id="run1", clock=lambda: 0.0) as log:
        reported = []
        for s in timeline([WARMUP, Seg(7.0, LAP), Seg(3.0, ROAD)]):
            for rec in log.log_all(monitor.update(s)):
                reported.append(rec)      # "report" only what append has returned
    recs = read_log(log_path)
    assert [r.seq for r in recs] == [1, 2, 3] == [r.seq for r in reported]
    assert [(r.phase, r.severity, r.t) for r in recs] == [("start", "warning", 15.0), ("escalate", "critical", 18.0),
                                                         ("end", "critical", 19.2)]
    final = latest_by_event(recs)["run1-00001"]
    assert (final.start_t, final.end_t, final.duration_s, final.frame_range) == (12.0, 19.0, 7.0, [240, 379])
    assert final.model_hash == "sha256:abc" and final.zone == "lap" and final.speed_kmh == 80.0
    assert final.logged_at == "1970-01-01T00:00:00.000+00:00"
    assert [e["severity"] for e in final.escalations] == ["warning", "critical"]
    # each line is a self-contained JSON object with the documented schema id
    for line in log_path.read_text().splitlines():
        assert json.loads(line)["schema"] == "dms-event-v1"


def test_append_is_on_disk_before_it_returns(tmp_path, monkeypatch):
    seen = []
    real_fsync = os.fsync

    def spy(fd):
        real_fsync(fd)
        seen.append(os.fstat(fd).st_size)

    log = EventLog(tmp_path / "e.jsonl")
    monkeypatch.setattr(ev.os, "fsync", spy)
    rec = log.append(_fields(1))
    # fsync ran on the file once the whole line was in it, before append returned
    assert seen == [len(rec.to_line())] == [(tmp_path / "e.jsonl").stat().st_size]
    log.close()


def test_rotation_keeps_sequence_numbers_contiguous(tmp_path):
    path = tmp_path / "events.jsonl"
    with EventLog(path, max_bytes=2000, backups=50) as log:
        for n in range(1, 61):
            log.append(_fields(n))
    files = log_files(path)
    assert len(files) > 5 and files[-1] == path
    assert all(p.stat().st_size <= 2000 for p in files)
    assert [r.seq for r in read_log(path)] == list(range(1, 61))
    # a new writer continues the numbering from the newest file
    with EventLog(path, max_bytes=2000, backups=50) as log:
        assert log.append(_fields(61)).seq == 61


def test_oldest_files_beyond_backups_are_dropped(tmp_path):
    path = tmp_path / "events.jsonl"
    with EventLog(path, max_bytes=1000, backups=2) as log:
        for n in range(1, 41):
            log.append(_fields(n))
    assert [p.name for p in log_files(path)] == ["events.jsonl.2", "events.jsonl.1", "events.jsonl"]
    seqs = [r.seq for r in read_log(path)]
    assert seqs == list(range(seqs[0], 41)) and seqs[0] > 1


def test_sequence_recovered_when_a_crash_hit_between_rename_and_new_file(tmp_path):
    path = tmp_path / "events.jsonl"
    with EventLog(path) as log:
        for n in range(1, 4):
            log.append(_fields(n))
    os.replace(path, tmp_path / "events.jsonl.1")   # rotated, new file never created
    with EventLog(path) as log:
        assert log.append(_fields(4)).seq == 4
    assert [r.seq for r in read_log(path)] == [1, 2, 3, 4]


def test_partial_last_line_is_ignored_by_readers_and_repaired_by_the_writer(tmp_path):
    path = tmp_path / "events.jsonl"
    with EventLog(path) as log:
        for n in range(1, 4):
            log.append(_fields(n))
    torn = EventRecord(seq=4, event_id="x", run_id="x", phase="start", type=LONG_DISTRACTION, severity="warning",
                       t=0.0, frame=0, start_t=0.0, end_t=None, duration_s=0.0, alert_t=0.0,
                       frame_range=[0, 0]).to_line()[:57]
    with open(path, "ab") as f:
        f.write(torn)
    assert [r.seq for r in read_file(path)] == [1, 2, 3]          # tolerant reader
    with EventLog(path) as log:
        assert log.repaired_bytes == 57
        assert log.append(_fields(4)).seq == 4                    # seq 4 was never reported
    assert path.read_bytes().endswith(b"\n")
    assert [r.seq for r in read_log(path)] == [1, 2, 3, 4]


def test_corruption_inside_the_file_is_an_error_naming_file_and_line(tmp_path):
    path = tmp_path / "events.jsonl"
    with EventLog(path) as log:
        log.append(_fields(1))
    with open(path, "ab") as f:
        f.write(b"garbage\n")
    with EventLog(path) as log:
        log.append(_fields(2))
    with pytest.raises(EventLogError, match=re.escape(f"{path}:2: not a JSON line")):
        read_log(path)


def test_bad_records_and_second_writers_are_refused(tmp_path):
    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    with pytest.raises(EventLogError, match="another process is writing"):
        EventLog(path)
    with pytest.raises(EventLogError, match="cannot write record 1"):
        log.append({**_fields(1), "duration_s": float("nan")})
    with pytest.raises(EventLogError, match="cannot write record 1: field 'phase' is 'open'"):
        log.append({**_fields(1), "phase": "open"})
    with pytest.raises(EventLogError, match="'alert_no' or 'event_id'"):
        log.append({k: v for k, v in _fields(1).items() if k != "alert_no"})
    log.close()
    with pytest.raises(EventLogError, match="field 'severity'"):
        EventRecord.from_dict({**json.loads(EventLog(tmp_path / "b.jsonl").append(_fields(1)).to_line()),
                               "severity": "mild"}, "rec")


def test_schema_documented_in_both_places():
    doc = (ROOT / "docs" / "events.md").read_text()
    module_doc = ev.__doc__ or ""
    for f in fields(EventRecord):
        assert f"`{f.name}`" in doc, f"docs/events.md does not document {f.name}"
        assert re.search(rf"^\s+{f.name}\b", module_doc, re.M), f"runtime/events.py docstring misses {f.name}"


def test_event_log_needs_only_the_standard_library():
    code = "import sys, runtime.events; print('numpy' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# ------------------------------------------------------------------------ the real kill

WRITER = r"""
import sys
from runtime.events import EventLog
path = sys.argv[1]
log = EventLog(path, max_bytes=16384, backups=1000, model_hash="kill-test")
print("ready", log.last_seq, log.repaired_bytes, flush=True)
n = 0
while True:
    n += 1
    rec = log.append({"alert_no": n, "phase": "start", "type": "long_distraction", "severity": "warning",
                      "t": n * 0.05, "frame": n, "start_t": 0.0, "end_t": None, "duration_s": 0.0,
                      "alert_t": 0.0, "frame_range": [0, n], "detail": {"pad": "x" * (n % 97)}})
    print(rec.seq, flush=True)   # reported: only after append returned, i.e. after fsync
"""


def test_sigkill_at_random_moments_loses_no_reported_event(tmp_path):
    path = tmp_path / "events.jsonl"
    rng = random.Random(1234)
    reported: list[int] = []
    repaired: list[int] = []
    for round_ in range(6):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], cwd=ROOT, stdout=subprocess.PIPE,
                                text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert proc.stdout is not None
        ready = proc.stdout.readline().split()
        assert ready[0] == "ready", ready
        # the restarted writer continues after everything reported so far
        assert int(ready[1]) >= (reported[-1] if reported else 0)
        repaired.append(int(ready[2]))
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)  # type: ignore[arg-type]
        reader.start()
        time.sleep(rng.uniform(0.05, 0.25))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        reader.join(timeout=10)
        reported += [int(x) for x in lines if x.strip().isdigit()]
        if round_ % 2 == 0:
            # a torn write, as a kill inside os.write would leave it: half a line, no newline,
            # in the file being written. That is always `path`, even when the kill fell
            # between a rotation's rename and the new file's creation (then the writer's
            # next line would have created it), never a rotated file, which was complete
            # when it was renamed. (Tearing log_files()[-1] tore a rotated file in that
            # case, which no writer repairs: 1 failure in a few dozen runs.)
            with open(path, "ab") as f:
                f.write(b'{"schema":"dms-event-v1","seq":' + str(10 ** 6).encode() + b',"event_id":"tor')
    recs = read_log(path)                      # every line parses; seq contiguity checked
    seqs = [r.seq for r in recs]
    assert seqs == list(range(1, len(seqs) + 1))
    assert reported, "the writer never got to report anything"
    assert set(reported) <= set(seqs)          # nothing reported was lost
    assert reported == sorted(reported) and len(set(reported)) == len(reported)
    assert len(log_files(path)) > 1            # rotation happened under the kills too
    # every torn write was cut off by the next writer (rounds 0, 2, 4 -> starts 1, 3, 5)
    assert all(repaired[i] > 0 for i in (1, 3, 5)), repaired
    # the reader tolerates a torn last line left by the final kill, too
    with open(log_files(path)[-1], "ab") as f:
        f.write(b'{"schema":"dms-ev')
    assert [r.seq for r in read_log(path)] == seqs
