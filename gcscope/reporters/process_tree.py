"""The text report of several processes: what `gcscope run --follow` prints and
`gcscope report DIR` re-prints, from the merged document of `gcscope.process_tree`.

Sections, each a function from the merged document to lines: header, per-process
table with totals, the process tree, copy-on-write (shared and private memory of
forked processes), collections by generation across processes, top trigger sites
across processes, and the processes that left no capture or were not followed.
Text the program controls (argv, file names) goes through `printable`, so it cannot
move the cursor or recolour a terminal.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

from gcscope.reporters.formatting import human_bytes, ms, site_labels, table

ARGV_WIDTH = 70


def printable(text: str) -> str:
    """`text` with control characters (escape sequences, newlines) shown as escapes."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def command_line(argv: list[str], width: int = ARGV_WIDTH) -> str:
    line = printable(shlex.join(argv))
    return line if len(line) <= width else line[: width - 3] + "..."


def _seconds(value: float | None) -> str:
    return "?" if value is None else f"{value:.3f}"


def _generations_text(counts: list[int]) -> str:
    return "/".join(str(n) for n in counts)


def _header(tree: dict[str, Any]) -> list[str]:
    rows = tree["processes"]
    totals = tree["totals"]
    main = next((row for row in rows if row["role"] == "main"), rows[0])
    roles = ", ".join(f"{n} {role}" for role, n in totals["by_role"].items())
    pause = totals["pause_ms"]
    return [
        f"gcscope: {len(rows)} processes ({roles}) of {command_line(main['argv'])}",
        f"Python {main['python']}, main process: wall {main['wall_seconds']:.3f} s, "
        f"exit {main['exit_code']}"
        + (f", {main['ended_by']}" if main["ended_by"] != "return" else ""),
        f"GC in all processes: {sum(totals['collections'])} collections "
        f"({_generations_text(totals['collections'])} by generation), "
        f"{pause['total']:.3f} ms paused = {totals['gc_time_fraction'] * 100:.2f}% of their "
        f"{totals['lifetime_seconds']:.3f} s of lifetime",
    ]


def _processes(tree: dict[str, Any]) -> list[str]:
    rows = tree["processes"]
    width = max((len(row["collections"]) for row in rows), default=3)
    generations = "/".join(str(g) for g in range(width))
    table_rows = []
    for row in rows:
        pause = row["pause_ms"]
        memory = row["memory"]
        table_rows.append(
            [
                row["role"],
                row["pid"],
                row["parent_pid"] if row["parent_pid"] is not None else "",
                _seconds(row["start_offset_s"]),
                _seconds(row["wall_seconds"]),
                _generations_text(row["collections"]),
                ms(pause["p50"]),
                ms(pause["p99"]),
                ms(pause["max"]),
                f"{row['gc_time_fraction'] * 100:.2f}",
                human_bytes(row["peak_rss_bytes"]),
                human_bytes(memory["private_growth_bytes"]) if memory else "",
                "" if row["cyclic_garbage"] is None else row["cyclic_garbage"],
                f"{row['exit_code']}"
                + (f" {row['ended_by']}" if row["ended_by"] != "return" else ""),
            ]
        )
    totals = tree["totals"]
    pause = totals["pause_ms"]
    table_rows.append(
        [
            "total",
            totals["processes"],
            "",
            "",
            _seconds(totals["lifetime_seconds"]),
            _generations_text(totals["collections"]),
            ms(pause["p50"]),
            ms(pause["p99"]),
            ms(pause["max"]),
            f"{totals['gc_time_fraction'] * 100:.2f}",
            human_bytes(totals["peak_rss_bytes_max"]) + " max",
            human_bytes(totals["forked_private_growth_bytes"])
            if totals["forked_private_growth_bytes"] is not None
            else "",
            "" if totals["cyclic_garbage"] is None else totals["cyclic_garbage"],
            "",
        ]
    )
    headers = [
        "role",
        "pid",
        "parent",
        "start s",
        "life s",
        f"gen {generations}",
        "p50 ms",
        "p99 ms",
        "max ms",
        "GC %",
        "peak RSS",
        "private +",
        "cyclic",
        "exit",
    ]
    lines = ["", "Processes (start on the main process's clock; pauses over all collections)"]
    lines.append(table(table_rows, headers))
    if any(row["percentiles"] != "all collections" for row in rows):
        lines.append("(a capped timeline: that process's p50/p99 are its worst generation's)")
    return lines


