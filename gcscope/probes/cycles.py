"""Cyclic garbage: harvested with gc.DEBUG_SAVEALL in the gc callback, counted once, freed.

With DEBUG_SAVEALL on, each collection appends what it found unreachable to
`gc.garbage` instead of clearing it. Right after, still inside the collection
(the "stop" callback), `harvest` takes exactly that batch out of `gc.garbage`,
summarises it (exact counts by type; creation sites; cycles and shapes on a
budget) and then does what the collector would have done at that very point:
`tp_clear` on every object (`clearing`), after which dropping the batch frees
it. Weakref callbacks and finalizers already ran when the collector found the
objects, exactly as without SAVEALL.

So each object is counted by the one collection that found it and is gone
before any other could find it again; memory stays what plain Python would use;
no extra collections run while the program does. The time spent freeing is added
to that collection's pause, as it would have been part of it.

Around the batch: the tail the collector reports as uncollectable (legacy
finalizers) stays in `gc.garbage`, as it would; objects the program itself put
into `gc.garbage` between collections are left alone and reported as parked. A
last gcscope-forced collection when the program ends harvests what it left
behind, before gcscope makes any garbage of its own. Nothing the program defines
is called: labels come from type names and builtin values.
"""

from __future__ import annotations

import gc
import time
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from gcscope.probes import clearing
from gcscope.probes.cycle_shapes import ShapeBook, Site, site_rows
from gcscope.probes.object_labels import creation_site_lookup, type_name

SHAPE_TOTAL = 10_000  # garbage analysed into cycles exactly, up to this many objects...
SHAPE_SAMPLE = 200  # ...then slices of this many, while the analysed share is under...
SHAPE_SHARE = 0.005  # ...this: shape counts become estimates scaled to the total
FINAL_ATTEMPTS = 400  # x 5 ms: how long the final harvest waits out another thread's collection


