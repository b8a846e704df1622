"""The text report: what `gcscope run` prints and `gcscope report` re-prints.

Each section is a function from the capture to lines; a section whose data is
not in the capture (allocations, cycles) prints nothing.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

from gcscope.reporters.formatting import (
    allocation_site_label,
    cycle_warnings,
    human_bytes,
    ms,
    short_path,
    site_labels,
    table,
)

TOP_SITES = 10


def _header(capture: dict[str, Any]) -> list[str]:
    python = capture["python"]
    generations = capture["generations"]
    collections = sum(g["collections"] for g in generations)
    gc_ms = sum(g["pause_ms"]["total"] for g in generations)
    ended = capture.get("ended_by", "return")
    status = f"exit {capture['exit_code']}" + (f", {ended}" if ended not in ("return",) else "")
    return [
        f"gcscope: {shlex.join(capture['argv'])}  ({status})",
        f"Python {python.get('version', '?')} ({python.get('collector', '?')} collector), "
        f"wall {capture['wall_seconds']:.3f} s, "
        f"peak RSS {human_bytes(capture.get('peak_rss_bytes'))}",
        f"GC: {collections} collections, {gc_ms:.3f} ms paused = "
        f"{capture['gc_time_fraction'] * 100:.2f}% of wall time",
        *_process_notes(capture),
    ]


def _process_notes(capture: dict[str, Any]) -> list[str]:
    """What the run's figures do not cover, or what gcscope changed, in one line each."""
    notes = []
    forks = capture.get("forks", 0)
    if forks:
        notes.append(
            f"({forks} forked child process{'es' if forks != 1 else ''} ran untouched "
            "and are not in these figures)"
        )
    state = capture.get("gcscope", {}).get("collector_counters", "")
    if state.startswith("not restored"):
        notes.append(
            f"(collector counters {state}: the program's first collections may come earlier "
            "or later than under python)"
        )
    return notes


def _generations(capture: dict[str, Any]) -> list[str]:
    rows = []
    for g in capture["generations"]:
        pause = g["pause_ms"]
        rows.append(
            [
                g["generation"],
                g["collections"],
                g["collected"],
                g["uncollectable"],
                ms(pause["total"]),
                ms(pause["mean"]),
                ms(pause["p50"]),
                ms(pause["p95"]),
                ms(pause["p99"]),
                ms(pause["max"]),
            ]
        )
    headers = ["gen", "collections", "collected", "uncollectable", "total ms", "mean ms"]
    headers += ["p50 ms", "p95 ms", "p99 ms", "max ms"]
    lines = ["", "Collections by generation", table(rows, headers)]
    gc_section = capture.get("gc", {})
    if gc_section.get("percentiles", "").endswith("buckets"):
        lines.append("(percentiles from 2%-wide buckets: more events than the stored timeline)")
    stats = gc_section.get("get_stats")
    if stats and not stats.get("reconciled", True):
        lines.append("WARNING: callback counts disagree with gc.get_stats():")
        lines += [f"  {m}" for m in stats.get("mismatches", [])]
    forced = sum(gc_section.get("forced_by_gcscope", []))
    if forced:
        lines.append(f"({forced} collections forced by gcscope itself are excluded)")
    if gc_section.get("callback_errors"):
        lines.append(f"WARNING: the gc callback failed {gc_section['callback_errors']} times")
    return lines


def _trigger_sites(capture: dict[str, Any]) -> list[str]:
    sites = capture.get("gc", {}).get("sites", [])
    if not sites:
        return []
    width = len(capture["generations"])
    rows = []
    for site in sites[:TOP_SITES]:
        program, via = site_labels(site)
        by_gen = "/".join(str(n) for n in site["collections_by_generation"][:width])
        rows.append(
            [
                program,
                site["collections"],
                by_gen,
                ms(site["pause_ms"]["total"]),
                ms(site["pause_ms"]["max"]),
                via,
            ]
        )
    gens = "/".join(str(g["generation"]) for g in capture["generations"])
    headers = [
        "program line",
        "collections",
        f"gen {gens}",
        "total ms",
        "max ms",
        "innermost frame",
    ]
    lines = ["", f"Top trigger sites by total pause (of {len(sites)})", table(rows, headers)]
    version = tuple(int(p) for p in capture["python"].get("version", "0.0").split(".")[:2])
    if version >= (3, 12):
        lines.append(
            "(Python 3.12+ runs collections at the next eval-breaker check: the line is where "
            "the collection ran, near the allocation that triggered it)"
        )
    return lines


def _memory(capture: dict[str, Any]) -> list[str]:
    samples = capture.get("rss", {}).get("samples", [])
    if not samples:
        return []
    values = [rss for _, rss in samples]
    return [
        "",
        f"RSS: first sample {human_bytes(values[0])}, highest sample {human_bytes(max(values))}, "
        f"last {human_bytes(values[-1])} ({len(values)} samples)",
    ]


