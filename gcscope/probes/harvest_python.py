"""The --cycles harvest in Python: the fallback where `gcscope._gcharvest` was not built.

Called from the Python gc callback's "stop", inside the collection, it does what the
C harvest does (see gcscope/_gcharvest.c): take the collection's saved batch out of
`gc.garbage`, count it exactly by type, find creation sites, analyse cycles, `tp_clear`
everything and release it. Differences, all stated in the capture:

* shapes come from a sample of whole batches: every batch until `SHAPE_BUDGET` objects
  were analysed, then the batch at (or after) every `SAMPLE_STRIDE`-th object of garbage
  while analysed objects stay under `SHAPE_BUDGET` plus `SAMPLE_SHARE` of all garbage;
  counts are scaled per type from the exact by-type counts, with intervals
  (`cycle_capture`), and garbage in batches never analysed is reported as such;
* creation sites are looked up object by object in Python;
* a Python callback lets other threads run inside collections; `gc_events` measures it.

Counting uses C-level helpers (`map`, `_collections._count_elements`) so that the
Python run per batch stays short; type names are read once per batch and type, before
anything is cleared (a dying class's `__module__` goes with its `__dict__`).
"""

from __future__ import annotations

import gc
import time
from _collections import _count_elements
from _thread import get_ident

from gcscope.probes.cycle_shapes import ShapeTable
from gcscope.probes.object_labels import type_name

TYPE_CHECKING = False  # importing typing would leave it resident in the program's process
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

SHAPE_BUDGET = 20_000  # every batch is analysed until this many objects were...
SAMPLE_STRIDE = 50_000  # ...then one batch per this many objects of garbage...
SAMPLE_SHARE = 0.2  # ...while analysed objects stay under the budget and this share of all


