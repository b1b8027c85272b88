"""The report: targets flag pass/fail correctly on crafted numbers, and the files it writes
are complete and valid (markdown rows, JSON, PNGs)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from train.kalman import KalmanConfig, KalmanSearchRow
from train.metrics import LandmarkMetrics, MethodMetrics, PoseMetrics, evaluate_method
from train.report import (
    FAIL,
    METHOD_CNN,
    METHOD_FC_RNN,
    METHOD_GRU,
    METHOD_KALMAN,
    NOT_EVALUATED,
    PASS,
    check_targets,
    write_report,
)

ANGLES = ("pitch", "yaw", "roll")


def crafted(mae: float, jitter: float | None, landmarks: LandmarkMetrics | None = None) -> MethodMetrics:
    """A method whose overall MAE and jitter are exactly the given numbers."""
    per = {a: mae for a in ANGLES}
    jit = {a: jitter for a in ANGLES}
    pose = PoseMetrics(n_sequences=2, n_frames=100, mae=per, mae_overall=mae, rmse=per, rmse_overall=mae,
                       jitter=jit, jitter_overall=jitter, large_error_share=0.01,
                       large_error_share_per_angle={a: 0.0 for a in ANGLES})
    return MethodMetrics(pose=pose, landmarks=landmarks)


def results(cnn=(2.8, 1.0), kalman=(2.5, 0.5), rnn=(2.2, 0.4)) -> dict[str, MethodMetrics]:
    return {METHOD_CNN: crafted(*cnn), METHOD_KALMAN: crafted(*kalman), METHOD_FC_RNN: crafted(*rnn)}


def verdicts(res: dict[str, MethodMetrics], **kw) -> dict[str, str]:
    return {t.key: t.verdict for t in check_targets(res, **kw)}


# --- targets -------------------------------------------------------------------------


def test_all_targets_pass() -> None:
    v = verdicts(results())
    assert v == {"cnn_mae": PASS, f"{METHOD_FC_RNN}:mae_vs_cnn": PASS, f"{METHOD_FC_RNN}:mae_vs_kalman": PASS,
                 f"{METHOD_FC_RNN}:jitter_vs_cnn": PASS}


@pytest.mark.parametrize("res, failing", [
    (results(cnn=(3.2, 1.0), rnn=(2.2, 0.4)), "cnn_mae"),                     # CNN above 3.0 deg
    (results(cnn=(2.8, 1.0), kalman=(2.6, 0.5), rnn=(2.5, 0.4)),
     f"{METHOD_FC_RNN}:mae_vs_cnn"),                                           # only -10.7 %
    (results(kalman=(2.1, 0.5), rnn=(2.2, 0.4)), f"{METHOD_FC_RNN}:mae_vs_kalman"),  # Kalman better
    (results(rnn=(2.2, 0.6)), f"{METHOD_FC_RNN}:jitter_vs_cnn"),              # jitter only -40 %
])
def test_each_target_fails_on_its_own(res: dict[str, MethodMetrics], failing: str) -> None:
    v = verdicts(res)
    assert v[failing] == FAIL
    assert all(verdict == PASS for key, verdict in v.items() if key != failing), v


def test_target_boundaries() -> None:
    v = verdicts(results(cnn=(3.0, 1.0), kalman=(2.0, 0.5), rnn=(2.0, 0.5)))
    assert v["cnn_mae"] == PASS                                # <= 3.0
    assert v[f"{METHOD_FC_RNN}:jitter_vs_cnn"] == PASS         # <= 0.5 x CNN
    assert v[f"{METHOD_FC_RNN}:mae_vs_kalman"] == FAIL         # equal is not lower
    t = {t.key: t for t in check_targets(results(cnn=(3.0, 1.0)))}
    assert t[f"{METHOD_FC_RNN}:mae_vs_cnn"].threshold == pytest.approx(2.55)
    assert t[f"{METHOD_FC_RNN}:mae_vs_cnn"].measured == pytest.approx(2.2)


def test_missing_methods_are_not_evaluated_never_pass() -> None:
    v = verdicts({METHOD_CNN: crafted(2.5, 1.0)})
    assert v["cnn_mae"] == PASS
    assert v[f"{METHOD_FC_RNN}:mae_vs_cnn"] == NOT_EVALUATED
    assert v[f"{METHOD_FC_RNN}:mae_vs_kalman"] == NOT_EVALUATED
    res = results()
    res[METHOD_GRU] = crafted(2.6, 0.9)
    v = verdicts(res, rnn=(METHOD_FC_RNN, METHOD_GRU))
    assert v[f"{METHOD_GRU}:mae_vs_cnn"] == FAIL and v[f"{METHOD_FC_RNN}:mae_vs_cnn"] == PASS


# --- files ---------------------------------------------------------------------------


def table_lines(md: str, first_cell: str) -> list[str]:
    return [line for line in md.splitlines() if line.startswith(f"| {first_cell} |")]


def test_report_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    t = np.linspace(0, 2 * np.pi, 60)
    truth = [np.stack([10 * np.sin(t), 30 * np.sin(0.5 * t), 5 * np.cos(t)], axis=1) for _ in range(2)]
    truth[1] = truth[1] * 0.1  # clip 0 moves most
    preds = {METHOD_CNN: [g + rng.normal(size=g.shape) * 3 for g in truth],
             METHOD_KALMAN: [g + rng.normal(size=g.shape) * 2 for g in truth],
             METHOD_FC_RNN: [g + rng.normal(size=g.shape) for g in truth]}
    res = {name: evaluate_method(p, truth) for name, p in preds.items()}
    lm = [np.tile(np.linspace(0.2, 0.8, 136), (len(g), 1)) for g in truth]
    res[METHOD_FC_RNN] = evaluate_method(preds[METHOD_FC_RNN], truth, [x + 0.005 for x in lm], lm)
    search = [KalmanSearchRow("grid", a, 1e4, 1.0, 1.5) for a in ANGLES]
    files = write_report(tmp_path / "eval", res, truth=truth, predictions=preds, fps=30.0,
                         kalman_config=KalmanConfig.shared(q=1e4, r=4.0), kalman_search=search,
                         meta={"split": "test"})

    md = files.markdown.read_text()
    for name in preds:
        assert len(table_lines(md, name)) == 2  # main table and per-angle detail
    header = next(line for line in md.splitlines() if line.startswith("| method |"))
    assert "NME inter-ocular" in header
    n_cells = None
    for line in md.splitlines():  # every row of a table has as many cells as its header
        if not line.startswith("|"):
            n_cells = None
        elif n_cells is None:
            n_cells = line.count("|")
        else:
            assert line.count("|") == n_cells, line
    assert "(baseline)" in table_lines(md, METHOD_CNN)[0]
    assert "## Targets" in md and "## Kalman baseline" in md and "3.66" in md
    assert "evaluation_tracks.png" in md and "evaluation_error_hist.png" in md

    doc = json.loads(files.json.read_text())
    assert list(doc["methods"]) == [METHOD_CNN, METHOD_KALMAN, METHOD_FC_RNN]
    assert MethodMetrics.from_dict(doc["methods"][METHOD_FC_RNN]) == res[METHOD_FC_RNN]
    assert doc["methods"][METHOD_CNN]["landmarks"] is None
    assert {t["verdict"] for t in doc["targets"]} <= {PASS, FAIL, NOT_EVALUATED}
    assert doc["kalman"]["search"][0]["q_over_r"] == pytest.approx(1e4)
    assert doc["meta"] == {"split": "test"}
    assert "clip 0" in md

    for png in (files.tracks_png, files.histogram_png):
        assert png is not None and png.exists()
        data = png.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_relative_change_and_verdicts_in_markdown(tmp_path: Path) -> None:
    res = results(cnn=(3.0, 1.0), kalman=(2.7, 0.6), rnn=(2.514, 0.4))
    files = write_report(tmp_path, res)
    md = files.markdown.read_text()
    rnn_row = table_lines(md, METHOD_FC_RNN)[0]
    assert "-16.2 %" in rnn_row and "-60.0 %" in rnn_row
    assert "-10.0 %" in table_lines(md, METHOD_KALMAN)[0]
    assert md.count(f"**{PASS}**") == 4
    assert files.tracks_png is None and files.histogram_png is None  # no predictions, no plots
    doc = json.loads(files.json.read_text())
    assert doc["all_targets_pass"] is True
    assert doc["relative_to_baseline"][METHOD_FC_RNN]["mae_overall"] == pytest.approx(-0.162)


def test_json_stays_valid_with_missing_numbers(tmp_path: Path) -> None:
    res = {METHOD_CNN: crafted(3.5, None)}  # one-frame clips: no jitter
    files = write_report(tmp_path, res)
    doc = json.loads(files.json.read_text())  # NaN would not parse as strict JSON
    assert doc["methods"][METHOD_CNN]["pose"]["jitter_overall"] is None
    assert doc["all_targets_pass"] is False
    md = files.markdown.read_text()
    assert f"**{FAIL}**" in md and f"**{NOT_EVALUATED}**" in md
