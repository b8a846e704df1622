"""Process memory: an RSS timeline from a background thread, and the peak RSS.

psutil is imported inside the sampling thread after the first interval, so a
short run never pays its import cost. The thread is a daemon and holds no lock
the program could contend for; samples go into flat arrays on the session clock,
so they line up with GC events.
"""

from __future__ import annotations

import sys
import threading
from array import array
from typing import Any

from gcscope.clock import Clock


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
        """Start sampling; `eager` imports psutil now, so its objects predate type counts."""
        if self.interval <= 0:
            return
        process = self._process() if eager else None
        self._thread = threading.Thread(
            target=self._loop, args=(process,), name="gcscope-rss", daemon=True
        )
        self._thread.start()

    @staticmethod
    def _process() -> Any:
        import psutil

        return psutil.Process()

    def _loop(self, process: Any) -> None:
        if self._stop.wait(self.interval):
            return
        try:
            process = process or self._process()
            while True:
                self._record(process.memory_info().rss)
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
