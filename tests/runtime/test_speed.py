"""Speed sources: fixed, recorded signal files (CSV / JSON lines), live JSON lines."""

from __future__ import annotations

import io
import re

import pytest

from runtime.attention import LONG_DISTRACTION, AttentionMonitor, Sample, alerts
from runtime.speed import FixedSpeed, SpeedInputError, SpeedSignal, StreamSpeed, open_speed
from tests.runtime.timeline import LAP, ROAD


def test_fixed_speed():
    assert FixedSpeed(80).speed_at(123.0) == 80.0
    assert isinstance(open_speed("42.5"), FixedSpeed) and open_speed("42.5").speed_at(0.0) == 42.5
    with pytest.raises(SpeedInputError, match="outside 0..500"):
        FixedSpeed(-1)


def test_csv_signal_is_interpolated_and_held_at_the_ends(tmp_path):
    p = tmp_path / "speed.csv"
    p.write_text("# recorded drive\nt,speed_kmh\n0.0,0\n10.0,100\n20.0,100\n")
    sig = SpeedSignal.from_file(p)
    assert sig.speed_at(2.5) == 25.0 and sig.speed_at(15.0) == 100.0
    assert sig.speed_at(-5.0) == 0.0 and sig.speed_at(99.0) == 100.0
    assert isinstance(open_speed(str(p)), SpeedSignal)


def test_jsonl_signal(tmp_path):
    p = tmp_path / "speed.jsonl"
    p.write_text('{"t": 0, "speed_kmh": 10}\n\n{"t": 2, "speed_kmh": 30}\n')
    assert SpeedSignal.from_file(p).speed_at(1.0) == 20.0


@pytest.mark.parametrize("name, text, message", [
    ("s.csv", "t,speed_kmh\n0,10\n1,fast\n", "s.csv:3: field 'speed_kmh': expected a number, got 'fast'"),
    ("s.csv", "t,speed_kmh\n0,10\n0,20\n", "s.csv:3: time 0.0 is not after 0.0 (line 2)"),
    ("s.csv", "time,velocity\n0,10\n", "s.csv:1: the header must name a time column"),
    ("s.csv", "t,speed_kmh\n0,10,3\n", "s.csv:2: 3 columns, the header has 2"),
    ("s.csv", "t,speed_kmh\n0,-4\n", "s.csv:2: field 'speed_kmh': -4.0 km/h is outside 0..500"),
    ("s.csv", "t,speed_kmh\n0,nan\n", "s.csv:2: field 'speed_kmh': 'nan' is not finite"),
    ("s.jsonl", '{"t": 0, "speed_kmh": 1}\n{"t": 1}\n', "s.jsonl:2: missing field 'speed_kmh'"),
    ("s.jsonl", '{"t": 0, "speed_kmh": 1}\n[1, 2]\n', "s.jsonl:2: expected a JSON object"),
    ("s.jsonl", '{"t": 0, "speed_kmh": true}\n', "s.jsonl:1: field 'speed_kmh': expected a number"),
    ("s.jsonl", "{oops\n", "s.jsonl:1: not a JSON object"),
    ("s.csv", "", "s.csv: no speed samples"),
])
def test_bad_signal_files_name_file_line_and_field(tmp_path, name, text, message):
    p = tmp_path / name
    p.write_text(text)
    with pytest.raises(SpeedInputError, match=re.escape(message)):
        SpeedSignal.from_file(p)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(SpeedInputError, match=re.escape(f"{tmp_path / 'nope.csv'}: cannot read")):
        SpeedSignal.from_file(tmp_path / "nope.csv")


def test_stream_holds_the_latest_known_speed():
    s = StreamSpeed()
    assert s.speed_at(0.0) is None
    s.feed('{"t": 1.0, "speed_kmh": 30}')
    s.feed("")
    s.feed('{"t": 2.0, "speed_kmh": 60}')
    assert (s.speed_at(0.5), s.speed_at(1.5), s.speed_at(2.0), s.speed_at(9.0)) == (None, 30.0, 60.0, 60.0)
    with pytest.raises(SpeedInputError, match=re.escape("<stdin>:4: time 1.5 is not after the previous 2.0")):
        s.feed('{"t": 1.5, "speed_kmh": 60}')


def test_stream_reader_thread_reports_errors_on_the_next_query():
    s = StreamSpeed("<bus>").start(io.StringIO('{"t": 0, "speed_kmh": 50}\n{"t": 1, "speed_kmh": "x"}\n'))
    s.join(timeout=5)
    with pytest.raises(SpeedInputError, match=re.escape("<bus>:2: field 'speed_kmh'")):
        s.speed_at(0.5)


def test_monitor_gated_by_a_recorded_signal(tmp_path):
    # the car accelerates from 0 to 40 km/h between 10 s and 14 s: 20 km/h (the gate) at 12.0.
    # Lap from 12.0 to 16.5: the clock starts at the gate opening -> warning at 15.0.
    p = tmp_path / "drive.csv"
    p.write_text("t,speed_kmh\n0,0\n10,0\n14,40\n60,40\n")
    sig = SpeedSignal.from_file(p)
    m = AttentionMonitor()
    out = []
    for k in range(400):
        t = k / 20.0
        out += m.update(Sample(t=t, frame=k, pose=LAP if 12.0 <= t < 16.5 else ROAD, speed_kmh=sig.speed_at(t)))
    assert [(a.phase, a.type, round(a.t, 6)) for a in alerts(out)] == [
        ("start", LONG_DISTRACTION, 15.0), ("end", LONG_DISTRACTION, 16.7)]
