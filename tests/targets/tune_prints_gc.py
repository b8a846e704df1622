"""Behaviour that depends on the GC settings: prints its own collection count."""

import gc

rows = [[i] for i in range(50_000)]
print(len(rows), sum(stat["collections"] for stat in gc.get_stats()))
