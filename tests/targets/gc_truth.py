"""Records its own gc.get_stats() and times its own gc.collect() calls (ground truth).

argv[1]: where to write what it measured, as JSON.
"""
import gc

before = gc.get_stats()  # first thing: the program's imports are inside its own window
import json
import sys
import time


class Node:
    def __init__(self, other=None):
        self.other = other or self


def churn(n):
    for _ in range(n):
        Node()  # CHURN-LINE: every instance is cyclic garbage


keep = [[i] for i in range(300_000)]  # KEEP-LINE: a big long-lived heap: full collections take time
churn(120_000)
timings = []
for _ in range(5):
    started = time.perf_counter()
    gc.collect()  # COLLECT-LINE
    timings.append(time.perf_counter() - started)
after = gc.get_stats()
with open(sys.argv[1], "w") as out:
    json.dump({"before": before, "after": after, "collect_seconds": timings}, out)
print("gc_truth done")
