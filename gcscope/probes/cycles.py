"""Cyclic garbage: harvested with gc.DEBUG_SAVEALL, counted exactly once, then freed.

While the program runs, DEBUG_SAVEALL makes every collection append what it
found unreachable to `gc.garbage` instead of clearing it. A *round* (from a
background thread when enough has piled up, and once at the end) then:

1. runs one SAVEALL collection of its own, so every object unreachable right now
   sits in `gc.garbage` (gcscope's collections never count as the program's);
2. takes the batch the collector saved since the last round (leaving objects the
   program itself parked in `gc.garbage`), and summarises it: exact counts by
   type, cycles and shapes on a budget, creation sites;
3. drops the batch and runs one collection *without* SAVEALL: the collector frees
   exactly those objects the way it would have (weakref callbacks and
   finalizers already ran when they were first found; now `tp_clear`), so nothing
   is handed back to an older generation to be found and counted again.

Rounds run in the main thread at a safe point (`Py_AddPendingCall`, the
mechanism signal handlers use), never inside a collection, with the collector
disabled; steps 1-2 repeat until a saving collection finds nothing new, so
garbage that another thread makes meanwhile is counted, not freed unseen. If
the main thread is blocked (joining workers), the background thread runs the
round itself after a second. A round checks that its collections really ran
(`gc.collect()` is a no-op while another thread is collecting) and reports any
object it could not account for. Nothing the program defines is called: labels
come from type names and builtin values.
"""

from __future__ import annotations

import ctypes
import gc
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from gcscope.probes.object_labels import (
    creation_site_lookup,
    edge_labels,
    node_label,
    node_size,
    type_name,
)

ROUND_MIN_OBJECTS = 40_000  # a round runs once this much garbage is waiting...
POLL_SECONDS = 0.002  # how often the thread looks at the gc callback's "harvest wanted" flag
MAIN_THREAD_GRACE = 1.0  # seconds a round may wait for the main thread before running here
SHAPE_TOTAL = 20_000  # garbage analysed into cycles exactly, up to this many objects...
SHAPE_SAMPLE = 200  # ...then this many per round: shape counts become scaled estimates
MAX_SCC_NODES = 50_000
MAX_SHAPES = 200
EXAMPLES_PER_SHAPE = 3
MAX_EXAMPLE_NODES = 40


