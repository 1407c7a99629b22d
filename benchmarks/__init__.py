"""Ratio benchmarks for nnrep-lite: ``python -m benchmarks [--quick] [--device cpu|cuda] --json PATH``."""
