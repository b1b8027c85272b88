"""Synthetic head-video generator with exact labels (issue: synthetic dataset)."""
