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
from gcscope.own_objects import set_aside_own
from gcscope.periodic import ForkResume
from gcscope.probes.gc_events import GcEventProbe
from gcscope.probes.process_memory import ProcessMemoryProbe

TYPE_CHECKING = False  # importing typing would leave it resident in the program's process
if TYPE_CHECKING:
    from typing import Any

    from gcscope.probes.allocations import AllocationProbe
    from gcscope.probes.cycles import CycleProbe
    from gcscope.probes.types import TypeProbe


class SessionOptions:
    """What to measure; defaults are the cheap, always-on probes."""

    __slots__ = (
        "allocations",
        "cycles",
        "frames",
        "max_events",
        "monitor",
        "rss_interval",
        "sample_every",
        "sharing",
        "snapshot_interval",
    )

    def __init__(
        self,
        *,
        rss_interval: float = 0.1,
        max_events: int = 20_000,
        allocations: bool | str | None = False,
        frames: int = 1,
        snapshot_interval: float | None = None,
        cycles: bool = False,
        sample_every: int | None = None,
        monitor: bool = False,
        sharing: bool = False,
    ) -> None:
        self.rss_interval = rss_interval
        self.max_events = max_events
        self.allocations = allocation_mode(allocations)
        self.frames = frames
        self.snapshot_interval = snapshot_interval
        self.cycles = cycles
        self.sharing = sharing  # shared and private memory (smaps_rollup): with --follow
        # monitor mode (--serve-metrics, --dump-signal): bounded C tables, a ring of events
        self.monitor = monitor
        self.sample_every = sample_every


ALLOCATION_MODES = ("exact", "sampled")


