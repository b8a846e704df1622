"""The text report: what `gcscope run` prints and `gcscope report` re-prints.

Each section is a function from the capture to lines; a section whose data is
not in the capture (allocations, cycles) prints nothing.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

from gcscope.reporters.formatting import (
    allocation_fallback,
    allocation_site_label,
    allocation_source,
    cycle_warnings,
    estimate_text,
    human_bytes,
    ms,
    observer_warning,
    printable_capture,
    printable_text,
    short_path,
    site_labels,
    table,
)
from gcscope.units import counted

TOP_SITES = 10


def _header(capture: dict[str, Any]) -> list[str]:
    python = capture["python"]
    generations = capture["generations"]
    collections = sum(g["collections"] for g in generations)
    gc_ms = sum(g["pause_ms"]["total"] for g in generations)
    ended = capture.get("ended_by", "return")
    status = f"exit {capture['exit_code']}" + (f", {ended}" if ended not in ("return",) else "")
    if ended == "exec":  # the process went on as another program, whose status is its own
        status = "replaced by os.exec*: the new program's exit status is not known"
    return [
        f"gcscope: {shlex.join(capture['argv'])}  ({status})",
        f"Python {python.get('version', '?')} ({python.get('collector', '?')} collector), "
        f"wall {capture['wall_seconds']:.3f} s, "
        f"peak RSS {human_bytes(capture.get('peak_rss_bytes'))}",
        f"GC: {counted(collections, 'collection')}, {gc_ms:.3f} ms paused = "
        f"{capture['gc_time_fraction'] * 100:.2f}% of wall time",
        *_process_notes(capture),
        *_tuning(capture),
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


def _tuning(capture: dict[str, Any]) -> list[str]:
    """A `gcscope tune` candidate's run: which settings it ran under."""
    tuning = capture.get("tuning")
    if not tuning:
        return []
    applied = tuning.get("applied", {})
    threshold = "/".join(str(value) for value in applied.get("threshold", []))
    text = f"gcscope tune candidate {tuning.get('candidate')}: thresholds {threshold}"
    if applied.get("enabled") is False:
        text += ", collector disabled"
    frozen = tuning.get("freeze", {}).get("frozen")
    if frozen:
        text += f", froze {frozen['objects']:,} objects at {frozen['seconds']:.3f} s"
    return [text]


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
        lines.append(f"({counted(forced, 'collection')} forced by gcscope itself are excluded)")
    if gc_section.get("callback_errors"):
        failures = counted(gc_section["callback_errors"], "time")
        lines.append(f"WARNING: the gc callback failed {failures}")
    observer = observer_warning(gc_section)
    if observer:
        lines.append(f"WARNING: {observer}")
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
    lines = [
        "",
        f"RSS: first sample {human_bytes(values[0])}, highest sample {human_bytes(max(values))}, "
        f"last {human_bytes(values[-1])} ({counted(len(values), 'sample')})",
    ]
    if capture["rss"].get("sampler") == "python":  # the C sampler never takes the GIL
        lines.append(
            "  sampled by a Python thread: each sample takes the GIL from the program "
            "(--rss-interval 0 turns it off)"
        )
    return lines


def _allocations_title(section: dict[str, Any]) -> list[str]:
    note = allocation_fallback(section)
    lines = ["", f"Allocations ({allocation_source(section)})"]
    return [*lines, note] if note else lines


