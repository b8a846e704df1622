"""A capture of a monitored process's recent window, from the recorder's ring.

`gcscope.dump()` and the opt-in dump signal write it: a normal capture
(`schema_version` 1) that `gcscope report`, `check` and `diff` read like any other.
Its window is the last `window` seconds, or less: never before monitoring began (or
the process forked), nor before the oldest collection the ring still holds. Every
figure covers exactly the collections in that window, with exact percentiles. The
`gc.get_stats` check covers the whole monitoring period instead: the recorder's
cumulative counts against the interpreter's own, so a dump says whether any
collection was ever missed.
"""

from __future__ import annotations

import copy
import os
import time
from array import array

from gcscope import __version__
from gcscope.capture import SCHEMA_VERSION
from gcscope.clock import Clock
from gcscope.probes.gc_events import EVENT_FIELDS, HIST_BUCKETS, MAX_GENERATIONS, GcFigures
from gcscope.probes.gc_ring import MAX_SITES, RingTotals
from gcscope.probes.process_memory import ProcessMemoryProbe

TYPE_CHECKING = False  # importing typing would leave it resident in the program's process
if TYPE_CHECKING:
    from typing import Any

    from gcscope.monitoring import Monitor


def window_capture(monitor: Monitor, window: float | None) -> dict[str, Any]:
    from gcscope.session import python_info

    state = monitor.state()
    now = time.perf_counter()
    events = state.events
    starts = events[0::EVENT_FIELDS]
    begin = monitor.started_perf
    if state.first > 0 and starts:  # the ring dropped older collections: start at its oldest
        begin = max(begin, starts[0])
    if window is not None:
        begin = max(begin, now - window)
    keep = next((i for i, start in enumerate(starts) if start >= begin), len(starts))
    kept = events[keep * EVENT_FIELDS :]
    clock = Clock()
    clock.origin = begin
    clock.started_at_epoch = monitor.started_epoch + (begin - monitor.started_perf)
    wall = max(now - begin, 0.0)

    view = copy.copy(monitor.probe)
    view.ring = False
    view.clock = clock
    view.events = array("d", kept)
    view.overflow = GcFigures()  # zeros: every figure comes from the window's events
    view.overflow.ensure_sites(MAX_SITES + 1)  # the recorder's slots, "other" last
    view.overflow_hist = array("q", bytes(8 * MAX_GENERATIONS * HIST_BUCKETS))
    view.stats_end = view._read_stats()
    view.reconcile_totals = RingTotals(state)  # the whole monitoring period

    capture: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "gcscope", "version": __version__},
        "argv": list(monitor.argv),
        "cwd": os.getcwd(),
        "exit_code": 0,
        "ended_by": "dump",
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(clock.started_at_epoch)),
        "python": python_info(),
        "wall_seconds": round(wall, 6),
        "monitor": {
            "pid": os.getpid(),
            "window_seconds": round(wall, 6),
            "window_asked_seconds": window,
            "monitoring_since": time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime(monitor.started_epoch)
            ),
            "collections_since_monitoring_began": state.recorded,
            "ring_size": monitor.probe.max_events,
            "ring_held_every_collection": state.complete,
        },
    }
    memory = ProcessMemoryProbe(clock, interval=0)
    memory.stop()  # no samples: the process's peak RSS (its lifetime's high-water mark)
    memory.contribute(capture)
    view.contribute(capture, wall)
    capture["gc"]["events"]["kept"] = "latest"  # the window: the ring's latest events
    return capture
