"""Benchmarks: each prints a table with its comparison measured in the same run."""
