"""The runtime head detector: box mapping, thresholds, refusing bad model folders, and the
shipped model finding heads on synthetic frames it never saw."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from dms.detector_manifest import DetectorManifest
from dms.manifest import ManifestError
from runtime.head_detector import HeadDetector

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "models" / "head_detector"


class StubSession:
    """Returns a fixed box and presence logit; records what it was fed."""

    def __init__(self, box: tuple[float, float, float], logit: float) -> None:
        self.box = np.array([box], np.float32)
        self.logit = np.array([[logit]], np.float32)
        self.fed: list[np.ndarray] = []

    def run(self, output_names, input_feed):
        assert list(output_names) == ["box", "presence"]
        self.fed.append(input_feed["image"])
        return [self.box, self.logit]


def _stub(box=(0.25, 0.5, 0.2), logit=2.0, threshold=None) -> tuple[HeadDetector, StubSession]:
    manifest = DetectorManifest(onnx="detector.onnx", height=96, width=128, mean=0.5, scale=2.0,
                                presence_threshold=0.5)
    sess = StubSession(box, logit)
    return HeadDetector(sess, manifest, threshold), sess


def test_box_maps_back_to_full_frame_pixels():
    det, sess = _stub()
    d = det.locate(np.zeros((480, 640), np.uint8))
    assert d is not None and d.source == "detector"
    # centre (0.25 * 640, 0.5 * 480); side 0.2 of the height = 96 px, square in a 4:3 frame
    np.testing.assert_allclose(d.as_array(), [112, 192, 208, 288], atol=1e-6)
    assert d.score == pytest.approx(1 / (1 + np.exp(-2.0)))
    x = sess.fed[0]
    assert x.shape == (1, 1, 96, 128) and x.dtype == np.float32
    np.testing.assert_allclose(x, -1.0)                   # black -> (0 - 0.5) * 2


def test_other_frame_sizes_and_bgr():
    det, sess = _stub()
    # 1280x720 (16:9) squeezed into 128x96: the box is square in the input, so in the frame
    # its width scales by 1280/128 and its height by 720/96
    d = det.locate(np.full((720, 1280, 3), 255, np.uint8))
    assert d is not None
    np.testing.assert_allclose(d.as_array(), [320 - 96, 360 - 72, 320 + 96, 360 + 72], atol=1e-6)
    np.testing.assert_allclose(sess.fed[-1], 1.0)         # white BGR -> gray 255 -> 1
    # the network's own size passes straight through
    det.locate(np.full((96, 128), 51, np.uint8))
    np.testing.assert_allclose(sess.fed[-1], (51 / 255 - 0.5) * 2, atol=1e-6)
    with pytest.raises(ValueError, match="uint8"):
        det.locate(np.zeros((480, 640), np.float32))
    with pytest.raises(ValueError, match="shape"):
        det.locate(np.zeros((480, 640, 2), np.uint8))


def test_presence_threshold():
    low, _ = _stub(logit=-1.0)                         # score 0.27
    assert low.locate(np.zeros((480, 640), np.uint8)) is None
    assert low.detect(np.zeros((480, 640), np.uint8)).score == pytest.approx(0.269, abs=1e-3)
    lenient, _ = _stub(logit=-1.0, threshold=0.2)
    assert lenient.locate(np.zeros((480, 640), np.uint8)) is not None


def test_runtime_module_never_imports_torch():
    code = "import sys, runtime.head_detector; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


# ---- the shipped model ------------------------------------------------------------------

def test_missing_or_corrupt_model_folder_is_refused_naming_the_file(tmp_path):
    with pytest.raises(ManifestError, match="nowhere"):
        HeadDetector.load(tmp_path / "nowhere")
    with pytest.raises(ManifestError, match="manifest.json"):
        HeadDetector.load(tmp_path)                          # a folder without a manifest
    bad = tmp_path / "bad"
    shutil.copytree(SHIPPED, bad)
    data = bytearray((bad / "detector.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (bad / "detector.onnx").write_bytes(bytes(data))
    with pytest.raises(ManifestError, match=r"detector\.onnx.*sha256"):
        HeadDetector.load(bad)
    (bad / "detector.onnx").unlink()
    with pytest.raises(ManifestError, match=r"detector\.onnx.*missing"):
        HeadDetector.load(bad)
    # a manifest that names tensors the graph does not have
    renamed = tmp_path / "renamed"
    shutil.copytree(SHIPPED, renamed)
    data = json.loads((renamed / "manifest.json").read_text())
    data["outputs"][0]["name"] = data["box"]["output"] = "boxes"
    (renamed / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ManifestError, match=r"detector\.onnx: has no output 'boxes'"):
        HeadDetector.load(renamed)


def _render(track: int, frame: int, driver: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """A 640x480 near-infrared frame of a scene the detector never trained on (another seed),
    rendered the way the synthetic set renders full frames, and its true head box."""
    from synth.dataset import SynthConfig, plan_track
    from synth.realism import add_noise, to_uint8
    from synth.render import metered_gain, tone
    from synth.video import frame_state, track_geometry
    from train.detector_data import without_driver

    cfg = SynthConfig(subjects=4, tracks=4, frames_per_track=90, seed=2024)
    plan = plan_track(cfg, track)
    geo = track_geometry(plan.scene, plan.motion, cfg.crop)
    rng = np.random.default_rng(track)
    if driver:
        res = plan.scene.render_full(frame_state(plan.motion, geo, frame))
        radiance, face = res["radiance"], res["face"]
    else:
        radiance = without_driver(plan.scene).background()
        face = np.zeros(radiance.shape, bool)
    gain = metered_gain(radiance, face, plan.scene.lighting.exposure)
    img = to_uint8(add_noise(tone(radiance, gain).astype(np.float32), plan.sensor, rng))
    c, r = geo.head_uv[frame], geo.head_radius_px[frame]
    return img, np.array([c[0] - r, c[1] - r, c[0] + r, c[1] + r])


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_shipped_model_finds_heads_and_reports_absence():
    det = HeadDetector.load(SHIPPED, threads=1)
    assert det.name == "detector"
    for track, frame in ((0, 10), (1, 50), (2, 80)):
        img, truth = _render(track, frame)
        frame_in = img if track != 1 else cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)   # BGR works too
        d = det.locate(frame_in)
        assert d is not None, f"track {track}: head not found"
        assert _iou(d.as_array(), truth) >= 0.5, (track, d, truth)
    empty, _ = _render(3, 0, driver=False)
    assert det.locate(empty) is None, det.detect(empty)