class CycleProbe:
    """Harvests the program's cyclic garbage; see the module docstring for the protocol."""

    name = "cycles"

    def __init__(
        self,
        garbage_at_start: Any,
        forcing: Callable[..., AbstractContextManager[None]],
        with_sites: bool = False,
        with_shapes: bool = True,
    ) -> None:
        self.garbage_at_start = garbage_at_start  # [len(gc.garbage) when a collection began]
        self.forcing = forcing
        self.with_sites = with_sites
        self.with_shapes = with_shapes  # the pytest plugin needs counts by type only
        self.site_lookup: Callable[[Any], Site | None] | None = None
        self.site_method = ""
        self.clear_all, self.clear_method = clearing.load()
        # by type name: holding the types themselves could keep a dying class alive
        self.by_type: Counter[str] = Counter()
        self.uncollectable_by_type: Counter[str] = Counter()
        self.parked_by_type: Counter[str] = Counter()
        self.sites: Counter[Site] = Counter()
        self.sites_unknown = 0
        self.shape_book = ShapeBook()
        self.total_objects = 0
        self.harvests = 0
        self.unsaved_collections = 0  # the program turned DEBUG_SAVEALL off meanwhile
        self.mark = 0  # gc.garbage[:mark]: parked and uncollectable objects, left alone
        self.original_debug = 0
        self.free = True
        self.active = True
        self.collections_seen = 0
        self.final_harvest_missed = False  # the last collection never got to run

    # -- lifecycle --
    def start(self) -> None:
        if self.with_sites:
            self.site_lookup, self.site_method = creation_site_lookup()
        self.original_debug = gc.get_debug()
        # a program that asked for DEBUG_SAVEALL itself (gcscope.watch) keeps its gc.garbage
        self.free = not self.original_debug & gc.DEBUG_SAVEALL
        gc.collect()  # garbage from before the program (gcscope's imports) is not its own
        self.mark = self.garbage_at_start[0] = len(gc.garbage)
        gc.set_debug(self.original_debug | gc.DEBUG_SAVEALL)

    def stop(self) -> None:
        """Harvest what the program left behind (call right after it ends); restore flags.

        `gc.collect()` does nothing while a collection runs in another thread (whose
        callback may have let this thread run): retry until ours has really run.
        """
        gc.set_debug(self.original_debug | gc.DEBUG_SAVEALL)
        for _ in range(FINAL_ATTEMPTS):
            seen = self.collections_seen
            with self.forcing():
                gc.collect()
            if self.collections_seen > seen:
                break
            time.sleep(0.005)
        else:
            self.final_harvest_missed = True
        self.active = False  # collections from here on are gcscope's, after the run
        gc.set_debug(self.original_debug)

    def detach(self) -> None:
        """In a forked child: the collector's debug flags as the program had them."""
        self.active = False
        gc.set_debug(self.original_debug)

    def restart_in_child(self) -> None:
        """In a followed forked child: the harvest goes on (the child inherited the callback
        and DEBUG_SAVEALL); only the child's own garbage is counted from here on."""
        for counter in (self.by_type, self.uncollectable_by_type, self.parked_by_type, self.sites):
            counter.clear()
        self.sites_unknown = 0
        self.shape_book = ShapeBook()
        self.total_objects = self.harvests = self.unsaved_collections = 0
        self.collections_seen = 0
        self.final_harvest_missed = False

    # -- inside the collector --
    def harvest(self, uncollectable: int) -> float:
        """Called from the gc callback's "stop"; returns the seconds spent freeing."""
        if not self.active:
            return 0.0
        self.collections_seen += 1
        garbage = gc.garbage
        start = self.garbage_at_start[0]
        if start > self.mark:
            _count_types(self.parked_by_type, garbage[self.mark : start])
        if not gc.get_debug() & gc.DEBUG_SAVEALL:
            self.unsaved_collections += 1
            self.mark = len(garbage)
            return 0.0
        batch = garbage[start:]
        if not self.free:
            self.mark = len(garbage)
        else:
            del garbage[start:]
            if uncollectable:  # the collector appends these last; they stay, as they would
                kept = batch[len(batch) - uncollectable :]
                del batch[len(batch) - uncollectable :]
                garbage.extend(kept)
                _count_types(self.uncollectable_by_type, kept)
            self.mark = len(garbage)
        if not batch:
            return 0.0
        self.harvests += 1
        self._summarise(batch)
        if not self.free:
            return 0.0
        began = time.perf_counter()
        self.clear_all(batch)
        del batch  # the last references: everything is freed here
        return time.perf_counter() - began

    def _summarise(self, batch: list[Any]) -> None:
        _count_types(self.by_type, batch)
        self.total_objects += len(batch)
        site_of: dict[int, Site | None] = {}
        if self.site_lookup is not None:
            lookup = self.site_lookup
            for position, item in enumerate(batch):
                site = lookup(item)
                site_of[position] = site
                if site is None:
                    self.sites_unknown += 1
                else:
                    self.sites[site] += 1
        if not self.with_shapes:
            return
        analysed = self.shape_book.analysed_objects
        if analysed + len(batch) <= SHAPE_TOTAL:
            self.shape_book.analyse(batch, site_of)
        elif analysed < SHAPE_SHARE * self.total_objects:
            self.shape_book.analyse(batch[:SHAPE_SAMPLE], site_of)

    def own_roots(self) -> tuple[Any, ...]:
        """gcscope's containers, so leak checks can leave out what they hold."""
        return (
            self.by_type,
            self.uncollectable_by_type,
            self.parked_by_type,
            self.sites,
            self.shape_book.shapes,
        )

    # -- into the capture (after the run) --
    def contribute(self, capture: dict[str, Any]) -> None:
        section: dict[str, Any] = {
            "total_objects": self.total_objects,
            "by_type": _rows(self.by_type),
            "uncollectable": {
                "by_type": _rows(self.uncollectable_by_type),
                "parked_by_program": _rows(self.parked_by_type),
            },
            "harvests": self.harvests,
            "freed_with": self.clear_method if self.free else "not freed (program's SAVEALL)",
            "unsaved_collections": self.unsaved_collections,
            "final_harvest_missed": self.final_harvest_missed,
        }
        self.shape_book.contribute(section, self.total_objects, self.site_lookup is not None)
        if self.with_sites:
            section["sites"] = site_rows(self.sites)
            section["sites_unknown"] = self.sites_unknown
            section["site_method"] = self.site_method
        capture["cycles"] = section


def _count_types(counter: Counter[str], objects: list[Any]) -> None:
    for kind, count in Counter(map(type, objects)).items():  # C speed; few distinct types
        counter[type_name(kind)] += count


def _rows(counter: Counter[str]) -> list[dict[str, Any]]:
    return [{"type": name, "count": count} for name, count in counter.most_common() if count > 0]