def _tree(tree: dict[str, Any]) -> list[str]:
    by_pid = {row["pid"]: row for row in [*tree["processes"], *tree["unfinished"]]}
    if len(by_pid) < 2:
        return []
    lines = ["", "Process tree"]

    def walk(node: dict[str, Any], prefix: str, last: bool, top: bool) -> None:
        row = by_pid[node["pid"]]
        branch = "" if top else ("`-- " if last else "|-- ")
        note = "" if "capture" in row else "  (no capture)"
        lines.append(
            f"{prefix}{branch}{row['role']} {row['pid']}  {command_line(row.get('argv', []))}{note}"
        )
        children = node["children"]
        extension = "" if top else ("    " if last else "|   ")
        for position, child in enumerate(children):
            walk(child, prefix + extension, position == len(children) - 1, False)

    for root in tree["tree"]:
        walk(root, "", True, True)
    return lines


def _sharing(tree: dict[str, Any]) -> list[str]:
    rows = [row for row in tree["processes"] if row["memory"] and row["role"] == "forked"]
    if not rows:
        return []
    table_rows = []
    for row in rows:
        memory = row["memory"]
        table_rows.append(
            [
                row["role"],
                row["pid"],
                human_bytes(memory["shared_start_bytes"]),
                human_bytes(memory["private_start_bytes"]),
                human_bytes(memory["private_end_bytes"]),
                human_bytes(memory["private_growth_bytes"]),
                human_bytes(memory["private_growth_in_full_collection_intervals_bytes"]),
                memory["full_collections"],
                row["gc_frozen_at_start"],
            ]
        )
    headers = [
        "role",
        "pid",
        "shared at start",
        "private at start",
        "private at end",
        "growth",
        "growth near full GCs",
        "full GCs",
        "frozen at start",
    ]
    return [
        "",
        "Memory sharing (smaps_rollup; a forked process starts with its parent's pages shared,",
        "and every page it writes becomes private: a full collection writes to every tracked",
        "object it visits unless the parent moved them out of reach with gc.freeze())",
        table(table_rows, headers),
        "(growth near full GCs: in sampling intervals that held a full collection)",
    ]


def _generations(tree: dict[str, Any]) -> list[str]:
    rows = []
    for g in tree["totals"]["generations"]:
        pause = g["pause_ms"]
        rows.append(
            [
                g["generation"],
                g["collections"],
                g["collected"],
                g["uncollectable"],
                ms(pause["total"]),
                ms(pause["p50"]),
                ms(pause["p99"]),
                ms(pause["max"]),
            ]
        )
    headers = ["gen", "collections", "collected", "uncollectable", "total ms"]
    headers += ["p50 ms", "p99 ms", "max ms"]
    return ["", "Collections by generation, all processes", table(rows, headers)]


def _sites(tree: dict[str, Any]) -> list[str]:
    sites = tree["top_sites"]
    if not sites:
        return []
    rows = []
    for site in sites:
        program, via = site_labels(site)
        rows.append(
            [
                printable(program),
                len(site["pids"]),
                site["collections"],
                _generations_text(site["collections_by_generation"]),
                ms(site["pause_ms"]["total"]),
                ms(site["pause_ms"]["max"]),
                printable(via),
            ]
        )
    headers = [
        "program line",
        "processes",
        "collections",
        "by generation",
        "total ms",
        "max ms",
        "innermost frame",
    ]
    return ["", "Top trigger sites across processes, by total pause", table(rows, headers)]


def _missing(tree: dict[str, Any]) -> list[str]:
    lines = []
    for row in tree["unfinished"]:
        state = (
            "still running"
            if row.get("alive")
            else "ended without writing a capture (killed by SIGKILL, or a crash)"
        )
        lines.append(
            f"pid {row['pid']} ({row['role']}, parent {row['parent_pid']}) {state}: "
            f"{command_line(row.get('argv', []))}"
        )
    if lines:
        lines.insert(0, "")
        lines.insert(1, "Processes without a capture")
    skipped = tree["not_followed"]
    count = skipped["forked"] + skipped["started"]
    if count:
        lines += [
            "",
            f"Not followed: {count} child processes ({skipped['forked']} forked, "
            f"{skipped['started']} started by fork-and-exec) ran unmeasured; "
            "`gcscope run --follow -o DIR` measures them",
        ]
    return lines


SECTIONS: list[Callable[[dict[str, Any]], list[str]]] = [
    _header,
    _processes,
    _tree,
    _sharing,
    _generations,
    _sites,
    _missing,
]


def render(tree: dict[str, Any]) -> str:
    lines: list[str] = []
    for section in SECTIONS:
        lines += section(tree)
    return "\n".join(lines) + "\n"
