"""The HTML report: one self-contained page for one or more captures.

Everything the page needs is inside it: uPlot (vendored from npm with its licence,
`assets/`), gcscope's own script and style, the figures as JSON, and the cycle
pictures as `data:` URIs; it opens from `file://` with no network. Jinja2 renders
the page with autoescaping on, so program-controlled text (paths, type names,
attribute names, argv) is always text; the chart data goes into a
`<script type="application/json">` element through Jinja's `tojson`, which escapes
`<`, `>`, `&` and `'`, so no string in it can end the element.

Several captures are shown side by side, one column each, on the same axes (time,
pause, RSS and histogram ranges are shared).
"""

from __future__ import annotations

import bisect
import json
import math
import shlex
from functools import cache
from importlib import resources
from typing import Any

from gcscope import __version__
from gcscope.reporters.cycle_pictures import draw_shapes
from gcscope.reporters.formatting import (
    allocation_site_label,
    cycle_warnings,
    human_bytes,
    short_path,
    site_labels,
)

TOP_ROWS = 20  # rows of the allocation and type tables
TOP_SHAPES = 4  # cycle shapes drawn
BUCKETS_PER_DECADE = 10  # pause histogram: bucket edges at 10^(k/10) ms
SMALLEST_PAUSE_MS = 1e-4  # 100 ns: a pause the clock reports as 0 lands in the first bucket
STEADY_CHARTS = 6


@cache
def _asset(name: str) -> str:
    return (resources.files("gcscope.reporters") / "assets" / name).read_text(encoding="utf-8")


def milliseconds(value: float) -> str:
    """3 decimals, or 3 significant digits below 0.1 ms (young collections take µs)."""
    if value <= 0 or value >= 0.1:
        return f"{value:.3f}"
    return f"{value:.{2 - math.floor(math.log10(value))}f}"


