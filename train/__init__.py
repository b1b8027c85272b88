"""Datasets, augmentation, the two training stages, the Kalman baseline, evaluation."""
