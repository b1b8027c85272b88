"""Representative frames, INT8 Q/DQ and FP16 graphs, accuracy versus FP32. No torch."""
