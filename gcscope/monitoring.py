"""`gcscope.monitor()`: the recorder of `gcscope run`, left on in a long-running service.

    import gcscope
    gcscope.monitor()                 # Prometheus: gcscope's collector in prometheus_client's
                                      # default registry (when prometheus_client is installed)
    gcscope.monitor(otel=True)        # OpenTelemetry: instruments on the global MeterProvider
    gcscope.dump("now.json")          # a capture of the recent window, for report/check/diff

One recorder, three outlets. The C recorder runs in monitor mode (see
gcscope/probes/gc_ring.py): per collection it runs no Python code and allocates
nothing; it keeps the latest `max_events` collections in a ring and everything else in
fixed-size cumulative tables. The outlets (gcscope/outlets/) read those tables when
asked (a scrape, an export, a dump), never inside a collection.

Fork: a forked child (a gunicorn worker forked after `monitor()` ran in the master)
keeps monitoring, as its own process: its tables start from zero at the fork, its
metrics are its own (in prometheus_client's multiprocess mode, under its own pid), and
its outlets' threads are restarted. Under `gcscope run`, forked children run untouched
(gcscope/endings.py) and the child's monitor is off.
"""

from __future__ import annotations

import gc
import os
import sys
import time

from gcscope.clock import Clock
from gcscope.periodic import ForkResume
from gcscope.probes.gc_events import GcEventProbe

TYPE_CHECKING = False  # importing typing would leave it resident in the program's process
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from gcscope.probes.gc_ring import RecorderState

DEFAULT_TOP_SITES = 10
DEFAULT_MAX_EVENTS = 20_000  # ~1 MB of ring (48 bytes a collection)
NO_EVENTS = 1 << 62  # a `since` past every event: the tables alone

_current: Monitor | None = None
_fork_hook_registered = False


