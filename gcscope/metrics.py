"""Headline figures of a capture, defined once for `check`, `diff` and the pytest plugin.

Each metric says which direction is worse (all of these: higher) and knows how
to name its worst offender (the generation, type or site behind the figure).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Figure:
    """One metric's value in a capture, with what is most to blame for it."""

    value: float
    offender: str = ""
    # an estimate's 95% half-width (0: an exact figure), and its sampling rate in bytes
    error: float = 0.0
    sample_every: int = 0


def _generation_name(entry: dict[str, Any]) -> str:
    return f"generation {entry['generation']}"


def max_pause_ms(capture: dict[str, Any], generation: int | None = None) -> Figure:
    rows = [
        g for g in capture["generations"] if generation is None or g["generation"] == generation
    ]
    if not rows:
        return Figure(0.0, f"no generation {generation}")
    worst = max(rows, key=lambda g: g["pause_ms"]["max"])
    return Figure(worst["pause_ms"]["max"], _generation_name(worst))


def p99_pause_ms(capture: dict[str, Any]) -> Figure:
    worst = max(capture["generations"], key=lambda g: g["pause_ms"]["p99"], default=None)
    if worst is None:
        return Figure(0.0)
    return Figure(worst["pause_ms"]["p99"], _generation_name(worst))


def gc_time_fraction(capture: dict[str, Any]) -> Figure:
    return Figure(capture["gc_time_fraction"])


def collections(capture: dict[str, Any]) -> Figure:
    return Figure(sum(g["collections"] for g in capture["generations"]))


def full_collections(capture: dict[str, Any]) -> Figure:
    generations = capture["generations"]
    return Figure(generations[-1]["collections"] if generations else 0)


def peak_rss_bytes(capture: dict[str, Any]) -> Figure | None:
    value = capture.get("peak_rss_bytes")
    return None if value is None else Figure(value)


def uncollectable(capture: dict[str, Any]) -> Figure:
    total = sum(g["uncollectable"] for g in capture["generations"])
    types = capture.get("cycles", {}).get("uncollectable", {}).get("by_type", [])
    return Figure(total, types[0]["type"] if types else "")


def cyclic_garbage(capture: dict[str, Any]) -> Figure | None:
    """Objects that died in reference cycles; None without a --cycles capture."""
    section = capture.get("cycles")
    if section is None:
        return None
    by_type = section.get("by_type", [])
    offender = ", ".join(f"{row['type']} x{row['count']}" for row in by_type[:3])
    return Figure(section["total_objects"], offender)


def growth_bytes(capture: dict[str, Any]) -> Figure | None:
    """Net growth of traced memory, first to last snapshot; None without --allocations.

    From a sampled capture, an estimate with its 95% interval."""
    section = capture.get("allocations")
    if section is None or "growth_total_bytes" not in section:
        return None
    growth = section.get("growth") or []
    offender = f"{growth[0]['filename']}:{growth[0]['lineno']}" if growth else ""
    if section.get("mode") == "sampled":
        return Figure(
            section["growth_total_bytes"],
            offender,
            error=section.get("growth_total_error_bytes", 0),
            sample_every=section.get("sample_every_bytes", 0),
        )
    return Figure(section["growth_total_bytes"], offender)


def doubts(capture: dict[str, Any]) -> dict[str, str]:
    """Why some figures are incomplete, by what they come from: `gc`, `cycles`, `allocations`.

    gcscope records each of these as it happens; every doubt here is about figures that
    can only be too low (collections the callback never saw, garbage never counted,
    traces lost), so a figure in doubt that already exceeds a limit still exceeds it.
    Events past `--max-events` are no doubt: the aggregates cover every collection.
    """
    found: dict[str, str] = {}
    gc_section = capture.get("gc", {})
    reasons = []
    stats = gc_section.get("get_stats", {})
    if stats.get("reconciled") is False:
        counted = sum(entry.get("collections", 0) for entry in stats.get("delta", []))
        seen = sum(g["collections"] for g in capture["generations"])
        seen += sum(gc_section.get("forced_by_gcscope", []))
        reasons.append(
            f"gc.get_stats() counted {counted} collections but gcscope's gc callback saw "
            f"{seen} (was it removed from gc.callbacks?)"
        )
    if gc_section.get("callback_errors"):
        reasons.append(f"gcscope's gc callback failed {gc_section['callback_errors']} times")
    if reasons:
        found["gc"] = "; ".join(reasons)
    cycles = capture.get("cycles", {})
    reasons = []
    if cycles.get("final_harvest_missed"):
        reasons.append("the garbage left at the program's end was never harvested")
    if cycles.get("unsaved_collections"):
        reasons.append(
            f"the program turned gc.DEBUG_SAVEALL off, so the garbage of "
            f"{cycles['unsaved_collections']} collections went uncounted"
        )
    if reasons:
        found["cycles"] = "; ".join(reasons)
    error = capture.get("allocations", {}).get("error")
    if error:
        found["allocations"] = error
    return found
