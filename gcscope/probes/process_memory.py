"""Process memory: an RSS timeline from a background thread, and the peak RSS.

On Linux a sample is one read of `/proc/self/statm`, the file psutil's
`memory_info()` reads there: importing psutil inside the measured process costs
~25 ms and ~1 MB of RSS, which would show up in the very figures we report.
Elsewhere psutil is imported inside the sampling thread after the first
interval, so a short run never pays for it. The thread is a daemon and holds no
lock the program could contend for; samples go into flat arrays on the session
clock, so they line up with GC events.
"""

from __future__ import annotations

import os
import sys
import threading
from array import array
from collections.abc import Callable

from gcscope.clock import Clock

TYPE_CHECKING = False  # importing typing would leave it resident in the program's process
if TYPE_CHECKING:
    from typing import Any


def peak_rss_bytes() -> int | None:
    """The process's high-water resident set size, as the kernel recorded it."""
    try:
        import resource
    except ImportError:  # Windows
        try:
            import psutil

            return int(getattr(psutil.Process().memory_info(), "peak_wset", 0)) or None
        except Exception:
            return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def _statm_reader() -> Callable[[], int] | None:
    """Linux: resident pages from /proc/self/statm (opened per sample: the program may
    close descriptors it does not know about); None where that file does not work."""
    if not sys.platform.startswith("linux"):
        return None
    page_size = os.sysconf("SC_PAGE_SIZE")

    def read() -> int:
        descriptor = os.open("/proc/self/statm", os.O_RDONLY)
        try:
            return int(os.read(descriptor, 256).split()[1]) * page_size
        finally:
            os.close(descriptor)

    try:
        read()
    except (OSError, ValueError, IndexError):
        return None
    return read


class ProcessMemoryProbe:
    """Samples RSS every `interval` seconds; keeps at most `max_samples` (thinning evenly)."""

    name = "process"

    def __init__(self, clock: Clock, interval: float = 0.1, max_samples: int = 5000) -> None:
        self.clock = clock
        self.interval = interval
        self.max_samples = max_samples
        self.times = array("d")
        self.rss = array("q")
        self._stride = 1
        self._ticks = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.peak_rss: int | None = None

    def start(self, eager: bool = False) -> None:
        """Start sampling; `eager` makes the reader now (psutil, off Linux): before type counts."""
        if eager:
            peak_rss_bytes()  # imports `resource` now, not inside the counted window at stop
        if self.interval <= 0:
            return
        reader = self._rss_reader() if eager else None
        self._thread = threading.Thread(
            target=self._loop, args=(reader,), name="gcscope-rss", daemon=True
        )
        self._thread.start()

    @staticmethod
    def _rss_reader() -> Callable[[], int]:
        """A function returning the current RSS in bytes."""
        statm = _statm_reader()
        if statm is not None:
            return statm
        import psutil

        memory_info = psutil.Process().memory_info
        return lambda: int(memory_info().rss)

    def _loop(self, reader: Callable[[], int] | None) -> None:
        if self._stop.wait(self.interval):
            return
        try:
            current_rss = reader or self._rss_reader()
            while True:
                self._record(current_rss())
                if self._stop.wait(self.interval):
                    return
        except Exception:  # a sampler must never take the program down
            return

    def _record(self, rss: int) -> None:
        self._ticks += 1
        if self._ticks % self._stride:
            return
        self.times.append(self.clock.now())
        self.rss.append(rss)
        if len(self.rss) >= self.max_samples:  # halve resolution, keep the whole run
            self.times = self.times[::2]
            self.rss = self.rss[::2]
            self._stride *= 2

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self.peak_rss = peak_rss_bytes()

    def contribute(self, capture: dict[str, Any]) -> None:
        sampled_peak = max(self.rss) if self.rss else 0
        capture["peak_rss_bytes"] = max(self.peak_rss or 0, sampled_peak) or None
        capture["rss"] = {
            "interval_s": self.interval * self._stride,
            "samples": [[round(t, 4), r] for t, r in zip(self.times, self.rss)],
        }
