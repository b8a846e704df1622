"""The capture's `cycles` section, from a harvest's results (C or Python, same form).

Runs once, after the program, so it may allocate freely. Shapes are signatures of
types and type-to-type edges (up to multiplicity), so one pattern is one row with a
range of sizes; their edge labels come from the few labelled example components kept
per signature. The C harvest analyses every batch: every count is exact. The Python
fallback analyses a sample of whole batches; its shape counts are then scaled per type
from the exact by-type counts (`objects of T in shape S = died[T] x sampled[S, T] /
sampled[T]`, so shapes never claim more objects of a type than died) and carry a 95%
interval (Wilson's, on the sampled share of the shape's main type).
"""

from __future__ import annotations

import math
import re

from gcscope.paths import PACKAGE_DIR

TYPE_CHECKING = False  # imported into the program's process (after it ends): no typing
if TYPE_CHECKING:
    from typing import Any

MAX_SHAPE_ROWS = 500
SITES_PER_SHAPE = 10
TOP_SITES = 50
Z95 = 1.959964
_INDEX_LABEL = re.compile(r"\[\d+\]\Z")


def short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def edge_label_text(labels: list[str], more: bool) -> str:
    """One edge's labels as one string: `partner`, `a|b`, `[i]` for several indexes."""
    if not labels:
        return ""
    if all(_INDEX_LABEL.match(label) for label in labels) and (len(labels) > 1 or more):
        return "[i]"
    return "|".join(labels) + ("|..." if more else "")


def signature_text(edges: list[dict[str, Any]]) -> str:
    parts = []
    for edge in sorted(edges, key=lambda e: (short(e["source"]), e["label"], short(e["target"]))):
        label = edge["label"]
        arrow = f" -{label}-> " if label else " -> "
        parts.append(short(edge["source"]) + arrow + short(edge["target"]))
    return "; ".join(parts)[:300] or "(no edges)"


def wilson(successes: int, trials: int) -> tuple[float, float]:
    """95% Wilson score interval of a proportion."""
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    z2 = Z95 * Z95
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = Z95 * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


def _rows(names: list[str], counts: list[int]) -> list[dict[str, Any]]:
    rows = [{"type": names[i], "count": n} for i, n in enumerate(counts) if n > 0]
    return sorted(rows, key=lambda row: (-row["count"], row["type"]))


class _Sites:
    """Creation sites by their text (file, line): tracemalloc may hand out equal names twice.

    gcscope makes none of the program's objects, so a trace in gcscope's own files is a
    block the program got from a free list after gcscope freed it: the site is unknown.
    """

    def __init__(self, sites: list[tuple[str, int]]) -> None:
        self.key = [(str(filename), int(lineno)) for filename, lineno in sites]
        self.own = {
            i for i, (filename, _) in enumerate(self.key) if filename.startswith(PACKAGE_DIR)
        }

    def rows(self, counts: dict[tuple[str, int], int], limit: int) -> list[dict[str, Any]]:
        ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
        return [{"filename": f, "lineno": n, "count": c} for (f, n), c in ordered]


