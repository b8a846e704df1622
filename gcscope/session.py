"""A profiling session: start the probes, let the program run, stop them, build the capture.

The session knows nothing about how the program is run (see `runner`), nor how
results are shown (see `reporters`): it only turns probe buffers into the capture
dictionary, once, after the run.
"""

from __future__ import annotations

import gc
import os
import sys
import time

import gcscope
from gcscope import __version__
from gcscope.build import free_threaded
from gcscope.capture import SCHEMA_VERSION
from gcscope.clock import Clock
from gcscope.probes.gc_events import GcEventProbe
from gcscope.probes.process_memory import ProcessMemoryProbe

TYPE_CHECKING = False  # importing typing would leave it resident in the program's process
if TYPE_CHECKING:
    from typing import Any

    from gcscope.probes.allocations import AllocationProbe
    from gcscope.probes.cycles import CycleProbe
    from gcscope.probes.types import TypeProbe


FORK_RESUME_DELAY = 0.005  # seconds after a fork before gcscope's threads restart


class SessionOptions:
    """What to measure; defaults are the cheap, always-on probes."""

    __slots__ = (
        "allocations",
        "cycles",
        "frames",
        "max_events",
        "rss_interval",
        "sharing",
        "snapshot_interval",
    )

    def __init__(
        self,
        *,
        rss_interval: float = 0.1,
        max_events: int = 20_000,
        allocations: bool = False,
        frames: int = 1,
        snapshot_interval: float | None = None,
        cycles: bool = False,
        sharing: bool = False,
    ) -> None:
        self.rss_interval = rss_interval
        self.max_events = max_events
        self.allocations = allocations
        self.frames = frames
        self.snapshot_interval = snapshot_interval
        self.cycles = cycles
        self.sharing = sharing  # shared and private memory (smaps_rollup): with --follow


def collector_kind() -> str:
    """Which collector this interpreter runs (GC-FACTS.md, "When collections run")."""
    if free_threaded():
        return "free-threaded"
    if (3, 14, 0) <= sys.version_info[:3] < (3, 14, 5):
        return "incremental"
    return "generational"


def python_info() -> dict[str, Any]:
    return {
        "version": sys.version.split()[0],
        "implementation": sys.implementation.name,
        "executable": sys.executable,
        "collector": collector_kind(),
        "gc_threshold": list(gc.get_threshold()),
        "gc_enabled_at_start": gc.isenabled(),
    }


