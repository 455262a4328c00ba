"""Benchmarks for Trebuchet's hot paths; run them with ``python -m benchmarks.run``."""
