"""`gcscope check DIR` and `gcscope diff DIR DIR`: limits and comparisons for a process tree.

`check` applies every limit to each process's capture, with the rules of a single
capture (`gcscope.checks`), naming the offending pid and role; then the limits
that add up across processes (GC time share of their summed lifetimes, cyclic
garbage, uncollectable objects, allocation growth) to the tree's totals. A process
that left no capture fails the check: its limits could not be verified. Peak RSS
and pauses are per process only (RSS counts shared pages in every process; the
tree's longest pause is one process's).

`diff` compares the totals of two trees (`gcscope.process_tree.totals_capture`)
with `gcscope.diffing`'s rules, plus the number of processes (shown) and the
private memory the forked processes gained (gated: the copy-on-write cost).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from gcscope import diffing, metrics
from gcscope.checks import Limits, Violation, evaluate, github_annotation
from gcscope.process_tree import Loaded, load, process_row, totals_capture
from gcscope.reporters.formatting import human_bytes, printable

WAIT_SECONDS = 10.0  # for processes still running (a run's stragglers end moments after it)
ADDITIVE_LIMITS = ("max-gc-time", "max-cyclic-garbage", "max-uncollectable", "max-growth")


def check(paths: list[str], limits: Limits, output: str) -> tuple[str, int]:
    loaded = load(paths, wait_seconds=WAIT_SECONDS)
    found: list[tuple[Violation, str]] = []
    for path, capture in loaded.captures:
        row = process_row(path, capture)
        who = f"pid {row['pid']} ({row['role']})"
        for violation in evaluate(capture, limits, path):
            found.append(
                (dataclasses.replace(violation, metric=f"{who}: {violation.metric}"), path)
            )
    totals_limits = Limits(
        {name: limit for name, limit in limits.items.items() if limit.option in ADDITIVE_LIMITS}
    )
    source = ", ".join(paths)
    if len(loaded.captures) > 1 and not totals_limits.empty():
        everyone = f"all {len(loaded.captures)} processes"
        for violation in evaluate(totals_capture(loaded), totals_limits, source):
            found.append(
                (dataclasses.replace(violation, metric=f"{everyone}: {violation.metric}"), source)
            )
    for marker in loaded.unfinished:
        state = "is still running" if marker.get("alive") else "ended without a capture"
        found.append(
            (
                Violation(
                    f"pid {marker['pid']} ({marker['role']}) {state}",
                    "its limits",
                    "could not be checked",
                ),
                source,
            )
        )
    if output == "github":
        lines = [github_annotation(violation, where) for violation, where in found]
    else:
        lines = [f"gcscope check: {printable(_line(violation))}" for violation, _ in found]
        if not found:
            lines = [
                f"gcscope check: {source}: all limits hold in all {len(loaded.captures)} processes"
            ]
    return "\n".join(lines) + "\n", 1 if found else 0


def _line(violation: Violation) -> str:
    if violation.limit == "could not be checked":
        return f"{violation.metric}: its limits could not be checked"
    return violation.line()


def _processes(capture: dict[str, Any]) -> metrics.Figure:
    return metrics.Figure(capture.get("processes", 1))


def _forked_growth(capture: dict[str, Any]) -> metrics.Figure | None:
    value = capture.get("forked_private_growth_bytes")
    return None if value is None else metrics.Figure(value)


def tree_metrics() -> list[diffing.Metric]:
    """diffing's metrics, read as a tree's totals, and two of the tree's own."""
    chosen = []
    for metric in diffing.METRICS:
        if metric.name == "peak RSS":
            metric = dataclasses.replace(metric, name="peak RSS (largest process)")
        elif metric.name == "wall time":
            metric = dataclasses.replace(metric, name="wall time (main process)")
        chosen.append(metric)
    chosen.insert(0, diffing.Metric("processes", _processes, 0, lambda v: f"{v:g}", gated=False))
    chosen.append(
        diffing.Metric("private memory of forked processes", _forked_growth, 5 * 2**20, human_bytes)
    )
    return chosen


def tree_totals(path: str) -> dict[str, Any]:
    loaded = load([path], wait_seconds=WAIT_SECONDS)
    return with_sharing(totals_capture(loaded), loaded)


def with_sharing(totals: dict[str, Any], loaded: Loaded) -> dict[str, Any]:
    growth = [
        row["memory"]["private_growth_bytes"]
        for row in (process_row(path, capture) for path, capture in loaded.captures)
        if row["role"] == "forked" and row["memory"]
    ]
    if growth:
        totals["forked_private_growth_bytes"] = sum(growth)
    return totals


def diff(
    base: str, new: str, tolerance: float, labels: tuple[str, str] = ("BASE", "NEW")
) -> list[diffing.Row]:
    return diffing.compare(tree_totals(base), tree_totals(new), tolerance, tree_metrics(), labels)
