"""Allocation sites and their growth, from tracemalloc snapshots.

`Snapshot.statistics`, `filter_traces` and `compare_to` are Python loops over
every trace: on millions of live blocks they cost several times the snapshot
itself. So the raw traces are aggregated once per traceback at C speed (identical
tracebacks share one tuple object, so they are keyed by `id`), and the few
thousand resulting sites are filtered and compared after. At the end, tracing is
stopped (when gcscope started it) before aggregating, so gcscope's own work is not
traced and slowed by tracemalloc.
"""

from __future__ import annotations

import gc
import os
import tracemalloc
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from operator import itemgetter
from typing import Any

from gcscope.clock import Clock
from gcscope.paths import PACKAGE_DIR
from gcscope.periodic import PeriodicThread

Frames = tuple[tuple[str, int], ...]  # raw tracemalloc traceback, most recent call first
SiteTable = dict[Frames, tuple[int, int]]  # traceback -> (size_bytes, count)

_EXCLUDED_PREFIXES = (PACKAGE_DIR, os.path.dirname(tracemalloc.__file__) + os.sep + "tracemalloc")
_EXCLUDED_FILES = ("<frozen importlib._bootstrap>", "<frozen importlib._bootstrap_external>")
TOP_SITES = 50
_NO_FRAME = ("<unknown>", 0)  # tracemalloc's traceback for an allocation with no Python frame


def _is_own(filename: str) -> bool:
    return filename.startswith(_EXCLUDED_PREFIXES) or filename in _EXCLUDED_FILES


def raw_traces() -> list[tuple[Any, ...]]:
    """The traces of a fresh snapshot, as tracemalloc's raw tuples."""
    snapshot = tracemalloc.take_snapshot()
    traces = getattr(snapshot.traces, "_traces", None)
    if traces is None:  # a future tracemalloc without the private list
        return [
            (t.domain, t.size, tuple((f.filename, f.lineno) for f in t.traceback), 0)
            for t in snapshot.traces
        ]
    return traces


def aggregate(traces: list[tuple[Any, ...]]) -> SiteTable:
    """Sum size and count per traceback, with no per-trace Python code."""
    tracebacks = list(map(itemgetter(2), traces))
    by_size = Counter(zip(map(id, tracebacks), map(itemgetter(1), traces)))
    frames_of = dict(zip(map(id, tracebacks), tracebacks))
    table: SiteTable = {}
    for (key, size), count in by_size.items():
        frames = frames_of[key]
        old_size, old_count = table.get(frames, (0, 0))
        table[frames] = (old_size + size * count, old_count + count)
    return table


def program_sites(table: SiteTable) -> SiteTable:
    """Drop gcscope's, tracemalloc's and import machinery's allocations; trim gcscope frames.

    A traceback keeps its frames up to the first gcscope frame (the runner that
    called the program), so `--frames 10` shows the program's stack, not ours.
    Allocations with no Python frame at all (a thread starting or ending, such as
    gcscope's sampler's) cannot be put on any line of the program: left out too.
    """
    sites: SiteTable = {}
    for frames, (size, count) in table.items():
        if not frames or frames[0] == _NO_FRAME or _is_own(frames[0][0]):
            continue
        kept = []
        for frame in frames:
            if frame[0].startswith(PACKAGE_DIR):
                break
            kept.append(frame)
        key = tuple(kept)
        old_size, old_count = sites.get(key, (0, 0))
        sites[key] = (old_size + size, old_count + count)
    return sites


