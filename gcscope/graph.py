"""Cycle pictures: DOT text from a capture's stored example cycles, rendered by Graphviz.

The DOT follows objgraph's conventions (boxes labelled with the type and a short
description, edges labelled with the attribute, key or index), but is written from
the capture alone: the objects are long gone, and objgraph's own renderers call the
objects' `__repr__`, which hostile objects make unsafe.

A capture is data a program controlled (type names, attribute names, dict keys), and
may have been edited by anyone. So: every DOT id is made here (`n<graph>_<k>`), never
taken from the capture; every label is escaped; an edge is drawn only between nodes
declared here; no attribute that makes links (`URL`, `href`...) is ever written, and an
SVG is stripped of any link Graphviz might still make. Drawing is bounded: at most
`max_nodes` objects and `EDGES_PER_DRAWN_NODE` edges per drawn object, and Graphviz gets
`DOT_TIMEOUT` seconds before it is stopped with a clear error.

A component larger than what is drawn is cut cleanly: a connected part of it, breadth
first, and one "... N more" node standing for the rest, with the edges that lead there.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import Any

from gcscope.errors import UsageError

GRAPHVIZ_HINT = (
    "Graphviz's 'dot' is not installed: install it (apt-get install graphviz, "
    "brew install graphviz) or write a .dot file instead"
)
FORMATS = {".dot": None, ".gv": None, ".png": "png", ".svg": "svg", ".pdf": "pdf"}
DOT_TIMEOUT = 60.0  # seconds; GCSCOPE_DOT_TIMEOUT overrides it
MAX_EDGES_PER_NODE = 40
EDGES_PER_DRAWN_NODE = 4  # on average, over the whole picture
MAX_LABEL = 60
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"


def _text(value: Any, limit: int = MAX_LABEL) -> str:
    """Capture text made safe to show: a string, no control characters, bounded."""
    text = _CONTROL.sub("?", value if isinstance(value, str) else str(value))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _quote(text: str) -> str:
    """A DOT double-quoted string's content (escString: backslash escapes are live)."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _short(name: Any) -> str:
    return _text(name).rsplit(".", 1)[-1]


def _type_matches(name: Any, wanted: str) -> bool:
    return isinstance(name, str) and (name == wanted or name.rsplit(".", 1)[-1] == wanted)


def shape_has_type(shape: dict[str, Any], wanted: str) -> bool:
    return any(_type_matches(row.get("type"), wanted) for row in shape.get("types", []))


def _graph_nodes(graph: dict[str, Any]) -> list[dict[str, Any]]:
    nodes = graph.get("nodes")
    return [node for node in nodes if isinstance(node, dict)] if isinstance(nodes, list) else []


def select_graphs(
    capture: dict[str, Any], shape: int | None, type_filter: str | None, max_nodes: int
) -> list[dict[str, Any]]:
    """The stored example cycles to draw: one per shape (all of one `shape`), by `type`.

    Stops adding examples once `max_nodes` objects are drawn; the first one is always
    taken (`to_dot` cuts it down to `max_nodes`).
    """
    section = capture.get("cycles", {})
    shapes = {s.get("id"): s for s in section.get("shapes", []) if isinstance(s, dict)}
    chosen = []
    shapes_drawn: set[Any] = set()
    total = 0
    for graph in section.get("graphs", []):
        if not isinstance(graph, dict):
            continue
        number = graph.get("shape")
        if shape is not None and number != shape:
            continue
        if shape is None and number in shapes_drawn:
            continue  # one example per shape unless a shape is asked for
        if type_filter and not (
            shape_has_type(shapes.get(number, {}), type_filter)
            or any(_type_matches(node.get("type"), type_filter) for node in _graph_nodes(graph))
        ):
            continue
        size = len(_graph_nodes(graph))
        if chosen and total + size > max_nodes:
            break
        shapes_drawn.add(number)
        chosen.append(graph)
        total += size
    return chosen


