"""The per-frame loop end to end on synthetic frames: bad input skipped and counted,
the crop reproducing the training crop, and the ray-relative pose turned camera-relative."""

import numpy as np
import pytest

from dms.perspective import ray_rotation, ray_to_camera_pose
from runtime.config import LocaliseConfig, RuntimeConfig
from runtime.localise import HeadFinder
from runtime.pipeline import Pipeline, run_loop
from runtime.profiler import Profiler
from runtime.sources import Frame
from tests.runtime.loop_helpers import FakeBackend, ListSource, ScriptedLocaliser, TruthLocaliser, fake_manifest


def _pipeline(localiser, backend, manifest=None, intrinsics=None, **kw):
    cfg = RuntimeConfig(localise=LocaliseConfig(detect_every_frame=True))
    return Pipeline(backend, manifest or fake_manifest(), HeadFinder(localiser, cfg.localise), cfg,
                    intrinsics=intrinsics, **kw)


def test_bad_frames_are_counted_by_reason_and_skipped():
    rng = np.random.default_rng(0)
    good = [rng.integers(0, 255, (120, 160), dtype=np.uint8) for _ in range(4)]
    images = [good[0], None, np.zeros((0, 0), np.uint8), good[1].astype(np.float32),
              rng.integers(0, 255, (120, 160, 5), dtype=np.uint8),    # wrongly shaped
              good[2][:60],                                           # a truncated (half-decoded) frame
              np.zeros((8, 8), np.uint8), good[3]]
    frames = [Frame(i, i / 30, img) for i, img in enumerate(images)]
    frames.append(Frame(8, 0.1, good[0]))                             # a timestamp from the past
    box = (60.0, 40.0, 100.0, 80.0)
    profiler = Profiler()
    pipe = _pipeline(ScriptedLocaliser([box]), FakeBackend(), profiler=profiler)
    source = ListSource(frames)
    summary = run_loop(source, pipe)
    assert summary.frames_read == 9 and summary.frames_processed == 2 and summary.frames_skipped == 7
    assert summary.skipped_by_reason == {"empty": 2, "not uint8": 1, "wrong shape": 1, "size changed": 1,
                                         "too small": 1, "time went backwards": 1}
    assert source.closed and summary.frames_with_pose == 2
    assert profiler.end_to_end.count == 2


def test_keyboard_interrupt_ends_the_loop_cleanly():
    class Interrupting(ListSource):
        def read(self):
            if self._i == 3:
                raise KeyboardInterrupt
            return super().read()

    class Sink:
        def __init__(self):
            self.rows, self.closed = 0, False

        def write(self, result):
            self.rows += 1

        def close(self):
            self.closed = True

    rng = np.random.default_rng(0)
    frames = [Frame(i, i / 30, rng.integers(0, 255, (120, 160), dtype=np.uint8)) for i in range(10)]
    src, sink = Interrupting(frames), Sink()
    summary = run_loop(src, _pipeline(ScriptedLocaliser([(60.0, 40.0, 100.0, 80.0)]), FakeBackend()), [sink])
    assert summary.interrupted and summary.frames_read == 3 and sink.rows == 3
    assert sink.closed and src.closed


def test_crop_reproduces_the_training_window_on_synthetic_frames(loop_clip):
    """With the true head box, the window is 1.28 head heights centred on the head, as the
    synthetic training crop's centre 64/80 is."""
    pipe = _pipeline(TruthLocaliser(loop_clip), FakeBackend())
    results = [pipe.process(f) for f in loop_clip.frames]
    for r, f in zip(results, loop_clip.frames):
        x0, y0, x1, y1 = f.truth["head_box"]
        head = x1 - x0
        assert r.window.side == pytest.approx(1.28 * head, rel=0.03)          # size held steady
        cu, cv = r.window.centre
        assert abs(cu - (x0 + x1) / 2) < 0.04 * head and abs(cv - (y0 + y1) / 2) < 0.04 * head


def test_ray_pose_becomes_camera_pose_with_the_window_centre_and_the_source_intrinsics(loop_clip):
    ray_pose = (4.0, -12.0, 2.0)
    pipe = _pipeline(TruthLocaliser(loop_clip), FakeBackend(pose=ray_pose), intrinsics=loop_clip.intrinsics)
    results = [pipe.process(f) for f in loop_clip.frames]
    r = results[-1]
    u, v = r.window.centre
    expected = ray_to_camera_pose(ray_pose, ray_rotation(u, v, loop_clip.intrinsics))
    np.testing.assert_allclose(r.pose, expected, atol=1e-6)
    assert r.pose_net == pytest.approx(ray_pose, abs=1e-5)
    # the head is off the optical axis: the correction is degrees, not a rounding error
    assert np.abs(np.asarray(r.pose) - ray_pose).max() > 1.0
    # a camera-frame model's output is reported as it is
    cam = _pipeline(TruthLocaliser(loop_clip), FakeBackend(pose=ray_pose), manifest=fake_manifest("camera"),
                    intrinsics=loop_clip.intrinsics)
    last = [cam.process(f) for f in loop_clip.frames][-1]
    assert last.pose == pytest.approx(ray_pose, abs=1e-5)


def test_an_oracle_network_gives_the_true_camera_pose_off_axis(loop_clip):
    """A network that outputs the true pose relative to the ray through the centre of the
    window it is fed makes the loop report the true camera-relative pose."""
    from dms.perspective import camera_to_ray_pose

    pipe = _pipeline(TruthLocaliser(loop_clip), FakeBackend(), intrinsics=loop_clip.intrinsics)
    for f in loop_clip.frames:
        r = pipe.process(f)
        u, v = r.window.centre
        ray_true = camera_to_ray_pose(f.truth["pose_camera"], ray_rotation(u, v, loop_clip.intrinsics))
        cam = pipe.camera_pose(tuple(float(x) for x in ray_true), (u, v), f.image)
        np.testing.assert_allclose(cam, f.truth["pose_camera"], atol=1e-6)


def test_the_loop_never_imports_torch(loop_model_dir):
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from runtime.backends import open_backend\n"
        "import runtime.run_cli, runtime.bench_cli, runtime.bench, runtime.sinks, runtime.haar, runtime.sources\n"
        "import runtime.backends.tensorrt_backend, runtime.assemble, runtime.pipeline\n"
        f"b, m = open_backend({str(loop_model_dir)!r})\n"
        "b.step(np.zeros((1, 1, 32, 32), np.float32), b.zero_states())\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
