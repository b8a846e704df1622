"""Cyclic garbage: harvested with gc.DEBUG_SAVEALL inside each collection, counted once, freed.

With DEBUG_SAVEALL on, each collection appends what it found unreachable to
`gc.garbage` instead of clearing it. Still inside that collection, the harvest takes
exactly that batch back out, counts it by type, analyses its cycles (strongly
connected components, grouped into shapes), finds creation sites (with
--allocations), and then does what the collector would have done at that very point:
`tp_clear` on every object, after which dropping the batch frees it. Weakref
callbacks and finalizers already ran when the collector found the objects, exactly
as without SAVEALL.

The harvest is C (`gcscope._gcharvest`, a gc callback first in line) wherever it
was built: no Python bytecode runs inside the collection, so other threads cannot run
while the collector holds its `collecting` flag and the program collects exactly as
often as under plain Python. Without a compiler (or with GCSCOPE_CALLBACK=python) the
Python fallback (`harvest_python`) does the same from the Python gc callback, with
shapes from a sample, and the capture says so.

Around the batch: the tail the collector reports as uncollectable (legacy
finalizers) stays in `gc.garbage`, as it would; objects the program itself put into
`gc.garbage` between collections are left alone and reported as parked. When the
program ends, one gcscope-forced collection harvests what it left behind; from that
moment only that collection counts: other threads that keep collecting (daemon
threads) have their garbage freed and counted apart, and the wait for it is bounded.
Nothing the program defines is called: labels come from type names and builtin values.
"""

from __future__ import annotations

import _thread
import gc
import os
import sys
import time
from array import array
from collections import Counter

from gcscope.build import free_threaded

TYPE_CHECKING = False  # importing typing would leave it resident in the program's process
if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractContextManager
    from typing import Any

FINAL_SECONDS = 2.0  # longest wait for the final collection while other threads hold the collector


