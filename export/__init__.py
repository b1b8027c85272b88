"""PyTorch -> ONNX: the one-step graph with explicit state, parity, TensorRT readiness."""
