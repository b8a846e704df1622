"""`gcscope cycles`: the cyclic-garbage tables of a capture, and pictures of its cycles.

`--shape` and `--type` narrow the tables and the picture alike.
"""

from __future__ import annotations

from typing import Any

from gcscope import capture as capture_io
from gcscope.errors import UsageError


def execute(
    path: str,
    graph_path: str | None,
    shape: int | None,
    type_filter: str | None,
    max_nodes: int,
) -> str:
    data = capture_io.load(path)
    if "cycles" not in data:
        raise UsageError(f"{path}: no cyclic-garbage data (record it with 'gcscope run --cycles')")
    shapes = data["cycles"].get("shapes", [])
    if shape is not None and not any(s.get("id") == shape for s in shapes):
        known = f"shapes 0 to {len(shapes) - 1}" if shapes else "no shapes"
        raise UsageError(f"no shape {shape} in {path} ({known})")
    from gcscope.reporters.text import cycles_section

    lines = cycles_section(data, limit=None, shape=shape, type_filter=type_filter)
    text = "\n".join(lines).lstrip("\n") + "\n"
    if graph_path is not None:
        from gcscope import graph

        graphs = graph.select_graphs(data, shape, type_filter, max_nodes)
        if not graphs:
            raise UsageError(_nothing_to_draw(data, shape, type_filter))
        dot_text, drawn = graph.drawing(data, graphs, max_nodes)
        graph.render(dot_text, graph_path)
        text += (
            f"\ngcscope: drew {len(graphs)} example cycle(s), {drawn['objects']} objects, "
            f"to {graph_path}\n"
        )
    return text


def _nothing_to_draw(data: dict[str, Any], shape: int | None, type_filter: str | None) -> str:
    if not data["cycles"].get("graphs"):
        return "no example cycles in this capture: the program made no cyclic garbage"
    what = f"shape {shape}" if shape is not None else f"type {type_filter!r}"
    return f"no stored example cycle matches {what}"