def _environment():  # type: ignore[no-untyped-def]
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("gcscope.reporters", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.policies["json.dumps_kwargs"] = {"separators": (",", ":"), "allow_nan": False}
    environment.filters["bytes"] = human_bytes
    environment.filters["ms"] = milliseconds
    environment.filters["thousands"] = lambda value: f"{value:,}"
    return environment


# -- header and warnings ---------------------------------------------------------------


def _warnings(capture: dict[str, Any]) -> list[str]:
    """What the reader must know before trusting the figures."""
    warnings = []
    gc_section = capture.get("gc", {})
    stats = gc_section.get("get_stats") or {}
    if stats and not stats.get("reconciled", True):
        mismatches = "; ".join(stats.get("mismatches", []))
        warnings.append(f"The gc callback's counts disagree with gc.get_stats(): {mismatches}")
    if gc_section.get("callback") == "Python" and "cycles" not in capture:
        warnings.append(
            "Recorded by the Python gc callback (the C recorder was not built, or "
            "GCSCOPE_CALLBACK=python): about 19,000 more instructions per collection "
            "than the C recorder's 1,100."
        )
    events = gc_section.get("events", {})
    if events.get("dropped"):
        warnings.append(
            f"The timeline keeps the first {events['stored']:,} of {events['total']:,} "
            f"collections ({events['dropped']:,} past the --max-events cap are not drawn); "
            "tables and percentiles cover all of them."
        )
    if gc_section.get("callback_errors"):
        warnings.append(f"The gc callback failed {gc_section['callback_errors']} times.")
    warnings += [f"{w[0].upper()}{w[1:]}." for w in cycle_warnings(capture.get("cycles") or {})]
    ended = capture.get("ended_by", "return")
    if ended == "exception":
        warnings.append(
            f"The program ended with an uncaught {capture.get('exception') or 'error'}."
        )
    elif ended == "interrupt":
        warnings.append("The program was interrupted (Ctrl-C).")
    return warnings


def _header(capture: dict[str, Any]) -> dict[str, Any]:
    python = capture["python"]
    generations = capture["generations"]
    gc_ms = sum(g["pause_ms"]["total"] for g in generations)
    gc_section = capture.get("gc", {})
    return {
        "command": shlex.join(capture["argv"]),
        "argv": capture["argv"],
        "cwd": capture.get("cwd", ""),
        "started_at": capture.get("started_at", ""),
        "python": f"Python {python.get('version', '?')}",
        "collector": f"{python.get('collector', '?')} collector",
        "callback": gc_section.get("callback", ""),
        "wall_s": capture["wall_seconds"],
        "peak_rss": human_bytes(capture.get("peak_rss_bytes")),
        "gc_ms": gc_ms,
        "gc_share": capture["gc_time_fraction"] * 100,
        "collections": sum(g["collections"] for g in generations),
        "by_generation": "/".join(str(g["collections"]) for g in generations),
        "generation_names": "/".join(str(g["generation"]) for g in generations),
        "exit_code": capture["exit_code"],
        "ended_by": capture.get("ended_by", "return"),
        "tool_version": capture.get("tool", {}).get("version", ""),
    }


# -- tables ----------------------------------------------------------------------------


def _site_rows(capture: dict[str, Any]) -> list[dict[str, Any]]:
    width = len(capture["generations"])
    rows = []
    for site in capture.get("gc", {}).get("sites", []):
        program, innermost = site_labels(site)
        by_generation = list(site["collections_by_generation"][:width])
        by_generation += [0] * (width - len(by_generation))
        rows.append(
            {
                "program": program,
                "innermost": innermost,
                "collections": site["collections"],
                "by_generation": by_generation,
                "total_ms": site["pause_ms"]["total"],
                "max_ms": site["pause_ms"]["max"],
                "mean_ms": site["pause_ms"]["total"] / site["collections"]
                if site["collections"]
                else 0.0,
            }
        )
    return rows


def _alloc_site(site: dict[str, Any]) -> str:
    return allocation_site_label(site, " ← ")


def _allocations(capture: dict[str, Any]) -> dict[str, Any] | None:
    section = capture.get("allocations")
    if not section:
        return None
    view: dict[str, Any] = {
        "frames": section.get("frames"),
        "snapshots": section.get("snapshots"),
        "started_by": section.get("started_by"),
        "error": section.get("error", ""),
        "total_size": human_bytes(section.get("total_size_bytes")),
        "total_count": section.get("total_count", 0),
        "growth_total": human_bytes(section.get("growth_total_bytes")),
        "top": [
            {"site": _alloc_site(s), "size": human_bytes(s["size_bytes"]), "count": s["count"]}
            for s in section.get("top_sites", [])[:TOP_ROWS]
        ],
        "growth": [
            {
                "site": _alloc_site(s),
                "size": human_bytes(s["size_diff_bytes"]),
                "count": f"{s['count_diff']:+d}",
            }
            for s in section.get("growth", [])[:TOP_ROWS]
            if s["size_diff_bytes"] > 0
        ],
        "steady": None,
    }
    steady = section.get("steady_growth")
    if steady is not None:
        view["steady"] = [
            {
                "site": _alloc_site(s),
                "growth": human_bytes(s["size_diff_bytes"]),
                "intervals": s["intervals"],
            }
            for s in steady[:TOP_ROWS]
        ]
    return view


def _types(capture: dict[str, Any]) -> dict[str, Any] | None:
    if "type_growth" not in capture:
        return None
    sizes = capture.get("type_sizes") or {}
    return {
        "growth": capture["type_growth"][:TOP_ROWS],
        "sizes": [
            {"type": t["type"], "count": t["count"], "size": human_bytes(t["size_bytes"])}
            for t in sizes.get("types", [])[:TOP_ROWS]
        ],
        "sizes_estimated": sizes.get("sampled_every") if sizes.get("estimated") else None,
    }


def _cycles(capture: dict[str, Any]) -> dict[str, Any] | None:
    section = capture.get("cycles")
    if section is None:
        return None
    by_type = section.get("by_type", [])
    largest = max((row["count"] for row in by_type), default=0) or 1
    shapes = section.get("shapes", [])
    pictures, pictures_note = ([], "")
    if section.get("graphs"):
        pictures, pictures_note = draw_shapes(
            capture, [shape["id"] for shape in shapes[:TOP_SHAPES]]
        )
    uncollectable = section.get("uncollectable") or {}
    return {
        "total": section.get("total_objects", 0),
        "by_type": [
            {"type": row["type"], "count": row["count"], "share": row["count"] / largest}
            for row in by_type
        ],
        "shapes": [
            {
                "id": shape.get("id"),
                "cycles": shape.get("cycles"),
                "objects": shape.get("objects"),
                "signature": shape.get("signature", ""),
                "sites": ", ".join(
                    f"{short_path(s['filename'])}:{s['lineno']}" for s in shape.get("sites", [])[:2]
                ),
            }
            for shape in shapes
        ],
        "shapes_estimated": bool(section.get("shapes_estimated")),
        "pictures": pictures,
        "pictures_note": pictures_note,
        "sites": [
            {"site": f"{short_path(s['filename'])}:{s['lineno']}", "count": s["count"]}
            for s in section.get("sites", [])[:TOP_ROWS]
        ]
        if "sites" in section
        else None,
        "site_method": section.get("site_method", ""),
        "sites_unknown": section.get("sites_unknown", 0),
        "uncollectable": uncollectable.get("by_type", []),
        "parked": uncollectable.get("parked_by_program", []),
    }


# -- chart data (JSON for the page's script) --------------------------------------------


def _event_columns(capture: dict[str, Any]) -> dict[str, list[Any]]:
    table = capture.get("gc", {}).get("events", {})
    names = table.get("columns", [])
    rows = table.get("rows", [])
    columns: dict[str, list[Any]] = {name: [] for name in names}
    if rows:
        for name, values in zip(names, zip(*rows)):
            columns[name] = list(values)
    return columns


def _bucket_edges(captures: list[dict[str, Any]]) -> list[float]:
    """Shared log-spaced pause buckets (ms) covering every stored pause of every capture."""
    pauses = [
        p / 1e6
        for capture in captures
        for p in _event_columns(capture).get("pause_ns", [])
        if p is not None
    ]
    pauses += [  # the percentile marks too: past the event cap they may lie beyond the stored
        g["pause_ms"][key]
        for capture in captures
        for g in capture["generations"]
        if g["collections"]
        for key in ("p50", "max")
    ]
    if not pauses:
        return []
    low = math.floor(math.log10(max(min(pauses), SMALLEST_PAUSE_MS)) * BUCKETS_PER_DECADE) - 1
    high = math.ceil(math.log10(max(max(pauses), SMALLEST_PAUSE_MS)) * BUCKETS_PER_DECADE) + 1
    high = max(high, low + 1)
    return [10 ** (k / BUCKETS_PER_DECADE) for k in range(low, high + 1)]


def _histogram(pauses_ms: list[float], edges: list[float]) -> list[int]:
    counts = [0] * (len(edges) - 1)
    for pause in pauses_ms:
        # bucket i holds (edges[i], edges[i+1]]; anything at or below the first edge goes in 0
        position = bisect.bisect_left(edges, pause) - 1
        counts[min(max(position, 0), len(counts) - 1)] += 1
    return counts


def _histogram_range(edges: list[float], charts: list[dict[str, Any]], g: int) -> list[float]:
    """The x range of generation g's histograms: its buckets in use (and its percentile
    marks) in every capture, at least a decade wide."""
    if not edges:
        return [0.01, 1.0]
    used = [
        index
        for chart in charts
        if g < len(chart["generations"])
        for index, count in enumerate(chart["generations"][g]["counts"])
        if count
    ]
    marks = [
        bisect.bisect_left(edges, max(chart["generations"][g]["pause_ms"][key], SMALLEST_PAUSE_MS))
        - 1
        for chart in charts
        if g < len(chart["generations"]) and chart["generations"][g]["collections"]
        for key in ("p50", "max")
    ]
    if not used and not marks:
        return [edges[0], edges[-1]]
    low = max(min(used + marks) - 1, 0)  # a bucket of room on each side
    high = min(max(used + marks) + 2, len(edges) - 1)
    while high - low < BUCKETS_PER_DECADE:  # widen evenly to a decade, within the edges
        if low > 0:
            low -= 1
        if high - low < BUCKETS_PER_DECADE and high < len(edges) - 1:
            high += 1
        if low == 0 and high == len(edges) - 1:
            break
    return [edges[low], edges[high]]


def _chart_data(label: str, capture: dict[str, Any], edges: list[float]) -> dict[str, Any]:
    columns = _event_columns(capture)
    sites = [
        dict(zip(("program", "innermost"), site_labels(site)))
        for site in capture.get("gc", {}).get("sites", [])
    ]
    generations = []
    for entry in capture["generations"]:
        g = entry["generation"]
        pauses = [
            p / 1e6
            for p, gen in zip(columns.get("pause_ns", []), columns.get("generation", []))
            if gen == g
        ]
        generations.append(
            {
                "generation": g,
                "collections": entry["collections"],
                "stored": len(pauses),
                "pause_ms": entry["pause_ms"],
                "counts": _histogram(pauses, edges) if edges else [],
            }
        )
    samples = capture.get("rss", {}).get("samples", [])
    allocations = capture.get("allocations") or {}
    times = allocations.get("snapshot_times_s") or []
    steady = [
        {
            "site": _alloc_site(s),
            "t": times[: len(s["sizes_bytes"])],
            "bytes": s["sizes_bytes"][: len(times)],
        }
        for s in (allocations.get("steady_growth") or [])[:STEADY_CHARTS]
        if s.get("sizes_bytes")
    ]
    return {
        "label": label,
        "wall_s": capture["wall_seconds"],
        "events": {
            "start_ns": columns.get("start_ns", []),
            "generation": columns.get("generation", []),
            "pause_ns": columns.get("pause_ns", []),
            "collected": columns.get("collected", []),
            "uncollectable": columns.get("uncollectable", []),
            "site": columns.get("site", []),
        },
        "sites": sites,
        "rss": {"t": [t for t, _ in samples], "bytes": [b for _, b in samples]},
        "generations": generations,
        "steady": steady,
    }


def page_data(captures: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Everything the page's script draws, with shared axis ranges across captures."""
    edges = _bucket_edges([capture for _, capture in captures])
    charts = [_chart_data(label, capture, edges) for label, capture in captures]
    pauses = [p for chart in charts for p in chart["events"]["pause_ns"] if p is not None]
    generation_count = max(len(capture["generations"]) for _, capture in captures)
    time_max = max(
        max(
            [chart["wall_s"], *chart["rss"]["t"][-1:]]
            + [
                (start + pause) / 1e9
                for start, pause in zip(
                    chart["events"]["start_ns"][-1:], chart["events"]["pause_ns"][-1:]
                )
            ]
        )
        for chart in charts
    )
    histogram_max = [
        max(
            (
                max(chart["generations"][g]["counts"], default=0)
                for chart in charts
                if g < len(chart["generations"])
            ),
            default=0,
        )
        for g in range(generation_count)
    ]
    return {
        "captures": charts,
        "histogram_edges_ms": edges,
        "limits": {
            "time_s": time_max,
            "pause_ms": max(pauses, default=0) / 1e6,
            "pause_min_ms": min(pauses, default=0) / 1e6,
            "rss_bytes": max((b for chart in charts for b in chart["rss"]["bytes"]), default=0),
            "histogram_count": histogram_max,
            "histogram_range_ms": [
                _histogram_range(edges, charts, g) for g in range(generation_count)
            ],
        },
        "generation_count": generation_count,
    }


def _view(label: str, capture: dict[str, Any]) -> dict[str, Any]:
    """What the template shows of one capture (tables, header, warnings)."""
    return {
        "label": label,
        "header": _header(capture),
        "warnings": _warnings(capture),
        "generations": capture["generations"],
        "percentiles_bucketed": capture.get("gc", {}).get("percentiles", "").endswith("buckets"),
        "forced": sum(capture.get("gc", {}).get("forced_by_gcscope", [])),
        "sites": _site_rows(capture),
        "python_version": capture["python"].get("version", "0.0"),
        "rss_samples": len(capture.get("rss", {}).get("samples", [])),
        "events": capture.get("gc", {}).get("events", {}),
        "allocations": _allocations(capture),
        "types": _types(capture),
        "cycles": _cycles(capture),
    }


def render(captures: list[tuple[str, dict[str, Any]]]) -> str:
    """The page for (label, capture) pairs: labels name the columns (usually file names)."""
    pin = json.loads(_asset("uplot.json"))
    views = [_view(label, capture) for label, capture in captures]
    template = _environment().get_template("report.html.j2")
    return template.render(
        title=" vs ".join(view["header"]["command"] for view in views),
        views=views,
        data=page_data(captures),
        generation_names=[
            g["generation"] for g in max((c["generations"] for _, c in captures), key=len)
        ],
        has_allocations=any(view["allocations"] for view in views),
        has_types=any(view["types"] for view in views),
        has_cycles=any(view["cycles"] for view in views),
        uplot_js=_asset("uPlot.iife.min.js"),
        uplot_css=_asset("uPlot.min.css"),
        report_js=_asset("report.js"),
        report_css=_asset("report.css"),
        uplot_version=pin["version"],
        uplot_license=_asset("uPlot.LICENSE"),
        gcscope_version=__version__,
    )
