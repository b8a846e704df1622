"""The Python API: `gcscope.watch`, for code that cannot be run from the command line.

    with gcscope.watch(allocations=True, cycles=True) as watcher:  # or allocations="sampled"
        handle_request()
    print(watcher.report())
    watcher.save("request.json")

It is also a decorator. It runs the same probes as `gcscope run`, in the
current process and thread, and produces the same capture. Its arguments are
checked as `gcscope run` checks its options (ValueError or TypeError otherwise).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from gcscope import capture as capture_io
from gcscope.run_options import MAX_SAMPLE_EVERY
from gcscope.session import Session, SessionOptions

F = TypeVar("F", bound=Callable[..., Any])


def _check_seconds(name: str, value: object, off: bool) -> None:
    """A duration in seconds, as `gcscope run` accepts it: 1ms to 24h (or 0 for off)."""
    from gcscope.run_options import DAY, MIN_INTERVAL

    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"gcscope.watch: {name} must be a number of seconds, not {value!r}")
    if not (MIN_INTERVAL <= value <= DAY or (off and value == 0)):
        zero = " (or 0 for off)" if off else ""
        raise ValueError(f"gcscope.watch: {name} must be from 0.001 to 86400 seconds{zero}")


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"gcscope.watch: {name} must be an integer, not {value!r}")
    if not low <= value <= high:
        raise ValueError(f"gcscope.watch: {name} must be from {low} to {high}")


class watch:  # lower-case on purpose: reads as a verb, `with gcscope.watch():`
    """Measure the garbage collector (and optionally allocations) around a block."""

    def __init__(
        self,
        *,
        allocations: bool | str = False,
        cycles: bool = False,
        frames: int = 1,
        interval: float | None = None,
        rss_interval: float = 0.1,
        max_events: int = 20_000,
        sample_every: int | None = None,
    ) -> None:
        """`allocations`: False, True or "exact" (tracemalloc), or "sampled" (every
        `sample_every` bytes on average, 128 KiB by default; docs/allocations.md)."""
        if allocations not in (False, True, "exact", "sampled"):
            wanted = "True, 'exact' or 'sampled'"
            raise ValueError(f"gcscope.watch: allocations must be {wanted}, not {allocations!r}")
        _check_seconds("rss_interval", rss_interval, off=True)
        if interval is not None:
            _check_seconds("interval", interval, off=False)
        _check_int("frames", frames, 1, 1000)
        _check_int("max_events", max_events, 0, 1_000_000)
        if sample_every is not None:
            _check_int("sample_every", sample_every, 1, MAX_SAMPLE_EVERY)
        self.options = SessionOptions(
            rss_interval=float(rss_interval),
            max_events=max_events,
            allocations=allocations,
            frames=frames,
            snapshot_interval=None if interval is None else float(interval),
            sample_every=sample_every,
            cycles=bool(cycles),
        )
        self.capture: dict[str, Any] | None = None
        self._session: Session | None = None

    def __enter__(self) -> watch:
        self.capture = None
        self._session = Session(self.options)
        self._session.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._session is not None
        self._session.stop()
        ended_by = "return" if exc_type is None else "exception"
        self.capture = self._session.capture(
            list(sys.argv),
            0 if exc_type is None else 1,
            ended_by,
            exception=None if exc_type is None else exc_type.__qualname__,
        )
        self._session = None

    def __call__(self, function: F) -> F:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:
                return function(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    def _require_capture(self) -> dict[str, Any]:
        if self.capture is None:
            raise RuntimeError("gcscope.watch: no capture yet (the block has not finished)")
        return self.capture

    def report(self, report_format: str = "text") -> str:
        """The same report `gcscope report` prints for this capture."""
        from gcscope.commands.report import render

        return render(self._require_capture(), report_format)

    def save(self, path: str) -> None:
        """Write the capture atomically, as `gcscope run -o PATH` does."""
        capture_io.save(self._require_capture(), path)
