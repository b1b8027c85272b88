"""Per-stage latency of the loop, in constant memory, and the process's resident memory.

Stages (in loop order): capture (read/decode from the source), localise (detector or
tracker), crop (stabilise, cut, resample, normalise), step (the network), post (state
rules, finite check, perspective), monitor (attention rules and the event log), sink
(CSV/JSONL, MP4; not part of the per-frame budget). ``end_to_end`` is localise + crop +
step + post + monitor of one frame: the issue's figure, decode excluded; ``frame_total``
adds the capture (decode) time. Besides wall-clock time, the end-to-end and step figures
are also kept in CPU time of the loop's thread, which a busy machine does not inflate
(ONNX Runtime with one intra-op thread runs the graph on the calling thread).

Latencies go into histograms with logarithmic bins 1 % wide (from 100 ns to 100 s), so a
run of a million frames costs the same few kilobytes as a run of ten, percentiles are
within 0.5 % of the exact value, and the memory-flatness measurement is not disturbed by
the profiler itself. Resident memory comes from /proc/self/statm (current) and
/proc/self/status VmHWM (peak), falling back to getrusage's peak where /proc is absent.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

STAGES = ("capture", "localise", "crop", "step", "post", "monitor", "sink")
END_TO_END = "end_to_end"
E2E_STAGES = ("localise", "crop", "step", "post", "monitor")
# Histogram geometry: bins 1 % wide from 100 ns (finer than perf_counter's resolution on
# most systems) to 100 s (anything slower is a hang, not a latency).
_LO_NS = 100.0
_RATIO = 1.01
_NBINS = int(math.ceil(math.log(1e11 / _LO_NS) / math.log(_RATIO))) + 1
_LOG_RATIO = math.log(_RATIO)


class Histogram:
    """Latencies in ns: count, mean, max exactly; percentiles from 1 %-wide bins."""

    def __init__(self) -> None:
        self.counts = np.zeros(_NBINS, np.int64)
        self.count = 0
        self.total_ns = 0
        self.max_ns = 0

    def add(self, ns: int) -> None:
        i = 0 if ns <= _LO_NS else min(_NBINS - 1, int(math.log(ns / _LO_NS) / _LOG_RATIO) + 1)
        self.counts[i] += 1
        self.count += 1
        self.total_ns += ns
        if ns > self.max_ns:
            self.max_ns = ns

    def merge(self, other: Histogram) -> None:
        self.counts += other.counts
        self.count += other.count
        self.total_ns += other.total_ns
        self.max_ns = max(self.max_ns, other.max_ns)

    @staticmethod
    def bin_value_ns(i: int) -> float:
        """Geometric middle of bin i (bin 0 holds everything <= 100 ns)."""
        return _LO_NS if i == 0 else _LO_NS * _RATIO ** (i - 0.5)

    def percentile_ns(self, q: float) -> float:
        if self.count == 0:
            return float("nan")
        rank = max(1, int(math.ceil(q / 100.0 * self.count)))
        i = int(np.searchsorted(np.cumsum(self.counts), rank))
        return min(self.bin_value_ns(i), float(self.max_ns))

    def exceed(self, threshold_ns: float) -> int:
        """How many samples were above threshold_ns (to bin resolution)."""
        if threshold_ns <= _LO_NS:
            return self.count
        i = int(math.log(threshold_ns / _LO_NS) / _LOG_RATIO) + 1
        return int(self.counts[i + 1:].sum())

    def summary_ms(self) -> dict[str, float]:
        if self.count == 0:
            return {"count": 0}
        return {"count": self.count, "mean": self.total_ns / self.count / 1e6,
                "p50": self.percentile_ns(50) / 1e6, "p95": self.percentile_ns(95) / 1e6,
                "p99": self.percentile_ns(99) / 1e6, "max": self.max_ns / 1e6}


class Profiler:
    """Call ``lap(stage, t0)`` after each stage (returns the new t0) and ``end_frame`` after
    each processed frame. Frames are also split by whether the detector ran."""

    def __init__(self, stages: Iterable[str] = STAGES) -> None:
        self.stages = {s: Histogram() for s in stages}
        self.end_to_end = Histogram()
        self.by_path = {"tracked": Histogram(), "detector": Histogram()}
        self.frame_total = Histogram()         # capture + end_to_end
        # CPU time of the loop's thread (time.thread_time_ns): what a frame costs, whatever
        # else the machine runs; the wall-clock figures above include being preempted.
        self.cpu = {"end_to_end": Histogram(), "step": Histogram()}
        self._frame: dict[str, int] = {}

    def lap(self, stage: str, t0: int) -> int:
        t1 = time.perf_counter_ns()
        ns = t1 - t0
        self.stages[stage].add(ns)
        self._frame[stage] = self._frame.get(stage, 0) + ns
        return t1

    def add(self, stage: str, ns: int) -> None:
        self.stages[stage].add(ns)
        self._frame[stage] = self._frame.get(stage, 0) + ns

    def add_cpu(self, what: str, ns: int) -> None:
        self.cpu[what].add(ns)

    def end_frame(self, detector_ran: bool) -> None:
        f = self._frame
        e2e = sum(f.get(s, 0) for s in E2E_STAGES)
        self.end_to_end.add(e2e)
        self.by_path["detector" if detector_ran else "tracked"].add(e2e)
        self.frame_total.add(e2e + f.get("capture", 0))
        f.clear()

    def drop_frame(self) -> None:
        """A frame that was not processed (bad input): its capture time stays in 'capture'
        but it is not a frame of the end-to-end figures."""
        self._frame.clear()

    def report(self, fps: float) -> dict[str, Any]:
        period_ns = 1e9 / fps
        return {
            "stages_ms": {s: h.summary_ms() for s, h in self.stages.items()},
            "end_to_end_ms": self.end_to_end.summary_ms(),
            "end_to_end_by_path_ms": {k: h.summary_ms() for k, h in self.by_path.items()},
            "frame_total_ms": self.frame_total.summary_ms(),
            "cpu_ms": {k: h.summary_ms() for k, h in self.cpu.items()},
            "deadline": {"fps": fps, "period_ms": period_ns / 1e6,
                         "missed_end_to_end": self.end_to_end.exceed(period_ns),
                         "missed_with_capture": self.frame_total.exceed(period_ns),
                         "frames": self.end_to_end.count},
        }


@dataclass(frozen=True)
class Memory:
    rss_bytes: int
    peak_bytes: int


def memory() -> Memory:
    """Resident set size now and at its peak, in bytes."""
    page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
    try:
        with open("/proc/self/statm") as fh:
            rss = int(fh.read().split()[1]) * page
        peak = rss
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    peak = int(line.split()[1]) * 1024
                    break
        return Memory(rss, peak)
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024   # KiB on Linux
        return Memory(peak, peak)
