import numpy as np
import pytest

from calibration.trt_table import (TABLE_TARGETS, TableError, parse_table, scale_hex, table_text,
                                   version_code)


def test_version_codes_follow_nv_tensorrt_version():
    assert version_code("8.5.2") == 8502
    assert version_code("10.3.0") == 100300
    assert [t.code for t in TABLE_TARGETS] == [8502, 100300]


def test_scale_is_big_endian_float32_hex():
    assert scale_hex(1 / 127) == "3c010204"       # an input in [-1, 1]
    assert scale_hex(1.0) == "3f800000"


def test_round_trip_and_skips():
    amax = {"image": 1.0, "state_0": 2.54, "dead": 0.0, "late": 0.5}
    text, skipped = table_text(amax, ["image", "state_0", "dead"], 8502)
    lines = text.splitlines()
    assert lines[0] == "TRT-8502-EntropyCalibration2" and lines[1].startswith("image: ")
    assert skipped == ["dead"]
    parsed = parse_table(text)
    assert parsed.version_code == 8502 and parsed.algorithm == "EntropyCalibration2"
    assert set(parsed.scales) == {"image", "state_0", "late"}
    assert parsed.scales["state_0"] == pytest.approx(np.float32(2.54 / 127), rel=1e-7)


def test_parse_errors_name_the_line():
    with pytest.raises(TableError, match="line 1"):
        parse_table("nonsense\n")
    with pytest.raises(TableError, match="t.cache: line 3"):
        parse_table("TRT-8502-EntropyCalibration2\nimage: 3c010204\nstate_0 3c010204\n", "t.cache")
