"""Percentiles, defined once: nearest-rank, so every figure is a pause that happened."""

from __future__ import annotations

import math
from collections.abc import Sequence

PERCENTILES = (50, 95, 99)


def nearest_rank(sorted_values: Sequence[float], percent: float) -> float:
    """The smallest value with at least `percent`% of the values at or below it."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(percent / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def histogram_rank(counts: Sequence[int], upper_bounds: Sequence[float], percent: float) -> float:
    """Nearest-rank percentile over a bucketed histogram (upper bound of the bucket)."""
    total = sum(counts)
    if total == 0:
        return 0.0
    rank = max(1, math.ceil(percent / 100.0 * total))
    running = 0
    for count, upper in zip(counts, upper_bounds):
        running += count
        if running >= rank:
            return upper
    return upper_bounds[-1]
