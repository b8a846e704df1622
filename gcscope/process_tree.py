"""Several captures as one run: a process tree, its per-process figures, and its totals.

`gcscope run --follow -o DIR` leaves one capture per process in DIR (and a marker
for each process still running, or killed before it could write one); `gcscope
report DIR`, `report A.json B.json ...`, `check DIR` and `diff DIR DIR` read them
through `load` and `merge`. The merged document (`merge(...)`, `report --format
json`) is data with its own schema (docs/processes.md): per-process rows, totals,
the tree, the top trigger sites across processes, copy-on-write figures, and the
processes that left no capture. `totals_capture` turns the totals into the shape of
one capture, so `check` and `diff` judge a tree with the same rules as one process.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from itertools import pairwise
from typing import Any

from gcscope import capture as capture_io
from gcscope.errors import UsageError
from gcscope.follow import capture_pid, marker_pid, read_marker
from gcscope.stats import nearest_rank

SCHEMA_VERSION = 1
TOP_SITES = 10
ROLE_ORDER = {"main": 0, "forked": 1, "spawned": 2, "subprocess": 3}


class Loaded:
    """Captures read from files and folders, and the markers of processes without one."""

    def __init__(self) -> None:
        self.captures: list[tuple[str, dict[str, Any]]] = []
        self.unfinished: list[dict[str, Any]] = []
        self.sources: list[str] = []


def is_tree_source(paths: list[str]) -> bool:
    """True when `paths` name a run folder or several captures (a merged report)."""
    return len(paths) != 1 or os.path.isdir(paths[0])


def load(paths: list[str], wait_seconds: float = 0.0) -> Loaded:
    """Read every capture in `paths` (capture files, or folders of them).

    In a folder, `*.json` files are captures; `gcscope-<pid>.started` markers without
    a capture are processes still running or killed before they could write one.
    With `wait_seconds`, markers of processes still alive are waited for, that long
    at most (a followed run's stragglers end moments after its main process).
    """
    loaded = Loaded()
    folders = []
    for path in paths:
        loaded.sources.append(path)
        if os.path.isdir(path):
            folders.append(path)
        else:
            loaded.captures.append((path, capture_io.load(path)))
    deadline = time.monotonic() + wait_seconds
    for folder in folders:
        while True:
            names = sorted(os.listdir(folder))
            captured = {capture_pid(name) for name in names} - {None}
            waiting = [
                os.path.join(folder, name)
                for name in names
                if marker_pid(name) is not None and marker_pid(name) not in captured
            ]
            alive = [path for path in waiting if _alive(marker_pid(os.path.basename(path)))]
            if not alive or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        found = 0
        for name in names:
            if name.endswith(".json") and not name.startswith("."):
                path = os.path.join(folder, name)
                loaded.captures.append((path, capture_io.load(path)))
                found += 1
        for path in waiting:
            marker = read_marker(path)
            if marker is not None:
                marker["alive"] = _alive(marker["pid"])
                loaded.unfinished.append(marker)
        if not found:
            raise UsageError(f"{folder}: no gcscope captures in this folder")
    return loaded


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


# -- one process ---------------------------------------------------------------------


def _pauses(capture: dict[str, Any]) -> tuple[list[list[float]], bool]:
    """Pauses in ms by generation, from the stored timeline; and whether that is all of them."""
    events = capture.get("gc", {}).get("events", {})
    columns = events.get("columns", [])
    by_generation: list[list[float]] = [[] for _ in capture["generations"]]
    if "generation" not in columns or "pause_ns" not in columns:
        return by_generation, False
    generation_at, pause_at = columns.index("generation"), columns.index("pause_ns")
    for row in events.get("rows", []):
        generation = int(row[generation_at])
        while generation >= len(by_generation):
            by_generation.append([])
        by_generation[generation].append(row[pause_at] / 1e6)
    complete = not events.get("dropped") and sum(map(len, by_generation)) == sum(
        g["collections"] for g in capture["generations"]
    )
    return by_generation, complete


def _pause_figures(pauses: list[float], total: float, largest: float) -> dict[str, Any]:
    ordered = sorted(pauses)
    return {
        "total": round(total, 4),
        "p50": round(nearest_rank(ordered, 50), 4) if ordered else 0.0,
        "p99": round(nearest_rank(ordered, 99), 4) if ordered else 0.0,
        "max": round(largest, 4),
    }


def memory_figures(capture: dict[str, Any]) -> dict[str, Any] | None:
    """Shared and private memory at the first and last smaps_rollup sample, and how much
    the private part grew in sampling intervals that held a full collection."""
    section = capture.get("memory_sharing")
    if not section or not section.get("samples"):
        return None
    columns = section["columns"]
    at = {name: columns.index(name) for name in columns}

    def private(row: list[float]) -> float:
        return row[at["private_clean"]] + row[at["private_dirty"]]

    def shared(row: list[float]) -> float:
        return row[at["shared_clean"]] + row[at["shared_dirty"]]

    samples = section["samples"]
    first, last = samples[0], samples[-1]
    oldest = len(capture["generations"]) - 1
    full_starts = _event_times(capture, oldest)
    with_full = without_full = 0.0
    for before, after in pairwise(samples):
        change = private(after) - private(before)
        if any(before[0] < t <= after[0] for t in full_starts):
            with_full += change
        else:
            without_full += change
    return {
        "samples": len(samples),
        "shared_start_bytes": shared(first),
        "shared_end_bytes": shared(last),
        "private_start_bytes": private(first),
        "private_end_bytes": private(last),
        "private_growth_bytes": private(last) - private(first),
        "private_growth_in_full_collection_intervals_bytes": with_full,
        "private_growth_elsewhere_bytes": without_full,
        "pss_end_bytes": last[at["pss"]],
        "full_collections": len(full_starts),
    }


def _event_times(capture: dict[str, Any], generation: int) -> list[float]:
    """Start times (s, on the process's clock) of the stored collections of `generation`."""
    events = capture.get("gc", {}).get("events", {})
    columns = events.get("columns", [])
    if "generation" not in columns or "start_ns" not in columns:
        return []
    generation_at, start_at = columns.index("generation"), columns.index("start_ns")
    return [
        row[start_at] / 1e9 for row in events.get("rows", []) if row[generation_at] == generation
    ]


def process_row(path: str, capture: dict[str, Any]) -> dict[str, Any]:
    """One process's figures for the merged report."""
    process = capture.get("process", {})
    generations = capture["generations"]
    pauses, complete = _pauses(capture)
    all_pauses = [pause for generation in pauses for pause in generation]
    total = sum(g["pause_ms"]["total"] for g in generations)
    largest = max((g["pause_ms"]["max"] for g in generations), default=0.0)
    figures = _pause_figures(all_pauses, total, largest)
    if not complete:  # the timeline was capped: the worst generation's figures instead
        figures["p50"] = max((g["pause_ms"]["p50"] for g in generations), default=0.0)
        figures["p99"] = max((g["pause_ms"]["p99"] for g in generations), default=0.0)
    cycles = capture.get("cycles")
    allocations = capture.get("allocations")
    return {
        "pid": process.get("pid"),
        "parent_pid": process.get("parent_pid"),
        "role": process.get("role", "main"),
        "tree_id": process.get("tree", {}).get("id"),
        "capture": path,
        "argv": capture["argv"],
        "start_offset_s": process.get("start_offset_s"),
        "wall_seconds": capture["wall_seconds"],
        "exit_code": capture["exit_code"],
        "ended_by": capture.get("ended_by", "return"),
        "python": capture["python"].get("version"),
        "collections": [g["collections"] for g in generations],
        "collected": sum(g["collected"] for g in generations),
        "uncollectable": sum(g["uncollectable"] for g in generations),
        "pause_ms": figures,
        "percentiles": "all collections" if complete else "worst generation",
        "gc_time_fraction": capture["gc_time_fraction"],
        "peak_rss_bytes": capture.get("peak_rss_bytes"),
        "cyclic_garbage": cycles.get("total_objects") if cycles else None,
        "allocation_growth_bytes": allocations.get("growth_total_bytes") if allocations else None,
        "memory": memory_figures(capture),
        "gc_frozen_at_start": process.get("gc_frozen_at_start", 0),
        "children": process.get("children", {"forked": capture.get("forks", 0), "started": 0}),
        "followed": process.get("followed", False),
    }


# -- the tree ------------------------------------------------------------------------


def merge(loaded: Loaded) -> dict[str, Any]:
    """The merged document: see docs/processes.md for its schema."""
    rows = [process_row(path, capture) for path, capture in loaded.captures]
    mains = [row for row in rows if row["role"] == "main" and row["start_offset_s"] is not None]
    base = min((row["start_offset_s"] for row in mains), default=0.0)
    for row in [*rows, *loaded.unfinished]:
        if row.get("start_offset_s") is not None:
            row["start_offset_s"] = round(row["start_offset_s"] - base, 6)
    rows.sort(key=_order)
    unfinished = sorted(loaded.unfinished, key=_order)
    captures = [capture for _, capture in loaded.captures]
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "gcscope process tree",
        "sources": loaded.sources,
        "processes": rows,
        "unfinished": unfinished,
        "totals": {**_totals(rows, captures), "generations": totals_capture(loaded)["generations"]},
        "tree": tree_of([*rows, *unfinished]),
        "top_sites": top_sites(captures),
        "not_followed": {
            "forked": sum(row["children"].get("forked", 0) for row in rows if not row["followed"]),
            "started": sum(
                row["children"].get("started", 0) for row in rows if not row["followed"]
            ),
        },
    }


def _order(row: dict[str, Any]) -> tuple[Any, ...]:
    offset = row.get("start_offset_s")
    return (offset is None, offset or 0.0, ROLE_ORDER.get(row.get("role", ""), 9), row["pid"] or 0)


def _totals(rows: list[dict[str, Any]], captures: list[dict[str, Any]]) -> dict[str, Any]:
    width = max((len(row["collections"]) for row in rows), default=0)
    pauses: list[float] = []
    for capture in captures:
        by_generation, _ = _pauses(capture)
        pauses += [pause for generation in by_generation for pause in generation]
    gc_seconds = sum(capture.get("gc_time_seconds", 0.0) for capture in captures)
    lifetimes = sum(row["wall_seconds"] for row in rows)
    forked = [row["memory"] for row in rows if row["role"] == "forked" and row["memory"]]
    cyclic = [row["cyclic_garbage"] for row in rows]
    growth = [row["allocation_growth_bytes"] for row in rows]
    peaks = [row["peak_rss_bytes"] for row in rows if row["peak_rss_bytes"]]
    return {
        "processes": len(rows),
        "by_role": {
            role: sum(1 for row in rows if row["role"] == role)
            for role in sorted({row["role"] for row in rows}, key=lambda r: ROLE_ORDER.get(r, 9))
        },
        "collections": [
            sum(row["collections"][g] for row in rows if g < len(row["collections"]))
            for g in range(width)
        ],
        "collected": sum(row["collected"] for row in rows),
        "uncollectable": sum(row["uncollectable"] for row in rows),
        "pause_ms": _pause_figures(
            pauses,
            sum(row["pause_ms"]["total"] for row in rows),
            max((row["pause_ms"]["max"] for row in rows), default=0.0),
        ),
        "gc_time_seconds": round(gc_seconds, 6),
        "lifetime_seconds": round(lifetimes, 6),
        "gc_time_fraction": round(gc_seconds / lifetimes, 6) if lifetimes else 0.0,
        "peak_rss_bytes_max": max(peaks, default=None),
        "peak_rss_bytes_sum": sum(peaks) if peaks else None,
        "cyclic_garbage": None if None in cyclic or not cyclic else sum(cyclic),  # type: ignore[arg-type]
        "allocation_growth_bytes": None if None in growth or not growth else sum(growth),  # type: ignore[arg-type]
        "forked_private_growth_bytes": sum(m["private_growth_bytes"] for m in forked)
        if forked
        else None,
    }


def tree_of(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Nested {pid, role, children} from parent links; a process whose parent is not
    among them (the main process, or a child of an unfollowed one) is a root."""
    nodes = {row["pid"]: {"pid": row["pid"], "role": row["role"], "children": []} for row in rows}
    roots = []
    for row in rows:
        parent = nodes.get(row.get("parent_pid"))
        if parent is not None and parent is not nodes[row["pid"]]:
            parent["children"].append(nodes[row["pid"]])
        else:
            roots.append(nodes[row["pid"]])
    return roots


def _frame_key(frame: dict[str, Any] | None) -> tuple[Any, ...] | None:
    if not frame:
        return None
    return (frame.get("filename"), frame.get("lineno"), frame.get("function"))


def top_sites(captures: list[dict[str, Any]], limit: int = TOP_SITES) -> list[dict[str, Any]]:
    """Trigger sites summed across processes, by total pause."""
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for capture in captures:
        pid = capture.get("process", {}).get("pid")
        for site in capture.get("gc", {}).get("sites", []):
            key = (_frame_key(site.get("program")), _frame_key(site.get("where")))
            entry = merged.setdefault(
                key,
                {
                    "program": site.get("program"),
                    "where": site.get("where"),
                    "collections": 0,
                    "collections_by_generation": [],
                    "pause_ms": {"total": 0.0, "max": 0.0},
                    "pids": [],
                },
            )
            entry["collections"] += site["collections"]
            by_generation = entry["collections_by_generation"]
            for g, count in enumerate(site.get("collections_by_generation", [])):
                if g >= len(by_generation):
                    by_generation.append(0)
                by_generation[g] += count
            entry["pause_ms"]["total"] = round(
                entry["pause_ms"]["total"] + site["pause_ms"]["total"], 4
            )
            entry["pause_ms"]["max"] = max(entry["pause_ms"]["max"], site["pause_ms"]["max"])
            if pid not in entry["pids"]:
                entry["pids"].append(pid)
    ordered = sorted(merged.values(), key=lambda entry: -entry["pause_ms"]["total"])
    return ordered[:limit]


def totals_capture(loaded: Loaded) -> dict[str, Any]:
    """The whole tree in the shape of one capture, for `check` and `diff`.

    Per generation: collections, objects and total pause are summed; max is the
    longest pause of any process; percentiles are over every process's collections
    (the worst process's when a timeline was capped). GC time share is total pause
    over the processes' summed lifetimes; peak RSS is the largest process's (RSS
    counts shared pages in every process that maps them, so a sum would not be the
    tree's memory); cyclic garbage and allocation growth are sums, present only when
    every capture has them.
    """
    captures = [capture for _, capture in loaded.captures]
    if not captures:
        raise UsageError("no captures to merge")
    width = max(len(capture["generations"]) for capture in captures)
    pauses: list[list[float]] = [[] for _ in range(width)]
    complete = True
    for capture in captures:
        by_generation, whole = _pauses(capture)
        complete = complete and whole
        for g, values in enumerate(by_generation[:width]):
            pauses[g] += values
    generations = []
    for g in range(width):
        entries = [c["generations"][g] for c in captures if g < len(c["generations"])]
        count = sum(e["collections"] for e in entries)
        total = sum(e["pause_ms"]["total"] for e in entries)
        ordered = sorted(pauses[g])

        def rank(
            percent: int, key: str, ordered: list[float] = ordered, entries: list[Any] = entries
        ) -> float:
            if complete:
                return round(nearest_rank(ordered, percent), 4) if ordered else 0.0
            return max((e["pause_ms"][key] for e in entries), default=0.0)

        generations.append(
            {
                "generation": g,
                "collections": count,
                "collected": sum(e["collected"] for e in entries),
                "uncollectable": sum(e["uncollectable"] for e in entries),
                "pause_ms": {
                    "total": round(total, 4),
                    "mean": round(total / count, 4) if count else 0.0,
                    "p50": rank(50, "p50"),
                    "p95": rank(95, "p95"),
                    "p99": rank(99, "p99"),
                    "max": max((e["pause_ms"]["max"] for e in entries), default=0.0),
                },
            }
        )
    main = next(
        (c for c in captures if c.get("process", {}).get("role", "main") == "main"), captures[0]
    )
    gc_seconds = sum(capture.get("gc_time_seconds", 0.0) for capture in captures)
    lifetimes = sum(capture["wall_seconds"] for capture in captures)
    peaks = [c["peak_rss_bytes"] for c in captures if c.get("peak_rss_bytes")]
    total: dict[str, Any] = {
        "schema_version": main["schema_version"],
        "argv": main["argv"],
        "exit_code": main["exit_code"],
        "python": main["python"],
        "wall_seconds": main["wall_seconds"],
        "gc_time_seconds": round(gc_seconds, 6),
        "gc_time_fraction": round(gc_seconds / lifetimes, 6) if lifetimes else 0.0,
        "generations": generations,
        "peak_rss_bytes": max(peaks, default=None),
        "processes": len(captures),
    }
    if all("cycles" in capture for capture in captures):
        total["cycles"] = {
            "total_objects": sum(c["cycles"]["total_objects"] for c in captures),
            "by_type": _merge_counts(c["cycles"].get("by_type", []) for c in captures),
            "uncollectable": {
                "by_type": _merge_counts(
                    c["cycles"].get("uncollectable", {}).get("by_type", []) for c in captures
                )
            },
        }
    if all("growth_total_bytes" in capture.get("allocations", {}) for capture in captures):
        growth = [site for c in captures for site in c["allocations"].get("growth", [])]
        growth.sort(key=lambda site: -site.get("size_diff_bytes", 0))
        total["allocations"] = {
            "growth_total_bytes": sum(c["allocations"]["growth_total_bytes"] for c in captures),
            "growth": growth[:TOP_SITES],
        }
    return total


def _merge_counts(tables: Iterable[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    counts: dict[str, int] = {}
    for table in tables:
        for row in table:
            counts[row["type"]] = counts.get(row["type"], 0) + row["count"]
    return [{"type": name, "count": n} for name, n in sorted(counts.items(), key=lambda i: -i[1])]
