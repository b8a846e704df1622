"""The recommendation: the best candidate for the goal that keeps every constraint.

A candidate is considered only if it behaved like the default (same stdout and
exit status), ran every time, did what it was meant to (a freeze that happened),
and, for `gc.disable()`, the program's cyclic garbage does not keep growing. Among
those within every limit (medians against the bound), it must beat the default on
the goal's metric beyond noise (paired interval entirely below 0). The best median
wins; if others are within noise of it, the smallest change among them (earliest in
the candidate list) is recommended instead, and the reason says so. Otherwise: keep
the default, with why.
"""

from __future__ import annotations

from typing import Any

from gcscope.tuning.analysis import CandidateFigures, show
from gcscope.tuning.limits import Limit

GOALS = {
    # CPU, not wall: GC work is CPU work, and wall time on a shared machine carries the
    # other jobs' load (docs/tune.md, "Goals and constraints")
    "throughput": ("cpu_seconds", "CPU time"),
    "latency": ("max_pause_ms", "longest pause"),
    "memory": ("peak_rss_bytes", "peak RSS"),
}
LABELS = {
    "cpu_seconds": "CPU time",
    "wall_seconds": "wall time",
    "max_pause_ms": "longest pause",
    "peak_rss_bytes": "peak RSS",
}


def bounds(limits: list[Limit], default: CandidateFigures) -> list[tuple[Limit, float]]:
    resolved = []
    for limit in limits:
        summary = default.summary(limit.metric)
        resolved.append((limit, limit.bound(summary.median if summary else 0.0)))
    return resolved


def violations(figures: CandidateFigures, limits: list[tuple[Limit, float]]) -> list[str]:
    found = []
    for limit, bound in limits:
        summary = figures.summary(limit.metric)
        if summary is not None and summary.median > bound:
            found.append(
                f"{LABELS[limit.metric]} {show(limit.metric, summary.median)} over "
                f"--{limit.option.replace('_', '-')} {limit.text} ({show(limit.metric, bound)})"
            )
    return found


def recommend(
    goal: str,
    limits: list[Limit],
    figures: dict[str, CandidateFigures],
    order: list[str],
    exclusions: dict[str, list[str]],
) -> dict[str, Any]:
    """{"candidate", "keep_default", "reason", "excluded": {name: [reasons]}, "bounds"}."""
    metric, label = GOALS[goal]
    default = figures["default"]
    resolved = bounds(limits, default)
    excluded: dict[str, list[str]] = {}
    for name in order[1:]:
        reasons = [*exclusions.get(name, []), *violations(figures[name], resolved)]
        if reasons:
            excluded[name] = reasons
    eligible = [name for name in order[1:] if name not in excluded]

    def median(name: str) -> float:
        summary = figures[name].summary(metric)
        return summary.median if summary else float("inf")

    def against_default(name: str) -> str:
        change = figures[name].change(metric, default)
        relative = f"{change.relative:+.0%} " if change and change.relative is not None else ""
        return (
            f"{label} {relative}against the default ({show(metric, median(name))} vs "
            f"{show(metric, median('default'))})"
        )

    improving = [
        name
        for name in eligible
        if (change := figures[name].change(metric, default)) is not None and change.better
    ]
    default_over = violations(default, resolved)
    result: dict[str, Any] = {
        "goal": goal,
        "metric": metric,
        "bounds": [
            {"option": limit.option, "text": limit.text, "metric": limit.metric, "bound": bound}
            for limit, bound in resolved
        ],
        "excluded": excluded,
        "default_violations": default_over,
    }
    if improving:
        best = min(improving, key=median)
        equivalent = [
            name
            for name in improving
            if name == best
            or ((change := figures[name].change(metric, figures[best])) and change.within_noise)
        ]
        chosen = min(equivalent, key=order.index)
        reason = f"{against_default(chosen)}, beyond noise, within every constraint"
        if chosen != best:
            reason += f"; {best} is within noise of it and a larger change"
        return {**result, "candidate": chosen, "keep_default": False, "reason": reason}
    if default_over and eligible:
        chosen = min(eligible, key=median)
        reason = (
            f"the default breaks a constraint ({'; '.join(default_over)}); {chosen} keeps "
            f"every one, {against_default(chosen)}"
        )
        return {**result, "candidate": chosen, "keep_default": False, "reason": reason}
    if default_over:
        reason = (
            "no candidate keeps every constraint, and neither does the default ("
            + "; ".join(default_over)
            + ")"
        )
    else:
        better_but_excluded = [
            name
            for name in excluded
            if (change := figures[name].change(metric, default)) is not None and change.better
        ]
        reason = f"no eligible candidate beats the default's {label} beyond noise"
        if better_but_excluded:
            reason += "; " + "; ".join(
                f"{name} would ({against_default(name)}) but {excluded[name][0]}"
                for name in better_but_excluded
            )
    return {**result, "candidate": "default", "keep_default": True, "reason": reason}
