"""Trace Event Format JSON (Chrome's `chrome://tracing`, Perfetto's ui.perfetto.dev).

One process per capture, with:

* a "program" thread holding one complete ("X") slice for the program's wall span;
* a "GC" thread holding one complete slice per stored collection, named after its
  generation, with collected/uncollectable/trigger site as args;
* an "RSS" counter ("C"), one value per sample, in bytes;
* process and thread names as metadata ("M") events.

Timestamps and durations are microseconds from the run's start, with the capture's
nanoseconds kept as decimals (Perfetto reads them back to the nanosecond). Slices on
one thread must nest (the format's rule, which Perfetto enforces); collections never
overlap, but should two stored ones touch after rounding, the later one starts where
the earlier ended.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from gcscope.reporters.formatting import site_labels

PROGRAM_TID = 1
GC_TID = 2


def _us(nanoseconds: float) -> float:
    return round(nanoseconds / 1000.0, 3)


def capture_events(capture: dict[str, Any], pid: int, label: str) -> list[dict[str, Any]]:
    """The trace events of one capture, as process `pid`."""
    command = shlex.join(capture["argv"])
    events: list[dict[str, Any]] = [
        {"name": "process_name", "ph": "M", "pid": pid, "tid": 0, "args": {"name": label}},
        _thread_name(pid, PROGRAM_TID, "program"),
        _thread_name(pid, GC_TID, "GC"),
        {
            "name": command,
            "cat": "program",
            "ph": "X",
            "ts": 0,
            "dur": _us(capture["wall_seconds"] * 1e9),
            "pid": pid,
            "tid": PROGRAM_TID,
            "args": {"exit_code": capture["exit_code"], "ended_by": capture.get("ended_by", "")},
        },
    ]
    sites = [site_labels(site) for site in capture.get("gc", {}).get("sites", [])]
    table = capture.get("gc", {}).get("events", {})
    column = {name: index for index, name in enumerate(table.get("columns", []))}
    previous_end = 0.0
    for row in table.get("rows", []):
        start = max(_us(row[column["start_ns"]]), previous_end)
        duration = _us(row[column["pause_ns"]])
        previous_end = start + duration
        site = row[column["site"]]
        trigger, innermost = sites[site] if site is not None and site < len(sites) else ("", "")
        args: dict[str, Any] = {
            "generation": row[column["generation"]],
            "collected": row[column["collected"]],
            "uncollectable": row[column["uncollectable"]],
            "trigger": trigger or "(beyond the first 1,000 sites)",
        }
        if innermost:
            args["innermost"] = innermost
        events.append(
            {
                "name": f"gen {row[column['generation']]}",
                "cat": "gc",
                "ph": "X",
                "ts": start,
                "dur": duration,
                "pid": pid,
                "tid": GC_TID,
                "args": args,
            }
        )
    for seconds, rss_bytes in capture.get("rss", {}).get("samples", []):
        events.append(
            {
                "name": "RSS",
                "cat": "memory",
                "ph": "C",
                "ts": _us(seconds * 1e9),
                "pid": pid,
                "tid": PROGRAM_TID,
                "args": {"bytes": rss_bytes},
            }
        )
    return events


def _thread_name(pid: int, tid: int, name: str) -> dict[str, Any]:
    return {"name": "thread_name", "ph": "M", "pid": pid, "tid": tid, "args": {"name": name}}


def render(captures: list[tuple[str, dict[str, Any]]]) -> str:
    """The trace of one or more (label, capture) pairs; each capture is its own process."""
    events: list[dict[str, Any]] = []
    for number, (label, capture) in enumerate(captures, start=1):
        events += capture_events(capture, number, f"gcscope: {label}")
    document = {
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": {"generator": "gcscope", "captures": [label for label, _ in captures]},
    }
    return json.dumps(document, separators=(",", ":")) + "\n"
