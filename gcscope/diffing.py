"""Compare two captures metric by metric; a regression is worse beyond tolerance and noise.

For every metric here, higher is worse. A metric regresses when the new value is
above `base * (1 + tolerance)` *and* above `base + floor`: the floor keeps tiny
absolute changes (sub-millisecond pauses, a few objects, a few MB of RSS) from
failing a build; for estimates (sampled allocation growth) the floor is at least
their joint 95% interval. Wall time is shown but never gated (it measures the machine as
much as the program). Metrics missing from either capture are shown as n/a.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gcscope import metrics
from gcscope.reporters.formatting import human_bytes

MIB = 1024 * 1024


@dataclass(frozen=True)
class Metric:
    name: str
    extract: Callable[[dict[str, Any]], metrics.Figure | None]
    floor: float
    show: Callable[[float], str]
    gated: bool = True


def _count(value: float) -> str:
    return f"{value:g}"


METRICS = [
    Metric("GC time share", metrics.gc_time_fraction, 0.005, lambda v: f"{v * 100:.2f}%"),
    Metric("max pause", metrics.max_pause_ms, 1.0, lambda v: f"{v:.3f} ms"),
    Metric("p99 pause", metrics.p99_pause_ms, 1.0, lambda v: f"{v:.3f} ms"),
    Metric("collections", metrics.collections, 50, _count),
    Metric("full collections", metrics.full_collections, 2, _count),
    Metric("peak RSS", metrics.peak_rss_bytes, 5 * MIB, human_bytes),
    Metric("cyclic garbage", metrics.cyclic_garbage, 10, _count),
    Metric("uncollectable", metrics.uncollectable, 0, _count),
    Metric("allocation growth", metrics.growth_bytes, 1 * MIB, human_bytes),
    Metric(
        "wall time",
        lambda c: metrics.Figure(c["wall_seconds"]),
        0,
        lambda v: f"{v:.3f} s",
        gated=False,
    ),
]


@dataclass
class Row:
    metric: Metric
    base: metrics.Figure | None
    new: metrics.Figure | None
    verdict: str

    @property
    def regressed(self) -> bool:
        return self.verdict == "REGRESSED"


def compare(
    base: dict[str, Any],
    new: dict[str, Any],
    tolerance: float,
    metrics: list[Metric] | None = None,
) -> list[Row]:
    rows = []
    for metric in METRICS if metrics is None else metrics:
        before, after = metric.extract(base), metric.extract(new)
        floor = metric.floor
        if before is not None and after is not None and (before.error or after.error):
            # estimates (sampled allocations): a change inside their joint 95% interval
            # is sampling noise, not a regression
            floor = max(floor, (before.error**2 + after.error**2) ** 0.5)
        if before is None or after is None:
            verdict = "n/a"
        elif not metric.gated:
            verdict = "info"
        elif after.value > before.value * (1 + tolerance) and after.value - before.value > floor:
            verdict = "REGRESSED"
        elif before.value > after.value * (1 + tolerance) and before.value - after.value > floor:
            verdict = "improved"
        else:
            verdict = "ok"
        rows.append(Row(metric, before, after, verdict))
    return rows


def render(rows: list[Row]) -> str:
    from gcscope.reporters.formatting import table

    lines = []
    for row in rows:
        show = row.metric.show
        if row.base is None or row.new is None:
            lines.append([row.metric.name, "n/a", "n/a", "", "", row.verdict])
            continue
        change = row.new.value - row.base.value
        sign = "+" if change >= 0 else "-"
        relative = (
            f"{change / row.base.value * 100:+.1f}%"
            if row.base.value
            else ("+inf%" if change else "0.0%")
        )
        offender = f" ({row.new.offender})" if row.regressed and row.new.offender else ""
        lines.append(
            [
                row.metric.name,
                show(row.base.value),
                show(row.new.value),
                sign + show(abs(change)),
                relative,
                row.verdict + offender,
            ]
        )
    return table(lines, ["metric", "base", "new", "change", "change %", "verdict"]) + "\n"
