"""Benchmarks: scripts that print measured ratios against a baseline taken in the same run."""
