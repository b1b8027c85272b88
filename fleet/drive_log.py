"""How long the driver was monitored: one durable line per minute of driving, beside the
event log, so that a fleet report can say "distraction events per hour driven" (an alert
count alone says nothing without the time it was counted over).

Schema `dms-drive-v1`, one JSON object per line (`drive.jsonl`):

    schema        "dms-drive-v1"
    seq           int, 1, 2, 3 ... per file (continued across runs, like the event log)
    run_id        the event log's run_id of the writer
    start_t/end_t the segment on the source clock (s)
    monitored_s   time covered by frames (the segment's length)
    face_s        time with a trusted head pose (the rest: no face, occluded, camera trouble)
    moving_s      time at a known speed above 0 km/h, or null when no speed was given
    frames        frames in the segment
    logged_at     wall-clock UTC of the write (ISO 8601): the day the report counts it on

Written like the event log (one os.write on an O_APPEND descriptor, then fsync), so a
crash loses at most the current, unfinished minute. Standard library only.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List
import time

SCHEMA = "dms-drive-v1"
# One line per minute of source time: 1,440 lines (~250 KB) a day of driving, and a
# report's exposure is exact to the minute.
SEGMENT_S = 60.0


class DriveLog:
    """Accumulates frames into segments and appends each finished one durably."""

    def __init__(self, path: Path | str, run_id: str, segment_s: float = SEGMENT_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.run_id = run_id
        self.segment_s = segment_s
        self.clock = clock
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.seq = max((int(r.get("seq", 0)) for r in read_drive(self.path)), default=0)
        self._reset()

    def _reset(self) -> None:
        self._start: float | None = None
        self._last: float | None = None
        self._face = 0.0
        self._moving: float | None = None
        self._frames = 0

    def add(self, t: float, face: bool, speed_kmh: float | None) -> None:
        """One processed frame at source time t."""
        if self._start is not None and self._last is not None:
            dt = max(0.0, t - self._last)
            if face:
                self._face += dt
            if speed_kmh is not None:
                self._moving = (self._moving or 0.0) + (dt if speed_kmh > 0 else 0.0)
        else:
            self._start = t
        self._last = t
        self._frames += 1
        if t - self._start >= self.segment_s:
            self.flush()

    def flush(self) -> None:
        if self._start is None or self._last is None or self._frames < 2:
            self._reset()
            return
        self.seq += 1
        rec = {"schema": SCHEMA, "seq": self.seq, "run_id": self.run_id, "start_t": round(self._start, 3),
               "end_t": round(self._last, 3), "monitored_s": round(self._last - self._start, 3),
               "face_s": round(self._face, 3), "moving_s": None if self._moving is None else round(self._moving, 3),
               "frames": self._frames,
               "logged_at": datetime.fromtimestamp(self.clock(), timezone.utc).isoformat(timespec="milliseconds")}
        line = (json.dumps(rec, separators=(",", ":")) + "\n").encode()
        os.write(self._fd, line)
        os.fsync(self._fd)
        last = self._last
        self._reset()
        self._start = last          # the next segment starts where this one ended
        self._last = last

    def close(self) -> None:
        if self._fd >= 0:
            self.flush()
            os.close(self._fd)
            self._fd = -1


def read_drive(path: Path | str) -> List[Dict[str, Any]]:
    """The segments of a drive log (a partial last line after a crash is ignored)."""
    p = Path(path)
    if not p.exists():
        return []
    out = []
    for raw in p.read_bytes().split(b"\n")[:-1]:
        if raw.strip():
            out.append(json.loads(raw))
    return out
