"""Representative frames, INT8 Q/DQ and FP16 graphs, accuracy versus FP32. No torch.

Only constants here: `dms` builds its parser from every room's cli module, and importing
this package must not load onnx or onnxruntime on a Jetson that only runs `dms run`.
"""

from __future__ import annotations      # the annotation below is not evaluated (Python 3.8)

# Ways of choosing the INT8 activation ranges (calibration.quantize has each one's reason).
METHODS: tuple[str, ...] = ("entropy", "percentile", "minmax")
# Percentile: entropy (TensorRT's KL search, as ORT implements it) clips every post-ReLU
# tensor to 1/8 of its range; measured figures in calibration.quantize's docstring.
DEFAULT_METHOD = "percentile"
