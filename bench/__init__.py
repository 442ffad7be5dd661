"""Benchmarks: `unify bench` measures and writes bench/results.json and bench/results.md."""
