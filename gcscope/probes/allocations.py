"""Allocation sites and their growth, from snapshots of tracemalloc or of the sampler.

Two sources feed the same tables (`SiteTable`: traceback -> figures), snapshot
at start, every `--interval` and at the end:

- exact (`--allocations`, `--allocations=exact`): tracemalloc, every live block;
- sampled (`--allocations=sampled`): `gcscope._allocsampler`, live blocks sampled
  by bytes, each counted with its inverse sampling probability, so sizes and
  counts are unbiased estimates with a known variance (docs/allocations.md).

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
import math
import os
import tracemalloc
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from operator import itemgetter

from gcscope.build import free_threaded
from gcscope.clock import Clock
from gcscope.errors import UsageError
from gcscope.paths import PACKAGE_DIR
from gcscope.periodic import PeriodicThread

TYPE_CHECKING = False  # importing typing would leave it resident in the program's process
if TYPE_CHECKING:
    from typing import Any

Frames = tuple[tuple[str, int], ...]  # raw traceback, most recent call first
# traceback -> (size_bytes, count) exact, or (size_bytes, count, variance, samples) sampled
SiteTable = dict[Frames, tuple[float, ...]]
Z95 = 1.959964  # a 95% interval is the estimate +- Z95 standard deviations

_EXCLUDED_PREFIXES = (PACKAGE_DIR, os.path.dirname(tracemalloc.__file__) + os.sep + "tracemalloc")
_EXCLUDED_FILES = ("<frozen importlib._bootstrap>", "<frozen importlib._bootstrap_external>")
TOP_SITES = 50
DEFAULT_SAMPLE_EVERY = 128 * 1024  # docs/allocations.md: why this rate
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
    Tracebacks that become equal are summed figure by figure.
    """
    sites: SiteTable = {}
    for frames, figures in table.items():
        if not frames or frames[0] == _NO_FRAME or _is_own(frames[0][0]):
            continue
        kept = []
        for frame in frames:
            if frame[0].startswith(PACKAGE_DIR):
                break
            kept.append(frame)
        key = tuple(kept)
        old = sites.get(key)
        sites[key] = figures if old is None else tuple(map(sum, zip(old, figures)))
    return sites


class TracemallocSource:
    """Exact mode: every live block, from tracemalloc (started here unless already on)."""

    mode = "exact"

    def __init__(self, frames: int) -> None:
        self.frames = frames
        self.started_here = False

    def start(self) -> None:
        self.started_here = not tracemalloc.is_tracing()
        if self.started_here:
            tracemalloc.start(self.frames)
        self.frames = tracemalloc.get_traceback_limit()

    def lost(self) -> str | None:
        if not tracemalloc.is_tracing():  # the program stopped it: its traces are gone
            return "the program stopped tracemalloc; no final snapshot"
        return None

    def table(self, final: bool) -> SiteTable:
        traces = raw_traces()
        if final and self.started_here:
            tracemalloc.stop()  # aggregate untraced: several times faster
        try:
            return aggregate(traces)
        finally:
            del traces

    def stop(self) -> None:
        """Nothing left to undo: the final `table` stopped tracing."""

    def detach_in_child(self) -> None:
        if self.started_here and tracemalloc.is_tracing():
            tracemalloc.stop()

    def describe(self) -> dict[str, Any]:
        return {"mode": self.mode, "estimated": False}


class SamplerSource:
    """Sampled mode: live blocks sampled by bytes, in `gcscope._allocsampler`.

    The sampler is imported when the source is made (before the type counts), so
    its module is never among the program's new objects.
    """

    mode = "sampled"

    def __init__(self, frames: int, sample_every: int, seed: int) -> None:
        from gcscope import _allocsampler

        self.sampler = _allocsampler
        self.frames = frames
        self.sample_every = sample_every
        self.seed = seed
        self.stats: dict[str, int] = {}
        self.removed = True

    def start(self) -> None:
        from gcscope.runner import Runner

        # frames below Runner.run are gcscope's, above it the program's (its whole
        # stack is classified per sample, so gcscope's own work is never sampled)
        self.sampler.start(
            self.sample_every, self.frames, self.seed, PACKAGE_DIR, Runner.run.__code__
        )

    def lost(self) -> str | None:
        stats = self.sampler.stats()
        if stats["installed"] and not stats["on_top"] and not tracemalloc.is_tracing():
            # a wrapper that was under us was removed (tracemalloc.stop() after
            # PYTHONTRACEMALLOC), and our hooks with it: frees were missed from then on
            return "the program replaced the memory allocator hooks; no final snapshot"
        return None

    def table(self, final: bool) -> SiteTable:
        rows = self.sampler.snapshot()
        if final:
            self.stats = self.sampler.stats()
        return {
            frames: (size, count, variance, samples)
            for frames, size, count, variance, samples in rows
        }

    def stop(self) -> None:
        if not self.stats:
            self.stats = self.sampler.stats()
        self.removed = self.sampler.stop()

    def detach_in_child(self) -> None:
        """In a forked child the hooks are already pass-through (the sampler's fork
        handler); this puts the interpreter's own allocators back as well."""
        self.sampler.stop()

    def describe(self) -> dict[str, Any]:
        section: dict[str, Any] = {
            "mode": self.mode,
            "estimated": True,
            "sample_every_bytes": self.sample_every,
            "confidence": 0.95,
            "sampler": {
                "seed": self.seed,
                "samples": self.stats.get("samples", 0),
                "own_discarded": self.stats.get("own", 0),
                "skipped_during_snapshots": self.stats.get("busy", 0),
                "dropped": self.stats.get("dropped", 0),
                "outside_main_interpreter": self.stats.get("elsewhere", 0),
                "hooks_removed": self.removed,
            },
        }
        return section


