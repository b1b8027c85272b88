"""How fast `dms fleet-report` reads a fleet's month: generated dms-upload-v1 messages
(alerts and drive minutes) spread over many files, then the report, timed.

    python bench/fleet_report_bench.py                         # 1,000,000 messages, 50 files
    python bench/fleet_report_bench.py --messages 200000 --files 20 --keep DIR

Prints the generation and report times and rows/s; asserts nothing (speed is the
machine's). The messages look like real ones (the same fields and sizes the uploader
sends), seeded, so runs compare.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TYPES = ("long_distraction", "visual_time_sharing", "eyes_closed", "drowsy_perclos", "monitoring_unavailable")


def generate(folder: Path, messages: int, files: int, vehicles: int = 200, seed: int = 0) -> None:
    rng = random.Random(seed)
    per_file = -(-messages // files)
    written = 0
    for f in range(files):
        lines = []
        for i in range(min(per_file, messages - written)):
            v = rng.randrange(vehicles)
            day = f"2026-11-{1 + rng.randrange(30):02d}"
            base = {"schema": "dms-upload-v1", "vehicle_id": f"VIN{v:05d}", "driver_id": f"D{v % 97:03d}",
                    "sent_at": f"{day}T12:00:00.000+00:00"}
            if rng.random() < 0.8:                  # most traffic is drive minutes
                base["drive"] = {"schema": "dms-drive-v1", "seq": written + i, "run_id": f"r{v}-{f}",
                                 "start_t": 0.0, "end_t": 60.0, "monitored_s": 60.0, "face_s": 58.5,
                                 "moving_s": 55.0, "frames": 1800, "logged_at": f"{day}T08:00:00.000+00:00"}
            else:
                base["closed_by"] = "end"
                base["event"] = {"schema": "dms-event-v1", "seq": written + i, "event_id": f"e{f}-{i}",
                                 "run_id": f"r{v}-{f}", "phase": "end", "type": rng.choice(TYPES),
                                 "severity": "warning", "t": 100.0, "frame": 3000, "start_t": 96.0, "end_t": 101.0,
                                 "duration_s": 5.0, "alert_t": 99.0, "frame_range": [2880, 3030],
                                 "escalations": [{"severity": "warning", "t": 99.0, "frame": 2970,
                                                  "rule": "long_distraction"}],
                                 "speed_kmh": 80.0, "max_speed_kmh": 82.0, "zone": "lap",
                                 "pose": {"neutral": [13.1, -3.6, -1.5], "samples": 120, "mean": [-25.5, 7.6, 3.5]},
                                 "detail": {"glance_s": 5.0}, "model_hash": "ab" * 32,
                                 "logged_at": f"{day}T08:30:00.000+00:00"}
            lines.append(json.dumps(base))
        written += len(lines)
        (folder / f"receiver-{f:03d}.jsonl").write_text("\n".join(lines) + "\n")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--messages", type=int, default=1_000_000)
    p.add_argument("--files", type=int, default=50)
    p.add_argument("--keep", type=Path, default=None, help="generate into this folder and keep it")
    args = p.parse_args()
    from fleet.report import build

    folder = args.keep or Path(tempfile.mkdtemp(prefix="dms-fleet-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        generate(folder, args.messages, args.files)
        size = sum(f.stat().st_size for f in folder.glob("*.jsonl"))
        print(f"generated {args.messages:,} messages in {args.files} files ({size / 2**20:.0f} MB) "
              f"in {time.perf_counter() - t0:.1f} s")
        report = build([folder])
        print(f"fleet report: {report.messages:,} messages -> {len(report.rows):,} vehicle-driver-day rows in "
              f"{report.seconds:.2f} s: {report.rows_per_s:,.0f} rows/s")
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
