"""The GC event probe: every collection, through `gc.callbacks`, into flat buffers.

The callback runs inside the collector, on whichever thread triggered it, for
every collection of the run. So it:

* takes no locks (the collector may run while this thread holds any lock);
* never raises (everything is inside `try`; a KeyboardInterrupt that lands in it
  is re-delivered through `SigintGuard`, because CPython would otherwise
  print "Exception ignored" and drop the user's Ctrl-C);
* stores into `array.array` buffers and int/float-only dicts, which the
  collector does not traverse: a list of tuples would itself slow down every full
  collection, inflating the pauses we measure;
* reads the clock last in "start" and first in "stop", so its own work is not
  counted as pause.

With `--cycles`, the "stop" phase also hands the collection's saved garbage to
the cycle probe's `harvest`, which frees it as the collector would have; the
seconds that takes are added to the pause, where plain Python would spend them.

Trigger sites are the frame running when the collection started: the innermost
frame outside gcscope ("where") and the innermost frame in the program's own
code, outside the standard library and site-packages ("program line").
"""

from __future__ import annotations

import _thread
import functools
import gc
import math
import os
import signal
import sys
import sysconfig
import threading
import time
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from gcscope.clock import Clock
from gcscope.paths import PACKAGE_DIR
from gcscope.stats import PERCENTILES, histogram_rank, nearest_rank

TYPE_CHECKING = False  # importing typing would leave it resident in the program's process
if TYPE_CHECKING:
    from typing import Any

MAX_GENERATIONS = 8  # slots; CPython reports 2 (3.14.0-3.14.4) or 3 generations
MAX_STACK_WALK = 48
LINE_SPAN = 1 << 24
HIST_MIN_SECONDS = 1e-7
HIST_GROWTH = 1.02  # histogram buckets 2% wide: percentiles to within ~1%
HIST_BUCKETS = 1200

# where a frame's code lives; the runner's `run` is where the program's stack ends
KIND_PROGRAM, KIND_LIBRARY, KIND_GCSCOPE, KIND_RUNNER = 0, 1, 2, 3


@functools.cache
def _library_prefixes() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    prefixes = {
        paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths
    }
    prefixes.update(p for p in sys.path if p.endswith(("site-packages", "dist-packages")))
    return tuple(os.path.join(p, "") for p in prefixes if p)


class SigintGuard:
    """Keeps Ctrl-C from being lost inside the gc callback.

    CPython drops any exception raised in a gc callback, and the interpreter may
    raise KeyboardInterrupt on the callback's very first instruction, before its
    `try` (seen on 3.10). Re-arming the signal from inside the callback does not
    help: the interpreter checks again right after the re-arming call, still
    inside. So while the callback is on the stack, the SIGINT handler only writes
    a byte to a pipe; a daemon thread blocked on that pipe re-arms the signal
    (`interrupt_main`) from outside, and it fires in the program's own frame once
    the collector returns. Outside the callback the handler is exactly
    `signal.default_int_handler`. Installed only over the default handler, from
    the main thread; `os.write` takes no lock and is async-signal-safe.
    """

    def __init__(self) -> None:
        self.guarded_code: Any = None
        self.installed = False
        self._write_fd = -1

    def defer(self) -> None:
        """Ask for SIGINT to be delivered again, from outside the collector."""
        if self._write_fd < 0:
            _thread.interrupt_main()
            return
        try:
            os.write(self._write_fd, b"!")
        except OSError:
            pass

    def handler(self, signum: int, frame: Any) -> None:
        depth = 0
        while frame is not None and depth < 16:
            if frame.f_code is self.guarded_code:
                self.defer()
                return
            frame = frame.f_back
            depth += 1
        signal.default_int_handler(signum, frame)

    @staticmethod
    def _relay(read_fd: int) -> None:
        while os.read(read_fd, 64):
            time.sleep(0.001)  # give the collector a moment to return
            _thread.interrupt_main()
        os.close(read_fd)

    def install(self, guarded_code: Any) -> None:
        self.guarded_code = guarded_code
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            return
        read_fd, self._write_fd = os.pipe()
        threading.Thread(
            target=self._relay, args=(read_fd,), name="gcscope-sigint", daemon=True
        ).start()
        signal.signal(signal.SIGINT, self.handler)
        self.installed = True

    def uninstall(self) -> None:
        if self.installed and signal.getsignal(signal.SIGINT) == self.handler:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        self.installed = False
        if self._write_fd >= 0:
            os.close(self._write_fd)  # the relay thread sees end-of-file and exits
            self._write_fd = -1


