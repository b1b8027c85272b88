"""OpenCV's shipped Haar cascades as the fallback face localiser (works on real faces with
nothing trained by us): the frontal cascade, then the profile cascade on the frame and on
its mirror image (the shipped profile cascade finds faces turned one way only).

It returns a *head* box, like our head detector, so the crop geometry is the same for
both: the Haar face box (brow to chin) is scaled by 1 / CropConfig.haar_face_to_head about
its centre (shifted by haar_centre_offset). Detection runs on a copy DETECT_WIDTH pixels
wide: a driver's face in a 640-px in-car frame is 150-250 px, still >= 60 px at 320
(Haar's base window is 24 px), at a quarter of the cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from runtime.config import CropConfig
from runtime.detection import Detection

FRONTAL = "haarcascade_frontalface_default.xml"
PROFILE = "haarcascade_profileface.xml"
DETECT_WIDTH = 320
# OpenCV's default pyramid step, and a stricter neighbour vote than its default 3 so that
# headrests and seat seams are not taken for faces (as calibration.sources does).
SCALE_FACTOR = 1.1
MIN_NEIGHBORS = 5
# Smallest face searched, in pixels of the DETECT_WIDTH copy: Haar's own 24 px base window.
MIN_FACE_PX = 24


class HaarError(RuntimeError):
    """The cascades are not where OpenCV says they are."""


def _cascade(cv2: Any, name: str) -> Any:
    folder = Path(getattr(getattr(cv2, "data", None), "haarcascades", ""))
    path = folder / name
    det = cv2.CascadeClassifier(str(path)) if path.is_file() else None
    if det is None or det.empty():
        raise HaarError(f"{path}: OpenCV's Haar cascade is missing (opencv-python ships it in cv2.data; "
                        "a system OpenCV keeps it in /usr/share/opencv4/haarcascades)")
    return det


@dataclass
class HaarLocaliser:
    """Largest frontal face, else largest profile face, as a head box."""

    crop: CropConfig = field(default_factory=CropConfig)
    profile: bool = True
    name: str = "haar"

    def __post_init__(self) -> None:
        import cv2

        self._cv2 = cv2
        self._frontal = _cascade(cv2, FRONTAL)
        self._profile = _cascade(cv2, PROFILE) if self.profile else None

    def _largest(self, det: Any, img: np.ndarray) -> np.ndarray | None:
        faces = det.detectMultiScale(img, scaleFactor=SCALE_FACTOR, minNeighbors=MIN_NEIGHBORS,
                                     minSize=(MIN_FACE_PX, MIN_FACE_PX))
        if len(faces) == 0:
            return None
        return np.asarray(max(faces, key=lambda b: b[2] * b[3]), np.float64)

    def face_box(self, frame: np.ndarray) -> tuple[np.ndarray, str] | None:
        """(x, y, w, h) of the largest face in full-frame pixels and which cascade found it."""
        cv2 = self._cv2
        gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        f = min(1.0, DETECT_WIDTH / gray.shape[1])
        small = cv2.resize(gray, None, fx=f, fy=f, interpolation=cv2.INTER_AREA) if f < 1.0 else gray
        found = self._largest(self._frontal, small)
        kind = "frontal"
        if found is None and self._profile is not None:
            found, kind = self._largest(self._profile, small), "profile"
            if found is None:
                flipped = self._largest(self._profile, cv2.flip(small, 1))
                if flipped is not None:
                    flipped[0] = small.shape[1] - flipped[0] - flipped[2]
                    found = flipped
        if found is None:
            return None
        return found / f, kind

    def locate(self, frame: np.ndarray) -> Detection | None:
        res = self.face_box(frame)
        if res is None:
            return None
        (x, y, w, h), kind = res
        side = max(w, h) / self.crop.haar_face_to_head
        ox, oy = self.crop.haar_centre_offset
        cx, cy = x + w / 2 + ox * side, y + h / 2 + oy * side
        return Detection(cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2, 1.0, f"haar-{kind}")
