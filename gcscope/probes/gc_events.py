"""The GC event probe: every collection, through `gc.callbacks`, into flat buffers.

The callback runs inside the collector, on whichever thread triggered it, for
every collection of the run. So it:

* takes no locks (the collector may run while this thread holds any lock);
* never raises (everything is inside `try`; a KeyboardInterrupt that lands in it
  is re-delivered through `SigintGuard`, because CPython would otherwise
  print "Exception ignored" and drop the user's Ctrl-C);
* stores one row of numbers per collection into a buffer the collector does not
  traverse (an `array.array`, or the C recorder's own memory): a list of tuples
  would itself slow down every full collection, inflating the pauses we measure.
  Per-generation and per-site totals are summed after the run (`GcTotals`), except
  for collections past the event cap, which are aggregated as they happen;
* reads the clock last in "start" and first in "stop", so its own work is not
  counted as pause.

Two implementations record the same rows into the same tables: the C recorder
(`gcscope._gcrecorder`, built at install; about a tenth of the cost per
collection) and the Python callback below, used where the C recorder was not built
(`GCSCOPE_CALLBACK=python` forces it).

The Python callback has an observer effect on threaded programs that no care inside
it can remove: the interpreter may hand the GIL to another thread at the callback's
first instruction, while the collector holds its `collecting` flag, and what that
thread allocates meanwhile triggers no collection (four threads making pairs: a
quarter of plain Python's collections). So it measures the effect: the gen-0 count
it finds on entry beyond what the collector itself leaves there is allocations other
threads made inside the collection; `observer_effect` in the capture turns that into
an estimate of the collections missed. The C recorder runs no bytecode: no effect.

With --cycles, the cycle probe's harvest frees each collection's saved garbage as
the collector would have, inside the same collection; that time is added to the
pause, where plain Python spends it. The C harvest (`gcscope._gcharvest`) is a gc
callback of its own, just before the recorder, and writes the seconds it spent
analysing (not pause) into `excluded`; the Python fallback harvest is called from
the Python callback's "stop" and returns the seconds it spent freeing.

Monitor mode (`ring=True`, for `gcscope.monitor()` and `gcscope run --serve-metrics`)
needs the C recorder: it keeps the latest `max_events` collections in a ring and
everything else in bounded cumulative tables, with no Python code per collection
(see gcscope/probes/gc_ring.py); the capture's figures then come from those tables.

Trigger sites are the frame running when the collection started: the innermost
frame outside gcscope ("where") and the innermost frame in the program's own
code, outside the standard library and site-packages ("program line").
"""

from __future__ import annotations

import _signal
import _thread
import gc
import os
import sys
import time
import types
from array import array

from gcscope.build import free_threaded, library_folders
from gcscope.clock import Clock
from gcscope.paths import PACKAGE_DIR

TYPE_CHECKING = False  # importing typing would leave it resident in the program's process
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

MAX_GENERATIONS = 8  # slots; CPython reports 2 (3.14.0-3.14.4) or 3 generations
MAX_STACK_WALK = 48
LINE_SPAN = 1 << 24
HIST_MIN_SECONDS = 1e-7
HIST_GROWTH = 1.02  # histogram buckets 2% wide: percentiles to within ~1%
HIST_BUCKETS = 1200
# one stored collection: start (s, on the perf clock), generation, pause (s),
# collected, uncollectable, trigger-site slot
EVENT_FIELDS = 6
EVENT_COLUMNS = ("start_ns", "generation", "pause_ns", "collected", "uncollectable", "site")

# the frames of monitor mode's slot for sites past its bound (gc_ring.MAX_SITES)
OTHER_SITE_FRAME = {"filename": "<other trigger sites>", "lineno": 0, "function": "untracked"}

# where a frame's code lives; the runner's `run` is where the program's stack ends
KIND_PROGRAM, KIND_LIBRARY, KIND_GCSCOPE, KIND_RUNNER = 0, 1, 2, 3


