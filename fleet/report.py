"""The operator's report: per vehicle, driver and day, how often the driver was distracted
per hour driven, with the long distractions, VATS, drowsiness and unavailable time behind
it. Input: what the fleet's broker delivered (dms-upload-v1 messages, one JSON per line,
as a receiver stores them), any number of files. Read with DuckDB, a columnar engine, so
a fleet's month (millions of messages over many files) reports in seconds on a laptop.

At-least-once delivery means duplicates: alerts count once per `event_id`, drive minutes
once per (`run_id`, `seq`), per vehicle. A day is the UTC date of the record's
`logged_at` (the vehicle's wall clock when it was written).
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

# Alert types by what an operator asks about (runtime.attention / runtime.drowsiness).
DISTRACTION = ("long_distraction", "visual_time_sharing")
DROWSINESS = ("eyes_closed", "drowsy_perclos", "nodding")
UNAVAILABLE = "monitoring_unavailable"
COLUMNS = ("vehicle_id", "driver_id", "day", "hours_driven", "distraction_events", "distraction_per_hour",
           "long_distractions", "vats", "drowsiness_events", "unavailable_min", "alerts_total")

_QUERY = """
WITH raw AS MATERIALIZED (
    SELECT schema, vehicle_id, coalesce(driver_id, '') AS driver_id, event, drive, sent_at
    FROM read_json({files}, format = 'newline_delimited', ignore_errors = false,
                   columns = {{'schema': 'VARCHAR', 'vehicle_id': 'VARCHAR', 'driver_id': 'VARCHAR',
                              'closed_by': 'VARCHAR', 'event': 'JSON', 'drive': 'JSON', 'sent_at': 'VARCHAR'}})
),
alerts AS (
    SELECT vehicle_id, driver_id, event ->> 'event_id' AS event_id, event ->> 'type' AS type,
           CAST(event ->> 'duration_s' AS DOUBLE) AS duration_s,
           CAST(CAST(event ->> 'logged_at' AS TIMESTAMPTZ) AT TIME ZONE 'UTC' AS DATE) AS day
    FROM raw WHERE schema = 'dms-upload-v1' AND event IS NOT NULL AND vehicle_id IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY vehicle_id, event ->> 'event_id' ORDER BY sent_at DESC) = 1
),
drive AS (
    SELECT vehicle_id, driver_id, CAST(drive ->> 'monitored_s' AS DOUBLE) AS monitored_s,
           CAST(CAST(drive ->> 'logged_at' AS TIMESTAMPTZ) AT TIME ZONE 'UTC' AS DATE) AS day
    FROM raw WHERE schema = 'dms-upload-v1' AND drive IS NOT NULL AND vehicle_id IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY vehicle_id, drive ->> 'run_id', drive ->> 'seq' ORDER BY sent_at) = 1
),
a AS (
    SELECT vehicle_id, driver_id, day,
           count(*) FILTER (WHERE type IN {distraction}) AS distraction_events,
           count(*) FILTER (WHERE type = 'long_distraction') AS long_distractions,
           count(*) FILTER (WHERE type = 'visual_time_sharing') AS vats,
           count(*) FILTER (WHERE type IN {drowsiness}) AS drowsiness_events,
           coalesce(sum(duration_s) FILTER (WHERE type = '{unavailable}'), 0) / 60.0 AS unavailable_min,
           count(*) AS alerts_total
    FROM alerts GROUP BY ALL
),
d AS (SELECT vehicle_id, driver_id, day, sum(monitored_s) / 3600.0 AS hours_driven FROM drive GROUP BY ALL)
SELECT coalesce(a.vehicle_id, d.vehicle_id) AS vehicle_id, coalesce(a.driver_id, d.driver_id) AS driver_id,
       coalesce(a.day, d.day) AS day, coalesce(d.hours_driven, 0) AS hours_driven,
       coalesce(a.distraction_events, 0) AS distraction_events,
       CASE WHEN coalesce(d.hours_driven, 0) > 0 THEN coalesce(a.distraction_events, 0) / d.hours_driven END
           AS distraction_per_hour,
       coalesce(a.long_distractions, 0) AS long_distractions, coalesce(a.vats, 0) AS vats,
       coalesce(a.drowsiness_events, 0) AS drowsiness_events, coalesce(a.unavailable_min, 0) AS unavailable_min,
       coalesce(a.alerts_total, 0) AS alerts_total, (SELECT count(*) FROM raw) AS messages
