"""The monitored-time log behind "alerts per hour driven"."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet.drive_log import DriveLog, read_drive


def test_minutes_of_driving_are_logged_with_face_and_moving_time(tmp_path: Path) -> None:
    path = tmp_path / "drive.jsonl"
    log = DriveLog(path, run_id="r1", clock=lambda: 1_780_000_000.0)
    for i in range(30 * 150 + 1):                       # 150 s at 30 fps
        t = i / 30
        log.add(t, face=not 60 <= t < 70, speed_kmh=0.0 if t < 30 else 50.0)
    log.close()
    segs = read_drive(path)
    assert [s["seq"] for s in segs] == [1, 2, 3]
    assert [round(s["monitored_s"]) for s in segs] == [60, 60, 30]
    assert sum(s["monitored_s"] for s in segs) == pytest.approx(150.0, abs=0.05)
    assert segs[1]["face_s"] == pytest.approx(50.0, abs=0.05)            # 10 s without a face
    assert segs[0]["moving_s"] == pytest.approx(30.0, abs=0.05)          # parked for the first 30 s
    assert segs[0]["logged_at"].startswith("2026-05-28")
    # a second run continues the numbering; no speed known -> null, not 0
    log = DriveLog(path, run_id="r2", clock=lambda: 1_780_000_100.0)
    for i in range(61 * 30):
        log.add(i / 30, face=True, speed_kmh=None)
    log.close()
    segs = read_drive(path)
    assert [s["seq"] for s in segs][-2:] == [4, 5] and segs[-1]["moving_s"] is None and segs[-1]["run_id"] == "r2"


def test_a_crash_mid_line_is_ignored_by_readers(tmp_path: Path) -> None:
    path = tmp_path / "drive.jsonl"
    log = DriveLog(path, run_id="r1")
    for i in range(61 * 10):
        log.add(i / 10, True, None)
    log.close()
    with open(path, "ab") as fh:
        fh.write(b'{"schema":"dms-drive-v1","seq":')
    assert len(read_drive(path)) == 2
