"""Cycles and their shapes in Python: the fallback of the C harvest (`gcscope._gcharvest`).

A batch is what one collection found unreachable; a garbage cycle becomes unreachable
all at once, so a batch holds whole cycles. Each strongly connected component of two or
more objects (or one that refers to itself) is a cycle; the others are objects *held by
cycles*. A cycle's signature is its set of types and of type-to-type edges, up to
multiplicity: a million `Node -partner-> Node` pairs are one signature, and so are
trees of 3 and of 50,000 nodes. A few example components per signature keep labelled
edges (objgraph's labels: attribute name, dict key, index) for pictures.

This records exactly what the C harvest records, in the same form (`ShapeTable.results`
matches `Harvester.results()`), so the capture is built by one piece of code
(`cycle_capture`). It runs inside the collection, in Python: the Python fallback only
analyses a sample of batches (see `harvest_python`).
"""

from __future__ import annotations

import gc

from gcscope.probes.object_labels import edge_labels, node_label, node_size

TYPE_CHECKING = False  # importing typing would leave it resident in the program's process
if TYPE_CHECKING:
    from typing import Any

MAX_SIGNATURES = 2000
EXAMPLES_PER_SHAPE = 3
MAX_EXAMPLE_NODES = 40
LABELS_PER_EDGE = 3


class ShapeTable:
    """Signatures seen so far, keyed by name indices (the caller owns the name table)."""

    def __init__(self) -> None:
        self.signatures: dict[tuple[Any, ...], dict[str, Any]] = {}
        self.sites: dict[tuple[int, int], int] = {}  # (signature index, site index) -> objects
        self.other: dict[str, Any] = _new_other()
        self.held: dict[int, int] = {}
        self.in_cycles_by_type: dict[int, int] = {}
        self.cycles = 0
        self.in_cycles = 0

    def analyse(
        self,
        batch: list[Any],
        names: list[int],
        sites: list[int] | None,
    ) -> None:
        """Record every component of `batch` (names, sites: per item, as name/site indices)."""
        index_of = {id(item): position for position, item in enumerate(batch)}
        component_of: dict[int, int] = {}
        slots: dict[type, list[str]] = {}  # per call: a cache must not keep a dying class alive
        for start in range(len(batch)):
            if start in component_of:
                continue
            for component, self_loop in strongly_connected(batch, index_of, start, component_of):
                self._record(
                    batch, index_of, component_of, component, self_loop, names, sites, slots
                )

    def _record(
        self,
        batch: list[Any],
        index_of: dict[int, int],
        component_of: dict[int, int],
        members: list[int],
        self_loop: bool,
        names: list[int],
        sites: list[int] | None,
        slots: dict[type, list[str]],
    ) -> None:
        if len(members) == 1 and not self_loop:
            name = names[members[0]]
            self.held[name] = self.held.get(name, 0) + 1
            return
        self.cycles += 1
        self.in_cycles += len(members)
        component = component_of[members[0]]
        type_counts: dict[int, int] = {}
        for i in members:
            type_counts[names[i]] = type_counts.get(names[i], 0) + 1
            self.in_cycles_by_type[names[i]] = self.in_cycles_by_type.get(names[i], 0) + 1
        edges: set[tuple[int, int]] = set()
        for i in members:
            for referent in gc.get_referents(batch[i]):
                j = index_of.get(id(referent))
                if j is not None and component_of.get(j) == component:
                    edges.add((names[i], names[j]))
        types = tuple(sorted(type_counts))
        key = (types, tuple(sorted(edges)))
        signature = self.signatures.get(key)
        if signature is None:
            if len(self.signatures) >= MAX_SIGNATURES:
                _add_other(self.other, type_counts, len(members))
                return
            signature = self.signatures[key] = _new_signature(len(self.signatures), key)
        signature["cycles"] += 1
        signature["objects"] += len(members)
        signature["min_size"] = min(signature["min_size"], len(members))
        signature["max_size"] = max(signature["max_size"], len(members))
        for name, count in type_counts.items():
            signature["type_objects"][name] += count
        if sites is not None:
            for i in members:
                if sites[i] >= 0:
                    site_key = (signature["index"], sites[i])
                    self.sites[site_key] = self.sites.get(site_key, 0) + 1
        examples = signature["examples"]
        slot = len(examples) if len(examples) < EXAMPLES_PER_SHAPE else None
        if slot is None:
            largest = max(range(len(examples)), key=lambda k: examples[k]["size"])
            if len(members) < examples[largest]["size"]:
                slot = largest
        if slot is not None:
            example = _example(
                batch, index_of, component_of, component, members, names, slots, signature
            )
            if slot < len(examples):
                examples[slot] = example
            else:
                examples.append(example)

    def results(self, into: dict[str, Any], name_count: int) -> None:
        """Add `signatures`, `other`, `held`, ... to a results dict, as the C harvest has them."""
        signatures = []
        for signature in self.signatures.values():
            labels = signature["labels"]
            signatures.append(
                {
                    "types": [(t, signature["type_objects"][t]) for t in signature["types"]],
                    "edges": [
                        (s, t, list(labels.get((s, t), ())), (s, t) in signature["more"])
                        for s, t in signature["edges"]
                    ],
                    "cycles": signature["cycles"],
                    "objects": signature["objects"],
                    "min_size": signature["min_size"],
                    "max_size": signature["max_size"],
                    "examples": signature["examples"],
                    "sites": [
                        (site, count)
                        for (index, site), count in self.sites.items()
                        if index == signature["index"]
                    ],
                }
            )
        into["signatures"] = signatures
        into["other"] = {**self.other, "types": list(self.other["types"].items())}
        into["held"] = _dense(self.held, name_count)
        into["in_cycles_by_type"] = _dense(self.in_cycles_by_type, name_count)
        into["in_cycles"] = self.in_cycles
        into["cycles"] = self.cycles