def allocation_mode(value: bool | str | None) -> str | None:
    """`allocations=` as a mode: True means exact (tracemalloc), False/None off."""
    if value is True:
        return "exact"
    if not value:
        return None
    if value not in ALLOCATION_MODES:
        raise ValueError(f"allocations must be one of {ALLOCATION_MODES}, True or False")
    return str(value)


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
        self.gc_probe = GcEventProbe(
            self.clock, max_events=self.options.max_events, ring=self.options.monitor
        )
        self.memory_probe = ProcessMemoryProbe(
            self.clock, interval=self.options.rss_interval, sharing=self.options.sharing
        )
        self.allocation_probe: AllocationProbe | None = None
        self.type_probe: TypeProbe | None = None
        if self.options.allocations:
            from gcscope.probes.allocations import (
                DEFAULT_SAMPLE_EVERY,
                AllocationProbe,
                sampler_seed,
            )
            from gcscope.probes.types import TypeProbe

            sampled = self.options.allocations == "sampled"
            self.allocation_probe = AllocationProbe(
                self.clock,
                self.options.frames,
                self.options.snapshot_interval,
                own_collections=self.gc_probe.forcing,
                mode=self.options.allocations,
                sample_every=self.options.sample_every or DEFAULT_SAMPLE_EVERY,
                seed=sampler_seed() if sampled else 0,
            )
            self.type_probe = TypeProbe()
        self.cycle_probe: CycleProbe | None = None
        if self.options.cycles:
            from gcscope.probes.cycles import CycleProbe

            self.cycle_probe = CycleProbe(
                garbage_at_start=self.gc_probe.garbage_at_start,
                forcing=self.gc_probe.forcing,
                # creation sites come from tracemalloc: exact mode only
                with_sites=self.allocation_probe is not None
                and self.allocation_probe.source.mode == "exact",
            )
            self.gc_probe.harvest = self.cycle_probe.harvest
        self.python = python_info()
        self.wall_seconds = 0.0
        # `gcscope run` gives the program the collector's counters as gcscope found them;
        # `gcscope.watch` measures a block of a program already running: nothing to give
        self.restore_collector = False
        # modules in the process that python running the program would not have imported
        # (`runpy`, when `python -m gcscope` runs a script): set aside with gcscope's own
        self.foreign_modules: frozenset[str] = frozenset()
        self.footprint: dict[str, Any] = {}
        self.extra_roots: tuple[Any, ...] = ()  # more of gcscope's objects (the run's own)
        self.entry_module: Any = None  # the `__main__` gcscope started as (`gcscope run`)
        self._fork_resume = ForkResume(self._resume_threads)
        self.stopped = False
        # where the program's starting collector counters come from (gcscope.startup_probe)
        self.collector_state_source: Any = None
        # hooks for tools that run the program through `gcscope run` (`gcscope tune`:
        # gcscope/tuning/child.py): called last in `program_starts`, once the program is
        # compiled and the counters restored, right before its first line (the probes'
        # gc callbacks are in place: its own goes after them); and extra capture
        # sections, name -> callable run at capture
        self.before_program: Any = None
        self.extra_sections: dict[str, Any] = {}
        self._collector_state: Any = None  # what restore_collector_state was given

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
        if self.restore_collector:  # gcscope run: the process is the program's from here
            # the standard modules gcscope imported are the program's if it imports them
            # too, except `array` (gcscope's buffers), not in python's start-up: its
            # module, type and descriptors are set aside with gcscope's objects (a program
            # that imports it finds them there, outside its collections: they live as
            # long as the process anyway)
            added = (frozenset({"array"}) - gcscope.MODULES_AT_START) | self.foreign_modules
            # `array` imports `collections.abc`, which python's start-up does not
            brought = frozenset({"collections.abc"}) if "array" in added else frozenset()
            brought -= gcscope.MODULES_AT_START
            self.footprint["modules_set_aside"] = sorted(added)  # before: it is set aside
            self.footprint["objects_set_aside"] = set_aside_own(
                self.own_roots(), added, brought, self.entry_module
            )
            measured = self.collector_state_source() if self.collector_state_source else None
            self._collector_state = measured
            self.footprint["collector_counters"] = restore_collector_state(measured)
        self.clock.reset()
        self.gc_probe.start()  # last: it reads gc.get_stats() as the program starts

    def before_fork(self) -> None:
        """gcscope's threads step aside while the program forks (see gcscope.endings)."""
        self.memory_probe.pause()
        if self.allocation_probe is not None:
            self.allocation_probe.stop_interval()

    def after_fork_parent(self) -> None:
        """gcscope's threads come back once the fork is over (see `ForkResume`)."""
        self._fork_resume.schedule()

    def _resume_threads(self) -> None:
        if self.stopped:  # (ForkResume runs this only in the process that asked)
            return
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
        self._fork_resume.schedule(0.0)

    def detach_in_child(self) -> None:
        """A forked child runs as under plain python: every probe comes off, at once."""
        self.gc_probe.detach()
        self.memory_probe.forget_thread()
        if self.cycle_probe is not None:
            self.cycle_probe.detach()
        if self.allocation_probe is not None:
            self.allocation_probe.detach_in_child()

    def program_starts(self) -> None:
        """Called by the runner right before the program's first line (after it compiled it).

        With --cycles --allocations, the cycle probe empties the free lists there with a
        full collection of gcscope's; that moved the collector's counters, so they are
        put back as the program must find them, and the collection is not counted.
        """
        if self.cycle_probe is not None:
            forced = self.gc_probe.forced_collections
            full_before = forced[2]  # no list or tuple of ours may be freed after the collection
            drained = self.cycle_probe.program_starts() and self.restore_collector
            if drained and restore_collector_state(self._collector_state).startswith("as "):
                forced[2] = full_before  # erased from the collector's figures too
        if self.before_program is not None:
            self.before_program()  # last (gcscope tune's candidate settings)

    def program_ends(self) -> None:
        """Called as soon as the program's last non-daemon thread is done.

        From here, what daemon threads still do is not the program's (python would be
        exiting): the cycle harvest stops counting their garbage.
        """
        if self.cycle_probe is not None:
            self.cycle_probe.program_ends()

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
        for name, produce in self.extra_sections.items():
            capture[name] = produce()
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
        # gcscope.watch: a block of a running program, whose counters are its own
        "collector_counters": "untouched (a block of a running program)",
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
