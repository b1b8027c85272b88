"""`dms run` end to end: a short video file in; per-frame pose, annotated MP4, pose-track PNG,
event log and summary out; a corrupt model refused naming the file."""

import csv
import json
import shutil

import cv2

import pytest

from dms.cli import main

@pytest.fixture(scope="module")
def clip_video(loop_clip, tmp_path_factory):
    path = tmp_path_factory.mktemp("run_cli") / "drive.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 30.0, (640, 480))
    for f in loop_clip.frames:
        w.write(cv2.cvtColor(f.image, cv2.COLOR_GRAY2BGR))
    w.release()
    return path

def test_run_on_a_video_file_writes_every_output(clip_video, loop_model_dir, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["run", "--source", str(clip_video), "--model", str(loop_model_dir), "--out", str(out),
               "--detector", "haar", "--speed-kmh", "60", "--quiet"])
    assert rc == 0
    rows = list(csv.DictReader(open(out / "poses.csv")))
    assert [int(r["frame"]) for r in rows] == list(range(8))
    assert [float(r["t"]) for r in rows] == pytest.approx([i / 30 for i in range(8)], abs=1e-6)
    with_pose = [r for r in rows if r["yaw"] != ""]
    assert len(with_pose) >= 6 and all(r["found"] == "True" for r in with_pose)
    assert rows[0]["reset"] == "start" or rows[1]["reset"] == "start"
    cap = cv2.VideoCapture(str(out / "annotated.mp4"))
    n = 0
    while True:
        ok, img = cap.read()
        if not ok:
            break
        assert img.shape == (480, 640, 3)
        n += 1
    assert n == 8
    assert (out / "pose_tracks.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "events.jsonl").exists()
    summary = json.loads((out / "run_summary.json").read_text())
    assert summary["summary"]["frames_processed"] == 8 and summary["localiser"] == "haar"
    assert summary["latency"]["stages_ms"]["step"]["count"] >= len(with_pose)
    assert "8 frames read, 8 processed" in capsys.readouterr().out

def test_run_synthetic_source_to_jsonl_with_truth(loop_model_dir, tmp_path):
    out = tmp_path / "syn"
    rc = main(["run", "--source", "synthetic:0", "--max-frames", "3", "--model", str(loop_model_dir),
               "--out", str(out), "--format", "jsonl", "--no-video", "--no-plot", "--detector", "haar", "--quiet"])
    assert rc == 0
    recs = [json.loads(line) for line in open(out / "poses.jsonl")]
    assert len(recs) == 3 and all(r["true_yaw"] is not None and r["target"] for r in recs)
    assert not (out / "annotated.mp4").exists() and not (out / "pose_tracks.png").exists()

def test_corrupt_model_is_refused_naming_the_file(clip_video, loop_model_dir, tmp_path, capsys):
    bad = tmp_path / "m"
    shutil.copytree(loop_model_dir, bad)
    with open(bad / "step.onnx", "r+b") as fh:
        fh.seek(100)
        fh.write(b"\x00\x01\x02")
    rc = main(["run", "--source", str(clip_video), "--model", str(bad), "--out", str(tmp_path / "o"), "--quiet"])
    assert rc == 2
    assert f"{bad / 'step.onnx'}: sha256" in capsys.readouterr().err

def test_unknown_source_is_refused(loop_model_dir, tmp_path, capsys):
    rc = main(["run", "--source", str(tmp_path / "nothing.mp4"), "--model", str(loop_model_dir), "--quiet"])
    assert rc == 2 and "nothing.mp4" in capsys.readouterr().err



def test_run_tells_systemd_it_is_ready_feeds_the_watchdog_and_says_stopping(loop_model_dir, tmp_path, monkeypatch):
    """Under the service (Type=notify, WatchdogSec) the loop must send READY=1 once frames
    flow, WATCHDOG=1 while they do and STOPPING=1 at the end, or systemd kills it."""
    import socket

    addr = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(addr)
    sock.settimeout(5)
    monkeypatch.setenv("NOTIFY_SOCKET", addr)
    monkeypatch.setenv("WATCHDOG_USEC", "1")      # 1 us: every frame is due a ping
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    rc = main(["run", "--source", "synthetic:0", "--max-frames", "2", "--model", str(loop_model_dir),
               "--out", str(tmp_path / "o"), "--no-video", "--no-plot", "--detector", "haar", "--quiet"])
    assert rc == 0
    got = []
    sock.setblocking(False)
    while True:
        try:
            got.append(sock.recv(4096).decode())
        except BlockingIOError:
            break
    sock.close()
    assert got[0].startswith("READY=1")
    assert any("WATCHDOG=1" in g for g in got)
    assert got[-1] == "STOPPING=1"