class Session:
    """Owns the clock and the probes for one measured run."""

    def __init__(self, options: SessionOptions | None = None) -> None:
        self.options = options or SessionOptions()
        self.clock = Clock()
        self.gc_probe = GcEventProbe(self.clock, max_events=self.options.max_events)
        self.memory_probe = ProcessMemoryProbe(
            self.clock, interval=self.options.rss_interval, sharing=self.options.sharing
        )
        self.allocation_probe: AllocationProbe | None = None
        self.type_probe: TypeProbe | None = None
        if self.options.allocations:
            from gcscope.probes.allocations import AllocationProbe
            from gcscope.probes.types import TypeProbe

            self.allocation_probe = AllocationProbe(
                self.clock,
                self.options.frames,
                self.options.snapshot_interval,
                own_collections=self.gc_probe.forcing,
            )
            self.type_probe = TypeProbe()
        self.cycle_probe: CycleProbe | None = None
        if self.options.cycles:
            from gcscope.probes.cycles import CycleProbe

            self.cycle_probe = CycleProbe(
                garbage_at_start=self.gc_probe.garbage_at_start,
                forcing=self.gc_probe.forcing,
                with_sites=self.options.allocations,
            )
            self.gc_probe.harvest = self.cycle_probe.harvest
        self.python = python_info()
        self.wall_seconds = 0.0
        # `gcscope run` gives the program the collector's counters as gcscope found them;
        # `gcscope.watch` measures a block of a program already running: nothing to give
        self.restore_collector = False
        self.footprint: dict[str, Any] = {}
        self.extra_roots: tuple[Any, ...] = ()  # more of gcscope's objects (the run's own)
        self._resume_at = 0.0
        self._resume_pid = 0
        self._call_soon: Any = None
        self.stopped = False
        # where the program's starting collector counters come from (gcscope.startup_probe)
        self.collector_state_source: Any = None

    def start(self) -> None:
        """Start the probes; the GC probe last, so their own start-up is not counted."""
        self.gc_probe.prepare()
        # psutil's import makes garbage and objects of its own: with --allocations or
        # --cycles it happens now, before the program's counts and harvest begin
        eager = self.type_probe is not None or self.cycle_probe is not None
        self.memory_probe.start(eager=eager)
        if self.allocation_probe is not None and self.type_probe is not None:
            self.type_probe.start(self.own_roots())  # before tracing: its counts aren't traced
            self.allocation_probe.start()
        self.footprint = start_footprint()
        if self.cycle_probe is not None:
            self.cycle_probe.start()  # its full collection also empties the free lists
        elif self.allocation_probe is not None and self.allocation_probe.started_here:
            # a full collection of gcscope's, late: it empties the interpreter's free
            # lists (3.10-3.12), so no object the program gets is reused from a block
            # allocated before tracing began (whose creation site would be unknown)
            gc.collect()
        if self.restore_collector:
            measured = self.collector_state_source() if self.collector_state_source else None
            self.footprint["collector_counters"] = restore_collector_state(measured)
        self.clock.reset()
        self.gc_probe.start()  # last: it reads gc.get_stats() as the program starts

    def before_fork(self) -> None:
        """gcscope's threads step aside while the program forks (see gcscope.endings)."""
        self.memory_probe.pause()
        if self.allocation_probe is not None:
            self.allocation_probe.stop_interval()

    def after_fork_parent(self) -> None:
        """gcscope's threads come back once the fork is over.

        Python 3.13 counts the process's threads for its fork warning after the fork
        hooks, and after any Python code they run; so the threads restart from a
        pending call (run between the program's own bytecodes) once a few
        milliseconds have passed, which os.fork() has long returned by.
        """
        self._schedule_resume(time.perf_counter() + FORK_RESUME_DELAY)

    def _schedule_resume(self, at: float) -> None:
        """Restart gcscope's threads from a pending call, at `at` (perf clock) or later.

        A pending call is interpreter state: one still pending at a fork runs in the
        child too, maybe in the middle of its fork hooks; it acts only in the process
        that asked for it.
        """
        self._resume_at = at
        self._resume_pid = os.getpid()
        try:
            from gcscope._gcstate import call_soon
        except ImportError:
            self._resume_threads()
        else:
            self._call_soon = call_soon
            if not call_soon(self._resume_threads):
                self._resume_threads()

    def _resume_threads(self) -> None:
        if self.stopped or os.getpid() != self._resume_pid:
            return
        if time.perf_counter() < self._resume_at and self._call_soon(self._resume_threads):
            return  # not yet: ask again at the next chance
        self.memory_probe.resume()
        if self.allocation_probe is not None:
            self.allocation_probe.resume_interval()

    def restart_in_child(self) -> None:
        """A followed forked child: the probes stay on and count the child's own work only.

        Heavier resets first (an allocation snapshot, type counts), then the clock,
        then the collector's statistics, as `start` does; gcscope's threads start
        again from a pending call, once os.fork() has returned.
        """
        if self.allocation_probe is not None and self.type_probe is not None:
            self.allocation_probe.restart_in_child()
            self.type_probe.start(self.own_roots())
        if self.cycle_probe is not None:
            self.cycle_probe.restart_in_child()
        self.footprint = {**self.footprint, "collector_counters": "inherited at fork"}
        self.stopped = False
        self.clock.reset()
        self.memory_probe.restart_in_child()  # its first sample: memory as the fork left it
        self.gc_probe.restart_in_child()
        self._schedule_resume(0.0)

    def detach_in_child(self) -> None:
        """A forked child runs as under plain python: every probe comes off, at once."""
        self.gc_probe.detach()
        self.memory_probe.forget_thread()
        if self.cycle_probe is not None:
            self.cycle_probe.detach()
        if self.allocation_probe is not None:
            self.allocation_probe.detach_in_child()

    def stop(self) -> None:
        """Stop the probes; the GC probe first, so their own collections are not counted."""
        self.wall_seconds = self.clock.now()
        self.stopped = True
        if self.allocation_probe is not None:
            self.allocation_probe.stop_interval()
        if self.cycle_probe is not None:
            self.cycle_probe.stop()  # the last harvest, before gcscope makes any garbage
        self.gc_probe.stop()
        if self.allocation_probe is not None and self.type_probe is not None:
            self.type_probe.collect()
            # the last snapshot before the RSS thread ends: a thread's exit allocates
            # (3.10), with no frame to tell it from the program's own
            self.allocation_probe.stop()
        self.memory_probe.stop()
        if self.allocation_probe is not None and self.type_probe is not None:
            self.type_probe.count_after((*self.allocation_probe.own_roots(), *self.own_roots()))
            self.type_probe.summarise_sizes(self.own_roots())

    def own_roots(self) -> tuple[Any, ...]:
        """gcscope's own buffers and tables, left out of the program's type counts and sizes."""
        gc_probe, memory = self.gc_probe, self.memory_probe
        own_modules = [
            module
            for name, module in list(sys.modules.items())
            if name == "gcscope" or name.startswith("gcscope.")
        ]
        return (
            *own_modules,
            *self.extra_roots,
            self,
            gc_probe,
            gc_probe.events,
            gc_probe.overflow,
            gc_probe.overflow_hist,
            gc_probe.forced_collections,
            gc_probe.counters,
            gc_probe.site_program,
            gc_probe.site_inner,
            gc_probe.garbage_at_start,
            memory,
            memory.times,
            memory.rss,
        )

    def capture(
        self, argv: list[str], exit_code: int, ended_by: str, **extra: Any
    ) -> dict[str, Any]:
        """Assemble the capture; call after `stop`."""
        capture: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": "gcscope", "version": __version__},
            "argv": list(argv),
            "cwd": os.getcwd(),
            "exit_code": exit_code,
            "ended_by": ended_by,
            "started_at": time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.clock.started_at_epoch)
            ),
            "python": self.python,
            "wall_seconds": round(self.wall_seconds, 6),
        }
        capture.update(extra)
        capture["gcscope"] = self.footprint
        self.memory_probe.contribute(capture)
        self.gc_probe.contribute(capture, self.wall_seconds)
        if self.allocation_probe is not None and self.type_probe is not None:
            self.allocation_probe.contribute(capture)
            self.type_probe.contribute(capture)
        if self.cycle_probe is not None:
            self.cycle_probe.contribute(capture)
        return capture


