"""What the collector's counters are when plain `python` reaches a program's first line.

When collections run is decided by counters (allocations since the last young
collection, young collections since the last older one, long-lived totals) that
the interpreter's own start-up leaves at some value. gcscope's start-up moves
them, and often triggers a collection before any of its code can look (importing
gcscope through an editable install's finder does, on every version here). To
give the program exactly python's starting point, `gcscope run` starts a second
interpreter as its very first act: the same executable, the same interpreter
options and environment, which reads its counters first thing and reports them
through a pipe. It runs while gcscope prepares, so it costs no wall time on a
machine with a spare core; the program then starts from those counters
(`gcscope._gcstate.restore`). Only `os` is used (no `subprocess` in the program's
process).
"""

from __future__ import annotations

import os
import sys
import time

from gcscope.paths import PACKAGE_DIR

WAIT_SECONDS = 5.0

# gc.disable() first: nothing below may collect and move the counters being read
_CODE = (
    "import gc\n"
    "gc.disable()\n"
    "count = gc.get_count()\n"
    "import sys\n"
    "sys.path.insert(0, {parent!r})\n"
    "from gcscope._gcstate import snapshot\n"
    "state = snapshot()\n"
    "sys.stdout.write(repr(count + tuple(state[3:])) if state else '')\n"
)


def interpreter_options() -> list[str]:
    """The options this interpreter was started with (`-X dev`, `-O`, `-s`...)."""
    original = list(getattr(sys, "orig_argv", []))
    options = original[1 : max(1, len(original) - len(sys.argv))]
    if options and options[-1] in ("-m", "-c"):
        options.pop()
    return options


class StartupProbe:
    """A fresh interpreter that reports the collector's counters at its first line."""

    def __init__(self) -> None:
        self.pid = 0
        self.read_fd = -1
        self.state: tuple[int, ...] | None = None

    def spawn(self) -> None:
        try:
            from gcscope import _gcstate
        except ImportError:
            return
        if not _gcstate.available or not hasattr(os, "posix_spawn"):
            return
        code = _CODE.format(parent=os.path.dirname(PACKAGE_DIR.rstrip(os.sep)))
        read_fd, write_fd = os.pipe()
        try:
            # never a followed process of an enclosing `run --follow` (see gcscope.follow_boot)
            environment = {k: v for k, v in os.environ.items() if k != "GCSCOPE_FOLLOW"}
            self.pid = os.posix_spawn(
                sys.executable,
                [sys.executable, *interpreter_options(), "-c", code],
                environment,
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, write_fd, 1),
                    (os.POSIX_SPAWN_CLOSE, read_fd),
                ],
            )
        except OSError:
            os.close(read_fd)
            self.pid = 0
        else:
            self.read_fd = read_fd
        finally:
            os.close(write_fd)

    def result(self) -> tuple[int, ...] | None:
        """The collector's state, as `gcscope._gcstate.snapshot()` gives it."""
        if self.pid == 0:
            return None
        pid, self.pid = self.pid, 0
        deadline = time.monotonic() + WAIT_SECONDS
        while os.waitpid(pid, os.WNOHANG) == (0, 0):
            if time.monotonic() > deadline:
                try:
                    os.kill(pid, 9)
                    os.waitpid(pid, 0)
                except OSError:
                    pass
                os.close(self.read_fd)
                return None
            time.sleep(0.001)
        try:
            text = os.read(self.read_fd, 256).decode("ascii", "replace").strip()
        finally:
            os.close(self.read_fd)
        values = text.strip("()").split(",")
        try:
            state = tuple(int(value) for value in values)
        except ValueError:
            return None
        self.state = state if len(state) == 14 else None
        return self.state