class _Drawing:
    """DOT lines, with every id made here."""

    def __init__(self, max_nodes: int) -> None:
        self.lines: list[str] = []
        self.budget = max_nodes
        self.edge_budget = max(200, EDGES_PER_DRAWN_NODE * max_nodes)
        self.drawn_nodes = 0
        self.drawn_edges = 0
        self.dropped_edges = 0

    def graph(self, number: int, graph: dict[str, Any], shape: dict[str, Any]) -> None:
        nodes = _graph_nodes(graph)
        ids: dict[Any, int] = {}  # the capture's node id -> position (the capture's ids only key)
        for position, node in enumerate(nodes):
            key = node.get("id", position)
            try:
                ids.setdefault(key, position)
            except TypeError:  # an unhashable id: the node cannot be an edge's end
                continue
        edges = []
        for edge in graph.get("edges", []) if isinstance(graph.get("edges"), list) else []:
            if not isinstance(edge, (list, tuple)) or len(edge) < 2:
                continue
            try:
                source, target = ids.get(edge[0]), ids.get(edge[1])
            except TypeError:
                continue
            if source is not None and target is not None:
                edges.append((source, target, _text(edge[2], 40) if len(edge) > 2 else ""))
        cut_out: dict[int, int] = {}  # stored edges leaving the example, per node
        for entry in graph.get("cut", []) if isinstance(graph.get("cut"), list) else []:
            if isinstance(entry, (list, tuple)) and len(entry) == 2:
                try:
                    position = ids.get(entry[0])
                except TypeError:
                    continue
                if position is not None and isinstance(entry[1], int) and entry[1] > 0:
                    cut_out[position] = cut_out.get(position, 0) + entry[1]
        kept = self._kept(len(nodes), edges)
        if not kept:
            return
        component = graph.get("component_objects")
        if not isinstance(component, int) or component < len(nodes):
            component = len(nodes)
        more = component - len(kept)
        for source, target, _label in edges:  # edges into the part not drawn
            if source in kept and target not in kept:
                cut_out[source] = cut_out.get(source, 0) + 1
        prefix = f"n{number}_"
        self.lines.append(f"  subgraph cluster_{number} {{")
        title = _title(shape, graph, component)
        self.lines.append(f'    label="{_quote(title)}"; labeljust=l; color=gray;')
        for position in sorted(kept):
            node = nodes[position]
            label = _text(node.get("label", _short(node.get("type", "?"))))
            size = node.get("size")
            if isinstance(size, int) and not isinstance(size, bool):
                label += f"\n{size} bytes"
            self.lines.append(f'    {prefix}{position} [label="{_quote(label)}"];')
        self.drawn_nodes += len(kept)
        self._edges(prefix, [(s, t, label) for s, t, label in edges if s in kept and t in kept])
        if more > 0:
            self.lines.append(
                f'    {prefix}more [label="{_quote(f"... {more} more objects")}", '
                "shape=box, style=dashed];"
            )
            for position in sorted(p for p in cut_out if p in kept):
                count = cut_out[position]
                text = f"x{count}" if count > 1 else ""
                self.lines.append(
                    f'    {prefix}{position} -> {prefix}more [style=dashed, label="{text}"];'
                )
        self.lines.append("  }")

    def _kept(self, count: int, edges: list[tuple[int, int, str]]) -> set[int]:
        """Which nodes to draw: all that fit the budget, breadth first from the first one."""
        room = self.budget - self.drawn_nodes
        if room <= 0 or count == 0:
            return set()
        if count <= room:
            return set(range(count))
        neighbours: dict[int, list[int]] = {}
        for source, target, _label in edges:
            neighbours.setdefault(source, []).append(target)
            neighbours.setdefault(target, []).append(source)
        order, seen = [0], {0}
        for node in order:
            for other in neighbours.get(node, []):
                if other not in seen and len(order) < room:
                    seen.add(other)
                    order.append(other)
            if len(order) >= room:
                break
        for node in range(count):  # a disconnected example: fill with the rest, in order
            if len(order) >= room:
                break
            if node not in seen:
                seen.add(node)
                order.append(node)
        return seen

    def _edges(self, prefix: str, edges: list[tuple[int, int, str]]) -> None:
        """One line per pair of objects: parallel labels joined, two-way pairs as one arrow."""
        labels: dict[tuple[int, int], list[str]] = {}
        for source, target, label in edges:
            kept = labels.setdefault((source, target), [])
            if label not in kept:
                kept.append(label)
        per_node: dict[int, int] = {}
        done: set[tuple[int, int]] = set()
        for (source, target), names in labels.items():
            if (source, target) in done:
                continue
            full = self.drawn_edges >= self.edge_budget
            if full or per_node.get(source, 0) >= MAX_EDGES_PER_NODE:
                self.dropped_edges += 1
                continue
            per_node[source] = per_node.get(source, 0) + 1
            text = _quote(_text(", ".join(n for n in names if n), 40))
            back = labels.get((target, source)) if source != target else None
            done.add((source, target))
            if back is not None:  # A.x is B and B.y is A: one arrow, each label at its owner
                done.add((target, source))
                back_text = _quote(_text(", ".join(n for n in back if n), 40))
                self.lines.append(
                    f"    {prefix}{source} -> {prefix}{target} [dir=both, minlen=2, "
                    f'taillabel="{text}", headlabel="{back_text}"];'
                )
            else:
                self.lines.append(f'    {prefix}{source} -> {prefix}{target} [label="{text}"];')
            self.drawn_edges += 1


def _count(value: Any, noun: str) -> str:
    return f"{_text(value, 20)} {noun}" + ("" if value == 1 else "s")


def _title(shape: dict[str, Any], graph: dict[str, Any], component: int) -> str:
    cycles, objects = shape.get("cycles", "?"), shape.get("objects", "?")
    about = "~" if shape.get("estimated") else ""
    lines = [
        f"shape {_text(graph.get('shape', '?'), 12)}: {_text(shape.get('signature', ''), 80)}",
        f"{about}{_count(cycles, 'cycle')}, {about}{_count(objects, 'object')}; "
        f"this one: {_count(component, 'object')}",
    ]
    sites = shape.get("sites")
    if isinstance(sites, list) and sites and isinstance(sites[0], dict):
        site = sites[0]
        path = _text(site.get("filename", "?"), 200)
        line = _text(site.get("lineno"), 10)
        lines.append(f"created at {_text(os.path.basename(path), 60)}:{line}")
    return "\n".join(lines) + "\n"