class SigintGuard:
    """Keeps Ctrl-C from being lost inside the gc callback.

    CPython drops any exception raised in a gc callback, and the interpreter may
    raise KeyboardInterrupt on the callback's very first instruction, before its
    `try` (seen on 3.10). Re-arming the signal from inside the callback does not
    help: the interpreter checks again right after the re-arming call, still
    inside. So while the callback is on the stack, the SIGINT handler starts a
    short-lived thread that re-arms the signal (`interrupt_main`) from outside a
    moment later, and it fires in the program's own frame once the collector
    returns. Outside the callback the handler is exactly
    `signal.default_int_handler`. Installed only over the default handler, from
    the main thread, and hidden from the program (`signal.getsignal` shows the
    default, see `gcscope.endings.HiddenHandlers`). No thread of gcscope's exists
    until a Ctrl-C lands in the callback.
    """

    def __init__(self) -> None:
        self.guarded_code: Any = None
        self.installed = False

    @staticmethod
    def _relay() -> None:
        time.sleep(0.001)  # give the collector a moment to return
        _thread.interrupt_main()

    def defer(self) -> None:
        """Ask for SIGINT to be delivered again, from outside the collector."""
        from gcscope.periodic import start_thread  # signals sent to the process stay main's

        try:
            start_thread(self._relay, ())
        except Exception:
            _thread.interrupt_main()

    def handler(self, signum: int, frame: Any) -> None:
        depth = 0
        while frame is not None and depth < 16:
            if frame.f_code is self.guarded_code:
                self.defer()
                return
            frame = frame.f_back
            depth += 1
        _signal.default_int_handler(signum, frame)

    def install(self, guarded_code: Any) -> None:
        from gcscope.endings import HIDDEN_HANDLERS

        self.guarded_code = guarded_code
        self.installed = HIDDEN_HANDLERS.install(
            _signal.SIGINT, self.handler, shown_as=_signal.default_int_handler
        )

    def uninstall(self) -> None:
        if self.installed:
            from gcscope.endings import HIDDEN_HANDLERS

            HIDDEN_HANDLERS.restore(_signal.SIGINT)
        self.installed = False


# bucket b > 0 holds pauses in (HIST_MIN * GROWTH**(b-1), HIST_MIN * GROWTH**b]
_HIST_UPPERS = array("d", [HIST_MIN_SECONDS * HIST_GROWTH**b for b in range(HIST_BUCKETS)])


def hist_bucket(seconds: float) -> int:
    """The log bucket of a pause: a binary search (the callback imports nothing)."""
    uppers = _HIST_UPPERS
    low, high = 0, HIST_BUCKETS - 1
    while low < high:
        middle = (low + high) // 2
        if seconds <= uppers[middle]:
            high = middle
        else:
            low = middle + 1
    return low


def hist_bucket_upper(bucket: int) -> float:
    return HIST_MIN_SECONDS * HIST_GROWTH**bucket


