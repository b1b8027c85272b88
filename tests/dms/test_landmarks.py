import numpy as np
import pytest

from dms.landmarks import GROUPS, MIRROR_PERMUTATION, mirror_landmarks


def test_permutation_is_an_involution_covering_all_points():
    assert sorted(MIRROR_PERMUTATION) == list(range(68))
    np.testing.assert_array_equal(MIRROR_PERMUTATION[MIRROR_PERMUTATION], np.arange(68))


def test_left_and_right_swap():
    assert MIRROR_PERMUTATION[36] == 45   # right eye outer corner <-> left eye outer corner
    assert MIRROR_PERMUTATION[0] == 16    # jaw ends
    assert MIRROR_PERMUTATION[48] == 54   # mouth corners
    for centre in (8, 27, 28, 29, 30, 33, 51, 57, 62, 66):
        assert MIRROR_PERMUTATION[centre] == centre


def test_mirroring_twice_is_identity_and_keeps_layout():
    pts = np.random.default_rng(1).uniform(0, 1, (4, 136))
    once = mirror_landmarks(pts)
    assert once.shape == (4, 136)
    np.testing.assert_allclose(mirror_landmarks(once), pts)


def test_mirrored_right_eye_lands_where_the_left_eye_was():
    pts = np.zeros((68, 2))
    lo, hi = GROUPS["right_eye"]
    pts[lo:hi] = [0.3, 0.4]
    lo2, hi2 = GROUPS["left_eye"]
    out = mirror_landmarks(pts)
    np.testing.assert_allclose(out[lo2:hi2], np.tile([0.7, 0.4], (6, 1)))


def test_bad_shape_is_refused():
    with pytest.raises(ValueError, match="136"):
        mirror_landmarks(np.zeros(10))
