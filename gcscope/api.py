"""The Python API: `gcscope.watch`, for code that cannot be run from the command line.

    with gcscope.watch(allocations=True) as watcher:   # or allocations="sampled"
        handle_request()
    print(watcher.report())
    watcher.save("request.json")

It is also a decorator. It runs the same probes as `gcscope run`, in the
current process and thread, and produces the same capture.
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


class watch:  # lower-case on purpose: reads as a verb, `with gcscope.watch():`
    """Measure the garbage collector (and optionally allocations) around a block."""

    def __init__(
        self,
        *,
        allocations: bool | str = False,
        frames: int = 1,
        interval: float | None = None,
        rss_interval: float = 0.1,
        max_events: int = 20_000,
        sample_every: int | None = None,
    ) -> None:
        """`allocations`: False, True or "exact" (tracemalloc), or "sampled" (every
        `sample_every` bytes on average, 128 KiB by default; docs/allocations.md)."""
        if sample_every is not None and not 0 < sample_every <= MAX_SAMPLE_EVERY:
            raise ValueError("sample_every must be more than 0 and at most 1 GiB (in bytes)")
        self.options = SessionOptions(
            rss_interval=rss_interval,
            max_events=max_events,
            allocations=allocations,
            frames=frames,
            snapshot_interval=interval,
            sample_every=sample_every,
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

        data = capture_io.loads(capture_io.dumps(self._require_capture()), "<watch>")
        return render(data, report_format)

    def save(self, path: str) -> None:
        """Write the capture atomically, as `gcscope run -o PATH` does."""
        capture_io.save(self._require_capture(), path)