class AllocationProbe:
    """tracemalloc snapshots at start, every `interval` seconds, and at the end."""

    name = "allocations"

    def __init__(
        self,
        clock: Clock,
        frames: int = 1,
        interval: float | None = None,
        own_collections: Callable[[], AbstractContextManager[None]] = nullcontext,
    ) -> None:
        self.clock = clock
        self.own_collections = own_collections
        self.frames = frames
        self.interval = interval
        self.started_here = False
        self.first: SiteTable = {}
        self.last: SiteTable = {}
        self.snapshot_times: list[float] = []
        # sites that grew in every interval so far, with their size at each snapshot
        self.steady: dict[Frames, list[int]] | None = None
        self.previous: SiteTable = {}
        self.lost = False
        self._thread = PeriodicThread(interval or 0.0, self._interval_snapshot)
        # the first Counter(zip(...)) fills ABC caches (isinstance(zip, Mapping)): do it
        # before tracing starts, so those entries never look like the program's growth
        Counter(zip((), ()))

    def _snapshot(self, stop_tracing: bool = False) -> SiteTable:
        """One snapshot, aggregated, with the collector paused (the GIL is held anyway).

        Any collection that still slips in is marked as gcscope's own, not the program's.
        """
        with self.own_collections():
            was_enabled = gc.isenabled()
            gc.disable()
            try:
                traces = raw_traces()
                if stop_tracing:
                    tracemalloc.stop()  # aggregate untraced: several times faster
                table = program_sites(aggregate(traces))
                del traces
            finally:
                if was_enabled:
                    gc.enable()
        self.snapshot_times.append(round(self.clock.now(), 4))
        return table

    def start(self) -> None:
        self.started_here = not tracemalloc.is_tracing()
        if self.started_here:
            tracemalloc.start(self.frames)
        self.frames = tracemalloc.get_traceback_limit()
        self.first = self.previous = self._snapshot()
        self._thread.start()

    def _interval_snapshot(self) -> None:
        if tracemalloc.is_tracing():
            self._track_steady(self._snapshot())

    def _track_steady(self, table: SiteTable, final: bool = False) -> None:
        """Keep the sites that grew in every interval. The final one may be a sliver, and
        the snapshot before it may have caught the program mid-line, with a few
        temporaries alive: it adds growth, but never disqualifies."""
        previous, self.previous = self.previous, table
        if self.steady is None:  # first interval: every site that grew is a candidate
            self.steady = {
                frames: [previous.get(frames, (0, 0))[0], entry[0]]
                for frames, entry in table.items()
                if entry[0] > previous.get(frames, (0, 0))[0]
            }
            return
        for frames in list(self.steady):
            size = table.get(frames, (0, 0))[0]
            history = self.steady[frames]
            if size > history[-1]:
                history.append(size)
            elif not final:
                del self.steady[frames]

    def own_roots(self) -> tuple[Any, ...]:
        """gcscope's containers, so type counts can leave them out."""
        return (self.first, self.last, self.previous, self.steady, self.snapshot_times)

    def stop_interval(self) -> None:
        """End the interval snapshots (first thing at the end of the run: a snapshot's
        own collections must not race the other probes' final work; also before a fork)."""
        self._thread.stop()

    def resume_interval(self) -> None:
        self._thread.start()

    def detach_in_child(self) -> None:
        """A forked child runs as under plain python: no interval thread, no tracing
        that gcscope started."""
        self._thread.forget()
        if self.started_here and tracemalloc.is_tracing():
            tracemalloc.stop()

    def restart_in_child(self) -> None:
        """In a followed forked child: tracing goes on (inherited); the child's growth is
        measured from a first snapshot taken now. The interval thread starts again with
        `resume_interval`."""
        self._thread.forget()
        self.snapshot_times = []
        self.steady = None
        self.last = {}
        if tracemalloc.is_tracing():
            self.first = self.previous = self._snapshot()

    def stop(self) -> None:
        self.stop_interval()
        if not tracemalloc.is_tracing():
            self.lost = True  # the program stopped tracemalloc: its traces are gone
            return
        self.last = self._snapshot(stop_tracing=self.started_here)
        if self.steady is not None:
            self._track_steady(self.last, final=True)

    def contribute(self, capture: dict[str, Any]) -> None:
        section: dict[str, Any] = {
            "frames": self.frames,
            "interval_s": self.interval,
            "snapshots": len(self.snapshot_times),
            "snapshot_times_s": self.snapshot_times,
            "started_by": "gcscope" if self.started_here else "program",
        }
        capture["allocations"] = section
        if self.lost:
            section["error"] = "the program stopped tracemalloc; no final snapshot"
            section["top_sites"] = section["growth"] = []
            return
        section["total_size_bytes"] = sum(size for size, _ in self.last.values())
        section["growth_total_bytes"] = section["total_size_bytes"] - sum(
            size for size, _ in self.first.values()
        )
        section["total_count"] = sum(count for _, count in self.last.values())
        top = sorted(self.last.items(), key=lambda item: -item[1][0])[:TOP_SITES]
        section["top_sites"] = [
            _site(frames, size_bytes=size, count=count) for frames, (size, count) in top
        ]
        growth = []
        for frames in set(self.first) | set(self.last):
            size_after, count_after = self.last.get(frames, (0, 0))
            size_before, count_before = self.first.get(frames, (0, 0))
            if size_after != size_before or count_after != count_before:
                growth.append((frames, size_after - size_before, count_after - count_before))
        growth.sort(key=lambda item: (-item[1], -item[2]))
        section["growth"] = [
            _site(frames, size_diff_bytes=size, count_diff=count)
            for frames, size, count in growth[:TOP_SITES]
        ]
        if self.steady is not None:
            steady = sorted(self.steady.items(), key=lambda item: item[1][0] - item[1][-1])
            section["steady_growth"] = [
                _site(
                    frames,
                    size_diff_bytes=history[-1] - history[0],
                    intervals=len(history) - 1,
                    sizes_bytes=history,
                )
                for frames, history in steady[:TOP_SITES]
                if len(history) >= 3  # grew in at least two intervals, and in every one
            ]


def _site(frames: Frames, **figures: Any) -> dict[str, Any]:
    """A capture row: the innermost frame's file and line, the whole traceback if longer."""
    filename, lineno = frames[0] if frames else ("<unknown>", 0)
    row: dict[str, Any] = {"filename": filename, "lineno": lineno, **figures}
    if len(frames) > 1:
        row["traceback"] = [[f, n] for f, n in frames]
    return row