class PythonHarvester:
    """The C Harvester's interface (begin, finish, end, results...), in Python."""

    def __init__(
        self,
        garbage_at_start: Any,
        clear_all: Callable[[list[Any]], None],
        with_shapes: bool = True,
        free: bool = True,
    ) -> None:
        self.garbage_at_start = garbage_at_start  # [len(gc.garbage) when a collection began]
        self.clear_all = clear_all
        self.with_shapes = with_shapes
        self.free = free
        self.site_lookup: Callable[[Any], tuple[str, int] | None] | None = None
        self.reset()

    def reset(self) -> None:
        """Nothing harvested yet (also in a followed forked child, which counts its own)."""
        self.active = False
        self.sample_due = False  # a sampling point fell in a batch too large to analyse
        self.finishing_thread: int | None = None
        self.late_threads: frozenset[int] = frozenset()
        self.mark = 0
        self.names: list[str] = []
        self.name_index: dict[str, int] = {}
        self.counts: dict[str, list[int]] = {
            key: [] for key in ("by_type", "uncollectable", "parked", "analysed_by_type")
        }
        self.sites: list[tuple[str, int]] = []
        self.site_index: dict[tuple[str, int], int] = {}
        self.site_types: dict[tuple[int, int], int] = {}
        self.shapes = ShapeTable()
        self.figures = dict.fromkeys(
            (
                "total_objects",
                "harvests",
                "unsaved_collections",
                "after_end_collections",
                "after_end_objects",
                "collections_seen",
                "final_collections",
                "analysed_objects",
                "errors",
                "sites_unknown",
            ),
            0,
        )

    # -- the C Harvester's interface --
    def begin(self, mark: int) -> None:
        self.mark = mark
        self.garbage_at_start[0] = mark
        self.active = True
        self.finishing_thread = None

    def finish(self, threads: list[int]) -> None:
        self.late_threads = frozenset(threads)
        self.finishing_thread = get_ident()

    def end(self) -> None:
        self.active = False

    @property
    def collections_seen(self) -> int:
        return self.figures["collections_seen"]

    @property
    def final_collections(self) -> int:
        return self.figures["final_collections"]

    @property
    def total_objects(self) -> int:
        return self.figures["total_objects"]

    def by_type(self) -> dict[str, int]:
        return {self.names[i]: n for i, n in enumerate(self.counts["by_type"]) if n}

    def results(self) -> dict[str, Any]:
        size = len(self.names)
        results: dict[str, Any] = {"names": list(self.names), **self.figures}
        for key, row in self.counts.items():
            results[key] = row + [0] * (size - len(row))
        results["sites"] = list(self.sites)
        results["site_types"] = [(s, n, c) for (s, n), c in self.site_types.items()]
        self.shapes.results(results, size)
        results["sampled"] = results["analysed_objects"] < results["total_objects"]
        return results

    def own_roots(self) -> tuple[Any, ...]:
        return (self.counts, self.names, self.sites, self.shapes.signatures, self.site_types)

    # -- inside the collector --
    def harvest(self, uncollectable: int, generation: int = 2) -> float:
        """Called from the gc callback's "stop"; returns the seconds spent freeing."""
        if not self.active:
            return 0.0
        figures = self.figures
        figures["collections_seen"] += 1
        thread = get_ident()
        counted = self.finishing_thread is None or thread not in self.late_threads
        if not counted:
            figures["after_end_collections"] += 1
        elif thread == self.finishing_thread and generation >= 2:
            figures["final_collections"] += 1
        garbage = gc.garbage
        length = len(garbage)
        start = min(self.garbage_at_start[0], length)
        mark = min(self.mark, start)
        if counted and start > mark:
            self._count(garbage[mark:start], "parked")
        if not gc.get_debug() & gc.DEBUG_SAVEALL:
            if counted and self.finishing_thread is None:
                figures["unsaved_collections"] += 1
            self.mark = length
            return 0.0
        end = length - uncollectable if 0 < uncollectable <= length - start else length
        if counted and end < length:
            self._count(garbage[end:], "uncollectable")
        batch = garbage[start:end]
        if self.free:
            del garbage[start:end]  # the uncollectable tail stays, as it would
        self.mark = len(garbage)
        if not batch:
            return 0.0
        if counted:
            figures["harvests"] += 1
            self._summarise(batch)
        else:
            figures["after_end_objects"] += len(batch)
        if not self.free:
            return 0.0
        began = time.perf_counter()
        self.clear_all(batch)
        del batch  # the last references: everything is freed here
        return time.perf_counter() - began

    def _name(self, kind: type) -> int:
        name = type_name(kind)
        index = self.name_index.get(name)
        if index is None:
            index = self.name_index[name] = len(self.names)
            self.names.append(name)
            for row in self.counts.values():
                row.append(0)
        return index

    def _count(self, objects: list[Any], key: str) -> dict[type, int]:
        """Count by type (C speed), then name each type once; returns type -> name index."""
        by_kind: dict[type, int] = {}
        _count_elements(by_kind, map(type, objects))
        row = self.counts[key]
        indices = {}
        for kind, count in by_kind.items():
            index = indices[kind] = self._name(kind)
            row[index] += count
        return indices

    def _samples(self, size: int, before: int, after: int, unseen: bool) -> bool:
        """Whether to analyse a batch of `size` objects (whole batches: whole cycles).

        `unseen`: it holds a type no analysed batch had; analysed if small, so that every
        kind of garbage gets a shape when it can.
        """
        analysed = self.figures["analysed_objects"]
        if analysed + size <= SHAPE_BUDGET:
            return True
        ceiling = SHAPE_BUDGET + SAMPLE_SHARE * after
        if unseen and size <= SHAPE_BUDGET and analysed + size <= ceiling + SHAPE_BUDGET:
            return True
        if before // SAMPLE_STRIDE != after // SAMPLE_STRIDE:
            self.sample_due = True
        if self.sample_due and analysed + size <= ceiling:
            self.sample_due = False
            return True
        return False

    def _site(self, item: Any) -> int:
        try:
            site = self.site_lookup(item) if self.site_lookup is not None else None
        except Exception:
            site = None
        if site is None:
            self.figures["sites_unknown"] += 1
            return -1
        index = self.site_index.get(site)
        if index is None:
            index = self.site_index[site] = len(self.sites)
            self.sites.append(site)
        return index

    def _summarise(self, batch: list[Any]) -> None:
        figures = self.figures
        before = figures["total_objects"]
        figures["total_objects"] += len(batch)
        indices = self._count(batch, "by_type")
        row = self.counts["analysed_by_type"]
        analyse = self.with_shapes and self._samples(
            len(batch),
            before,
            figures["total_objects"],
            any(row[index] == 0 for index in set(indices.values())),  # a type not yet seen
        )
        if self.site_lookup is None and not analyse:
            return
        # per object only in C (map): a Python loop over the batch would hand the GIL to
        # the program's other threads at every turn, inside the collection
        names = list(map(indices.__getitem__, map(type, batch)))
        sites = None
        if self.site_lookup is not None:
            sites = [self._site(item) for item in batch]
            for site, name in zip(sites, names):
                if site >= 0:
                    self.site_types[(site, name)] = self.site_types.get((site, name), 0) + 1
        if analyse:
            figures["analysed_objects"] += len(batch)
            for index in names:
                row[index] += 1
            self.shapes.analyse(batch, names, sites)
