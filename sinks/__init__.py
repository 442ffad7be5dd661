"""Sinks: Delta Lake tables and the DuckDB warehouse of views over them."""