class Monitor:
    """The recorder in monitor mode, what reads it, and the outlets attached to it.

    `owned`: started by `gcscope.monitor()` (False under `gcscope run --serve-metrics`,
    whose session starts and stops the recorder).
    """

    def __init__(self, probe: GcEventProbe, clock: Clock, owned: bool) -> None:
        self.probe = probe
        self.clock = clock
        self.owned = owned
        self.pid = os.getpid()
        self.generations = len(gc.get_stats())
        self.started_perf = clock.origin
        self.started_epoch = clock.started_at_epoch
        self.outlets: list[Any] = []
        self.running = False
        self.dump_dir = os.getcwd()
        self.dump_stem = _program_stem()
        self.dump_signal: int | None = None
        self.argv = list(sys.argv)
        self._fork_resume = ForkResume(self._resume_outlets)

    # -- the recorder --
    def start(self) -> None:
        if self.owned:
            self.clock.reset()
            self.started_perf, self.started_epoch = self.clock.origin, self.clock.started_at_epoch
            self.probe.start()
        self.running = True

    def state(self, since: int = 0) -> RecorderState:
        """A consistent copy of the recorder's tables (and ring events numbered >= since)."""
        return self.probe.read_ring(since)

    def tables(self) -> RecorderState:
        """The recorder's tables without the ring's events (what a scrape needs)."""
        return self.probe.read_ring(NO_EVENTS)

    def baseline(self, key: str) -> list[int]:
        """gc.get_stats()[g][key] when monitoring began (or at the fork), per generation."""
        stats = self.probe.stats_start
        return [stats[g].get(key, 0) if g < len(stats) else 0 for g in range(self.generations)]

    def seconds(self) -> float:
        """Wall seconds since monitoring began (or since this process forked)."""
        return time.perf_counter() - self.started_perf

    def add_outlet(self, outlet: Any) -> None:
        self.outlets.append(outlet)

    def flush(self) -> None:
        """Push the figures now to outlets that push (prometheus_client's multiprocess
        files); e.g. from gunicorn's `worker_exit` hook. Scraped outlets need nothing."""
        for outlet in self.outlets:
            outlet.flush()

    def outlet(self, kind: type) -> Any:
        return next((o for o in self.outlets if isinstance(o, kind)), None)

    def before_fork(self) -> None:
        """gcscope's threads step aside while the process forks (no multi-threaded fork)."""
        if self.running:
            for outlet in self.outlets:
                outlet.before_fork()

    def after_fork_parent(self) -> None:
        if self.running:
            self._fork_resume.schedule()

    def _resume_outlets(self) -> None:
        if self.running:
            for outlet in self.outlets:
                outlet.after_fork_parent()

    def after_fork_in_child(self) -> None:
        """A forked child monitors itself from zero: its own tables, baseline and threads."""
        if not self.running:
            return
        if self.probe._callback not in gc.callbacks:  # `gcscope run` detached it: not ours
            self.running = False
            return
        was_enabled = gc.isenabled()
        gc.disable()  # the zeroed tables and the get_stats() baseline: the same instant
        try:
            self.probe._callback.monitor_reset()  # type: ignore[union-attr]
            self.probe.stats_start = [dict(entry) for entry in gc.get_stats()]
        finally:
            if was_enabled:
                gc.enable()
        self.pid = os.getpid()
        self.clock.reset()
        self.started_perf, self.started_epoch = self.clock.origin, self.clock.started_at_epoch
        for outlet in self.outlets:
            outlet.after_fork_in_child()

    def stop(self) -> None:
        """Outlets off, signal handler back, and (if ours) the recorder off."""
        if not self.running:
            return
        self.running = False
        for outlet in reversed(self.outlets):
            outlet.close()
        self.outlets.clear()
        if self.dump_signal is not None:
            from gcscope.endings import HIDDEN_HANDLERS

            HIDDEN_HANDLERS.restore(self.dump_signal)
            self.dump_signal = None
        if self.owned:
            self.probe.stop()

    # -- captures on demand --
    def capture(self, window: float | None = None) -> dict[str, Any]:
        """A normal capture of the recent window (the last `window` seconds, at most what
        the ring holds); every command that reads captures reads it."""
        from gcscope.probes.gc_window import window_capture

        return window_capture(self, window)

    def dump(self, path: str | None = None, window: float | None = None) -> str:
        """Write `capture(window)` to `path` (default: a new file in `dump_dir`); the path."""
        from gcscope import capture as capture_io

        if window is not None and not window > 0:
            raise ValueError(
                f"gcscope.dump: window must be a positive number of seconds, not {window!r}"
            )
        target = path if path is not None else self._dump_path()
        capture_io.resolve_output_path(target)  # a clear error before any work
        capture_io.save(self.capture(window), target)
        return target

    def _dump_path(self) -> str:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        base = os.path.join(self.dump_dir, f"gcscope-{self.dump_stem}-{os.getpid()}-{stamp}")
        path, number = f"{base}.json", 1
        while os.path.lexists(path):
            number += 1
            path = f"{base}-{number}.json"
        return path

    def handle_signal(self, signum: int, dump_dir: str | None) -> None:
        """Write a capture of the recent window whenever `signum` arrives (opt-in).

        The handler is hidden from the program, as gcscope's others are
        (gcscope.endings.HiddenHandlers); a handler the program installs later wins.
        """
        from gcscope.endings import HIDDEN_HANDLERS

        if dump_dir is not None:
            if not os.path.isdir(dump_dir):
                raise ValueError(f"gcscope.monitor: dump_dir {dump_dir!r} is not a folder")
            self.dump_dir = os.path.realpath(dump_dir)
        if self.dump_signal == signum:
            return
        if not HIDDEN_HANDLERS.install(signum, self._on_signal):
            raise ValueError(
                f"gcscope.monitor: cannot handle signal {signum}: it already has a handler, "
                "or this is not the main thread (install the dump signal from the main "
                "thread, before the program sets a handler of its own)"
            )
        self.dump_signal = signum

    def _on_signal(self, signum: int, frame: Any) -> None:
        """Runs in the main thread, between two bytecodes: writes the dump, never raises."""
        stream = sys.__stderr__ or sys.stderr
        try:
            path = self.dump()
            stream.write(f"gcscope: capture of the recent window written to {path}\n")
        except Exception as exc:
            stream.write(f"gcscope: could not write a capture on signal {signum}: {exc}\n")
        try:
            stream.flush()
        except Exception:
            pass


def _program_stem() -> str:
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    stem = os.path.splitext(name)[0]
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)[:40] or "python"