def _c_harvester_class() -> Any:
    """The C harvester's class, or None: not built, free-threaded, or the Python path asked for."""
    if os.environ.get("GCSCOPE_CALLBACK") == "python":
        return None
    if free_threaded():
        return None  # loading an extension not declared free-threading-safe re-enables the GIL
    try:
        from gcscope._gcharvest import Harvester
    except ImportError:
        return None
    return Harvester


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
        self.forcing = forcing  # allocation-free: usable right before the program starts
        self.with_sites = with_sites
        self.with_shapes = with_shapes  # the pytest plugin needs counts by type only
        self.site_method = ""
        self.original_debug = 0
        self.free = True
        self.final_harvest_missed = False  # the last collection never got to run
        self.callback_removed = False  # the program took the C harvest out of gc.callbacks
        self.finished = False  # program_ends() was called
        # everything a harvest imports or builds happens here, before tracing starts, so
        # none of it is ever charged to the program (the ctypes of the 3.11 site lookup...)
        harvester_class = _c_harvester_class()
        self.site_candidates: list[Any] = []
        if harvester_class is not None:
            self._harvester_class = harvester_class
            self.harvester: Any = self._c_harvester(excluded=array("d", [0.0]))
            self.harvest: Any = self.harvester  # a gc callback of its own
            self.freed_with = "tp_clear (C harvest)"
            self.kind = "C"
        else:
            from gcscope.probes import clearing
            from gcscope.probes.harvest_python import PythonHarvester
            from gcscope.probes.object_labels import site_lookups

            clear_all, self.freed_with = clearing.load()
            self.harvester = PythonHarvester(garbage_at_start, clear_all, with_shapes)
            self.harvest = self.harvester.harvest  # called from the Python gc callback
            self.kind = "Python"
            if with_sites:
                self.site_candidates = site_lookups()

    def _c_harvester(self, excluded: Any) -> Any:
        import _tracemalloc

        return self._harvester_class(
            gc.garbage,
            gc.get_debug,
            traceback_of=_tracemalloc._get_object_traceback if self.with_sites else None,
            excluded=excluded,
            with_shapes=self.with_shapes,
            preheader=sys.version_info[:2] == (3, 11),
        )

    # -- lifecycle --
    def start(self) -> None:
        if self.with_sites:
            self._choose_site_lookup()
        self.original_debug = gc.get_debug()
        # a program that asked for DEBUG_SAVEALL itself (gcscope.watch) keeps its gc.garbage
        self.free = not self.original_debug & gc.DEBUG_SAVEALL
        self.harvester.free = self.free
        gc.collect()  # garbage from before the program (gcscope's imports) is not its own
        self.harvester.begin(len(gc.garbage))
        self.finished = False
        gc.set_debug(self.original_debug | gc.DEBUG_SAVEALL)

    def _choose_site_lookup(self) -> None:
        from gcscope.probes.object_labels import PREHEADER_METHOD, self_tested

        if self.kind == "C":
            method = "tracemalloc (C harvest)"
            if sys.version_info[:2] == (3, 11):
                method = PREHEADER_METHOD
            lookup, self.site_method = self_tested([(self.harvester.site, method)])
            if lookup is None:
                self.harvester.stop_sites()
        else:
            lookup, self.site_method = self_tested(self.site_candidates)
            self.harvester.site_lookup = lookup

    def program_starts(self) -> bool:
        """Right before the program's first line: empty the interpreter's free lists.

        A list, dict or tuple reused from a free list keeps the trace of the block's
        first allocation: from before tracing began (no site), or from gcscope's own
        start-up (a wrong site). A full collection empties the free lists (3.10-3.13);
        nothing after it, up to the program's first line, frees an object of those types.
        The collection is gcscope's: SAVEALL off (its garbage is gcscope's start-up's).
        Returns whether it ran (the session then puts the collector's counters back).
        """
        if not self.with_sites:
            return False
        harvester, saving = self.harvester, gc.get_debug()
        harvester.end()
        gc.set_debug(self.original_debug)
        with self.forcing():
            gc.collect()
        harvester.begin(len(gc.garbage))
        gc.set_debug(saving)
        return True

    def program_ends(self) -> None:
        """The program is over: collections in its threads still running are not its own.

        Its garbage can still be found afterwards by this thread's final collection or by
        gcscope's own threads (which use `_thread`, so `threading` does not list them);
        what the program's daemon threads make and collect from now on is freed uncounted.
        """
        threading = sys.modules.get("threading")  # never imported by gcscope itself
        current = _thread.get_ident()
        late = []
        if threading is not None:
            try:
                late = [t.ident for t in threading.enumerate() if t.ident not in (None, current)]
            except Exception:  # the program's threading module is the program's business
                late = []
        self.harvester.finish(late)
        self.finished = True

    def stop(self) -> None:
        """Harvest what the program left behind (call right after it ends); restore flags.

        From here on only this thread's collections are the program's: other threads that
        keep collecting have their garbage freed and counted apart. `gc.collect()` does
        nothing while a collection runs in another thread, so it is retried, for at most
        FINAL_SECONDS. (With the C harvest it runs at once: no other thread can be inside
        a collection while this one holds the GIL. With the Python gc callback, threads
        that collect non-stop hand the GIL over inside their collections, and the final
        harvest may be missed; the report says so. The program's threads are held at
        their next call meanwhile (gcscope/holding.py): only a collection already under
        way in one of them is waited for.)
        """
        harvester = self.harvester
        if not self.finished:
            self.program_ends()
        if self.kind == "C" and not any(callback is harvester for callback in gc.callbacks):
            self.callback_removed = True  # nothing would harvest: no final collection
            gc.set_debug(self.original_debug)
            return
        gc.set_debug(self.original_debug | gc.DEBUG_SAVEALL)
        deadline = time.perf_counter() + FINAL_SECONDS
        while True:
            seen = harvester.final_collections
            with self.forcing():
                gc.collect()
            if harvester.final_collections > seen:
                break
            if time.perf_counter() > deadline:
                self.final_harvest_missed = True
                break
            time.sleep(0.001)
        # the harvester stays in gc.callbacks until the gc probe stops, still finishing:
        # a collection already under way elsewhere is freed there, uncounted
        gc.set_debug(self.original_debug)

    def detach(self) -> None:
        """In a forked child: the collector's debug flags as the program had them."""
        self.harvester.end()
        gc.set_debug(self.original_debug)

    def restart_in_child(self) -> None:
        """In a followed forked child: the harvest goes on (the child inherited it and
        DEBUG_SAVEALL); only the child's own garbage is counted from here on."""
        old = self.harvester
        if self.kind == "C":
            self.harvester = self._c_harvester(excluded=old.excluded)
            self.harvester.free = self.free
            self.harvest = self.harvester
            # the new harvest takes the old one's place, first in line
            for position, callback in enumerate(gc.callbacks):
                if callback is old:
                    gc.callbacks[position] = self.harvester
            if self.with_sites and self.site_method.startswith("unavailable"):
                self.harvester.stop_sites()
        else:
            self.harvester.reset()
        self.final_harvest_missed = self.callback_removed = self.finished = False
        self.harvester.begin(len(gc.garbage))

    # -- what the pytest plugin reads --
    @property
    def by_type(self) -> Counter[str]:
        return Counter(self.harvester.by_type())

    def own_roots(self) -> tuple[Any, ...]:
        """gcscope's containers, so leak checks can leave out what they hold."""
        if self.kind == "C":
            return ()  # the C harvest keeps its tables on the C heap
        return self.harvester.own_roots()

    # -- into the capture (after the run) --
    def contribute(self, capture: dict[str, Any]) -> None:
        from gcscope.probes.cycle_capture import cycles_section

        freed_with = self.freed_with if self.free else "not freed (program's SAVEALL)"
        capture["cycles"] = cycles_section(
            self.harvester.results(),
            harvest=self.kind,
            freed_with=freed_with,
            final_harvest_missed=self.final_harvest_missed,
            callback_removed=self.callback_removed,
            site_method=self.site_method if self.with_sites else None,
        )
