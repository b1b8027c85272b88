"""`dms fleet-report`: the operator's per vehicle / driver / day report (fleet.report).

Declares arguments only; DuckDB and matplotlib are imported when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = ("per vehicle, driver and day: distraction events per hour driven, long distractions, VATS, drowsiness, "
        "unavailable time, from the alerts the fleet's broker delivered (CSV, markdown, PNG)")
DEFAULT_OUT = Path("runs/fleet_report")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("events", type=Path, nargs="+", metavar="EVENTS",
                        help="JSONL files of dms-upload-v1 messages as the receiver stored them, or folders of them")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"report folder (default {DEFAULT_OUT})")
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG charts (no matplotlib needed)")


def run(args: argparse.Namespace) -> int:
    try:
        from fleet.report import ReportError, build, charts, markdown, write_csv
    except ImportError as exc:
        print(f"dms fleet-report: needs DuckDB ({exc}); pip install '.[report]'", file=sys.stderr)
        return 2
    try:
        report = build(args.events)
    except ReportError as exc:
        print(f"dms fleet-report: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "fleet_report.csv", report.rows)
    md = markdown(report)
    (args.out / "fleet_report.md").write_text(md)
    written = ["fleet_report.csv", "fleet_report.md"]
    if not args.no_plot:
        charts(args.out / "fleet_report.png", report.rows)
        written.append("fleet_report.png")
    print(md, end="")
    print(f"{report.messages} messages in {report.seconds:.2f} s ({report.rows_per_s:,.0f} rows/s); "
          f"wrote {args.out}/: {', '.join(written)}")
    return 0
