"""Prints the collector's counters and statistics as its first act, then allocates
argv[1] container objects in one burst and prints how many collections that took."""
import gc

COUNT = gc.get_count()
STATS = [(s["collections"], s["collected"]) for s in gc.get_stats()]
import sys  # noqa: E402

print("start", COUNT, STATS)
before = [s["collections"] for s in gc.get_stats()]
held = [[] for _ in range(int(sys.argv[1]))]
after = [s["collections"] for s in gc.get_stats()]
print("collections", [b - a for a, b in zip(before, after)])