def sampler_seed() -> int:
    """GCSCOPE_SAMPLER_SEED (a whole number) for repeatable samples, else a random seed."""
    text = os.environ.get("GCSCOPE_SAMPLER_SEED", "").strip()
    if not text:
        return int.from_bytes(os.urandom(8), "little") or 1
    if not text.isdigit() or not 0 < int(text) < 2**64:
        raise UsageError(
            f"invalid GCSCOPE_SAMPLER_SEED {text!r} (expected a whole number from 1 to 2**64-1)"
        )
    return int(text)


def make_source(
    mode: str, frames: int, sample_every: int, seed: int
) -> tuple[TracemallocSource | SamplerSource, str | None]:
    """The source for `mode`, and why exact mode runs instead of sampled, if it does."""
    if mode == "sampled":
        if free_threaded():
            # its hooks lean on the GIL; loading it would also re-enable the GIL
            return TracemallocSource(frames), "free-threaded build (the sampler needs the GIL)"
        try:
            return SamplerSource(frames, sample_every, seed), None
        except ImportError as exc:
            reason = f"gcscope._allocsampler is not built ({exc}); install with a C compiler"
            return TracemallocSource(frames), reason
    return TracemallocSource(frames), None


class AllocationProbe:
    """Snapshots at start, every `interval` seconds, and at the end, from one source."""

    name = "allocations"

    def __init__(
        self,
        clock: Clock,
        frames: int = 1,
        interval: float | None = None,
        own_collections: Callable[[], AbstractContextManager[None]] = nullcontext,
        mode: str = "exact",
        sample_every: int = DEFAULT_SAMPLE_EVERY,
        seed: int = 0,
    ) -> None:
        self.clock = clock
        self.own_collections = own_collections
        self.interval = interval
        self.requested_mode = mode
        self.source, self.fallback = make_source(mode, frames, sample_every, seed or 1)
        self.first: SiteTable = {}
        self.last: SiteTable = {}
        self.snapshot_times: list[float] = []
        # sites that grew in every interval so far, with their size at each snapshot
        self.steady: dict[Frames, list[float]] | None = None
        self.previous: SiteTable = {}
        self.lost: str | None = None
        self._thread = PeriodicThread(interval or 0.0, self._interval_snapshot)
        # the first Counter(zip(...)) fills ABC caches (isinstance(zip, Mapping)): do it
        # before tracing starts, so those entries never look like the program's growth
        Counter(zip((), ()))

    @property
    def frames(self) -> int:
        return self.source.frames

    def _snapshot(self, final: bool = False) -> SiteTable:
        """One snapshot, aggregated, with the collector paused (the GIL is held anyway).

        Any collection that still slips in is marked as gcscope's own, not the program's.
        """
        with self.own_collections():
            was_enabled = gc.isenabled()
            gc.disable()
            try:
                table = program_sites(self.source.table(final))
            finally:
                if was_enabled:
                    gc.enable()
        self.snapshot_times.append(round(self.clock.now(), 4))
        return table

    def start(self) -> None:
        try:
            self.source.start()
        except RuntimeError as exc:  # a sampler already runs here (a watch inside a run)
            self.source, self.fallback = TracemallocSource(self.source.frames), str(exc)
            self.source.start()
        self.first = self.previous = self._snapshot()
        self._thread.start()

    def _interval_snapshot(self) -> None:
        if self.source.lost() is None:
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

    @property
    def started_here(self) -> bool:
        """gcscope started the allocation tracking (always, for the sampler)."""
        return not isinstance(self.source, TracemallocSource) or self.source.started_here

    def detach_in_child(self) -> None:
        """A forked child runs as under plain python: no interval thread, no tracing
        or sampling that gcscope started."""
        self._thread.forget()
        self.source.detach_in_child()

    def restart_in_child(self) -> None:
        """In a followed forked child: tracing or sampling goes on (inherited); the child's
        growth is measured from a first snapshot taken now. The interval thread starts again with
        `resume_interval`."""
        self._thread.forget()
        self.snapshot_times = []
        self.steady = None
        self.last = {}
        if self.source.lost() is None:  # tracemalloc, or the sampler: both inherited
            self.first = self.previous = self._snapshot()

    def stop(self) -> None:
        self.stop_interval()
        self.lost = self.source.lost()
        if self.lost is None:
            self.last = self._snapshot(final=True)
            if self.steady is not None:
                self._track_steady(self.last, final=True)
        self.source.stop()

    def contribute(self, capture: dict[str, Any]) -> None:
        section: dict[str, Any] = {
            **self.source.describe(),
            "frames": self.frames,
            "interval_s": self.interval,
            "snapshots": len(self.snapshot_times),
            "snapshot_times_s": self.snapshot_times,
            "started_by": (
                "program"
                if isinstance(self.source, TracemallocSource) and not self.source.started_here
                else "gcscope"
            ),
        }
        if self.fallback:
            section["requested_mode"] = self.requested_mode
            section["fallback_reason"] = self.fallback
        capture["allocations"] = section
        if self.lost:
            section["error"] = self.lost
            section["top_sites"] = section["growth"] = []
            return
        estimated = section["estimated"]
        figures = Figures(estimated)
        first, last = self.first, self.last
        section.update(figures.totals(first, last))
        top = sorted(last.items(), key=lambda item: -item[1][0])[:TOP_SITES]
        section["top_sites"] = [_site(frames, **figures.live(entry)) for frames, entry in top]
        growth = []
        for frames in set(first) | set(last):
            before, after = first.get(frames), last.get(frames)
            row = figures.change(before, after)
            if row["size_diff_bytes"] or row["count_diff"]:
                growth.append((frames, row))
        growth.sort(key=lambda item: (-item[1]["size_diff_bytes"], -item[1]["count_diff"]))
        section["growth"] = [_site(frames, **row) for frames, row in growth[:TOP_SITES]]
        if self.steady is not None:
            steady = sorted(self.steady.items(), key=lambda item: item[1][0] - item[1][-1])
            section["steady_growth"] = [
                _site(
                    frames,
                    size_diff_bytes=round(history[-1] - history[0]),
                    intervals=len(history) - 1,
                    sizes_bytes=[round(size) for size in history],
                )
                for frames, history in steady[:TOP_SITES]
                if len(history) >= 3  # grew in at least two intervals, and in every one
            ]