def cycles_section(
    results: dict[str, Any],
    *,
    harvest: str,
    freed_with: str,
    final_harvest_missed: bool,
    site_method: str | None,
    callback_removed: bool = False,
) -> dict[str, Any]:
    names: list[str] = results["names"]
    by_type: list[int] = results["by_type"]
    total = results["total_objects"]
    sampled = bool(results.get("sampled"))
    analysed = results.get("analysed_by_type")
    if analysed is None:  # the C harvest analyses every batch, or none (counts only)
        analysed = by_type if results["analysed_objects"] == total else [0] * len(by_type)
    in_cycles_sampled: list[int] = results["in_cycles_by_type"]
    section: dict[str, Any] = {
        "harvest": harvest,
        "total_objects": total,
        "harvests": results["harvests"],
        "freed_with": freed_with,
        "unsaved_collections": results["unsaved_collections"],
        "final_harvest_missed": final_harvest_missed,
        "callback_removed": callback_removed,
        "after_end": {
            "collections": results["after_end_collections"],
            "objects": results["after_end_objects"],
        },
        "harvest_errors": results["errors"],
        "analysed_objects": results["analysed_objects"],
        "shapes_estimated": sampled,
        "uncollectable": {
            "by_type": _rows(names, results["uncollectable"]),
            "parked_by_program": _rows(names, results["parked"]),
        },
    }
    # by type: how many died, how many of those were in cycles, how many only held by them
    type_rows = []
    in_cycles_total = held_total = 0.0
    for i, died in enumerate(by_type):
        if died <= 0:
            continue
        row: dict[str, Any] = {"type": names[i], "count": died}
        if analysed[i]:
            share = died / analysed[i]
            row["in_cycles"] = round(in_cycles_sampled[i] * share)
            row["held_by_cycles"] = died - row["in_cycles"]
            in_cycles_total += row["in_cycles"]
            held_total += row["held_by_cycles"]
        type_rows.append(row)
    type_rows.sort(key=lambda row: (-row["count"], row["type"]))
    section["by_type"] = type_rows
    section["in_cycles"] = round(in_cycles_total)
    section["held_by_cycles"] = round(held_total)
    section["not_analysed"] = total - section["in_cycles"] - section["held_by_cycles"]
    sites = _Sites(results.get("sites", []))
    shapes = [
        _shape(signature, names, by_type, analysed, sampled, sites)
        for signature in results["signatures"]
    ]
    if sampled:
        _cap_types(shapes, dict(zip(names, by_type)))
    other = results["other"]
    if other["cycles"]:
        shapes.append(_other_shape(other, names))
    shapes.sort(key=lambda shape: (shape["other"], -shape["objects"], shape["signature"]))
    if len(shapes) > MAX_SHAPE_ROWS:
        shapes = [*shapes[: MAX_SHAPE_ROWS - 1], _merged(shapes[MAX_SHAPE_ROWS - 1 :])]
    section["cycles"] = sum(shape["cycles"] for shape in shapes)
    section["shapes"] = []
    section["graphs"] = []
    for number, shape in enumerate(shapes):
        examples = shape.pop("examples")
        shape.pop("other")
        section["shapes"].append({"id": number, **shape})
        for example in examples:
            section["graphs"].append(_graph(number, example, names))
    if site_method is not None:
        per_site: dict[tuple[str, int], int] = {}
        types_at: dict[tuple[str, int], dict[str, int]] = {}
        unknown = results["sites_unknown"]
        for site, name, count in results.get("site_types", []):
            if site in sites.own:
                unknown += count
                continue
            key = sites.key[site]
            per_site[key] = per_site.get(key, 0) + count
            kinds = types_at.setdefault(key, {})
            kinds[names[name]] = kinds.get(names[name], 0) + count
        rows = sites.rows(per_site, TOP_SITES)
        for row in rows:
            kinds = types_at[(row["filename"], row["lineno"])]
            row["types"] = [
                {"type": kind, "count": count}
                for kind, count in sorted(kinds.items(), key=lambda item: -item[1])[:10]
            ]
        section["sites"] = rows
        section["sites_unknown"] = unknown
        section["site_method"] = site_method
    return section


