"""The landmark contract: 68 points in iBUG (300-W) order, crop-normalised coordinates.

Crop-normalised means x and y in [0, 1] across the face crop's width and height (0, 0 is
the crop's top-left corner). A flat landmark vector is [x0, y0, x1, y1, ..., x67, y67]
(136 values), which is what the landmark head outputs.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

NUM_LANDMARKS = 68

# Index ranges of the iBUG 68-point semantics (0-based, end exclusive).
GROUPS: dict[str, tuple[int, int]] = {
    "jaw": (0, 17),
    "right_brow": (17, 22),  # the subject's right: image left when facing the camera
    "left_brow": (22, 27),
    "nose_bridge": (27, 31),
    "nose_base": (31, 36),
    "right_eye": (36, 42),
    "left_eye": (42, 48),
    "outer_lips": (48, 60),
    "inner_lips": (60, 68),
}


def _mirror_permutation() -> NDArray[np.int64]:
    pairs = [(i, 16 - i) for i in range(8)]                      # jaw
    pairs += [(17 + i, 26 - i) for i in range(5)]                # brows
    pairs += [(31, 35), (32, 34)]                                # nostrils
    pairs += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]  # eyes
    pairs += [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58)]  # outer lips
    pairs += [(60, 64), (61, 63), (65, 67)]                      # inner lips
    perm = np.arange(NUM_LANDMARKS)
    for a, b in pairs:
        perm[a], perm[b] = b, a
    return perm


# MIRROR_PERMUTATION[i] is the index that point i becomes after a horizontal flip.
MIRROR_PERMUTATION: NDArray[np.int64] = _mirror_permutation()


def as_points(landmarks: ArrayLike) -> NDArray[np.float64]:
    """[..., 136] or [..., 68, 2] -> [..., 68, 2]."""
    arr = np.asarray(landmarks, dtype=np.float64)
    if arr.shape[-2:] == (NUM_LANDMARKS, 2):
        return arr
    if arr.shape[-1:] == (2 * NUM_LANDMARKS,):
        return arr.reshape(*arr.shape[:-1], NUM_LANDMARKS, 2)
    raise ValueError(f"landmarks must have shape [..., 136] or [..., 68, 2], got {arr.shape}")


def mirror_landmarks(landmarks: ArrayLike) -> NDArray[np.float64]:
    """Landmarks of the horizontally mirrored crop: x -> 1 - x and left/right swapped.

    Returns the same layout it was given ([..., 136] or [..., 68, 2]).
    """
    arr = np.asarray(landmarks, dtype=np.float64)
    pts = as_points(arr).copy()
    pts[..., 0] = 1.0 - pts[..., 0]
    mirrored = np.empty_like(pts)
    mirrored[..., MIRROR_PERMUTATION, :] = pts
    return mirrored.reshape(arr.shape)
