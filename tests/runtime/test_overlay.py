"""The annotated video and the pose-track PNG, as a reviewer of a clip sees them: an alert
stays on screen while it is active (with its level and how long it has lasted), an ended
one fades out after a moment, and the PNG marks alerts and says when frames had no pose."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from runtime.overlay import AlertBoard, OverlayConfig, annotate
from runtime.pipeline import FrameResult
from runtime.sinks import TrackPlot, scripted_lanes


def _update(phase: str, t: float, severity: str = "warning", alert_id: int = 1, type_: str = "long_distraction",
            start_t: float = 0.0) -> SimpleNamespace:
    """The fields of runtime.attention.AlertUpdate that the overlay and the plot read."""
    return SimpleNamespace(phase=phase, alert_id=alert_id, type=type_, severity=severity, t=t, start_t=start_t,
                           alert_t=start_t + 3.0, end_t=t if phase == "end" else None, duration_s=t - start_t)


def _frame(t: float, alerts: list | None = None, pose: tuple | None = (0.0, 10.0, 0.0)) -> FrameResult:
    img = np.full((240, 320), 60, np.uint8)
    return FrameResult(index=int(round(t * 30)), t=t, image=img, located=None, detector_ran=False, window=None,
                       coasting=False, reset=None, pose=pose, pose_net=pose, alerts=list(alerts or []))


def _banner_pixels(img: np.ndarray) -> int:
    """Pixels of the alert banner area that are not the grey frame (or the info text's cyan)."""
    area = img[28:110, 0:300].astype(int)
    return int((np.abs(area - 60).sum(-1) > 0).sum())


def test_an_alert_stays_on_screen_from_its_start_to_its_end_then_fades():
    board = AlertBoard(OverlayConfig(ended_shown_s=1.0))
    assert [s.label(3.0) for s in board.update([_update("start", 3.0)], 3.0)] == ["LONG_DISTRACTION warning  3.0 s"]
    # frames with no update: still there, the elapsed time runs on
    assert [s.label(4.5) for s in board.update([], 4.5)] == ["LONG_DISTRACTION warning  4.5 s"]
    shown = board.update([_update("escalate", 5.0, "critical")], 5.0)
    assert [s.label(5.0) for s in shown] == ["LONG_DISTRACTION critical  5.0 s"]
    shown = board.update([_update("end", 6.0, "critical")], 6.0)
    assert [s.label(6.0) for s in shown] == ["long_distraction ended after 6.0 s"] and shown[0].ended
    assert len(board.update([], 6.9)) == 1          # still readable for a moment
    assert board.update([], 7.1) == []


def test_two_alerts_at_once_are_two_rows_and_the_live_one_comes_first():
    board = AlertBoard()
    board.update([_update("start", 1.0, alert_id=1)], 1.0)
    board.update([_update("start", 2.0, alert_id=2, type_="visual_time_sharing")], 2.0)
    shown = board.update([_update("end", 2.5, alert_id=1)], 2.5)
    assert [(s.update.alert_id, s.ended) for s in shown] == [(2, False), (1, True)]


def test_the_frames_between_start_and_end_carry_the_banner():
    board = AlertBoard()
    quiet = annotate(_frame(0.5), board.update([], 0.5))
    start = annotate(_frame(1.0), board.update([_update("start", 1.0)], 1.0))
    later = annotate(_frame(2.0), board.update([], 2.0))
    assert _banner_pixels(quiet) == 0
    assert _banner_pixels(start) > 500 and _banner_pixels(later) > 500
    # critical is drawn red, a warning orange: the level can be read from the colour
    crit = annotate(_frame(2.1), board.update([_update("escalate", 2.1, "critical")], 2.1))
    assert tuple(crit[32, 6]) == (0, 0, 255) and tuple(later[32, 6]) == (0, 128, 255)


def test_track_plot_marks_alerts_and_mentions_gaps_only_when_there_are_some(tmp_path):
    plot = TrackPlot(tmp_path / "tracks.png", events=[("phone", 1.0, 5.0)])
    for k in range(30):
        t = k / 5
        alerts = [_update("start", t, start_t=1.0)] if k == 20 else [_update("end", t, start_t=1.0)] if k == 26 else []
        plot.write(_frame(t, alerts))
    assert "gaps" not in plot.title() and "1 alert" in plot.title()
    plot.close()
    assert (tmp_path / "tracks.png").stat().st_size > 10_000

    gappy = TrackPlot(tmp_path / "gappy.png")
    for k in range(10):
        gappy.write(_frame(k / 30, pose=None if k in (3, 4) else (0.0, 0.0, 0.0)))
    assert "gaps: 2 of 10 frames without a pose" in gappy.title()


def test_timeline_labels_never_overlap_and_a_glance_series_is_labelled_once():
    events = [("mirror_check (left_mirror)", 9.0, 9.9), ("cluster_glance", 10.5, 11.2), ("talking", 27.0, 47.0)]
    events += [("infotainment", 30.0 + 3 * k, 31.8 + 3 * k) for k in range(6)]
    lanes = scripted_lanes(events, end_s=75.0)
    char_s = 75.0 / 190
    # the cluster glance starts before the mirror check's label ends: another lane
    assert lanes[0] == (0, True) and lanes[1][0] != 0
    # talking and the glances overlap in time: different lanes; six glances, one label
    assert lanes[2][0] != lanes[3][0]
    assert [lab for _, lab in lanes[3:]] == [True] + [False] * 5
    assert len({lane for lane, _ in lanes[3:]}) == 1
    # no labelled event starts in a lane before the previous label there has ended
    ends: dict[int, float] = {}
    for (label, start, end), (lane, labelled) in zip(events, lanes):
        if labelled:
            assert start >= ends.get(lane, 0.0)
        ends[lane] = max(ends.get(lane, 0.0), end, start + len(label) * char_s if labelled else end)
