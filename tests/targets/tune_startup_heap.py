"""Imported by tune_big_startup.py: a large start-up heap, as big libraries and caches make."""

TABLE = [[i] for i in range(1_000_000)]
