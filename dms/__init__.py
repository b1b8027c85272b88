"""dms: the command and the contracts every room shares (angles, landmarks, manifest).

Nothing here imports torch or OpenCV: the Jetson runtime imports these modules.
"""

__version__ = "0.1.0"