FROM a FULL OUTER JOIN d USING (vehicle_id, driver_id, day)
ORDER BY vehicle_id, driver_id, day
"""


class ReportError(ValueError):
    """Inputs that cannot be reported on; names the file."""


@dataclass
class FleetReport:
    rows: list[dict[str, Any]]
    messages: int
    seconds: float
    files: list[Path] = field(default_factory=list)

    @property
    def rows_per_s(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else float("nan")


def input_files(paths: Sequence[Path]) -> list[Path]:
    """The JSONL files named, and every *.jsonl under the folders named."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*.jsonl") if q.is_file()))
        elif p.is_file():
            out.append(p)
        else:
            raise ReportError(f"{p}: no such file or folder")
    if not out:
        raise ReportError(f"{', '.join(map(str, paths))}: no .jsonl files")
    return out


def build(paths: Sequence[Path]) -> FleetReport:
    import duckdb

    files = input_files(paths)
    started = time.perf_counter()
    con = duckdb.connect()
    quoted = "[" + ", ".join("'" + str(f).replace("'", "''") + "'" for f in files) + "]"
    sql = _QUERY.format(files=quoted, distraction=str(DISTRACTION), drowsiness=str(DROWSINESS),
                        unavailable=UNAVAILABLE)
    try:
        result = con.execute(sql)
        names = [d[0] for d in result.description]
        rows = [dict(zip(names, r)) for r in result.fetchall()]
    except duckdb.Error as exc:
        raise ReportError(f"reading {len(files)} file(s) failed: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()
    messages = int(rows[0].pop("messages")) if rows else 0
    for r in rows:
        r.pop("messages", None)
        r["day"] = str(r["day"])
    return FleetReport(rows, messages, time.perf_counter() - started, files)


def write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(COLUMNS))
        w.writeheader()
        for r in rows:
            w.writerow({k: (round(v, 3) if isinstance(v, float) else ("" if v is None else v))
                        for k, v in r.items() if k in COLUMNS})


def markdown(report: FleetReport) -> str:
    lines = ["# Fleet report: driver attention per vehicle, driver and day", "",
             f"{report.messages} messages from {len(report.files)} file(s); alerts counted once per event_id, "
             "drive minutes once per (run_id, seq); days in UTC.", "",
             "| vehicle | driver | day | hours driven | distraction events | per hour | long distractions | VATS | "
             "drowsiness | unavailable (min) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in report.rows:
        per = "-" if r["distraction_per_hour"] is None else f"{r['distraction_per_hour']:.2f}"
        lines.append(f"| {r['vehicle_id']} | {r['driver_id'] or '-'} | {r['day']} | {r['hours_driven']:.2f} | "
                     f"{r['distraction_events']} | {per} | {r['long_distractions']} | {r['vats']} | "
                     f"{r['drowsiness_events']} | {r['unavailable_min']:.1f} |")
    return "\n".join(lines) + "\n"


def charts(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Distraction events per hour driven per vehicle/driver (over all days), and the daily
    alert counts by kind."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per: dict[str, list[float]] = {}
    for r in rows:
        key = f"{r['vehicle_id']}" + (f" / {r['driver_id']}" if r["driver_id"] else "")
        acc = per.setdefault(key, [0.0, 0.0])
        acc[0] += r["distraction_events"]
        acc[1] += r["hours_driven"]
    days = sorted({r["day"] for r in rows})
    fig, axes = plt.subplots(2, 1, figsize=(11, 8))
    keys = sorted(per)
    rate = [per[k][0] / per[k][1] if per[k][1] > 0 else 0.0 for k in keys]
    axes[0].barh(keys, rate, color="tab:orange")
    axes[0].set_xlabel("distraction events per hour driven (all days)")
    axes[0].invert_yaxis()
    bottom = [0.0] * len(days)
    for col, label, colour in (("long_distractions", "long distraction", "tab:orange"), ("vats", "VATS", "tab:red"),
                               ("drowsiness_events", "drowsiness", "tab:purple")):
        values = [sum(r[col] for r in rows if r["day"] == d) for d in days]
        axes[1].bar(days, values, bottom=bottom, label=label, color=colour)
        bottom = [b + v for b, v in zip(bottom, values)]
    axes[1].set_ylabel("alerts per day (fleet)")
    axes[1].legend(fontsize=8)
    axes[1].tick_params(axis="x", rotation=45)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
