"""`gcscope cycles`: the cyclic-garbage table of a capture, and pictures of its cycles."""

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
    from gcscope.reporters.formatting import printable_capture, printable_text
    from gcscope.reporters.text import cycles_section

    shown = printable_capture(data)  # type names and paths are the program's text
    text = printable_text("\n".join(cycles_section(shown, limit=None)).lstrip("\n") + "\n")
    if graph_path is not None:
        from gcscope import graph

        graphs = graph.select_graphs(data, shape, type_filter, max_nodes)
        if not graphs:
            raise UsageError(_nothing_to_draw(data, shape, type_filter))
        graph.render(graph.to_dot(data, graphs, max_nodes), graph_path)
        nodes = sum(min(len(g["nodes"]), max_nodes) for g in graphs)
        text += (
            f"\ngcscope: drew {len(graphs)} example cycle(s), {nodes} objects, to {graph_path}\n"
        )
    return text


def _nothing_to_draw(data: dict[str, Any], shape: int | None, type_filter: str | None) -> str:
    if not data["cycles"].get("graphs"):
        return "no example cycles in this capture: the program made no cyclic garbage"
    what = f"shape {shape}" if shape is not None else f"type {type_filter!r}"
    return f"no stored example cycle matches {what}"