class CycleProbe:
    """Harvests the program's cyclic garbage; see the module docstring for the protocol."""

    name = "cycles"

    def __init__(
        self,
        own_collections: Callable[[], AbstractContextManager[None]],
        parked_ranges: Callable[[], list[tuple[int, int]]],
        reset_garbage_mark: Callable[[int], None],
        collecting: Callable[[], bool],
        forced_collections: Callable[[], int],
        trigger: Any,
        with_sites: bool = False,
    ) -> None:
        self.trigger = trigger  # the gc callback's [mark, threshold, requested] slots
        self.own_collections = own_collections
        self.collecting = collecting
        self.forced_collections = forced_collections
        self.parked_ranges = parked_ranges
        self.reset_garbage_mark = reset_garbage_mark
        self.with_sites = with_sites
        self.site_lookup: Callable[[Any], tuple[str, int] | None] | None = None
        self.site_method = ""
        self.by_type: Counter[str] = Counter()
        self.uncollectable_by_type: Counter[str] = Counter()
        self.parked_by_type: Counter[str] = Counter()
        self.sites: Counter[tuple[str, int]] = Counter()
        self.sites_unknown = 0
        self.shapes: dict[Any, dict[str, Any]] = {}
        self.analysed_objects = 0
        self.total_objects = 0
        self.missed_objects = 0
        self.labelling_objects = 0  # dicts gcscope's labelling made (freed with the batch)
        self.unconfirmed_objects = 0
        self._requested_at: float | None = None
        self._pending_call = _PENDING_CALL_TYPE(self._run_pending)  # kept alive while scheduled
        self.rounds = 0
        self.preserved = 0  # gc.garbage[:preserved]: the program's parked and uncollectable objects
        self.original_debug = 0
        self._lock = threading.Lock()  # rounds: background thread vs. the final one; never in gc
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.threshold = ROUND_MIN_OBJECTS

    # -- lifecycle --
    def start(self) -> None:
        if self.with_sites:
            self.site_lookup, self.site_method = creation_site_lookup()
        self.original_debug = gc.get_debug()
        gc.collect()  # garbage from before the program (gcscope's imports) is not its own
        self.preserved = len(gc.garbage)
        self.reset_garbage_mark(self.preserved)
        gc.set_debug(self.original_debug | gc.DEBUG_SAVEALL)
        self.trigger[0], self.trigger[1], self.trigger[2] = self.preserved, self.threshold, 0
        self._thread = threading.Thread(target=self._loop, name="gcscope-cycles", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        """Turn the gc callback's "harvest wanted" flag into a round in the main thread.

        The pending call is queued from here, not from the callback: queued inside a
        collection, it would fire there again and again, where it cannot run.
        """
        while not self._stop.wait(POLL_SECONDS):
            if not self.trigger[2]:
                continue
            try:
                requested = self._requested_at
                now = time.monotonic()
                if requested is None:
                    self._requested_at = now
                    _add_pending_call(self._pending_call)
                elif now - requested > MAIN_THREAD_GRACE:
                    self._requested_at = None  # the main thread is blocked: do it here
                    self.harvest()
            except Exception:
                return

    def _run_pending(self, _argument: Any) -> int:
        """In the main thread, between two bytecodes of the program."""
        self._requested_at = None
        try:
            if not self.collecting():  # inside a collection, collect() would be a no-op
                self.harvest()  # (otherwise the thread queues it again in a moment)
        except Exception:
            pass
        return 0

    def stop(self) -> None:
        """The final round (call right after the program ends), then restore gc's flags."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.harvest()
        gc.set_debug(self.original_debug)

    # -- one round --
    def harvest(self) -> None:
        if not self._lock.acquire(blocking=False):
            return  # a round is already running in the other thread
        try:
            was_enabled = gc.isenabled()
            gc.disable()
            try:
                self._round()
            finally:
                gc.set_debug(self.original_debug | gc.DEBUG_SAVEALL)
                if was_enabled:
                    gc.enable()
        finally:
            self._lock.release()

    def _collect(self) -> bool:
        """One of gcscope's own collections; False if it did not run (another was running)."""
        before = self.forced_collections()
        with self.own_collections():
            gc.collect()
        return self.forced_collections() > before

    def _round(self) -> None:
        garbage = gc.garbage
        batch: list[Any] = []  # held here, so repeated SAVEALL collections do not re-save it
        batch_types: Counter[type] = Counter()
        others = _other_threads()
        while True:
            if not self._collect():  # step 1: everything unreachable now is saved
                if not batch:
                    return  # a collection is running: the thread asks again in a moment
                break
            new = self._take_new(garbage)
            if not new:
                break
            batch_types.update(self._summarise(new))  # other threads may run: loop till none new
            batch.extend(new)
            del new
            if not others:
                break  # this thread is the only one making garbage, and it is here
        batch_size = len(batch) + self.labelling_objects
        self.labelling_objects = 0
        gc.set_debug(self.original_debug & ~gc.DEBUG_SAVEALL)
        del batch  # step 3: unreachable again; free it as the collector would have
        before = self.forced_collections()
        with self.own_collections():
            freed = gc.collect()
        if self.forced_collections() == before:
            # another thread was collecting: the batch waits in an old generation and will
            # be saved again; say how many objects may be counted twice
            self.unconfirmed_objects += batch_size
        # anything beyond the batch was made by another thread in the instant between the
        # last saving collection and this one: freed untyped, and said so
        self.missed_objects += max(0, freed - batch_size)
        for item in garbage[self.preserved :]:  # legacy finalizers: the collector gave up
            name = type_name(type(item))
            self.uncollectable_by_type[name] += 1
            if batch_types.get(type(item)):
                self.by_type[name] -= 1
                self.total_objects -= 1
        self.preserved = len(garbage)
        self.reset_garbage_mark(self.preserved)
        self.rounds += 1
        self.threshold = max(ROUND_MIN_OBJECTS, _old_objects() // 2)
        self.trigger[0], self.trigger[1], self.trigger[2] = self.preserved, self.threshold, 0

    def _take_new(self, garbage: list[Any]) -> list[Any]:
        """Remove what the collector saved since the last round; keep what the program parked."""
        parked_indices = {
            index
            for start, end in self.parked_ranges()
            for index in range(max(start, self.preserved), min(end, len(garbage)))
        }
        self.reset_garbage_mark(self.preserved)
        if not parked_indices:
            new = garbage[self.preserved :]
            del garbage[self.preserved :]
            return new
        new = []
        parked: list[Any] = []
        for index in range(self.preserved, len(garbage)):
            (parked if index in parked_indices else new).append(garbage[index])
        del garbage[self.preserved :]
        garbage.extend(parked)
        for item in parked:
            self.parked_by_type[type_name(type(item))] += 1
        self.preserved = len(garbage)
        return new

    def _summarise(self, batch: list[Any]) -> Counter[type]:
        """Count the batch by type (returned), find its creation sites and cycle shapes."""
        kinds = Counter(map(type, batch))
        self.total_objects += len(batch)
        for kind, count in kinds.items():
            self.by_type[type_name(kind)] += count
        site_of: dict[int, tuple[str, int] | None] = {}
        if self.site_lookup is not None:
            lookup = self.site_lookup
            for position, item in enumerate(batch):
                site = lookup(item)
                site_of[position] = site
                if site is None:
                    self.sites_unknown += 1
                else:
                    self.sites[site] += 1
        # cycles and shapes on a contiguous sample (the collector saves a cycle's members
        # together); the rest of the batch is counted by type only
        if self.analysed_objects + len(batch) <= SHAPE_TOTAL:
            sample = batch
        else:
            sample = batch[:SHAPE_SAMPLE]
        index_of = {id(item): position for position, item in enumerate(sample)}
        done: set[int] = set()
        for start in range(len(sample)):
            if start in done:
                continue
            for component in strongly_connected(sample, index_of, start, done):
                self._record_shape(sample, index_of, component, site_of)
        self.analysed_objects += len(sample)
        return kinds

    def _record_shape(
        self,
        batch: list[Any],
        index_of: dict[int, int],
        component: list[int],
        site_of: dict[int, tuple[str, int] | None],
    ) -> None:
        members = set(component)
        types: dict[str, int] = {}
        for i in component:
            name = type_name(type(batch[i]))
            types[name] = types.get(name, 0) + 1
        edges: dict[tuple[str, str, str], int] = {}
        example_edges = []
        for i in component:
            source = batch[i]
            targets = gc.get_referents(source)  # before labelling may materialise a __dict__
            labels, created = edge_labels(source)
            self.labelling_objects += created
            for target in targets:  # every edge inside the cycle; labelled where we can
                j = index_of.get(id(target))
                if j is None or j not in members:
                    continue
                label = labels.get(id(target), "")
                edge = (type_name(type(source)), label, type_name(type(batch[j])))
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

    def contribute(self, capture: dict[str, Any]) -> None:
        sampled = self.analysed_objects < self.total_objects
        scale = (
            self.total_objects / self.analysed_objects if sampled and self.analysed_objects else 1
        )
        shapes = sorted(self.shapes.values(), key=lambda s: -s["objects"])
        section: dict[str, Any] = {
            "total_objects": self.total_objects,
            "by_type": [
                {"type": name, "count": count}
                for name, count in self.by_type.most_common()
                if count > 0
            ],
            "uncollectable": {
                "by_type": _rows(self.uncollectable_by_type),
                "parked_by_program": _rows(self.parked_by_type),
            },
            "rounds": self.rounds,
            "missed_objects": self.missed_objects,
            "unconfirmed_objects": self.unconfirmed_objects,
            "analysed_objects": self.analysed_objects,
            "shapes_estimated": sampled,
            "shapes": [],
            "graphs": [],
        }
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
            if self.site_lookup is not None:
                row["sites"] = _site_rows(shape["sites"])
            section["shapes"].append(row)
            for example in shape["examples"]:
                section["graphs"].append({"shape": number, **example})
        if self.with_sites:
            section["sites"] = _site_rows(self.sites)
            section["sites_unknown"] = self.sites_unknown
            section["site_method"] = self.site_method
        capture["cycles"] = section


_PENDING_CALL_TYPE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)


def _add_pending_call(function: Any) -> None:
    """Ask the interpreter to run `function` in the main thread at its next safe point."""
    ctypes.pythonapi.Py_AddPendingCall(function, None)


def _other_threads() -> bool:
    """Are there threads besides this one and gcscope's own?"""
    current = threading.current_thread()
    return any(
        thread is not current and not thread.name.startswith("gcscope-")
        for thread in threading.enumerate()
    )


def _old_objects() -> int:
    """Objects in the oldest generation: a round costs two full collections over them,
    so rounds wait for garbage in proportion (memory stays within ~1.5x)."""
    try:
        return len(gc.get_objects(len(gc.get_stats()) - 1))
    except Exception:
        return 0


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


def _rows(counter: Counter[str]) -> list[dict[str, Any]]:
    return [{"type": name, "count": count} for name, count in counter.most_common() if count > 0]


def _site_rows(counter: Counter[tuple[str, int]], limit: int = 50) -> list[dict[str, Any]]:
    return [
        {"filename": filename, "lineno": lineno, "count": count}
        for (filename, lineno), count in counter.most_common(limit)
    ]