def _shape(
    signature: dict[str, Any],
    names: list[str],
    by_type: list[int],
    analysed: list[int],
    sampled: bool,
    sites: _Sites,
) -> dict[str, Any]:
    edges = []
    for source, target, labels, more in signature["edges"]:
        edges.append(
            {
                "source": names[source],
                "target": names[target],
                "labels": list(labels),
                "label": edge_label_text(list(labels), bool(more)),
            }
        )
    types = {names[t]: count for t, count in signature["types"]}
    cycles, objects = signature["cycles"], signature["objects"]
    shape: dict[str, Any] = {
        "signature": signature_text(edges),
        "cycles": cycles,
        "objects": objects,
        "size": {"min": signature["min_size"], "max": signature["max_size"]},
        "estimated": False,
    }
    if sampled:  # scaled by the type most particular to this shape, with its interval
        main_index, main_count = max(
            signature["types"],
            key=lambda item: (item[1] / max(analysed[item[0]], 1), item[1]),
        )
        factor = by_type[main_index] / max(analysed[main_index], 1)
        low, high = wilson(main_count, analysed[main_index])
        low_factor = low * by_type[main_index] / main_count
        high_factor = high * by_type[main_index] / main_count
        types = {names[index]: count * factor for index, count in signature["types"]}
        shape["cycles"] = round(cycles * factor)
        shape["objects"] = round(objects * factor)
        shape["estimated"] = True
        shape["sampled"] = {"cycles": cycles, "objects": objects}
        shape["cycles_interval"] = [
            math.floor(cycles * low_factor),
            math.ceil(cycles * high_factor),
        ]
        shape["objects_interval"] = [
            math.floor(objects * low_factor),
            math.ceil(objects * high_factor),
        ]
    shape["types"] = [
        {"type": kind, "count": count}
        for kind, count in sorted(types.items(), key=lambda item: (-item[1], item[0]))
    ]
    shape["edges"] = edges
    per_site: dict[tuple[str, int], int] = {}
    for site, count in signature.get("sites", []):
        if site in sites.own:
            continue
        key = sites.key[site]
        per_site[key] = per_site.get(key, 0) + count
    if per_site:
        shape["sites"] = sites.rows(per_site, SITES_PER_SHAPE)
    shape["examples"] = signature["examples"]
    shape["other"] = False
    return shape


def _cap_types(shapes: list[dict[str, Any]], died: dict[str, int]) -> None:
    """Scaled shapes never claim more objects of a type than died: scale down where they do."""
    claimed: dict[str, float] = {}
    for shape in shapes:
        for row in shape["types"]:
            claimed[row["type"]] = claimed.get(row["type"], 0.0) + row["count"]
    for shape in shapes:
        if not shape["estimated"]:
            continue
        for row in shape["types"]:
            over = claimed[row["type"]] / died[row["type"]] if died.get(row["type"]) else 1.0
            row["count"] = round(row["count"] / over) if over > 1.0 else round(row["count"])
        shape["objects"] = min(shape["objects"], sum(row["count"] for row in shape["types"]))


def _other_shape(other: dict[str, Any], names: list[str]) -> dict[str, Any]:
    types = sorted(((names[t], count) for t, count in other["types"]), key=lambda item: -item[1])
    return {
        "signature": "(other shapes: too many kinds to keep apart)",
        "cycles": other["cycles"],
        "objects": other["objects"],
        "size": {"min": other["min_size"], "max": other["max_size"]},
        "estimated": False,
        "types": [{"type": kind, "count": count} for kind, count in types],
        "edges": [],
        "examples": [],
        "other": True,
    }


def _merged(shapes: list[dict[str, Any]]) -> dict[str, Any]:
    types: dict[str, int] = {}
    for shape in shapes:
        for row in shape["types"]:
            types[row["type"]] = types.get(row["type"], 0) + row["count"]
    return {
        "signature": f"(other shapes: {len(shapes)} smaller kinds)",
        "cycles": sum(s["cycles"] for s in shapes),
        "objects": sum(s["objects"] for s in shapes),
        "size": {
            "min": min(s["size"]["min"] for s in shapes),
            "max": max(s["size"]["max"] for s in shapes),
        },
        "estimated": any(s["estimated"] for s in shapes),
        "types": [
            {"type": kind, "count": count}
            for kind, count in sorted(types.items(), key=lambda item: -item[1])
        ],
        "edges": [],
        "examples": [],
        "other": True,
    }


def _graph(shape: int, example: dict[str, Any], names: list[str]) -> dict[str, Any]:
    nodes = [
        {"id": i, "type": names[name], "label": label, "size": size}
        for i, (name, label, size) in enumerate(example["nodes"])
    ]
    return {
        "shape": shape,
        "nodes": nodes,
        "edges": [[source, target, label] for source, target, label in example["edges"]],
        "cut": [[node, count] for node, count in example["cut"]],
        "component_objects": example["size"],
        "truncated": example["size"] > len(nodes),
    }
