"""The text report: what `gcscope run` prints and `gcscope report` re-prints.

Each section is a function from the capture to lines; a section whose data is
not in the capture (allocations, cycles) prints nothing.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

from gcscope.reporters.formatting import frame_label, human_bytes, ms, table

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
    ]


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
        program, where = site["program"], site["where"]
        via = "" if where == program else frame_label(where)
        by_gen = "/".join(str(n) for n in site["collections_by_generation"][:width])
        rows.append(
            [
                frame_label(program),
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


def _events_note(capture: dict[str, Any]) -> list[str]:
    events = capture.get("gc", {}).get("events", {})
    if events.get("dropped"):
        return [
            "",
            f"(timeline keeps the first {events['stored']} of {events['total']} collections; "
            "aggregates above cover all of them)",
        ]
    return []


SECTIONS: list[Callable[[dict[str, Any]], list[str]]] = [
    _header,
    _generations,
    _trigger_sites,
    _memory,
    _events_note,
]


def render(capture: dict[str, Any]) -> str:
    lines: list[str] = []
    for section in SECTIONS:
        lines += section(capture)
    return "\n".join(lines) + "\n"