def signal_number(value: int | str) -> int:
    """`USR2`, `SIGUSR2` or 12 -> 12; ValueError for anything that is not a catchable signal."""
    import signal

    if isinstance(value, str):
        name = value.strip().upper()
        name = name if name.startswith("SIG") else "SIG" + name
        number = getattr(signal, name, None)
        if not isinstance(number, int) or name.startswith("SIG_"):
            raise ValueError(f"unknown signal {value!r} (e.g. USR2, SIGUSR1)")
        value = int(number)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"unknown signal {value!r} (e.g. USR2, SIGUSR1)")
    uncatchable = {getattr(signal, n, None) for n in ("SIGKILL", "SIGSTOP")}
    reserved = {getattr(signal, n, None) for n in ("SIGINT", "SIGTERM", "SIGHUP")}
    if value in uncatchable or not 0 < value < signal.NSIG:
        raise ValueError(f"signal {value} cannot be handled")
    if value in reserved:
        raise ValueError(
            f"signal {signal.Signals(value).name} ends programs; use one with no other "
            "meaning, such as SIGUSR2"
        )
    return value


def _fork_hook(name: str) -> Callable[[], None]:
    def hook() -> None:
        if _current is not None:
            try:
                getattr(_current, name)()
            except Exception:
                pass  # a fork hook must never take the program down

    return hook


def attach(monitor: Monitor) -> Monitor:
    """Make `monitor` the process's monitor (started), with the fork hook in place."""
    global _current, _fork_hook_registered
    _current = monitor
    if not _fork_hook_registered and hasattr(os, "register_at_fork"):
        os.register_at_fork(
            before=_fork_hook("before_fork"),
            after_in_parent=_fork_hook("after_fork_parent"),
            after_in_child=_fork_hook("after_fork_in_child"),
        )
        _fork_hook_registered = True
    return monitor


def current() -> Monitor | None:
    """The running monitor of this process, if any."""
    return _current if _current is not None and _current.running else None


def monitor(
    *,
    prometheus: bool | None = None,
    otel: bool = False,
    registry: Any = None,
    meter_provider: Any = None,
    top_sites: int = DEFAULT_TOP_SITES,
    max_events: int = DEFAULT_MAX_EVENTS,
    dump_signal: int | str | None = None,
    dump_dir: str | None = None,
    publish_interval: float = 5.0,
) -> Monitor:
    """Record every garbage collection of this process, for good, and report it.

    prometheus: None (default) adds gcscope's collector to prometheus_client's
        `registry` (default: its global REGISTRY) when prometheus_client is installed;
        True requires it; False leaves Prometheus alone. With PROMETHEUS_MULTIPROC_DIR set
        (gunicorn-style workers), figures go to prometheus_client's multiprocess files
        every `publish_interval` seconds and at exit, instead.
    otel: report through OpenTelemetry (`meter_provider`, default the global one).
    top_sites: trigger sites exported as label values; the others are site="other".
    max_events: collections kept in the ring (the window a dump can cover).
    dump_signal: a signal (e.g. "USR2") that writes a capture of the recent window to
        `dump_dir` (default: the current folder).

    Called again, it returns the same monitor and adds any outlet asked for.
    """
    _check_positive_int("top_sites", top_sites, allow_zero=True)
    _check_positive_int("max_events", max_events)
    if not (isinstance(publish_interval, (int, float)) and publish_interval > 0):
        raise ValueError("gcscope.monitor: publish_interval must be a positive number of seconds")
    signum = signal_number(dump_signal) if dump_signal is not None else None
    running = current()
    if running is None:
        clock = Clock()
        probe = GcEventProbe(clock, max_events=max_events, guard_sigint=False, ring=True)
        running = Monitor(probe, clock, owned=True)
        running.start()
        attach(running)
    try:
        if prometheus is not False:
            from gcscope.outlets.prometheus import add_prometheus

            add_prometheus(
                running,
                registry=registry,
                top_sites=top_sites,
                publish_interval=publish_interval,
                required=bool(prometheus),
            )
        if otel:
            from gcscope.outlets.otel import add_otel

            add_otel(running, meter_provider=meter_provider)
        if signum is not None:
            running.handle_signal(signum, dump_dir)
    except BaseException:
        if running.owned and not running.outlets and running.dump_signal is None:
            running.stop()  # nothing was set up: leave the process as it was
        raise
    return running


def dump(path: str | None = None, *, window: float | None = None) -> str:
    """Write a capture of the recent window (the last `window` seconds, at most what the
    ring holds) and return its path. Needs a running `gcscope.monitor()`."""
    running = current()
    if running is None:
        raise RuntimeError("gcscope.dump: no monitor is running; call gcscope.monitor() first")
    return running.dump(path, window)


def _check_positive_int(name: str, value: Any, allow_zero: bool = False) -> None:
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"gcscope.monitor: {name} must be an integer >= {low}, not {value!r}")
