"""Readers for the public face datasets users bring themselves (nothing is downloaded).

Every reader returns `Sample` records in the project's contracts (dms-head-v1 pose in
degrees, 68 iBUG landmarks in OpenCV image pixels) and stops with a `ReaderError` naming
the file and line or field when something is missing or malformed.
"""

from train.readers.biwi import BiwiSample, BiwiSequence, Calibration, pose_from_biwi, read_biwi, read_biwi_sequence
from train.readers.common import ReaderError, Sample, VideoSequence
from train.readers.ddfa import pose_from_3ddfa, read_300wlp, read_aflw2000
from train.readers.ibug_pts import read_pts
from train.readers.vw300 import read_300vw, read_300vw_video

__all__ = [
    "BiwiSample", "BiwiSequence", "Calibration", "ReaderError", "Sample", "VideoSequence",
    "pose_from_3ddfa", "pose_from_biwi", "read_300vw", "read_300vw_video", "read_300wlp",
    "read_aflw2000", "read_biwi", "read_biwi_sequence", "read_pts",
]