class Figures:
    """Capture figures from table entries: exact integers, or estimates with intervals.

    A sampled entry carries the variance of its size estimate; the variance of a
    difference of two snapshots is bounded by the sum of theirs (the blocks live in
    both cancel exactly, so this errs wide), and a 95% interval is +- Z95 sigma.
    """

    def __init__(self, estimated: bool) -> None:
        self.estimated = estimated

    @staticmethod
    def _error(variance: float) -> int:
        return round(Z95 * math.sqrt(max(variance, 0.0)))

    def live(self, entry: tuple[float, ...]) -> dict[str, Any]:
        row: dict[str, Any] = {"size_bytes": round(entry[0]), "count": round(entry[1])}
        if self.estimated:
            row["size_error_bytes"] = self._error(entry[2])
            row["samples"] = entry[3]
        return row

    def change(
        self, before: tuple[float, ...] | None, after: tuple[float, ...] | None
    ) -> dict[str, Any]:
        before = before or (0, 0, 0.0, 0)
        after = after or (0, 0, 0.0, 0)
        row: dict[str, Any] = {
            "size_diff_bytes": round(after[0] - before[0]),
            "count_diff": round(after[1]) - round(before[1]),
        }
        if self.estimated:
            row["size_diff_error_bytes"] = self._error(after[2] + before[2])
        return row

    def totals(self, first: SiteTable, last: SiteTable) -> dict[str, Any]:
        size_last = sum(entry[0] for entry in last.values())
        size_first = sum(entry[0] for entry in first.values())
        totals: dict[str, Any] = {
            "total_size_bytes": round(size_last),
            "growth_total_bytes": round(size_last) - round(size_first),
            "total_count": round(sum(entry[1] for entry in last.values())),
        }
        if self.estimated:
            variance_last = sum(entry[2] for entry in last.values())
            variance_first = sum(entry[2] for entry in first.values())
            totals["total_size_error_bytes"] = self._error(variance_last)
            totals["growth_total_error_bytes"] = self._error(variance_last + variance_first)
            totals["total_samples"] = sum(entry[3] for entry in last.values())
        return totals


def _site(frames: Frames, **figures: Any) -> dict[str, Any]:
    """A capture row: the innermost frame's file and line, the whole traceback if longer."""
    filename, lineno = frames[0] if frames else ("<unknown>", 0)
    row: dict[str, Any] = {"filename": filename, "lineno": lineno, **figures}
    if len(frames) > 1:
        row["traceback"] = [[f, n] for f, n in frames]
    return row
