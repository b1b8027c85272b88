"""The operator's report against hand-computed figures, duplicates included."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from dms.cli import main


def _alert(vehicle: str, driver: str, event_id: str, type_: str, day: str, duration_s: float = 4.0,
           sent: str = "2026-12-01T10:00:00.000+00:00") -> dict:
    return {"schema": "dms-upload-v1", "vehicle_id": vehicle, "driver_id": driver, "closed_by": "end",
            "sent_at": sent, "event": {"event_id": event_id, "type": type_, "duration_s": duration_s,
                                       "logged_at": f"{day}T08:30:00.000+00:00", "schema": "dms-event-v1"}}


def _minute(vehicle: str, driver: str, run: str, seq: int, day: str, seconds: float = 60.0) -> dict:
    return {"schema": "dms-upload-v1", "vehicle_id": vehicle, "driver_id": driver, "sent_at": "x",
            "drive": {"schema": "dms-drive-v1", "run_id": run, "seq": seq, "monitored_s": seconds,
                      "logged_at": f"{day}T08:00:00.000+00:00"}}


def test_alerts_per_hour_driven_by_vehicle_driver_and_day(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "sub" / "b.jsonl"
    b.parent.mkdir()
    day1, day2 = "2026-12-01", "2026-12-02"
    rows_a = [_minute("V1", "d1", "r1", s, day1) for s in range(1, 91)]           # 1.5 h on day 1
    rows_a += [_alert("V1", "d1", "r1-1", "long_distraction", day1),
               _alert("V1", "d1", "r1-2", "visual_time_sharing", day1),
               _alert("V1", "d1", "r1-3", "long_distraction", day1),
               _alert("V1", "d1", "r1-4", "eyes_closed", day1),
               _alert("V1", "d1", "r1-5", "monitoring_unavailable", day1, duration_s=90.0)]
    # at-least-once: a resend of an alert and of a drive minute count once
    rows_b = [_alert("V1", "d1", "r1-1", "long_distraction", day1, sent="2026-12-01T11:00:00.000+00:00"),
              _minute("V1", "d1", "r1", 1, day1)]
    rows_b += [_minute("V2", "", "q1", s, day2) for s in range(1, 31)]            # 0.5 h on day 2
    rows_b += [_alert("V2", "", "q1-1", "long_distraction", day2), {"schema": "something-else"}]
    a.write_text("".join(json.dumps(r) + "\n" for r in rows_a))
    b.write_text("".join(json.dumps(r) + "\n" for r in rows_b))
    out = tmp_path / "report"
    assert main(["fleet-report", str(a), str(b.parent), "--out", str(out)]) == 0
    rows = list(csv.DictReader((out / "fleet_report.csv").open()))
    assert [(r["vehicle_id"], r["driver_id"], r["day"]) for r in rows] == [("V1", "d1", day1), ("V2", "", day2)]
    v1, v2 = rows
    assert float(v1["hours_driven"]) == pytest.approx(1.5)
    assert int(v1["distraction_events"]) == 3 and float(v1["distraction_per_hour"]) == pytest.approx(2.0)
    assert (int(v1["long_distractions"]), int(v1["vats"]), int(v1["drowsiness_events"])) == (2, 1, 1)
    assert float(v1["unavailable_min"]) == pytest.approx(1.5) and int(v1["alerts_total"]) == 5
    assert float(v2["hours_driven"]) == pytest.approx(0.5) and float(v2["distraction_per_hour"]) == pytest.approx(2.0)
    assert (out / "fleet_report.png").stat().st_size > 0 and "| V1 | d1 |" in (out / "fleet_report.md").read_text()


def test_a_missing_input_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fleet-report", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "r")]) == 2
    assert "nope.jsonl: no such file or folder" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    assert main(["fleet-report", str(bad), "--out", str(tmp_path / "r")]) == 2
    assert "dms fleet-report: reading 1 file(s) failed" in capsys.readouterr().err