def start_footprint() -> dict[str, Any]:
    """What of gcscope's stays loaded while the program runs (modules it imported)."""
    loaded = list(sys.modules)
    own = [name for name in loaded if name == "gcscope" or name.startswith("gcscope.")]
    # array brings collections.abc (it registers itself as a MutableSequence)
    others = sorted(set(loaded) - gcscope.MODULES_AT_START - set(own))
    return {
        "modules_added": len(own) + len(others),
        "own_modules": len(own),
        "other_modules_added": others,
        "collector_counters": "not restored",
    }


def restore_collector_state(measured: tuple[int, ...] | None) -> str:
    """Give the program the collector's counters plain python would have given it.

    The counters decide when the program's first collections run; gcscope's own
    start-up moved them (see gcscope/_gcstate.c). `measured` comes from a fresh
    interpreter (gcscope.startup_probe); without it, the counters as gcscope's code
    first saw them. Called last before the program's first line. Returns how the
    counters were set, for the capture.
    """
    state = measured or gcscope.COLLECTOR_STATE_AT_START
    if state is None:
        return "not restored (no C helper)"
    from gcscope._gcstate import restore

    if not restore(state):
        return "not restored (not supported on this Python)"
    return "as a fresh interpreter starts" if measured else "as gcscope found them"