def hist_bucket(seconds: float) -> int:
    if seconds <= HIST_MIN_SECONDS:
        return 0
    bucket = int(math.log(seconds / HIST_MIN_SECONDS) / math.log(HIST_GROWTH)) + 1
    return min(bucket, HIST_BUCKETS - 1)


def hist_bucket_upper(bucket: int) -> float:
    return HIST_MIN_SECONDS * HIST_GROWTH**bucket


class GcEventProbe:
    """Collects per-collection events and exact per-generation aggregates."""

    name = "gc"

    def __init__(self, clock: Clock, max_events: int = 20_000, guard_sigint: bool = True) -> None:
        self.clock = clock
        self.guard_sigint = guard_sigint
        self.max_events = max_events
        slots = MAX_GENERATIONS
        # exact aggregates, whatever the number of events
        self.agg_collections = array("q", [0] * slots)
        self.agg_pause = array("d", [0.0] * slots)
        self.agg_max = array("d", [0.0] * slots)
        self.agg_collected = array("q", [0] * slots)
        self.agg_uncollectable = array("q", [0] * slots)
        self.forced_collections = array("q", [0] * slots)
        # [0] events seen, [1] callback errors, [2] durations reported by the interpreter
        self.counters = array("q", [0, 0, 0])
        # the timeline, up to max_events
        self.ev_start = array("d")
        self.ev_generation = array("b")
        self.ev_pause = array("d")
        self.ev_collected = array("q")
        self.ev_uncollectable = array("q")
        self.ev_site = array("q")
        # pauses of events past the cap, for percentiles (log-bucketed)
        self.overflow_hist = array("q", [0] * (slots * HIST_BUCKETS))
        # trigger sites: code objects interned to small ints; site key -> slot
        self.codes: list[Any] = []
        self.code_index: dict[Any, int] = {}
        self.code_kind = bytearray()
        self.site_slot: dict[int, int] = {}
        self.site_program = array("q")
        self.site_inner = array("q")
        self.site_collections = array("q")
        self.site_pause = array("d")
        self.site_max = array("d")
        self.site_gen_collections = array("q")
        # with --cycles: len(gc.garbage) when the current collection began, and the
        # cycle probe's harvest, called at "stop" (returns the seconds it spent freeing)
        self.garbage_at_start = array("q", [0])
        self.harvest: Callable[[int], float] | None = None
        self._pending_start = array("d", [0.0])
        self._pending_site = array("q", [0, 0])
        self._forcing = bytearray(1)
        self._library = _library_prefixes()
        self._callback: Callable[[str, dict[str, Any]], None] | None = None
        self._sigint_guard = SigintGuard()
        self.stats_start: list[dict[str, Any]] = []
        self.stats_end: list[dict[str, Any]] = []

    # -- code classification (once per code object, never per collection) --
    def _kind_of(self, code: Any) -> int:
        filename = code.co_filename
        if filename.startswith(PACKAGE_DIR):
            is_runner = filename.endswith("runner.py") and code.co_name == "run"
            return KIND_RUNNER if is_runner else KIND_GCSCOPE
        if filename.startswith(("<frozen", "<built")) or filename.startswith(self._library):
            return KIND_LIBRARY
        return KIND_PROGRAM

    def _intern(self, code: Any) -> int:
        index = len(self.codes)
        self.codes.append(code)
        self.code_kind.append(self._kind_of(code))
        self.code_index[code] = index
        return index

    def _build_callback(self) -> Callable[[str, dict[str, Any]], None]:
        perf = time.perf_counter
        getframe = sys._getframe
        redeliver_sigint = self._sigint_guard.defer
        origin = self.clock.origin
        code_index, code_kind, intern = self.code_index, self.code_kind, self._intern
        pending_start, pending_site, forcing = (
            self._pending_start,
            self._pending_site,
            self._forcing,
        )
        agg_n, agg_pause, agg_max = self.agg_collections, self.agg_pause, self.agg_max
        agg_collected, agg_uncollectable = self.agg_collected, self.agg_uncollectable
        forced, counters = self.forced_collections, self.counters
        ev_start, ev_generation, ev_pause = self.ev_start, self.ev_generation, self.ev_pause
        ev_collected, ev_uncollectable, ev_site = (
            self.ev_collected,
            self.ev_uncollectable,
            self.ev_site,
        )
        overflow_hist, bucket_of = self.overflow_hist, hist_bucket
        site_slot, site_n = self.site_slot, self.site_collections
        site_program, site_inner = self.site_program, self.site_inner
        site_pause, site_max, site_gen_n = self.site_pause, self.site_max, self.site_gen_collections
        cap = self.max_events
        harvest, garbage, garbage_at_start = self.harvest, gc.garbage, self.garbage_at_start
        slots = MAX_GENERATIONS
        zero_row = array("q", [0] * slots)
        buckets = HIST_BUCKETS
        span = LINE_SPAN

        def on_gc(phase: str, info: dict[str, Any]) -> None:
            try:
                if phase == "start":
                    if harvest is not None:
                        garbage_at_start[0] = len(garbage)
                    if forcing[0]:
                        return
                    inner = program = -1
                    inner_line = program_line = 0
                    frame = getframe(1)
                    depth = 0
                    while frame is not None and depth < MAX_STACK_WALK:
                        code = frame.f_code
                        index = code_index.get(code)
                        if index is None:
                            index = intern(code)
                        kind = code_kind[index]
                        if kind == KIND_PROGRAM:
                            program, program_line = index, frame.f_lineno or 0
                            if inner < 0:
                                inner, inner_line = program, program_line
                            break
                        if kind == KIND_LIBRARY:
                            if inner < 0:
                                inner, inner_line = index, frame.f_lineno or 0
                        elif kind == KIND_RUNNER:
                            break  # the program's stack ends here
                        else:  # gcscope's own work, or library code it called
                            inner, inner_line = -1, 0
                            break
                        frame = frame.f_back
                        depth += 1
                    if program < 0:
                        program, program_line = inner, inner_line
                    # program frame and innermost frame, each packed into one int
                    pending_site[0] = (program + 1) * span + program_line
                    pending_site[1] = (inner + 1) * span + inner_line
                    pending_start[0] = perf()
                    return
                end = perf()
                generation = info["generation"]
                if forcing[0]:
                    forced[generation] += 1
                    if harvest is not None:  # gcscope's collection, the program's garbage
                        harvest(info["uncollectable"])
                    return
                duration = info.get("duration")
                if duration is None:
                    pause = end - pending_start[0]
                else:
                    pause = duration
                    counters[2] += 1
                if harvest is not None:  # freeing the batch is part of what the pause would be
                    pause += harvest(info["uncollectable"])
                agg_n[generation] += 1
                agg_pause[generation] += pause
                if pause > agg_max[generation]:
                    agg_max[generation] = pause
                collected, uncollectable = info["collected"], info["uncollectable"]
                agg_collected[generation] += collected
                agg_uncollectable[generation] += uncollectable
                seen = counters[0]
                counters[0] = seen + 1
                program_key, inner_key = pending_site[0], pending_site[1]
                key = (program_key << 48) | inner_key
                slot = site_slot.get(key)
                if slot is None:
                    slot = len(site_program)
                    site_slot[key] = slot
                    site_program.append(program_key)
                    site_inner.append(inner_key)
                    site_n.append(0)
                    site_pause.append(0.0)
                    site_max.append(0.0)
                    site_gen_n.extend(zero_row)
                site_n[slot] += 1
                site_pause[slot] += pause
                if pause > site_max[slot]:
                    site_max[slot] = pause
                site_gen_n[slot * slots + generation] += 1
                if seen < cap:
                    ev_start.append(pending_start[0] - origin)
                    ev_generation.append(generation)
                    ev_pause.append(pause)
                    ev_collected.append(collected)
                    ev_uncollectable.append(uncollectable)
                    ev_site.append(slot)
                else:
                    overflow_hist[generation * buckets + bucket_of(pause)] += 1
            except KeyboardInterrupt:
                redeliver_sigint()  # CPython drops exceptions raised in callbacks
            except BaseException:
                counters[1] += 1

        return on_gc

    @staticmethod
    def _read_stats() -> list[dict[str, Any]]:
        """gc.get_stats() with collection paused, so reading cannot itself trigger one."""
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return [dict(entry) for entry in gc.get_stats()]
        finally:
            if was_enabled:
                gc.enable()

    def prepare(self) -> None:
        """Build the callback and the SIGINT guard (objects that must predate type counts)."""
        if self._callback is None:
            self._callback = self._build_callback()
            if self.guard_sigint:
                self._sigint_guard.install(self._callback.__code__)

    def start(self) -> None:
        self.prepare()
        assert self._callback is not None
        if self.harvest is not None:
            # first in line, so callbacks the program registered earlier (gcscope.watch)
            # never see the saved garbage in gc.garbage, as they would not without us
            gc.callbacks.insert(0, self._callback)
        else:
            gc.callbacks.append(self._callback)
        self.stats_start = self._read_stats()

    def stop(self) -> None:
        self.stats_end = self._read_stats()
        if self._callback is not None and self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)
        self._sigint_guard.uninstall()

    @contextmanager
    def forcing(self) -> Iterator[None]:
        """Collections run inside this block are gcscope's own, not the program's.

        With --cycles their garbage is still harvested: it is the program's.
        """
        self._forcing[0] = 1
        try:
            yield
        finally:
            self._forcing[0] = 0

    # -- turning buffers into capture data (after the run; may allocate freely) --
    def site_frames(self, slot: int) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The (program frame, innermost frame) of a trigger-site slot."""
        program, program_line = divmod(self.site_program[slot], LINE_SPAN)
        inner, inner_line = divmod(self.site_inner[slot], LINE_SPAN)
        return self._frame(program - 1, program_line), self._frame(inner - 1, inner_line)

    def _frame(self, index: int, line: int) -> dict[str, Any] | None:
        if index < 0:
            return None
        code = self.codes[index]
        return {
            "filename": code.co_filename,
            "lineno": line,
            "function": getattr(code, "co_qualname", code.co_name),
        }

    def contribute(self, capture: dict[str, Any], wall_seconds: float) -> None:
        """Add generations, trigger sites, the event timeline and the get_stats check."""
        generations_seen = [g for g in range(MAX_GENERATIONS) if self.agg_collections[g]]
        count = max(len(self.stats_start), (max(generations_seen) + 1) if generations_seen else 0)
        stored = len(self.ev_pause)
        total_events = self.counters[0]
        by_generation: list[list[float]] = [[] for _ in range(count)]
        for generation, pause in zip(self.ev_generation, self.ev_pause):
            by_generation[generation].append(pause)
        generations = []
        exact = total_events == stored
        for g in range(count):
            n = self.agg_collections[g]
            pauses = sorted(by_generation[g])
            if exact:
                ranks = {p: nearest_rank(pauses, p) for p in PERCENTILES}
            else:
                counts = list(self.overflow_hist[g * HIST_BUCKETS : (g + 1) * HIST_BUCKETS])
                for pause in pauses:
                    counts[hist_bucket(pause)] += 1
                uppers = [hist_bucket_upper(b) for b in range(HIST_BUCKETS)]
                ranks = {
                    p: min(histogram_rank(counts, uppers, p), self.agg_max[g]) for p in PERCENTILES
                }
            total = self.agg_pause[g]
            generations.append(
                {
                    "generation": g,
                    "collections": n,
                    "collected": self.agg_collected[g],
                    "uncollectable": self.agg_uncollectable[g],
                    "pause_ms": {
                        "total": _ms(total),
                        "mean": _ms(total / n if n else 0.0),
                        "p50": _ms(ranks[50]),
                        "p95": _ms(ranks[95]),
                        "p99": _ms(ranks[99]),
                        "max": _ms(self.agg_max[g]),
                    },
                }
            )
        gc_seconds = sum(self.agg_pause[g] for g in range(MAX_GENERATIONS))
        capture["generations"] = generations
        capture["gc_time_seconds"] = round(gc_seconds, 6)
        capture["gc_time_fraction"] = round(gc_seconds / wall_seconds, 6) if wall_seconds else 0.0
        sites, slot_order = self._sites()
        capture["gc"] = {
            "percentiles": "nearest-rank, exact" if exact else "nearest-rank, 2% buckets",
            "pause_source": "interpreter" if self.counters[2] else "callback clock",
            "callback_errors": self.counters[1],
            "forced_by_gcscope": list(self.forced_collections[:count]),
            "get_stats": self._reconcile(count),
            "sites": sites,
            "events": {
                "total": total_events,
                "stored": stored,
                "dropped": total_events - stored,
                "columns": [
                    "start_s",
                    "generation",
                    "pause_ms",
                    "collected",
                    "uncollectable",
                    "site",
                ],
                "rows": [
                    [
                        round(self.ev_start[i], 6),
                        self.ev_generation[i],
                        _ms(self.ev_pause[i]),
                        self.ev_collected[i],
                        self.ev_uncollectable[i],
                        slot_order.get(self.ev_site[i]),
                    ]
                    for i in range(stored)
                ],
            },
        }

    def _sites(self, limit: int = 1000) -> tuple[list[dict[str, Any]], dict[int, int]]:
        slots = sorted(range(len(self.site_program)), key=lambda s: -self.site_pause[s])[:limit]
        sites = []
        for slot in slots:
            program, where = self.site_frames(slot)
            row = self.site_gen_collections[slot * MAX_GENERATIONS : (slot + 1) * MAX_GENERATIONS]
            sites.append(
                {
                    "program": program,
                    "where": where,
                    "collections": self.site_collections[slot],
                    "collections_by_generation": list(row[: len(self.stats_start) or 3]),
                    "pause_ms": {
                        "total": _ms(self.site_pause[slot]),
                        "max": _ms(self.site_max[slot]),
                    },
                }
            )
        return sites, {slot: position for position, slot in enumerate(slots)}

    def _reconcile(self, count: int) -> dict[str, Any]:
        """Compare the callback's counts with gc.get_stats() over the same window."""
        mismatches = []
        delta = []
        for g in range(min(len(self.stats_start), len(self.stats_end))):
            change = {
                key: self.stats_end[g].get(key, 0) - self.stats_start[g].get(key, 0)
                for key in ("collections", "collected", "uncollectable")
            }
            delta.append(change)
            seen = {
                "collections": self.agg_collections[g] + self.forced_collections[g],
                "collected": self.agg_collected[g],
                "uncollectable": self.agg_uncollectable[g],
            }
            if change["collections"] != seen["collections"]:
                mismatches.append(
                    f"generation {g}: get_stats counted {change['collections']} collections, "
                    f"callbacks saw {seen['collections']}"
                )
        return {
            "start": self.stats_start,
            "end": self.stats_end,
            "delta": delta,
            "reconciled": not mismatches,
            "mismatches": mismatches,
        }


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 4)
