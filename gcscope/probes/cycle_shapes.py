"""Cycles and their shapes: strongly connected components of a harvested batch.

A batch is what one collection found unreachable; the collector saves a cycle's
members together, so a contiguous slice of a batch holds whole cycles. Each
component of two or more objects (or one that refers to itself) is a cycle; its
*shape* is the multiset of member types plus the labelled edges between them
(objgraph's labels: attribute name, dict key, index), so a million
`Node -partner-> Node` pairs are one shape with a million cycles.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable
from typing import Any

from gcscope.probes.object_labels import edge_labels, node_label, node_size, type_name

MAX_SCC_NODES = 50_000
MAX_SHAPES = 200
EXAMPLES_PER_SHAPE = 3
MAX_EXAMPLE_NODES = 40

Site = tuple[str, int]


class ShapeBook:
    """Shapes seen so far, with counts, creation sites and a few stored examples."""

    def __init__(self) -> None:
        self.shapes: dict[Any, dict[str, Any]] = {}
        self.analysed_objects = 0

    def analyse(self, sample: list[Any], site_of: dict[int, Site | None]) -> None:
        """Record every cycle in `sample` (site_of: position -> creation site)."""
        index_of = {id(item): position for position, item in enumerate(sample)}
        done: set[int] = set()
        names: dict[type, str] = {}  # per call: a cache must not keep a dying class alive
        slots: dict[type, list[str]] = {}

        def name_of(item: Any) -> str:
            kind = type(item)
            name = names.get(kind)
            if name is None:
                name = names[kind] = type_name(kind)
            return name

        for start in range(len(sample)):
            if start in done:
                continue
            for component in strongly_connected(sample, index_of, start, done):
                self._record(sample, index_of, component, site_of, name_of, slots)
        self.analysed_objects += len(sample)

    def _record(
        self,
        batch: list[Any],
        index_of: dict[int, int],
        component: list[int],
        site_of: dict[int, Site | None],
        name_of: Callable[[Any], str],
        slots: dict[type, list[str]],
    ) -> None:
        members = set(component)
        types: dict[str, int] = {}
        for i in component:
            name = name_of(batch[i])
            types[name] = types.get(name, 0) + 1
        edges: dict[tuple[str, str, str], int] = {}
        example_edges = []
        for i in component:
            source = batch[i]
            targets = gc.get_referents(source)  # before labelling may materialise a __dict__
            labels = edge_labels(source, slots)
            for target in targets:  # every edge inside the cycle; labelled where we can
                j = index_of.get(id(target))
                if j is None or j not in members:
                    continue
                label = labels.get(id(target), "")
                edge = (name_of(source), label, name_of(batch[j]))
                edges[edge] = edges.get(edge, 0) + 1
                example_edges.append((i, j, label))
        if len(component) == 1 and not edges:
            return  # an unreachable object not in a cycle (held only by cyclic garbage)
        key = (tuple(sorted(types.items())), tuple(sorted(edges.items())))
        shape = self.shapes.get(key)
        if shape is None:
            if len(self.shapes) >= MAX_SHAPES:
                key = "other"
                shape = self.shapes.setdefault(key, _new_shape({"(other shapes)": 0}, {}))
            else:
                shape = self.shapes[key] = _new_shape(types, edges)
        shape["cycles"] += 1
        shape["objects"] += len(component)
        for i in component:
            site = site_of.get(i)
            if site is not None:
                shape["sites"][site] += 1
        if len(shape["examples"]) < EXAMPLES_PER_SHAPE and key != "other":
            shape["examples"].append(_example(batch, component, example_edges))

    def contribute(self, section: dict[str, Any], total_objects: int, with_sites: bool) -> None:
        """Add `shapes` and `graphs`; counts scaled up when only a sample was analysed."""
        sampled = self.analysed_objects < total_objects
        scale = total_objects / self.analysed_objects if sampled and self.analysed_objects else 1
        section["analysed_objects"] = self.analysed_objects
        section["shapes_estimated"] = sampled
        section["shapes"] = []
        section["graphs"] = []
        shapes = sorted(self.shapes.values(), key=lambda s: -s["objects"])
        for number, shape in enumerate(shapes):
            row = {
                "id": number,
                "signature": shape["signature"],
                "types": [{"type": t, "count": n} for t, n in shape["types"]],
                "edges": [
                    {"source": s, "label": label, "target": t, "count": n}
                    for (s, label, t), n in shape["edges"]
                ],
                "cycles": round(shape["cycles"] * scale),
                "objects": round(shape["objects"] * scale),
            }
            if with_sites:
                row["sites"] = site_rows(shape["sites"])
            section["shapes"].append(row)
            for example in shape["examples"]:
                section["graphs"].append({"shape": number, **example})


def strongly_connected(
    batch: list[Any], index_of: dict[int, int], start: int, done: set[int]
) -> list[list[int]]:
    """Tarjan's algorithm (iterative) from `start`, over referents inside the batch."""
    counter = 0
    order: dict[int, int] = {}
    low: dict[int, int] = {}
    stack: list[int] = []
    on_stack: set[int] = set()
    found: list[list[int]] = []

    def successors(node: int) -> list[int]:
        result = []
        for referent in gc.get_referents(batch[node]):
            j = index_of.get(id(referent))
            if j is not None and j not in done:
                result.append(j)
        return result

    work = [(start, iter(successors(start)))]
    order[start] = low[start] = counter
    counter += 1
    stack.append(start)
    on_stack.add(start)
    while work:
        node, children = work[-1]
        advanced = False
        for child in children:
            if child not in order:
                if len(order) >= MAX_SCC_NODES:
                    continue  # a giant component: analysed in part, the rest counted by type
                order[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(successors(child))))
                advanced = True
                break
            if child in on_stack:
                low[node] = min(low[node], order[child])
        if advanced:
            continue
        work.pop()
        if work:
            parent = work[-1][0]
            low[parent] = min(low[parent], low[node])
        if low[node] == order[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                done.add(member)
                component.append(member)
                if member == node:
                    break
            found.append(component)
    return found


def _new_shape(types: dict[str, int], edges: dict[tuple[str, str, str], int]) -> dict[str, Any]:
    type_items = sorted(types.items())
    edge_items = sorted(edges.items())
    parts = [
        f"{t.rsplit('.', 1)[-1]} -{label}-> {u.rsplit('.', 1)[-1]}"
        for (t, label, u), _ in edge_items
    ]
    signature = "; ".join(f"{p} x{n}" if n > 1 else p for p, (_, n) in zip(parts, edge_items))
    return {
        "types": type_items,
        "edges": edge_items,
        "signature": signature[:300] or "(no labelled edges)",
        "cycles": 0,
        "objects": 0,
        "sites": Counter(),
        "examples": [],
    }


def _example(
    batch: list[Any], component: list[int], edges: list[tuple[int, int, str]]
) -> dict[str, Any]:
    kept = component[:MAX_EXAMPLE_NODES]
    number = {index: n for n, index in enumerate(kept)}
    return {
        "nodes": [
            {
                "id": number[i],
                "type": type_name(type(batch[i])),
                "label": node_label(batch[i]),
                "size": node_size(batch[i]),
            }
            for i in kept
        ],
        "edges": [
            [number[i], number[j], label] for i, j, label in edges if i in number and j in number
        ],
        "truncated": len(component) > len(kept),
    }


def site_rows(counter: Counter[Site], limit: int = 50) -> list[dict[str, Any]]:
    return [
        {"filename": filename, "lineno": lineno, "count": count}
        for (filename, lineno), count in counter.most_common(limit)
    ]
