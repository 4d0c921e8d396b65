"""Benchmarks (run from the repository root; never imported by gridweave itself)."""
