"""Medians and distribution-free intervals for a handful of runs.

With 3 to 20 runs per candidate, nothing is known about the shape of the noise
(a busy machine makes it skewed and heavy-tailed), so intervals come from order
statistics: the median's interval is [x(k), x(n+1-k)], with the largest k whose
coverage 1 - 2*P(Binomial(n, 1/2) < k) is at least 95%, or k = 1 (the whole range)
when n is too small for that, with its real coverage reported (94% for 5 runs).
No random numbers: the same runs always give the same interval.

Candidates are compared with the default round by round (runs alternate, so a
round's runs share the machine's state): the paired differences' median and its
interval. A difference whose interval contains 0 is "within noise"; for 5 rounds
that is a sign test: all five rounds must agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import median

CONFIDENCE = 0.95


def _tail(n: int, k: int) -> float:
    """P(Binomial(n, 1/2) <= k)."""
    return sum(math.comb(n, i) for i in range(k + 1)) / 2**n


def interval_rank(n: int, confidence: float = CONFIDENCE) -> tuple[int, float]:
    """(k, coverage): the median's interval is the k-th smallest to the k-th largest."""
    best_k, coverage = 1, 1 - 2 * _tail(n, 0)
    for k in range(2, n // 2 + 1):
        cover = 1 - 2 * _tail(n, k - 1)
        if cover < confidence:
            break
        best_k, coverage = k, cover
    return best_k, coverage


@dataclass(frozen=True)
class Summary:
    """Median of some runs and its order-statistic interval."""

    median: float
    low: float
    high: float
    coverage: float
    count: int

    def as_dict(self) -> dict[str, float]:
        return {
            "median": self.median,
            "low": self.low,
            "high": self.high,
            "coverage": round(self.coverage, 4),
            "n": self.count,
        }


def summarise(values: list[float]) -> Summary | None:
    if not values:
        return None
    ordered = sorted(values)
    n = len(ordered)
    k, coverage = interval_rank(n)
    return Summary(median(ordered), ordered[k - 1], ordered[n - k], coverage, n)


@dataclass(frozen=True)
class Change:
    """A candidate against a reference, from paired per-round differences."""

    difference: Summary
    relative: float | None  # median difference / reference median

    @property
    def within_noise(self) -> bool:
        return self.difference.low <= 0 <= self.difference.high

    @property
    def better(self) -> bool:  # for metrics where lower is better (all of tune's)
        return self.difference.high < 0

    @property
    def worse(self) -> bool:
        return self.difference.low > 0

    def as_dict(self) -> dict[str, object]:
        return {
            "difference": self.difference.as_dict(),
            "relative": None if self.relative is None else round(self.relative, 6),
            "within_noise": self.within_noise,
        }


def paired_change(values: dict[int, float], reference: dict[int, float]) -> Change | None:
    """Compare per-round values with the reference's of the same rounds."""
    rounds = sorted(set(values) & set(reference))
    differences = [values[r] - reference[r] for r in rounds]
    summary = summarise(differences)
    if summary is None:
        return None
    base = median([reference[r] for r in rounds])
    return Change(summary, summary.median / base if base else None)
