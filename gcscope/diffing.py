"""Compare two captures metric by metric; a regression is worse beyond tolerance and noise.

For every metric here, higher is worse. A metric regresses when the new value is
above `base * (1 + tolerance)` *and* above `base + floor`: the floor keeps tiny
absolute changes (sub-millisecond pauses, a few objects, a few MB of RSS) from
failing a build; for estimates (sampled allocation growth) the floor is at least
their joint 95% interval. Wall time is shown but never gated (it measures the machine
as much as the program).

A gate is never dropped silently: a metric only one capture has (one side recorded
without --cycles), or whose figure gcscope knows to be incomplete on either side
(`metrics.doubts`), cannot be compared, and that fails the diff with the reason; a
metric neither capture has is skipped, and the output says why. Captures of
different command lines or Pythons are compared, with a warning.
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
    depends: tuple[str, ...] = ()  # which `metrics.doubts` make the figure incomplete
    needs: str = ""  # the `gcscope run` option that records it
    points: bool = False  # a share: its change is shown in percentage points


def _count(value: float) -> str:
    return f"{value:g}"


GC = ("gc",)
METRICS = [
    Metric(
        "GC time share",
        metrics.gc_time_fraction,
        0.005,
        lambda v: f"{v * 100:.2f}%",
        depends=GC,
        points=True,
    ),
    Metric("max pause", metrics.max_pause_ms, 1.0, lambda v: f"{v:.3f} ms", depends=GC),
    Metric("p99 pause", metrics.p99_pause_ms, 1.0, lambda v: f"{v:.3f} ms", depends=GC),
    Metric("collections", metrics.collections, 50, _count, depends=GC),
    Metric("full collections", metrics.full_collections, 2, _count, depends=GC),
    Metric("peak RSS", metrics.peak_rss_bytes, 5 * MIB, human_bytes),
    Metric(
        "cyclic garbage",
        metrics.cyclic_garbage,
        10,
        _count,
        depends=("gc", "cycles"),
        needs="--cycles",
    ),
    Metric("uncollectable", metrics.uncollectable, 0, _count, depends=GC),
    Metric(
        "allocation growth",
        metrics.growth_bytes,
        1 * MIB,
        human_bytes,
        depends=("allocations",),
        needs="--allocations",
    ),
    Metric(
        "wall time",
        lambda c: metrics.Figure(c["wall_seconds"]),
        0,
        lambda v: f"{v:.3f} s",
        gated=False,
    ),
]

REGRESSED, UNCOMPARABLE = "REGRESSED", "UNCOMPARABLE"


@dataclass
class Row:
    metric: Metric
    base: metrics.Figure | None
    new: metrics.Figure | None
    verdict: str
    note: str = ""  # why a metric is skipped or cannot be compared

    @property
    def regressed(self) -> bool:
        return self.verdict == REGRESSED

    @property
    def failed(self) -> bool:
        return self.verdict in (REGRESSED, UNCOMPARABLE)


def _worse(before: float, after: float, tolerance: float, floor: float) -> bool:
    return after > before * (1 + tolerance) and after - before > floor


def _missing(metric: Metric, label: str) -> str:
    how = f"record it with 'gcscope run {metric.needs}'" if metric.needs else "not measured"
    return f"{label} has no {metric.name} figure ({how})"


def compare(
    base: dict[str, Any],
    new: dict[str, Any],
    tolerance: float,
    chosen: list[Metric] | None = None,
    labels: tuple[str, str] = ("BASE", "NEW"),
) -> list[Row]:
    """Every metric of `chosen` (default `METRICS`), judged; `labels` name the sides."""
    doubts = metrics.doubts(base), metrics.doubts(new)
    rows = []
    for metric in METRICS if chosen is None else chosen:
        before, after = metric.extract(base), metric.extract(new)
        floor = metric.floor
        if before is not None and after is not None and (before.error or after.error):
            # estimates (sampled allocations): a change inside their joint 95% interval
            # is sampling noise, not a regression
            floor = max(floor, (before.error**2 + after.error**2) ** 0.5)
        in_doubt = [
            f"{label}: {side[key]}"
            for label, side in zip(labels, doubts)
            for key in metric.depends
            if key in side
        ]
        note = ""
        if before is None and after is None:
            verdict = "n/a"
            recorded = f"was recorded with {metric.needs}" if metric.needs else "has it"
            note = f"neither capture {recorded}"
        elif before is None or after is None:
            verdict = UNCOMPARABLE
            note = _missing(metric, labels[0] if before is None else labels[1])
        elif not metric.gated:
            verdict = "info"
        elif _worse(before.value, after.value, tolerance, floor) and not any(
            key in doubts[0] for key in metric.depends
        ):
            verdict = REGRESSED  # NEW's doubts only make it worse than it reads
        elif in_doubt:
            verdict, note = UNCOMPARABLE, "; ".join(in_doubt)
        elif _worse(after.value, before.value, tolerance, floor):
            verdict = "improved"
        else:
            verdict = "ok"
        rows.append(Row(metric, before, after, verdict, note))
    return rows


def warnings(base: dict[str, Any], new: dict[str, Any], labels: tuple[str, str]) -> list[str]:
    """What makes the two captures less comparable than they look: program, Python."""
    import shlex

    found = []
    if base["argv"] != new["argv"]:
        found.append(
            f"different command lines: {labels[0]} ran {shlex.join(base['argv'])!r}, "
            f"{labels[1]} ran {shlex.join(new['argv'])!r}"
        )

    def python(capture: dict[str, Any]) -> str:
        info = capture["python"]
        return " ".join(
            str(info[key]) for key in ("implementation", "version", "collector") if key in info
        )

    if python(base) != python(new):
        found.append(
            f"different Pythons: {labels[0]} ran on {python(base)}, {labels[1]} on {python(new)}"
        )
    return found


def _change(row: Row) -> tuple[str, str]:
    """The absolute change (percentage points for shares) and the relative one."""
    assert row.base is not None and row.new is not None
    change = row.new.value - row.base.value
    sign = "+" if change >= 0 else "-"
    if row.metric.points:
        absolute = f"{sign}{abs(change) * 100:.2f} pp"
    else:
        absolute = sign + row.metric.show(abs(change))
    if row.base.value:
        relative = f"{change / row.base.value * 100:+.1f}%"
    else:
        relative = "" if change else "0.0%"  # from nothing: no ratio to speak of
    return absolute, relative


def render(rows: list[Row]) -> str:
    from gcscope.reporters.formatting import printable, table

    lines = []
    notes = []
    for row in rows:
        show = row.metric.show
        base = "n/a" if row.base is None else show(row.base.value)
        new = "n/a" if row.new is None else show(row.new.value)
        absolute, relative = ("", "") if row.base is None or row.new is None else _change(row)
        offender = ""
        if row.regressed and row.new is not None and row.new.offender:
            offender = f" ({printable(row.new.offender)})"
        lines.append([row.metric.name, base, new, absolute, relative, row.verdict + offender])
        if row.note:
            how = "cannot be compared" if row.failed else "skipped"
            notes.append(f"{row.metric.name} {how}: {printable(row.note)}")
    text = table(lines, ["metric", "base", "new", "change", "change %", "verdict"]) + "\n"
    return text + "".join(f"  {note}\n" for note in notes)
