"""Vehicle speed for the speed gate: a fixed value, a recorded signal file, or live JSON lines.

The alerts are speed-gated (no distraction alerts in a car park), so the runtime needs a
speed for every frame's timestamp. Three sources, one method, ``speed_at(t)`` in km/h:

* ``FixedSpeed(80)``: demos and bench runs;
* ``SpeedSignal.from_file(path)``: a CSV (header ``t,speed_kmh``) or JSON lines
  (``{"t": 1.5, "speed_kmh": 42}``) of (time, speed), interpolated linearly at the frame's
  timestamp and held at the ends: recorded drives are replayed frame-exactly;
* ``StreamSpeed``: JSON lines arriving on stdin (or any text stream) from the vehicle
  bus bridge; the latest value at or before the frame's time holds (the future is not
  known yet).

Times are seconds on the same clock as the frames. Bad input raises ``SpeedInputError``
naming the file (or ``<stdin>``), the line and the field.
"""

from __future__ import annotations

import bisect
import csv
import io
import json
import math
import sys
import threading
from pathlib import Path
from typing import IO, Any, Protocol

import numpy as np

MAX_PLAUSIBLE_KMH = 500.0   # beyond any road vehicle: a unit mix-up (m/s vs mph) or a corrupt value
TIME_COLUMNS = ("t", "time", "timestamp")
SPEED_COLUMN = "speed_kmh"


class SpeedInputError(ValueError):
    """Speed input that cannot be used; the message names the source, line and field."""


class SpeedSource(Protocol):
    def speed_at(self, t: float) -> float | None:
        """Speed in km/h at time t, or None if not known (yet)."""
        ...


def _number(value: Any, where: str, name: str) -> float:
    if isinstance(value, bool):
        raise SpeedInputError(f"{where}: field '{name}': expected a number, got {value!r}")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise SpeedInputError(f"{where}: field '{name}': expected a number, got {value!r}") from None
    if not math.isfinite(out):
        raise SpeedInputError(f"{where}: field '{name}': {value!r} is not finite")
    return out


def _check_speed(speed: float, where: str) -> float:
    if speed < 0 or speed > MAX_PLAUSIBLE_KMH:
        raise SpeedInputError(f"{where}: field '{SPEED_COLUMN}': {speed} km/h is outside 0..{MAX_PLAUSIBLE_KMH:g}")
    return speed


def _parse_json_line(line: str, where: str) -> tuple[float, float]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise SpeedInputError(f"{where}: not a JSON object ({exc.msg})") from None
    if not isinstance(obj, dict):
        raise SpeedInputError(f"{where}: expected a JSON object like {{\"t\": 1.0, \"speed_kmh\": 50}}")
    time_key = next((k for k in TIME_COLUMNS if k in obj), None)
    if time_key is None:
        raise SpeedInputError(f"{where}: missing field 't'")
    if SPEED_COLUMN not in obj:
        raise SpeedInputError(f"{where}: missing field '{SPEED_COLUMN}'")
    return _number(obj[time_key], where, time_key), _check_speed(_number(obj[SPEED_COLUMN], where, SPEED_COLUMN),
                                                                 where)


class FixedSpeed:
    """The same speed at every time."""

    def __init__(self, kmh: float) -> None:
        self.kmh = _check_speed(_number(kmh, "fixed speed", SPEED_COLUMN), "fixed speed")

    def speed_at(self, t: float) -> float | None:
        return self.kmh