class GcEventProbe:
    """Collects per-collection events and exact per-generation aggregates."""

    name = "gc"

    def __init__(
        self, clock: Clock, max_events: int = 20_000, guard_sigint: bool = True, ring: bool = False
    ) -> None:
        self.clock = clock
        # monitor mode: the latest max_events in a C ring, bounded C tables for the rest
        self.ring = ring
        self.ring_state: Any = None  # gc_ring.RecorderState, read when the probe stops
        # what the get_stats check compares with, when not the capture's own totals (a
        # monitor's dump: the whole monitoring period, not just the dumped window)
        self.reconcile_totals: Any = None
        self.guard_sigint = guard_sigint
        self.max_events = max_events
        slots = MAX_GENERATIONS
        # the timeline: EVENT_FIELDS numbers per collection, up to max_events. Under the
        # cap this one `extend` is all the callback stores; aggregates are summed after
        # the run (on 3.10 every array item store goes through PyArg_Parse)
        self.events = array("d")
        # past the cap: exact sums per generation and per site, and pauses for percentiles
        self.overflow = GcFigures()
        self.overflow_hist = array("q", [0] * (slots * HIST_BUCKETS))  # log-bucketed
        self.forced_collections = array("q", [0] * slots)
        # [0] callback errors, [1] durations reported by the interpreter, [2] allocations
        # other threads made inside collections (Python callback), [3] collections with some
        self.counters = array("q", [0, 0, 0, 0])
        # trigger sites: code objects interned to small ints; site key -> slot
        self.codes: list[Any] = []
        # keyed by id(): a code object's own hash covers its constants, nested code
        # objects included, on every lookup; `codes` keeps each one alive, so ids stay
        self.code_index: dict[int, int] = {}
        self.code_kind = bytearray()
        self.site_slot: dict[int, int] = {}
        self.site_program = array("q")
        self.site_inner = array("q")
        # with --cycles: len(gc.garbage) when the current collection began, and the
        # cycle probe's harvest: a Python function called at "stop" (returns the seconds
        # it spent freeing), or the C harvester, a gc callback of its own
        self.garbage_at_start = array("q", [0])
        self.harvest: Any = None
        # seconds the C harvest spent analysing in the current collection (not pause)
        self.excluded = array("d", [0.0])
        # the collection under way: [0] its start on the perf clock, [1] its site slot
        self._pending = array("d", [0.0, 0.0])
        self._forcing = bytearray(1)
        self._forcing_block = _Forcing(self._forcing)
        self._library = library_folders()
        # the program's own folders inside a library folder (`-m pkg` of an installed pkg)
        self.program_folders: tuple[str, ...] = ()
        self._callback: Callable[[str, dict[str, Any]], None] | None = None
        self.callback_kind = ""  # "C recorder" or "Python", once built
        self._sigint_guard = SigintGuard()
        self.stats_start: list[dict[str, Any]] = []
        self.stats_end: list[dict[str, Any]] = []

    # -- code classification (once per code object, never per collection) --
    def _kind_of(self, code: Any) -> int:
        filename = code.co_filename
        if filename.startswith(PACKAGE_DIR):
            if filename.endswith(("runner.py", "commands/run.py")):
                return KIND_RUNNER  # running or finding the program: its stack ends here
            if filename.endswith("endings.py"):
                return KIND_LIBRARY  # os/signal wrappers, called by the program's own code
            return KIND_GCSCOPE
        if self.program_folders and filename.startswith(self.program_folders):
            return KIND_PROGRAM
        if filename.startswith("<") or filename.startswith(self._library):
            return KIND_LIBRARY  # frozen, built-in, and code generated from strings
        return KIND_PROGRAM

    # `_intern` and `_new_site` are Python the collector's callback calls: the program's
    # signal handlers can run between any two of their calls, and raise (a SIGTERM
    # handler's sys.exit). So their tables grow in an order where an interrupted call
    # leaves nothing half-made that anything reads: the table that counts grows last,
    # the lookup that finds an entry is written after it, what an interrupted call
    # appended past the count is dropped or reused by the next call, and the figures'
    # tables are grown to a length (idempotent), not appended to.
    def _intern(self, code: Any) -> int:
        kind = self._kind_of(code)
        index = len(self.code_kind)
        del self.codes[index:]
        self.codes.append(code)
        self.code_kind.append(kind)
        self.code_index[id(code)] = index
        return index

    def mark_program_code(self, code: Any) -> None:
        """A `-c` command's code (and the functions it defines) is the program's own,
        though its file name, "<string>", is also that of code generated from strings."""
        stack = [code]
        while stack:
            current = stack.pop()
            index = self.code_index.get(id(current))
            if index is None:
                index = self._intern(current)
            self.code_kind[index] = KIND_PROGRAM
            stack.extend(c for c in current.co_consts if isinstance(c, type(current)))

    def _new_site(self, program_key: int, inner_key: int) -> int:
        """A slot for a trigger site seen for the first time (rare: once per site)."""
        key = (program_key << 48) | inner_key
        slot = len(self.site_inner)
        known = self.site_slot.get(key)
        if (  # made by a call interrupted at its end
            known is not None
            and known < slot
            and (self.site_program[known], self.site_inner[known]) == (program_key, inner_key)
        ):
            return known
        self.overflow.ensure_sites(slot + 1)  # (monitor mode's views keep one more)
        del self.site_program[slot:]
        self.site_program.append(program_key)
        self.site_slot[key] = slot
        self.site_inner.append(inner_key)
        return slot

    def _past_cap(
        self, generation: int, pause: float, collected: int, uncollectable: int, slot: int
    ) -> None:
        """Exact aggregates for a collection the timeline has no room for."""
        self.overflow.add(generation, pause, collected, uncollectable, slot)
        self.overflow_hist[generation * HIST_BUCKETS + hist_bucket(pause)] += 1

    def _c_harvester(self) -> Any:
        """The C harvester (a gc callback of its own), or None: no harvest, or a Python one."""
        harvest = self.harvest
        if harvest is None or isinstance(harvest, (types.FunctionType, types.MethodType)):
            return None
        return harvest

    def _build_callback(self) -> Callable[[str, dict[str, Any]], None]:
        """The C recorder when it was built and can do the job, else the Python callback."""
        # a free-threaded interpreter would re-enable its GIL to load an extension that
        # does not declare it safe without one: that would change what we measure
        python_harvest = self.harvest is not None and self._c_harvester() is None
        usable = not python_harvest and not free_threaded()
        if self.ring:
            return self._monitor_recorder(usable)
        if usable and os.environ.get("GCSCOPE_CALLBACK") != "python":
            try:
                from gcscope._gcrecorder import Recorder
            except ImportError:
                pass
            else:
                return self._c_recorder(Recorder)
        self.callback_kind = "Python"
        return self._python_callback()

    def _c_recorder(self, recorder_type: Any) -> Any:
        """The C recorder, writing into this probe's tables."""
        self.callback_kind = "C recorder"
        return recorder_type(
            code_index=self.code_index,
            code_kind=self.code_kind,
            intern=self._intern,
            new_site=self._new_site,
            past_cap=self._past_cap,
            defer_sigint=self._sigint_guard.defer,
            forcing=self._forcing,
            forced=self.forced_collections,
            counters=self.counters,
            perf=time.perf_counter,
            cap=self.max_events,
            excluded=self.excluded,
        )

    def _monitor_recorder(self, usable: bool) -> Any:
        """The C recorder in monitor mode (no Python callback can keep its promises)."""
        try:
            if not usable:
                raise ImportError
            from gcscope._gcrecorder import Recorder
        except ImportError:
            raise RuntimeError(
                "gcscope monitoring needs gcscope's C recorder (gcscope._gcrecorder), which "
                "this install lacks (no C compiler at install time, or a free-threaded "
                "Python): a Python gc callback would run bytecode inside every collection"
            ) from None
        from gcscope.probes.gc_ring import MAX_CODES, MAX_SITES, PAUSE_BUCKETS

        recorder = self._c_recorder(Recorder)
        recorder.enable_monitor(
            ring=max(1, self.max_events),
            bounds=PAUSE_BUCKETS,
            fine_uppers=_HIST_UPPERS,
            max_sites=MAX_SITES,
            max_codes=MAX_CODES,
        )
        return recorder

    def read_ring(self, since: int = 0) -> Any:
        """Monitor mode: one consistent copy of the recorder's tables (a RecorderState)."""
        from gcscope.probes.gc_ring import MAX_SITES, RecorderState

        return RecorderState(self._callback.monitor_state(since), MAX_SITES)  # type: ignore[union-attr]

    def _python_callback(self) -> Callable[[str, dict[str, Any]], None]:
        perf = time.perf_counter
        getframe = sys._getframe
        redeliver_sigint = self._sigint_guard.defer
        code_index, code_kind, intern = self.code_index, self.code_kind, self._intern
        site_slot, new_site = self.site_slot, self._new_site
        pending, forcing = self._pending, self._forcing
        forced, counters = self.forced_collections, self.counters
        events, past_cap = self.events, self._past_cap
        cap = self.max_events * EVENT_FIELDS
        harvest = None if self._c_harvester() is not None else self.harvest
        garbage, garbage_at_start = gc.garbage, self.garbage_at_start
        excluded = self.excluded
        get_count = gc.get_count
        # what the gen-0 count is on entry when no other thread ran inside the collection:
        # at "start" the allocation that crossed the threshold (3.12+: a few more before the
        # eval breaker ran it); at "stop" zero, the collector having reset it
        start_floor = gc.get_threshold()[0] + 1 + (64 if sys.version_info >= (3, 12) else 0)
        span = LINE_SPAN

        def on_gc(phase: str, info: dict[str, Any]) -> None:
            try:
                unseen = get_count()[0]  # first: what other threads allocated meanwhile
                if phase == "start":
                    unseen -= start_floor
                    if unseen > 0:
                        counters[2] += unseen
                        counters[3] += 1
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
                        index = code_index.get(id(code))
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
                    # program frame (none when only library code ran) and innermost frame,
                    # each packed into one int
                    program_key = (program + 1) * span + program_line
                    inner_key = (inner + 1) * span + inner_line
                    key = (program_key << 48) | inner_key
                    slot = site_slot.get(key)
                    if slot is None:
                        slot = new_site(program_key, inner_key)
                    pending[1] = slot
                    pending[0] = perf()
                    return
                end = perf()
                if unseen > 0:
                    counters[2] += unseen
                    counters[3] += 1
                generation = info["generation"]
                if forcing[0]:
                    forced[generation] += 1
                    excluded[0] = 0.0
                    if harvest is not None:  # gcscope's collection, the program's garbage
                        harvest(info["uncollectable"], generation)
                    return
                duration = info.get("duration")
                if duration is None:
                    pause = end - pending[0] - excluded[0]  # the C harvest's analysis
                    excluded[0] = 0.0
                else:
                    pause = duration
                    counters[1] += 1
                if harvest is not None:  # freeing the batch is part of what the pause would be
                    pause += harvest(info["uncollectable"], generation)
                if len(events) < cap:
                    events.extend(
                        (
                            pending[0],
                            generation,
                            pause,
                            info["collected"],
                            info["uncollectable"],
                            pending[1],
                        )
                    )
                else:
                    past_cap(
                        generation,
                        pause,
                        info["collected"],
                        info["uncollectable"],
                        int(pending[1]),
                    )
            except KeyboardInterrupt:
                redeliver_sigint()  # CPython drops exceptions raised in callbacks
            except BaseException:
                counters[0] += 1

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
        harvester = self._c_harvester()
        if harvester is not None and harvester.excluded is not None:
            self.excluded = harvester.excluded  # where it writes its analysis time
        if self._callback is None:
            self._callback = self._build_callback()
            # the C recorder runs no Python code of its own for a KeyboardInterrupt to hit
            if self.guard_sigint and self.callback_kind == "Python":
                self._sigint_guard.install(self._callback.__code__)

    def start(self) -> None:
        self.prepare()
        assert self._callback is not None
        harvester = self._c_harvester()
        if harvester is not None:
            # the harvest first, so callbacks the program registered earlier (gcscope.watch)
            # never see the saved garbage in gc.garbage, as they would not without us;
            # the recorder right after it, so the pause it times includes the freeing
            gc.callbacks.insert(0, harvester)
            gc.callbacks.insert(1, self._callback)
        elif self.harvest is not None:
            gc.callbacks.insert(0, self._callback)
        else:
            gc.callbacks.append(self._callback)
        self.stats_start = self._read_stats()

    def detach(self) -> None:
        """In a forked child: the callbacks come off, nothing is recorded or kept."""
        for callback in (self._callback, self._c_harvester()):
            if callback is not None and callback in gc.callbacks:
                gc.callbacks.remove(callback)
        self._sigint_guard.installed = False  # the fork hook restored the handler

    def restart_in_child(self) -> None:
        """In a followed forked child: only the child's own collections from here on.

        The callback stays installed (the child inherited it); the rows, overflow
        figures and counters inherited from the parent are zeroed in place (the
        callback holds them), and the collector's statistics are read again as the
        child's starting point. Trigger-site tables are kept: they are only keys.
        """
        if self.callback_kind == "C recorder":
            self._callback.reset()  # type: ignore[union-attr]
        del self.events[:]
        self.overflow.zero()
        for table in (self.overflow_hist, self.forced_collections, self.counters):
            table[:] = array(table.typecode, [0]) * len(table)
        self.stats_start = self._read_stats()

    def stop(self) -> None:
        self.stats_end = self._read_stats()
        for callback in (self._callback, self._c_harvester()):
            if callback is not None and callback in gc.callbacks:
                gc.callbacks.remove(callback)
        self._sigint_guard.uninstall()
        if self.ring:
            self.ring_state = self.read_ring()
            self.events = self.ring_state.events
        elif self.callback_kind == "C recorder":
            self.events = array("d", self._callback.events())  # type: ignore[union-attr]

    def forcing(self) -> _Forcing:
        """`with probe.forcing():` collections run inside are gcscope's own, not the program's.

        With --cycles their garbage is still harvested: it is the program's. One
        context manager object serves every use, so using it allocates nothing that
        could show up in the program's allocation tables.
        """
        return self._forcing_block

    # -- turning buffers into capture data (after the run; may allocate freely) --
    def site_frames(self, slot: int) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The (program frame, innermost frame) of a trigger-site slot."""
        if slot >= len(self.site_program):  # monitor mode's slot for untracked sites
            return OTHER_SITE_FRAME, OTHER_SITE_FRAME
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

    def totals(self) -> GcFigures:
        """Exact per-generation and per-site figures: the stored timeline plus overflow
        (monitor mode: the recorder's cumulative tables)."""
        if self.ring:
            from gcscope.probes.gc_ring import RingTotals

            return RingTotals(self.ring_state)
        return GcTotals(self)

    def contribute(self, capture: dict[str, Any], wall_seconds: float) -> None:
        """Add generations, trigger sites, the event timeline and the get_stats check."""
        from gcscope.stats import PERCENTILES, histogram_rank, nearest_rank

        totals = self.totals()
        generations_seen = [g for g in range(MAX_GENERATIONS) if totals.collections[g]]
        count = max(len(self.stats_start), (max(generations_seen) + 1) if generations_seen else 0)
        stored = len(self.events) // EVENT_FIELDS
        total_events = sum(totals.collections)
        exact = total_events == stored
        generations = []
        for g in range(count):
            n = totals.collections[g]
            pauses = sorted(totals.stored_pauses[g])
            if exact:
                ranks = {p: nearest_rank(pauses, p) for p in PERCENTILES}
            else:
                counts = self._hist_counts(g, totals, pauses)
                uppers = [hist_bucket_upper(b) for b in range(HIST_BUCKETS)]
                ranks = {
                    p: min(histogram_rank(counts, uppers, p), totals.max_pause[g])
                    for p in PERCENTILES
                }
            total = totals.pause[g]
            generations.append(
                {
                    "generation": g,
                    "collections": n,
                    "collected": totals.collected[g],
                    "uncollectable": totals.uncollectable[g],
                    "pause_ms": {
                        "total": _ms(total),
                        "mean": _ms(total / n if n else 0.0),
                        "p50": _ms(ranks[50]),
                        "p95": _ms(ranks[95]),
                        "p99": _ms(ranks[99]),
                        "max": _ms(totals.max_pause[g]),
                    },
                }
            )
        gc_seconds = sum(totals.pause)
        capture["generations"] = generations
        capture["gc_time_seconds"] = round(gc_seconds, 6)
        capture["gc_time_fraction"] = round(gc_seconds / wall_seconds, 6) if wall_seconds else 0.0
        sites, slot_order = self._sites(totals)
        capture["gc"] = {
            "percentiles": "nearest-rank, exact" if exact else "nearest-rank, 2% buckets",
            "pause_source": "interpreter" if self.counters[1] else "callback clock",
            "callback": self.callback_kind,
            "callback_errors": self.counters[0],
            "observer_effect": self._observer_effect(),
            "forced_by_gcscope": list(self.forced_collections[:count]),
            "get_stats": self._reconcile(count, self.reconcile_totals or totals),
            "sites": sites,
            "events": {
                "total": total_events,
                "stored": stored,
                "dropped": total_events - stored,
                "kept": "latest" if self.ring else "first",
                "columns": list(EVENT_COLUMNS),
                "rows": self._timeline_rows(slot_order),
            },
        }

    def _observer_effect(self) -> dict[str, Any] | None:
        """What the Python callback let other threads do inside collections (None: C recorder).

        Allocations other threads made while the collector held its `collecting` flag
        trigger no collection: about one gen-0 collection missed per threshold's worth.
        A lower bound: what they allocate while a Python harvest runs is not seen.
        """
        if self.callback_kind != "Python":
            return None
        threshold = max(gc.get_threshold()[0], 1)
        return {
            "collections_entered_late": self.counters[3],
            "allocations_unseen": self.counters[2],
            "estimated_missed_gen0_collections": self.counters[2] // threshold,
        }

    def _timeline_rows(self, slot_order: dict[int, int]) -> list[list[int | None]]:
        """The stored events as rows of integers (times in ns).

        Integers, not rounded floats: `round(x, 6)` and a float's JSON text each go
        through dtoa, several thousand instructions a number, for every event.
        """
        events = self.events
        nanoseconds = (1e9).__mul__
        since_origin = self.clock.origin.__rsub__  # x - origin
        columns = [
            map(round, map(nanoseconds, map(since_origin, events[0::EVENT_FIELDS]))),
            map(int, events[1::EVENT_FIELDS]),
            map(round, map(nanoseconds, events[2::EVENT_FIELDS])),
            map(int, events[3::EVENT_FIELDS]),
            map(int, events[4::EVENT_FIELDS]),
            map(slot_order.get, map(int, events[5::EVENT_FIELDS])),
        ]
        return list(map(list, zip(*columns)))

    def _sites(
        self, totals: GcTotals, limit: int = 1000
    ) -> tuple[list[dict[str, Any]], dict[int, int]]:
        seen = [slot for slot, n in enumerate(totals.site_collections) if n]
        slots = sorted(seen, key=lambda slot: -totals.site_pause[slot])[:limit]
        sites = []
        for slot in slots:
            program, where = self.site_frames(slot)
            row = totals.site_gen_collections[slot * MAX_GENERATIONS : (slot + 1) * MAX_GENERATIONS]
            sites.append(
                {
                    "program": program,
                    "where": where,
                    "collections": totals.site_collections[slot],
                    "collections_by_generation": list(row[: len(self.stats_start) or 3]),
                    "pause_ms": {
                        "total": _ms(totals.site_pause[slot]),
                        "max": _ms(totals.site_max[slot]),
                    },
                }
            )
        return sites, {slot: position for position, slot in enumerate(slots)}

    def _hist_counts(self, g: int, totals: Any, pauses: list[float]) -> list[int]:
        """Generation g's collections in the 2%-wide buckets: past-cap ones plus stored ones
        (monitor mode: the recorder counted every collection itself)."""
        fine = getattr(totals, "fine_counts", None)
        if fine is not None:
            return list(fine[g])
        counts = list(self.overflow_hist[g * HIST_BUCKETS : (g + 1) * HIST_BUCKETS])
        for pause in pauses:
            counts[hist_bucket(pause)] += 1
        return counts

    def _reconcile(self, count: int, totals: GcTotals) -> dict[str, Any]:
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
                "collections": totals.collections[g] + self.forced_collections[g],
                "collected": totals.collected[g],
                "uncollectable": totals.uncollectable[g],
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


class _Forcing:
    """The context manager of `GcEventProbe.forcing`: sets and clears the flag."""

    __slots__ = ("flag",)

    def __init__(self, flag: bytearray) -> None:
        self.flag = flag

    def __enter__(self) -> None:
        self.flag[0] = 1

    def __exit__(self, *exc_info: object) -> None:
        self.flag[0] = 0


class GcFigures:
    """Sums of collections per generation and per trigger-site slot, one `add` at a time."""

    NAMES = (
        "collections",
        "pause",
        "max_pause",
        "collected",
        "uncollectable",
        "site_collections",
        "site_pause",
        "site_max",
        "site_gen_collections",  # MAX_GENERATIONS per site
    )

    def __init__(self) -> None:
        slots = MAX_GENERATIONS
        self.collections: Any = array("q", [0] * slots)
        self.pause: Any = array("d", [0.0] * slots)
        self.max_pause: Any = array("d", [0.0] * slots)
        self.collected: Any = array("q", [0] * slots)
        self.uncollectable: Any = array("q", [0] * slots)
        self.site_collections: Any = array("q")
        self.site_pause: Any = array("d")
        self.site_max: Any = array("d")
        self.site_gen_collections: Any = array("q")

    def zero(self) -> None:
        """Every figure back to 0, in place (the arrays keep their length and identity)."""
        for name in GcFigures.NAMES:
            table = getattr(self, name)
            table[:] = array(table.typecode, [0]) * len(table)

    def ensure_sites(self, count: int) -> None:
        """Figures for at least `count` sites; a call interrupted halfway is completed
        by the next (zero-count sites are never reported)."""
        for table, length in (
            (self.site_collections, count),
            (self.site_pause, count),
            (self.site_max, count),
            (self.site_gen_collections, count * MAX_GENERATIONS),
        ):
            if len(table) < length:
                table.extend([0] * (length - len(table)))

    def add(
        self, generation: int, pause: float, collected: int, uncollectable: int, slot: int
    ) -> None:
        self.collections[generation] += 1
        self.pause[generation] += pause
        if pause > self.max_pause[generation]:
            self.max_pause[generation] = pause
        self.collected[generation] += collected
        self.uncollectable[generation] += uncollectable
        self.site_collections[slot] += 1
        self.site_pause[slot] += pause
        if pause > self.site_max[slot]:
            self.site_max[slot] = pause
        self.site_gen_collections[slot * MAX_GENERATIONS + generation] += 1


class GcTotals(GcFigures):
    """Exact figures for the whole run, summed once after it.

    Collections under the event cap are only in the timeline (the callback stores
    nothing else for them); those past it are only in the probe's overflow
    figures. These are the overflow figures with every stored row added, in lists.
    """

    def __init__(self, probe: GcEventProbe) -> None:  # no super(): copies, not zeros
        for name in GcFigures.NAMES:
            setattr(self, name, list(getattr(probe.overflow, name)))
        # pauses of the stored events, per generation (for exact percentiles)
        self.stored_pauses: list[list[float]] = [[] for _ in range(MAX_GENERATIONS)]
        events = probe.events
        rows = zip(
            map(int, events[1::EVENT_FIELDS]),
            events[2::EVENT_FIELDS],
            map(int, events[3::EVENT_FIELDS]),
            map(int, events[4::EVENT_FIELDS]),
            map(int, events[5::EVENT_FIELDS]),
        )
        for generation, pause, collected, uncollectable, slot in rows:
            self.stored_pauses[generation].append(pause)
            self.add(generation, pause, collected, uncollectable, slot)


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 4)