def _allocations(capture: dict[str, Any]) -> list[str]:
    section = capture.get("allocations")
    if not section:
        return []
    lines = _allocations_title(section)
    if section.get("error"):
        return [*lines, f"  {section['error']}"]
    sampled = section.get("mode") == "sampled"
    approx = "~" if sampled else ""
    live = estimate_text(section["total_size_bytes"], section.get("total_size_error_bytes"))
    lines.append(f"Live at end: {live} in {approx}{section['total_count']} blocks")
    if sampled:
        sampler = section.get("sampler", {})
        lines.append(
            f"({section.get('total_samples', 0)} live samples of the program's blocks; "
            f"{sampler.get('samples', 0)} taken in all)"
        )
    size_header = "size (estimate)" if sampled else "size"
    blocks_header = "blocks (estimate)" if sampled else "blocks"
    top = [
        [
            allocation_site_label(s),
            estimate_text(s["size_bytes"], s.get("size_error_bytes")),
            s["count"],
        ]
        for s in section["top_sites"][:TOP_SITES]
    ]
    if top:
        lines += [
            "",
            "Top allocation sites at end",
            table(top, ["site", size_header, blocks_header]),
        ]
    growth = [
        [
            allocation_site_label(s),
            estimate_text(s["size_diff_bytes"], s.get("size_diff_error_bytes")),
            f"{s['count_diff']:+d}",
        ]
        for s in section["growth"][:TOP_SITES]
        if s["size_diff_bytes"] > 0
    ]
    if growth:
        total = estimate_text(
            section["growth_total_bytes"], section.get("growth_total_error_bytes")
        )
        lines += [
            "",
            f"Growth, first to last snapshot (in all: {total})",
            table(growth, ["site", size_header, blocks_header]),
        ]
    steady = section.get("steady_growth")
    if steady is not None:
        lines += ["", "Sites that grew in every interval (the signature of a leak)"]
        if steady:
            rows = [
                [
                    allocation_site_label(s),
                    approx + human_bytes(s["size_diff_bytes"]),
                    s["intervals"],
                ]
                for s in steady[:TOP_SITES]
            ]
            lines.append(
                table(rows, ["site", "growth (estimate)" if sampled else "growth", "intervals"])
            )
        else:
            lines.append("  none (fewer than two intervals, or no site grew in every one)")
        if sampled:
            lines.append(
                "  (sampled: a site whose growth per interval is below the sampling rate "
                "shows growth only in some intervals; see docs/allocations.md)"
            )
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


def _type_matches(name: str, wanted: str) -> bool:
    return name == wanted or name.rsplit(".", 1)[-1] == wanted


def _count_text(shape: dict[str, Any], key: str) -> str:
    """A shape's count; estimated ones with their 95% interval."""
    if not shape.get("estimated"):
        return str(shape[key])
    low, high = shape.get(f"{key}_interval", [shape[key], shape[key]])
    return f"~{shape[key]} ({low}-{high})"


def _size_text(shape: dict[str, Any]) -> str:
    size = shape.get("size", {})
    low, high = size.get("min"), size.get("max")
    return str(low) if low == high else f"{low}-{high}"


def _cycles_headline(section: dict[str, Any]) -> list[str]:
    total = section["total_objects"]
    line = f"Cyclic garbage (gc.DEBUG_SAVEALL): {total} objects died unreachable"
    if "in_cycles" in section and total:
        line += (
            f": {section['in_cycles']} in {section.get('cycles', 0)} cycles, "
            f"{section.get('held_by_cycles', 0)} only held by cycles"
        )
        if section.get("not_analysed"):
            line += f", {section['not_analysed']} not analysed"
    lines = ["", line]
    lines += [f"WARNING: {warning}" for warning in cycle_warnings(section)]
    after_end = section.get("after_end", {})
    if after_end.get("objects"):
        lines.append(
            f"({after_end['objects']} objects freed by {after_end['collections']} collections of "
            "other threads after the program ended are not counted)"
        )
    return lines


def _shape_rows(
    section: dict[str, Any], limit: int | None, shape_id: int | None, type_filter: str | None
) -> list[str]:
    shapes = [
        s
        for s in section.get("shapes", [])
        if (shape_id is None or s["id"] == shape_id)
        and (not type_filter or any(_type_matches(t["type"], type_filter) for t in s["types"]))
    ]
    if not shapes:
        return []
    rows = []
    for shape in shapes[:limit]:
        sites = ", ".join(_site_text(s) for s in shape.get("sites", [])[:2])
        rows.append(
            [
                shape["id"],
                _count_text(shape, "cycles"),
                _count_text(shape, "objects"),
                _size_text(shape),
                shape["signature"][:80],
                sites,
            ]
        )
    if section.get("shapes_estimated"):
        how = (
            f"estimated: {section.get('analysed_objects', 0)} of {section['total_objects']} "
            "objects analysed (Python fallback), scaled per type, 95% intervals"
        )
    else:
        how = "every cycle analysed"
    headers = ["shape", "cycles", "objects", "per cycle", "shape (edges)", "created at"]
    lines = ["", f"Cycle shapes ({how})", table(rows, headers)]
    if not any(shape.get("sites") for shape in shapes) and "site_method" not in section:
        lines.append("(creation sites need --allocations: tracemalloc records them)")
    return lines