class SpeedSignal:
    """A recorded speed signal, linearly interpolated, held constant before and after."""

    def __init__(self, times: Any, speeds: Any, name: str = "speed signal") -> None:
        self.times = np.asarray(times, dtype=np.float64)
        self.speeds = np.asarray(speeds, dtype=np.float64)
        self.name = name
        if self.times.ndim != 1 or self.times.shape != self.speeds.shape or len(self.times) == 0:
            raise SpeedInputError(f"{name}: need equal, non-empty 1-D time and speed arrays")
        if np.any(np.diff(self.times) <= 0):
            i = int(np.argmax(np.diff(self.times) <= 0)) + 1
            raise SpeedInputError(f"{name}: sample {i}: time {self.times[i]} is not after {self.times[i - 1]}")

    def speed_at(self, t: float) -> float | None:
        return float(np.interp(t, self.times, self.speeds))

    @classmethod
    def from_file(cls, path: str | Path) -> "SpeedSignal":
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise SpeedInputError(f"{p}: cannot read: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise SpeedInputError(f"{p}: not UTF-8 text") from None
        suffix = p.suffix.lower()
        first = next((ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")), "")
        is_json = suffix in (".jsonl", ".ndjson", ".json") or (suffix != ".csv" and first.startswith("{"))
        rows = _read_jsonl(text, str(p)) if is_json else _read_csv(text, str(p))
        if not rows:
            raise SpeedInputError(f"{p}: no speed samples")
        for i in range(1, len(rows)):
            if rows[i][1] <= rows[i - 1][1]:
                raise SpeedInputError(f"{p}:{rows[i][0]}: time {rows[i][1]} is not after {rows[i - 1][1]} "
                                      f"(line {rows[i - 1][0]}); samples must be in time order")
        return cls([r[1] for r in rows], [r[2] for r in rows], name=str(p))


def _read_jsonl(text: str, name: str) -> list[tuple[int, float, float]]:
    rows = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        t, v = _parse_json_line(line, f"{name}:{lineno}")
        rows.append((lineno, t, v))
    return rows


def _read_csv(text: str, name: str) -> list[tuple[int, float, float]]:
    lines = [(i, ln) for i, ln in enumerate(text.splitlines(), start=1) if ln.strip() and not ln.startswith("#")]
    if not lines:
        return []
    header_no, header_line = lines[0]
    header = [h.strip().lower() for h in next(csv.reader(io.StringIO(header_line)))]
    time_col = next((header.index(k) for k in TIME_COLUMNS if k in header), None)
    if time_col is None or SPEED_COLUMN not in header:
        raise SpeedInputError(f"{name}:{header_no}: the header must name a time column ({'/'.join(TIME_COLUMNS)}) "
                              f"and '{SPEED_COLUMN}', got {','.join(header)!r}")
    speed_col = header.index(SPEED_COLUMN)
    rows = []
    for lineno, line in lines[1:]:
        cells = next(csv.reader(io.StringIO(line)))
        where = f"{name}:{lineno}"
        if len(cells) != len(header):
            raise SpeedInputError(f"{where}: {len(cells)} columns, the header has {len(header)}")
        t = _number(cells[time_col].strip(), where, header[time_col])
        v = _check_speed(_number(cells[speed_col].strip(), where, SPEED_COLUMN), where)
        rows.append((lineno, t, v))
    return rows


class StreamSpeed:
    """Live speed from JSON lines ({"t": ..., "speed_kmh": ...}), e.g. on stdin.

    ``feed`` takes one line (tests, or a caller with its own loop); ``start`` reads a stream
    in a background thread. An error in the stream is raised by the next ``speed_at``.
    """

    def __init__(self, name: str = "<stdin>") -> None:
        self.name = name
        self._times: list[float] = []
        self._speeds: list[float] = []
        self._lineno = 0
        self._lock = threading.Lock()
        self._error: SpeedInputError | None = None
        self._thread: threading.Thread | None = None

    def feed(self, line: str) -> None:
        with self._lock:
            self._lineno += 1
            where = f"{self.name}:{self._lineno}"
        if not line.strip():
            return
        t, v = _parse_json_line(line, where)
        with self._lock:
            if self._times and t <= self._times[-1]:
                raise SpeedInputError(f"{where}: time {t} is not after the previous {self._times[-1]}")
            self._times.append(t)
            self._speeds.append(v)

    def speed_at(self, t: float) -> float | None:
        with self._lock:
            if self._error is not None:
                raise self._error
            i = bisect.bisect_right(self._times, t)
            return self._speeds[i - 1] if i > 0 else None

    def start(self, stream: IO[str] | None = None) -> "StreamSpeed":
        src = stream if stream is not None else sys.stdin

        def pump() -> None:
            try:
                for line in src:
                    self.feed(line)
            except SpeedInputError as exc:
                with self._lock:
                    self._error = exc

        self._thread = threading.Thread(target=pump, name=f"speed-{self.name}", daemon=True)
        self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)


def open_speed(spec: str) -> SpeedSource:
    """A speed source from a command-line value: a number (km/h), "-"/"stdin", or a file path."""
    if spec in ("-", "stdin"):
        return StreamSpeed().start()
    try:
        value = float(spec)
    except ValueError:
        return SpeedSignal.from_file(spec)
    return FixedSpeed(value)
