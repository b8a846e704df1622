"""A profiling session: start the probes, let the program run, stop them, build the capture.

The session knows nothing about how the program is run (see `runner`), nor how
results are shown (see `reporters`): it only turns probe buffers into the capture
dictionary, once, after the run.
"""

from __future__ import annotations

import gc
import os
import sys
import sysconfig
import time

from gcscope import __version__
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


class SessionOptions:
    """What to measure; defaults are the cheap, always-on probes."""

    __slots__ = (
        "allocations",
        "cycles",
        "frames",
        "max_events",
        "rss_interval",
        "sample_every",
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
    ) -> None:
        self.rss_interval = rss_interval
        self.max_events = max_events
        self.allocations = allocation_mode(allocations)
        self.frames = frames
        self.snapshot_interval = snapshot_interval
        self.cycles = cycles
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
    if sysconfig.get_config_var("Py_GIL_DISABLED"):
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
        self.memory_probe = ProcessMemoryProbe(self.clock, interval=self.options.rss_interval)
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

    def start(self) -> None:
        """Start the probes; the GC probe last, so their own start-up is not counted."""
        self.gc_probe.prepare()
        # psutil's import makes garbage and objects of its own: with --allocations or
        # --cycles it happens now, before the program's counts and harvest begin
        eager = self.type_probe is not None or self.cycle_probe is not None
        self.memory_probe.start(eager=eager)
        if self.allocation_probe is not None and self.type_probe is not None:
            self.type_probe.start()  # before tracing, so its own counts are not traced
            self.allocation_probe.start()
        if self.cycle_probe is not None:
            self.cycle_probe.start()
        self.clock.reset()
        self.gc_probe.start()

    def stop(self) -> None:
        """Stop the probes; the GC probe first, so their own collections are not counted."""
        self.wall_seconds = self.clock.now()
        if self.allocation_probe is not None:
            self.allocation_probe.stop_interval()
        if self.cycle_probe is not None:
            self.cycle_probe.stop()  # the last harvest, before gcscope makes any garbage
        self.gc_probe.stop()
        self.memory_probe.stop()
        if self.allocation_probe is not None and self.type_probe is not None:
            self.type_probe.collect()
            self.allocation_probe.stop()
            self.type_probe.count_after(self.allocation_probe.own_roots())
            # the session holds every probe's tables and buffers; the cycle probe's
            # harvest is the program's garbage, not gcscope's
            self.type_probe.summarise_sizes((self,), skip=(self.cycle_probe,))

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
        self.memory_probe.contribute(capture)
        self.gc_probe.contribute(capture, self.wall_seconds)
        if self.allocation_probe is not None and self.type_probe is not None:
            self.allocation_probe.contribute(capture)
            self.type_probe.contribute(capture)
        if self.cycle_probe is not None:
            self.cycle_probe.contribute(capture)
        return capture