def to_dot(capture: dict[str, Any], graphs: list[dict[str, Any]], max_nodes: int) -> str:
    """The DOT text of `graphs` (from `select_graphs`), at most `max_nodes` boxes of objects."""
    return drawing(capture, graphs, max_nodes)[0]


def drawing(
    capture: dict[str, Any], graphs: list[dict[str, Any]], max_nodes: int
) -> tuple[str, dict[str, int]]:
    """(DOT text, {"objects": boxes drawn, "edges": arrows drawn, "dropped_edges": ...})."""
    section = capture.get("cycles", {})
    shapes = {s.get("id"): s for s in section.get("shapes", []) if isinstance(s, dict)}
    drawn = _Drawing(max_nodes)
    for number, graph in enumerate(graphs):
        drawn.graph(number, graph, shapes.get(graph.get("shape"), {}))
    total = section.get("total_objects", "?")
    title = f"gcscope: reference cycles ({_text(total, 20)} objects died in cyclic garbage)"
    if drawn.dropped_edges:
        title += f"; {drawn.dropped_edges} edges not drawn"
    lines = [
        "digraph ReferenceCycles {",
        f'  label="{_quote(title)}"; labelloc=t; fontname=Helvetica;',
        "  node[shape=box, style=filled, fillcolor=white, fontname=Helvetica];",
        "  edge[fontname=Helvetica, fontsize=10, labelfontsize=10, labeldistance=1.8,"
        " labelangle=40];",
        *drawn.lines,
        "}",
    ]
    figures = {
        "objects": drawn.drawn_nodes,
        "edges": drawn.drawn_edges,
        "dropped_edges": drawn.dropped_edges,
    }
    return "\n".join(lines) + "\n", figures


def _without_links(svg: bytes) -> bytes:
    """The SVG with every link removed: no href of any namespace, <a> turned into <g>."""
    import xml.etree.ElementTree as ElementTree

    ElementTree.register_namespace("", SVG_NS)
    ElementTree.register_namespace("xlink", XLINK_NS)
    try:
        root = ElementTree.fromstring(svg)
    except ElementTree.ParseError as exc:
        raise UsageError(f"Graphviz wrote an SVG gcscope cannot check: {exc}") from None
    for element in root.iter():
        if element.tag in (f"{{{SVG_NS}}}a", "a"):
            element.tag = f"{{{SVG_NS}}}g"
        for name in list(element.attrib):
            local = name.rsplit("}", 1)[-1].lower()
            if local == "href" or local.startswith("on"):
                del element.attrib[name]
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root)


def _run_dot(dot_text: str, output_format: str, timeout: float) -> bytes:
    dot = shutil.which("dot")
    if dot is None:
        raise UsageError(GRAPHVIZ_HINT)
    try:
        result = subprocess.run(
            [dot, f"-T{output_format}"],
            input=dot_text.encode(),
            capture_output=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise UsageError(
            f"Graphviz did not finish drawing within {timeout:g} s: draw fewer objects "
            "(--max-nodes) or write a .dot file"
        ) from None
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip().splitlines()
        first = _text(message[0] if message else "error", 200)
        raise UsageError(f"Graphviz could not draw: {first}")
    return result.stdout


def dot_timeout() -> float:
    """How long Graphviz may take: GCSCOPE_DOT_TIMEOUT seconds, else DOT_TIMEOUT."""
    try:
        seconds = float(os.environ.get("GCSCOPE_DOT_TIMEOUT", DOT_TIMEOUT))
    except ValueError:
        return DOT_TIMEOUT
    return seconds if 0 < seconds <= 3600 else DOT_TIMEOUT


def svg(dot_text: str, timeout: float | None = None) -> bytes:
    """The picture as SVG bytes, without links (for reports that embed it)."""
    return _without_links(_run_dot(dot_text, "svg", timeout or dot_timeout()))


def render(dot_text: str, path: str, timeout: float | None = None) -> None:
    """Write `path`: the DOT itself, or PNG/SVG/PDF through Graphviz's `dot`."""
    extension = os.path.splitext(path)[1].lower()
    if extension not in FORMATS:
        raise UsageError(f"cannot draw {path!r}: use a .dot, .png, .svg or .pdf file name")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"cannot write {path!r}: folder {folder!r} does not exist")
    output_format = FORMATS[extension]
    if output_format is None:
        data = dot_text.encode()
    elif output_format == "svg":
        data = svg(dot_text, timeout)
    else:
        data = _run_dot(dot_text, output_format, timeout or dot_timeout())
    try:
        with open(path, "wb") as handle:
            handle.write(data)
    except OSError as exc:
        raise UsageError(f"cannot write {path!r}: {exc.strerror or exc}") from None
