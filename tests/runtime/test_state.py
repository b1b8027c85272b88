"""When the recurrent state is carried and when it restarts (runtime/state.py), alone and
inside the loop with a fake backend whose state counts frames since the last reset."""

import numpy as np
import pytest

from runtime.config import LocaliseConfig, RuntimeConfig, StateConfig
from runtime.localise import HeadFinder
from runtime.pipeline import Pipeline, run_loop
from runtime.sources import Frame
from runtime.state import FAR, LOST, NON_FINITE, REOPENED, START, StateKeeper
from tests.runtime.loop_helpers import FakeBackend, ListSource, ScriptedLocaliser, fake_manifest, gray_frames

CFG = StateConfig(reset_after_lost_s=0.5, coast_s=0.1, reappear_far=1.0)


def _keeper():
    return StateKeeper(lambda: [np.zeros((1, 2), np.float32)], CFG)


def test_start_then_carry():
    k = _keeper()
    assert k.plan(0.0, (100.0, 100.0), 50.0).reset == START
    k.accept({"pose": np.zeros(3)}, [np.ones((1, 2))])
    p = k.plan(1 / 30, (101.0, 100.0), 50.0)
    assert p.step and p.reset is None and float(k.current()[0][0, 0]) == 1.0


def test_short_miss_coasts_long_miss_resets_on_return():
    k = _keeper()
    k.plan(0.0, (100.0, 100.0), 50.0)
    k.accept({}, [np.ones((1, 2))])
    coast = k.plan(0.066, None, None)
    assert coast.step and coast.coasting                 # within coast_s: stepped on the held crop
    assert not k.plan(0.2, None, None).step              # beyond coast_s: no face, nothing stepped
    assert k.plan(0.45, (100.0, 100.0), 50.0).reset is None   # back within 0.5 s: carried
    assert k.plan(1.0, (100.0, 100.0), 50.0).reset == LOST    # 0.55 s unseen: afresh
    assert k.current()[0].sum() == 0


def test_a_stalled_source_counts_as_the_face_unseen():
    k = _keeper()
    k.plan(0.0, (100.0, 100.0), 50.0)
    k.accept({}, [np.ones((1, 2))])
    assert k.plan(0.8, (100.0, 100.0), 50.0).reset == LOST     # no frames for 0.8 s


def test_reappearing_far_away_resets():
    k = _keeper()
    k.plan(0.0, (100.0, 100.0), 50.0)
    k.accept({}, [np.ones((1, 2))])
    assert k.plan(0.033, (140.0, 100.0), 50.0).reset is None       # 0.8 head heights: same head
    assert k.plan(0.066, (200.0, 100.0), 50.0).reset == FAR        # 1.2 head heights from the last
    assert k.resets[FAR] == 1


def test_non_finite_output_drops_the_state_and_restarts():
    k = _keeper()
    k.plan(0.0, (100.0, 100.0), 50.0)
    assert not k.accept({"pose": np.array([np.nan, 0, 0])}, [np.ones((1, 2))])
    assert k.plan(0.033, (100.0, 100.0), 50.0).reset == NON_FINITE
    assert not k.accept({"pose": np.zeros(3)}, [np.array([[np.inf, 0.0]])])   # a non-finite state too
    assert k.plan(0.066, (100.0, 100.0), 50.0).reset == NON_FINITE


def test_source_reopened_resets():
    k = _keeper()
    k.plan(0.0, (100.0, 100.0), 50.0)
    k.source_reopened()
    assert k.plan(0.1, (100.0, 100.0), 50.0).reset == REOPENED


def _pipeline(boxes, backend, **loc):
    cfg = RuntimeConfig(state=CFG, localise=LocaliseConfig(detect_every_frame=True, **loc))
    return Pipeline(backend, fake_manifest(), HeadFinder(ScriptedLocaliser(boxes), cfg.localise), cfg)


def test_loop_carries_and_resets_the_state_by_the_rules():
    box = (60.0, 40.0, 100.0, 80.0)                  # a 40 px head in a 160x120 frame
    far = (10.0, 10.0, 50.0, 50.0)                   # 1.6 head heights away
    script = [box, box, None, box] + [None] * 20 + [box, box, far, far, box]
    backend = FakeBackend()
    pipe = _pipeline(script, backend)
    results = [pipe.process(f) for f in gray_frames(len(script))]
    assert [(i, r.reset) for i, r in enumerate(results) if r.reset] == [(0, START), (24, LOST), (26, FAR), (28, FAR)]
    stepped = [i for i, r in enumerate(results) if r.window is not None]
    # misses of up to coast_s (0.1 s = 3 frames) step on the held crop; then no face
    assert stepped == [0, 1, 2, 3, 4, 5, 6, 24, 25, 26, 27, 28]
    assert [i for i, r in enumerate(results) if r.coasting] == [2, 4, 5, 6]
    assert results[2].pose is not None
    assert all(r.pose is None and r.window is None for r in results[7:24])
    # the state fed counts steps since the last reset: only the state crosses frames
    assert backend.fed == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.0, 1.0, 0.0, 1.0, 0.0]


def test_non_finite_is_reported_on_the_next_stepped_frame():
    box = (60.0, 40.0, 100.0, 80.0)
    backend = FakeBackend(nan_at={1})
    pipe = _pipeline([box] * 4, backend)
    results = [pipe.process(f) for f in gray_frames(4)]
    assert [r.reset for r in results] == [START, None, NON_FINITE, None]
    assert [r.pose is not None for r in results] == [True, False, True, True]
    assert backend.fed == [0.0, 1.0, 0.0, 1.0]


def test_reopened_source_resets_the_state_and_the_expected_frame_size():
    box = (60.0, 40.0, 100.0, 80.0)
    backend = FakeBackend()
    pipe = _pipeline([box] * 4, backend)
    frames = gray_frames(2)
    rng = np.random.default_rng(1)
    frames += [Frame(2, 0.5, rng.integers(0, 255, (240, 320), dtype=np.uint8), reopened=True),
               Frame(3, 0.53, rng.integers(0, 255, (240, 320), dtype=np.uint8))]
    summary = run_loop(ListSource(frames), pipe)
    assert summary.resets == {START: 1, REOPENED: 1} and summary.frames_skipped == 0
    assert backend.fed == [0.0, 1.0, 0.0, 1.0]


@pytest.mark.parametrize("bad", ["coast_s", "reappear_far"])
def test_state_config_is_validated(bad):
    kw = {"coast_s": 1.0} if bad == "coast_s" else {"reappear_far": 0.0}
    with pytest.raises(ValueError):
        StateConfig(**kw).validate()
