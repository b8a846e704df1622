"""Monitor mode of the C recorder, read from Python: bounded tables, one consistent copy.

In monitor mode (`gcscope.monitor()`, `gcscope run --serve-metrics`) the C recorder
keeps, for a process that may run for months, only fixed-size tables: a ring of the
latest collections, cumulative per-generation figures, pause histograms and per-site
totals (see gcscope/_gcrecorder.c). No Python code runs per collection. This module
turns one `monitor_state()` copy of those tables into numbers (`RecorderState`), and
into the `GcFigures` shape that the capture is built from (`RingTotals`).
"""

from __future__ import annotations

from array import array

from gcscope.probes.gc_events import (
    EVENT_FIELDS,
    HIST_BUCKETS,
    MAX_GENERATIONS,
    GcFigures,
)

TYPE_CHECKING = False  # importing typing would leave it resident in the program's process
if TYPE_CHECKING:
    from typing import Any

# Upper bounds of the exporters' pause buckets, seconds: GC pauses run from ~10 µs
# (a young collection) to seconds (a full collection of a big heap).
PAUSE_BUCKETS = (
    1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3,
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
MAX_SITES = 1000  # trigger sites tracked one by one; later new sites share the "other" slot
MAX_CODES = 20_000  # code objects remembered for site lookups; past it, sites are "other"


class RecorderState:
    """One reading of the recorder's monitor-mode tables, all taken at the same instant.

    `recorded`: collections since monitoring began (or since a fork reset it);
    `events`: the ring's rows (EVENT_FIELDS each, oldest first), numbered from `first`.
    """

    def __init__(self, raw: tuple[int, int, bytes, bytes, bytes], max_sites: int) -> None:
        recorded, first, int_bytes, float_bytes, ring = raw
        self.recorded: int = recorded
        self.first: int = first
        self.events = array("d", ring)
        ints, floats = array("q", int_bytes), array("d", float_bytes)
        gens, buckets = MAX_GENERATIONS, len(PAUSE_BUCKETS) + 1
        self.collections = ints[0 : 3 * gens : 3]
        self.collected = ints[1 : 3 * gens : 3]
        self.uncollectable = ints[2 : 3 * gens : 3]
        self.pause = floats[0 : 2 * gens : 2]
        self.max_pause = floats[1 : 2 * gens : 2]
        at_int, at_float = 3 * gens, 2 * gens
        # per generation, non-cumulative: bucket i holds pauses in (bound[i-1], bound[i]]
        self.bucket_counts = [
            ints[at_int + g * buckets : at_int + (g + 1) * buckets] for g in range(gens)
        ]
        self.bucket_sums = [
            floats[at_float + g * buckets : at_float + (g + 1) * buckets] for g in range(gens)
        ]
        at_int += gens * buckets
        at_float += gens * buckets
        self.fine_counts = [
            ints[at_int + g * HIST_BUCKETS : at_int + (g + 1) * HIST_BUCKETS] for g in range(gens)
        ]
        at_int += gens * HIST_BUCKETS
        slots = max_sites + 1
        self.site_gen_collections = ints[at_int : at_int + slots * gens]
        self.site_pause = floats[at_float : at_float + 2 * slots : 2]
        self.site_max = floats[at_float + 1 : at_float + 2 * slots : 2]

    @property
    def complete(self) -> bool:
        """True when the ring still holds every collection recorded."""
        return self.first == 0 and len(self.events) // EVENT_FIELDS == self.recorded

    def pause_totals(self) -> tuple[int, float]:
        return sum(self.collections), sum(self.pause)


class RingTotals(GcFigures):
    """Whole-period figures from the recorder's cumulative tables (exact, every collection).

    `stored_pauses` holds the ring's pauses when the ring still holds every collection
    (exact percentiles); otherwise percentiles come from `fine_counts`.
    """

    def __init__(self, state: RecorderState) -> None:  # no super(): copies
        self.collections = list(state.collections)
        self.pause = list(state.pause)
        self.max_pause = list(state.max_pause)
        self.collected = list(state.collected)
        self.uncollectable = list(state.uncollectable)
        # slots as the recorder numbers them: the tracked sites, then "other" (MAX_SITES)
        gens = MAX_GENERATIONS
        self.site_gen_collections = list(state.site_gen_collections)
        self.site_collections = [
            sum(self.site_gen_collections[s * gens : (s + 1) * gens])
            for s in range(len(state.site_pause))
        ]
        self.site_pause = list(state.site_pause)
        self.site_max = list(state.site_max)
        self.stored_pauses: list[list[float]] = [[] for _ in range(gens)]
        if state.complete:
            events = state.events
            for generation, pause in zip(
                map(int, events[1::EVENT_FIELDS]), events[2::EVENT_FIELDS]
            ):
                self.stored_pauses[generation].append(pause)
        self.fine_counts = state.fine_counts


def cumulative(counts: Any) -> list[int]:
    """Non-cumulative bucket counts -> Prometheus' cumulative `le` counts."""
    running, out = 0, []
    for count in counts:
        running += count
        out.append(running)
    return out