def _dense(counts: dict[int, int], size: int) -> list[int]:
    row = [0] * size
    for index, count in counts.items():
        row[index] = count
    return row


def _new_other() -> dict[str, Any]:
    return {"cycles": 0, "objects": 0, "min_size": 0, "max_size": 0, "types": {}}


def _add_other(other: dict[str, Any], type_counts: dict[int, int], size: int) -> None:
    other["cycles"] += 1
    other["objects"] += size
    other["min_size"] = size if not other["min_size"] else min(other["min_size"], size)
    other["max_size"] = max(other["max_size"], size)
    for name, count in type_counts.items():
        other["types"][name] = other["types"].get(name, 0) + count


def _new_signature(index: int, key: tuple[Any, ...]) -> dict[str, Any]:
    types, edges = key
    return {
        "index": index,
        "types": types,
        "edges": edges,
        "type_objects": dict.fromkeys(types, 0),
        "cycles": 0,
        "objects": 0,
        "min_size": 1 << 62,
        "max_size": 0,
        "labels": {},  # (source name, target name) -> labels seen in examples
        "more": set(),  # edges with more labels than kept
        "examples": [],
    }


def _example(
    batch: list[Any],
    index_of: dict[int, int],
    component_of: dict[int, int],
    component: int,
    members: list[int],
    names: list[int],
    slots: dict[type, list[str]],
    signature: dict[str, Any],
) -> dict[str, Any]:
    """A labelled picture of one component: whole when small, else a connected cut."""

    def inside(i: int) -> list[int]:  # before labelling may materialise a __dict__
        found = []
        for referent in gc.get_referents(batch[i]):
            j = index_of.get(id(referent))
            if j is not None and component_of.get(j) == component:
                found.append(j)
        return found

    if len(members) <= MAX_EXAMPLE_NODES:
        chosen = list(members)
    else:  # breadth first from the component's root
        chosen = [members[-1]]
        seen = {members[-1]}
        head = 0
        while head < len(chosen) and len(chosen) < MAX_EXAMPLE_NODES:
            for j in inside(chosen[head]):
                if j not in seen and len(chosen) < MAX_EXAMPLE_NODES:
                    seen.add(j)
                    chosen.append(j)
            head += 1
    position = {i: n for n, i in enumerate(chosen)}
    nodes, edges, cut = [], [], []
    for n, i in enumerate(chosen):
        source = batch[i]
        nodes.append((names[i], node_label(source), node_size(source)))
        targets = inside(i)
        labels = edge_labels(source, slots)
        outside = 0
        seen_edges = set()
        for j in targets:
            if j not in position:
                outside += 1
                continue
            label = labels.get(id(batch[j]), "")
            if (position[j], label) in seen_edges:
                continue
            seen_edges.add((position[j], label))
            edges.append((n, position[j], label))
            if label:
                pair = (names[i], names[j])
                kept = signature["labels"].setdefault(pair, [])
                if label not in kept:
                    if len(kept) < LABELS_PER_EDGE:
                        kept.append(label)
                    else:
                        signature["more"].add(pair)
        if outside:
            cut.append((n, outside))
    return {"nodes": nodes, "edges": edges, "cut": cut, "size": len(members)}


def strongly_connected(
    batch: list[Any], index_of: dict[int, int], start: int, component_of: dict[int, int]
) -> list[tuple[list[int], bool]]:
    """Tarjan's algorithm (iterative) from `start`, over referents inside the batch.

    Returns each component found as (members, refers to itself); `component_of` gets
    every member's component number (its first member's position).
    """
    counter = 0
    order: dict[int, int] = {}
    low: dict[int, int] = {}
    stack: list[int] = []
    on_stack: set[int] = set()
    self_loops: set[int] = set()
    found: list[tuple[list[int], bool]] = []

    def successors(node: int) -> list[int]:
        result = []
        for referent in gc.get_referents(batch[node]):
            j = index_of.get(id(referent))
            if j is None or j in component_of:
                continue
            if j == node:
                self_loops.add(node)
            else:
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
                component_of[member] = node
                component.append(member)
                if member == node:
                    break
            found.append((component, len(component) == 1 and node in self_loops))
    return found
