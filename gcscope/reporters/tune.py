"""`gcscope tune`'s table and recommendation, rendered from its result document.

Program-controlled text (paths, argv, source lines, the program's stderr) is shown
with control characters escaped, so it cannot drive the terminal.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from gcscope.reporters.formatting import short_path, table
from gcscope.tuning.analysis import METRICS, show

COLUMNS = [name for name, _ in METRICS]
HEADERS = dict(METRICS)


def clean(text: object) -> str:
    """Printable text only: control characters become escapes."""
    return "".join(
        ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode("ascii")
        for ch in str(text)
    )


def _cell(metric: str, row: dict[str, Any]) -> str:
    summary = row["metrics"].get(metric)
    if summary is None:
        return "n/a"
    value = summary["median"]
    if metric == "peak_rss_bytes":
        text = show(metric, value)
    elif metric == "gc_share":
        text = f"{value * 100:.1f}"
    elif metric.endswith("_ms"):
        text = f"{value:.2f}"
    else:
        text = f"{value:.3f}"
    change = (row.get("change") or {}).get(metric)
    if change is None:
        return text
    if change["within_noise"]:
        return f"{text} ~"
    relative = change["relative"]
    if relative is None:
        return text
    digits = 1 if abs(relative) < 0.01 else 0  # -0.3%, not -0%
    return f"{text} {relative * 100:+.{digits}f}%"


def _collections(row: dict[str, Any], metrics: list[str]) -> str:
    counts = []
    for metric in metrics:
        if metric.startswith("collections_gen"):
            summary = row["metrics"].get(metric)
            counts.append("?" if summary is None else f"{summary['median']:.0f}")
    return "/".join(counts)


def _coverage(result: dict[str, Any]) -> str:
    for row in result["candidates"]:
        for change in (row.get("change") or {}).values():
            if change:
                return f"{change['difference']['coverage'] * 100:.0f}%"
    return "95%"


def render_text(result: dict[str, Any]) -> str:
    python = result["python"]
    generations = sum(1 for m in result["metrics"] if m.startswith("collections_gen"))
    lines = [
        f"gcscope tune: {clean(shlex.join(result['argv']))}",
        f"Python {python['version']} ({python['collector']} collector, thresholds "
        f"{'/'.join(str(v) for v in python['default_threshold'])}): "
        f"{python['thresholds_mean']}",
        f"{result['repeats']} rounds after a warm-up round, the candidates alternating; "
        "medians; +N% is the median change against the default over paired rounds, "
        f"~ means within noise (its {_coverage(result)} interval includes no change)",
        "",
    ]
    headers = ["candidate", *(HEADERS[m] for m in COLUMNS)]
    headers.append("collections " + "/".join(f"g{i}" for i in range(generations)))
    rows = [
        [row["name"], *(_cell(m, row) for m in COLUMNS), _collections(row, result["metrics"])]
        for row in result["candidates"]
    ]
    lines.append(table(rows, headers))
    lines.append("")
    lines += _recommendation(result)
    lines += _notes(result)
    return "\n".join(lines) + "\n"


def _recommendation(result: dict[str, Any]) -> list[str]:
    decision = result["recommendation"]
    limits = ", ".join(
        f"--{b['option'].replace('_', '-')} {b['text']} ({show(b['metric'], b['bound'])})"
        for b in decision["bounds"]
    )
    lines = [f"Goal: {decision['goal']}" + (f"; limits: {limits}" if limits else "")]
    if decision["keep_default"]:
        lines.append(f"Recommendation: keep the default: {clean(decision['reason'])}")
    else:
        lines.append(f"Recommendation: {decision['candidate']}: {clean(decision['reason'])}")
        lines += [f"    {clean(line)}" for line in decision["snippet"]]
        lines += [f"  {clean(line)}" for line in decision["environment"]]
    if decision["excluded"]:
        lines.append("Not eligible:")
        for name, reasons in decision["excluded"].items():
            lines.append(f"  {name}: {clean('; '.join(reasons))}")
    return lines


def _notes(result: dict[str, Any]) -> list[str]:
    lines = []
    freeze = result["freeze_point"]
    frozen_rows = [row for row in result["candidates"] if row.get("freeze_record")]
    if freeze["mode"]:
        text = f"Freeze point: {clean(freeze['where'])}"
        record = frozen_rows[0]["freeze_record"] if frozen_rows else None
        if record and record["runs_frozen"]:
            sites = ", ".join(clean(short_path(site)) for site in record["sites"][:2])
            text += (
                f"; froze {record['objects']['median']:,.0f} objects at {sites}, "
                f"{record['seconds']['median']:.3f} s into the run (medians)"
            )
        lines.append(text)
    cycles = result.get("cyclic_garbage")
    if cycles and cycles.get("known"):
        lines.append(
            f"Cyclic garbage (a --cycles run of the default): {cycles['total_objects']:,} "
            f"objects, {cycles['second_half_objects']:,} in the second half of the run"
            + (f" ({clean(cycles['types'])})" if cycles["types"] else "")
        )
    for warning in result["warnings"]:
        lines.append(f"WARNING: {clean(warning)}")
    folder = clean(short_path(result["folder"]))
    lines.append(
        f"Results: {folder}/tune.json, and a capture per run beside it "
        "(gcscope report reads each, e.g. default-r1.json)"
    )
    medians = {row["name"]: row["median_capture"] for row in result["candidates"]}
    chosen = result["recommendation"]["candidate"]
    other = (
        chosen
        if chosen != "default"
        else next((row["name"] for row in result["candidates"][1:] if row["median_capture"]), None)
    )
    if medians.get("default") and other and medians.get(other):
        base, new = (clean(short_path(medians[name])) for name in ("default", other))
        lines.append(f"Median runs side by side: gcscope diff {base} {new}")
    return lines


def render(result: dict[str, Any], report_format: str) -> str:
    if report_format == "json":
        return json.dumps(result, indent=2) + "\n"
    return render_text(result)
