"""The sampler's estimates over many repetitions of one known leak (ground truth: tracemalloc).

Leaks LEAKS x PAYLOAD bytes at LEAK-LINE among churn of the same block size, RUNS
times, each under a fresh sampler at the given rate, and prints one JSON line: the
exact growth at the leak line (tracemalloc, once) and each run's estimate and
reported variance. `python sampler_statistics.py RUNS RATE`.
"""
import json
import os
import sys
import tracemalloc

from gcscope import _allocsampler
from gcscope.paths import PACKAGE_DIR

RUNS, RATE = int(sys.argv[1]), int(sys.argv[2])
LEAKS, PAYLOAD = 2000, 10_000


def churn(i):
    for j in range(5):
        temporary = [str(i * j)] * 20
        buffer = bytearray(PAYLOAD)
        del temporary, buffer


def leak(cache):
    for i in range(LEAKS):
        churn(i)
        cache.append(bytearray(PAYLOAD))  # LEAK-LINE


def leak_line():
    with open(__file__) as source:
        return next(n for n, text in enumerate(source, 1) if text.rstrip().endswith("LEAK-LINE"))


LINE = leak_line()


def exact_growth():
    cache = []
    tracemalloc.start(1)
    leak(cache)
    snapshot = tracemalloc.take_snapshot()
    tracemalloc.stop()
    return sum(
        stat.size for stat in snapshot.statistics("lineno") if stat.traceback[0].lineno == LINE
    )


def sampled_growth():
    cache = []
    seed = int.from_bytes(os.urandom(8), "little") | 1
    _allocsampler.start(RATE, 1, seed, PACKAGE_DIR)
    try:
        leak(cache)
        rows = _allocsampler.snapshot()
    finally:
        _allocsampler.stop()
    mine = [row for row in rows if row[0] and row[0][0][1] == LINE]
    return sum(row[1] for row in mine), sum(row[3] for row in mine)


truth = exact_growth()
runs = [sampled_growth() for _ in range(RUNS)]
print(json.dumps({"truth": truth, "estimates": [e for e, _ in runs], "variances": [v for _, v in runs]}))
