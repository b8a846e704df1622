"""One monotonic clock shared by every probe, so GC events and RSS samples line up."""

from __future__ import annotations

import time


class Clock:
    """Seconds since the session started, on `time.perf_counter`."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Start counting from now."""
        self.origin = time.perf_counter()
        self.started_at_epoch = time.time()

    def now(self) -> float:
        return time.perf_counter() - self.origin
