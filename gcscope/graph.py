"""Cycle pictures: DOT text from a capture's stored example cycles, rendered by Graphviz.

The DOT follows objgraph's conventions (boxes labelled with the type and a short
description, edges labelled with the attribute, key or index), but is written
from the capture alone: the objects are long gone, and objgraph's own renderers
call the objects' `__repr__`, which hostile objects make unsafe.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

from gcscope.errors import UsageError

GRAPHVIZ_HINT = (
    "Graphviz's 'dot' is not installed: install it (apt-get install graphviz, "
    "brew install graphviz) or write a .dot file instead"
)
FORMATS = {".dot": None, ".gv": None, ".png": "png", ".svg": "svg", ".pdf": "pdf"}


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def select_graphs(
    capture: dict[str, Any], shape: int | None, type_filter: str | None, max_nodes: int
) -> list[dict[str, Any]]:
    """The stored example cycles to draw, filtered by shape id or type, capped in nodes."""
    graphs = capture.get("cycles", {}).get("graphs", [])
    chosen = []
    shapes_drawn: set[int] = set()
    total = 0
    for graph in graphs:
        if shape is not None and graph["shape"] != shape:
            continue
        if shape is None and graph["shape"] in shapes_drawn:
            continue  # one example per shape unless a shape is asked for
        shapes_drawn.add(graph["shape"])
        if type_filter and not any(
            node["type"] == type_filter or node["type"].rsplit(".", 1)[-1] == type_filter
            for node in graph["nodes"]
        ):
            continue
        if total + len(graph["nodes"]) > max_nodes and chosen:
            break
        chosen.append(graph)
        total += len(graph["nodes"])
    return chosen


def to_dot(capture: dict[str, Any], graphs: list[dict[str, Any]], max_nodes: int) -> str:
    shapes = capture.get("cycles", {}).get("shapes", [])
    lines = [
        "digraph ReferenceCycles {",
        "  node[shape=box, style=filled, fillcolor=white, fontname=Helvetica];",
        "  edge[fontname=Helvetica, fontsize=10];",
    ]
    drawn = 0
    for number, graph in enumerate(graphs):
        shape = shapes[graph["shape"]] if graph["shape"] < len(shapes) else {}
        title = f"shape {graph['shape']}: {shape.get('cycles', '?')} cycles"
        lines.append(f"  subgraph cluster_{number} {{")
        lines.append(f'    label="{_quote(title)}"; color=gray;')
        for node in graph["nodes"]:
            if drawn >= max_nodes:
                break
            drawn += 1
            label = f"{node['label']}\n{node['size']} bytes"
            lines.append(f'    n{number}_{node["id"]} [label="{_quote(label)}"];')
        ids = {node["id"] for node in graph["nodes"]}
        for source, target, label in graph["edges"]:
            if source in ids and target in ids:
                lines.append(
                    f'    n{number}_{source} -> n{number}_{target} [label="{_quote(label)}"];'
                )
        if graph.get("truncated"):
            lines.append(f'    n{number}_more [label="...", shape=plaintext];')
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(dot_text: str, path: str) -> None:
    """Write `path`: the DOT itself, or PNG/SVG/PDF through Graphviz's `dot`."""
    extension = os.path.splitext(path)[1].lower()
    if extension not in FORMATS:
        raise UsageError(f"cannot draw {path!r}: use a .dot, .png, .svg or .pdf file name")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"cannot write {path!r}: folder {folder!r} does not exist")
    output_format = FORMATS[extension]
    if output_format is None:
        try:
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(dot_text)
        except OSError as exc:
            raise UsageError(f"cannot write {path!r}: {exc.strerror or exc}") from None
        return
    dot = shutil.which("dot")
    if dot is None:
        raise UsageError(GRAPHVIZ_HINT)
    result = subprocess.run(
        [dot, f"-T{output_format}", "-o", path],
        input=dot_text.encode(),
        capture_output=True,
        timeout=120,
    )
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip().splitlines()
        raise UsageError(f"dot failed to draw {path!r}: {message[0] if message else 'error'}")
