"""Names of the step graph's tensors and files: the contract between export, calibration,
deploy and the runtime. Plain strings, no imports, so that every room (and a Jetson
without torch) can use them.
"""

from __future__ import annotations

IMAGE_INPUT = "image"
STEP_FILE = "step.onnx"
# The manifest role of the step graph: the one whose I/O the manifest describes.
STEP_ROLE = "step graph"


def state_input(i: int) -> str:
    """Recurrent layer i's state going in (the previous frame's)."""
    return f"state_{i}"


def state_output(i: int) -> str:
    """Recurrent layer i's state coming out (to feed the next frame)."""
    return f"state_{i}_out"