def cycles_section(
    capture: dict[str, Any],
    limit: int | None = TOP_SITES,
    shape: int | None = None,
    type_filter: str | None = None,
) -> list[str]:
    """The cyclic-garbage view (also what `gcscope cycles` prints), optionally filtered."""
    section = capture.get("cycles")
    if section is None:
        return []
    lines = _cycles_headline(section)
    wanted: set[str] | None = None  # the types to show, when filtered
    if shape is not None:
        chosen = [s for s in section.get("shapes", []) if s["id"] == shape]
        wanted = {t["type"] for s in chosen for t in s["types"]}
        lines.append(f"(only shape {shape})")
    if type_filter:
        lines.append(f"(only type {type_filter})")

    def shown(name: str) -> bool:
        if wanted is not None and name not in wanted:
            return False
        return not type_filter or _type_matches(name, type_filter)

    if section["total_objects"]:
        type_rows = [
            [row["type"], row["count"], row.get("in_cycles", "?"), row.get("held_by_cycles", "?")]
            for row in section["by_type"]
            if shown(row["type"])
        ]
        if type_rows:
            lines.append(
                table(type_rows[:limit], ["type", "objects", "in cycles", "only held by cycles"])
            )
        lines += _shape_rows(section, limit, shape, type_filter)
    if "sites" in section:
        lines += _creation_sites(section, limit, shape, shown)
    uncollectable = section.get("uncollectable", {})
    for key, title in (
        ("by_type", "Uncollectable (legacy finalizers: the collector could not free them)"),
        ("parked_by_program", "Parked in gc.garbage by the program (left there, not freed)"),
    ):
        rows = [[r["type"], r["count"]] for r in uncollectable.get(key, []) if shown(r["type"])]
        if rows:
            lines += ["", title, table(rows, ["type", "objects"])]
    return lines


def _creation_sites(
    section: dict[str, Any],
    limit: int | None,
    shape: int | None,
    shown: Callable[[str], bool],
) -> list[str]:
    lines = ["", f"Creation sites ({section.get('site_method', '')})"]
    if shape is not None:
        chosen = [s for s in section.get("shapes", []) if s["id"] == shape]
        rows = [[_site_text(s), s["count"]] for c in chosen for s in c.get("sites", [])]
    else:
        rows = []
        for site in section["sites"]:
            count = sum(t["count"] for t in site.get("types", []) if shown(t["type"]))
            if "types" not in site:
                count = site["count"]
            if count:
                rows.append([_site_text(site), count])
    if rows:
        lines.append(table(rows[:limit], ["site", "objects"]))
    unknown = section.get("sites_unknown")
    if unknown and shape is None:
        known = sum(s["count"] for s in section["sites"])
        lines.append(
            f"  unknown for {unknown} of {known + unknown} objects (allocated before tracing "
            "began, or reused from a free list)"
        )
    return lines


def _events_note(capture: dict[str, Any]) -> list[str]:
    events = capture.get("gc", {}).get("events", {})
    if events.get("dropped"):
        return [
            "",
            f"(timeline keeps the {events.get('kept', 'first')} {events['stored']} of "
            f"{events['total']} collections; "
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
    """The whole text report; the program's text in it (type names, paths, argv) escaped."""
    capture = printable_capture(capture)
    lines: list[str] = []
    for section in SECTIONS:
        lines += section(capture)
    return printable_text("\n".join(lines) + "\n")
