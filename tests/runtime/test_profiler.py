"""Latency histograms in constant memory, and `dms bench`'s report."""

import json

import numpy as np
import pytest

from dms.cli import main
from runtime.profiler import Histogram, Profiler, memory


def test_histogram_percentiles_are_within_a_percent_of_exact():
    rng = np.random.default_rng(0)
    ns = rng.lognormal(np.log(800_000), 0.5, 20_000).astype(np.int64)    # ~0.8 ms per frame
    h = Histogram()
    for v in ns:
        h.add(int(v))
    for q in (50, 95, 99):
        assert h.percentile_ns(q) == pytest.approx(np.percentile(ns, q), rel=0.01)
    assert h.count == len(ns) and h.max_ns == ns.max()
    assert h.exceed(2_000_000) == pytest.approx((ns > 2_000_000).sum(), abs=len(ns) * 0.002)
    before = h.counts.nbytes
    for _ in range(1000):
        h.add(5_000_000)
    assert h.counts.nbytes == before                          # memory does not grow with samples


def test_profiler_splits_frames_by_detector_and_counts_deadline_misses():
    p = Profiler()
    for i in range(100):
        p.add("capture", 1_000_000)
        p.add("localise", 40_000_000 if i % 10 == 0 else 200_000)
        p.add("step", 600_000)
        p.end_frame(detector_ran=i % 10 == 0)
    rep = p.report(fps=30.0)
    assert rep["end_to_end_by_path_ms"]["detector"]["count"] == 10
    assert rep["end_to_end_by_path_ms"]["tracked"]["p50"] == pytest.approx(0.8, rel=0.01)
    assert rep["deadline"]["missed_end_to_end"] == 10 and rep["deadline"]["period_ms"] == pytest.approx(33.33, 0.01)
    assert rep["frame_total_ms"]["p50"] == pytest.approx(1.8, rel=0.01)


def test_memory_reads_resident_set_size():
    m = memory()
    assert 10 * 2**20 < m.rss_bytes <= m.peak_bytes


def test_bench_writes_table_json_and_histogram(loop_model_dir, tmp_path, capsys):
    out = tmp_path / "bench"
    rc = main(["bench", "--model", str(loop_model_dir), "--source", "synthetic:0", "--replay", "3",
               "--frames", "150", "--detector", "haar", "--out", str(out)])
    assert rc == 0
    report = json.loads((out / "bench.json").read_text())
    (res,) = report["results"]
    assert res["frames"] == 150 and res["name"] == "onnxruntime:fp32"
    lat = res["latency"]
    for stage in ("capture", "localise", "crop", "step", "post", "monitor"):
        assert lat["stages_ms"][stage]["count"] > 0
    assert lat["end_to_end_ms"]["p50"] <= lat["end_to_end_ms"]["p99"]
    assert res["memory"]["peak_rss_mb"] > 0 and len(res["memory"]["rss_mb"]) > 10
    assert set(report["targets"]["onnxruntime:fp32"]) == {"end_to_end_p50", "end_to_end_p99", "step_p50",
                                                          "end_to_end_p50_cpu", "end_to_end_p99_cpu", "step_p50_cpu"}
    assert 0 < lat["cpu_ms"]["step"]["p50"] <= lat["cpu_ms"]["end_to_end"]["p50"] * 1.01
    assert (out / "latency_histogram.png").read_bytes()[:4] == b"\x89PNG"
    text = capsys.readouterr().out
    assert "end_to_end" in text and "deadline 30 fps" in text and "peak RSS" in text