def _allocations(capture: dict[str, Any]) -> list[str]:
    section = capture.get("allocations")
    if not section:
        return []
    lines = [
        "",
        f"Allocations (tracemalloc, {section['frames']} frame(s), "
        f"{section['snapshots']} snapshots, started by {section['started_by']})",
    ]
    if section.get("error"):
        return [*lines, f"  {section['error']}"]
    lines.append(
        f"Live at end: {human_bytes(section['total_size_bytes'])} "
        f"in {section['total_count']} blocks"
    )
    top = [
        [allocation_site_label(s), human_bytes(s["size_bytes"]), s["count"]]
        for s in section["top_sites"][:TOP_SITES]
    ]
    if top:
        lines += ["", "Top allocation sites at end", table(top, ["site", "size", "blocks"])]
    growth = [
        [allocation_site_label(s), human_bytes(s["size_diff_bytes"]), f"{s['count_diff']:+d}"]
        for s in section["growth"][:TOP_SITES]
        if s["size_diff_bytes"] > 0
    ]
    if growth:
        lines += ["", "Growth, first to last snapshot", table(growth, ["site", "size", "blocks"])]
    steady = section.get("steady_growth")
    if steady is not None:
        lines += ["", "Sites that grew in every interval (the signature of a leak)"]
        if steady:
            rows = [
                [allocation_site_label(s), human_bytes(s["size_diff_bytes"]), s["intervals"]]
                for s in steady[:TOP_SITES]
            ]
            lines.append(table(rows, ["site", "growth", "intervals"]))
        else:
            lines.append("  none (fewer than two intervals, or no site grew in every one)")
    return lines


def _types(capture: dict[str, Any]) -> list[str]:
    if "type_growth" not in capture:
        return []
    lines = ["", "Type growth (live GC-tracked objects, start to end, after a full collection)"]
    growth = capture["type_growth"][:TOP_SITES]
    if growth:
        rows = [[g["type"], f"{g['count_diff']:+d}", g["count_after"]] for g in growth]
        lines.append(table(rows, ["type", "count change", "at end"]))
    else:
        lines.append("  no type grew")
    sizes = capture.get("type_sizes", {})
    if sizes.get("types"):
        estimated = f" (estimated: every {sizes['sampled_every']}th object, scaled up)"
        lines += [
            "",
            "Sizes by type at end (pympler, shallow)" + (estimated if sizes["estimated"] else ""),
            table(
                [
                    [t["type"], t["count"], human_bytes(t["size_bytes"])]
                    for t in sizes["types"][:10]
                ],
                ["type", "objects", "size"],
            ),
        ]
    return lines


def _site_text(site: dict[str, Any]) -> str:
    return f"{short_path(site['filename'])}:{site['lineno']}"


def cycles_section(capture: dict[str, Any], limit: int | None = TOP_SITES) -> list[str]:
    """The cyclic-garbage view (also what `gcscope cycles` prints)."""
    section = capture.get("cycles")
    if section is None:
        return []
    total = section["total_objects"]
    lines = ["", f"Cyclic garbage (gc.DEBUG_SAVEALL): {total} objects died in reference cycles"]
    lines += [f"WARNING: {warning}" for warning in cycle_warnings(section)]
    if total:
        lines.append(
            table(
                [[row["type"], row["count"]] for row in section["by_type"][:limit]],
                ["type", "objects"],
            )
        )
        shapes = section["shapes"][:limit]
        if shapes:
            estimated = " (estimated from a sample)" if section.get("shapes_estimated") else ""
            rows = []
            for shape in shapes:
                sites = ", ".join(_site_text(s) for s in shape.get("sites", [])[:2])
                rows.append(
                    [shape["id"], shape["cycles"], shape["objects"], shape["signature"][:80], sites]
                )
            lines += [
                "",
                f"Cycle shapes{estimated}",
                table(rows, ["shape", "cycles", "objects", "shape (edges)", "created at"]),
            ]
    if "sites" in section:
        known = sum(s["count"] for s in section["sites"])
        lines += ["", f"Creation sites ({section.get('site_method', '')})"]
        if section["sites"]:
            rows = [[_site_text(s), s["count"]] for s in section["sites"][:limit]]
            lines.append(table(rows, ["site", "objects"]))
        if section.get("sites_unknown"):
            lines.append(
                f"  unknown for {section['sites_unknown']} of {known + section['sites_unknown']} "
                "objects (allocated before tracing began, or reused from a free list)"
            )
    uncollectable = section.get("uncollectable", {})
    if uncollectable.get("by_type"):
        lines += ["", "Uncollectable (legacy finalizers: the collector could not free them)"]
        lines.append(
            table([[r["type"], r["count"]] for r in uncollectable["by_type"]], ["type", "objects"])
        )
    if uncollectable.get("parked_by_program"):
        lines += ["", "Parked in gc.garbage by the program (left there, not freed)"]
        lines.append(
            table(
                [[r["type"], r["count"]] for r in uncollectable["parked_by_program"]],
                ["type", "objects"],
            )
        )
    return lines


def _events_note(capture: dict[str, Any]) -> list[str]:
    events = capture.get("gc", {}).get("events", {})
    if events.get("dropped"):
        return [
            "",
            f"(timeline keeps the first {events['stored']} of {events['total']} collections; "
            "aggregates above cover all of them)",
        ]
    return []


def _children(capture: dict[str, Any]) -> list[str]:
    """Child processes that ran unmeasured (a capture made without --follow)."""
    process = capture.get("process", {})
    if process.get("followed"):
        return []
    children = process.get("children", {"forked": capture.get("forks", 0), "started": 0})
    count = children.get("forked", 0) + children.get("started", 0)
    if not count:
        return []
    return [
        "",
        f"Child processes: {count} child processes ({children.get('forked', 0)} forked, "
        f"{children.get('started', 0)} started by fork-and-exec) ran unmeasured; "
        "`gcscope run --follow -o DIR` measures every Python process of the tree",
    ]


SECTIONS: list[Callable[[dict[str, Any]], list[str]]] = [
    _header,
    _generations,
    _trigger_sites,
    _memory,
    _allocations,
    _types,
    cycles_section,
    _children,
    _events_note,
]


def render(capture: dict[str, Any]) -> str:
    lines: list[str] = []
    for section in SECTIONS:
        lines += section(capture)
    return "\n".join(lines) + "\n"
