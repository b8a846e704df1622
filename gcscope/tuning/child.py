"""One candidate of `gcscope tune`, applied inside the `gcscope run` that measures it.

`gcscope tune` starts `gcscope run` with the candidate in an environment variable
(`GCSCOPE_TUNE_CANDIDATE`, removed here before the program starts, so the program
sees the environment `gcscope run` would give it). The settings are applied once
gcscope has given the program a fresh interpreter's collector counters, just before
the program's first line (`Session.before_program`), and the capture gets a
`tuning` section saying what was applied and what the program did to it.

The freeze point (docs/tune.md, "Where start-up ends"):
- `marker`: at the program's first `gcscope.startup_done()` call;
- `line:N`: start-up ends when the main module's top-level code reaches line N (the
  first statement that is not an import, def, class or constant assignment, found
  by `gcscope.tuning.startup` before the run). Watching for it costs nothing between
  collections: a gc callback looks at the main module's frame at the end of each
  collection, and freezes at the end of the first one that ran past line N. Every
  later collection then sees what it would have seen had `gc.freeze()` stood just
  before line N, give or take the objects made since (fewer than one young
  generation's worth).

On the run path: no typing, no json (the candidate is a `key=value;...` string).
"""

from __future__ import annotations

import gc
import os
import sys
import time

import gcscope

VARIABLE = "GCSCOPE_TUNE_CANDIDATE"

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from gcscope.session import Session


def parse(text: str) -> dict[str, str]:
    """`name=gen0x10;threshold=7000,10,10;freeze=line:12;disable=0` -> a dict."""
    spec = {}
    for item in text.split(";"):
        key, _, value = item.partition("=")
        if key:
            spec[key.strip()] = value.strip()
    return spec


def install(session: Session) -> None:
    """Read (and remove) the candidate from the environment; hook it into the run."""
    text = os.environ.pop(VARIABLE, "")
    candidate = CandidateRun(parse(text), session)
    session.before_program = candidate.apply
    session.extra_sections["tuning"] = candidate.section
    gcscope._startup_hook = candidate.startup_done


class CandidateRun:
    """Applies one candidate's settings and records what happened to them."""

    def __init__(self, spec: dict[str, str], session: Session) -> None:
        self.spec = spec
        self.session = session
        self.name = spec.get("name", "?")
        threshold = spec.get("threshold", "")
        self.threshold = tuple(int(part) for part in threshold.split(",")) if threshold else ()
        self.disable = spec.get("disable") == "1"
        freeze = spec.get("freeze", "none")
        self.freeze_mode, _, line = freeze.partition(":")
        self.freeze_line = int(line) if line.isdigit() else 0
        self.main_globals: Any = None
        self.frozen: dict[str, Any] | None = None
        self.marker_calls = 0
        self.marker_first: dict[str, Any] | None = None
        self.applied: dict[str, Any] = {}
        self.cpu_at_start = 0.0

    def apply(self) -> None:
        if self.threshold:
            gc.set_threshold(*self.threshold)
        if self.disable:
            gc.disable()
        self.applied = {"threshold": list(gc.get_threshold()), "enabled": gc.isenabled()}
        self.session.python["gc_threshold"] = list(gc.get_threshold())
        self.session.python["gc_enabled_at_start"] = gc.isenabled()
        if self.freeze_mode == "line" and self.freeze_line:
            main = sys.modules.get("__main__")
            self.main_globals = getattr(main, "__dict__", None)
            gc.callbacks.append(self._watch)
        self.cpu_at_start = time.process_time()  # last: the program's first line is next

    def startup_done(self) -> None:
        """`gcscope.startup_done()` in the program."""
        self.marker_calls += 1
        if self.marker_first is None:
            caller = sys._getframe(2)
            self.marker_first = {
                "site": f"{caller.f_code.co_filename}:{caller.f_lineno}",
                "seconds": round(self.session.clock.now(), 6),
            }
        if self.freeze_mode == "marker" and self.frozen is None:
            caller = sys._getframe(2)
            self._freeze(caller, caller)

    def _watch(self, phase: str, info: dict[str, int]) -> None:
        """End of each collection: has the main module's top-level code passed the line?"""
        if phase != "stop" or self.frozen is not None:
            return
        frame = sys._getframe(1)
        main_frame = None
        while frame is not None:  # the outermost <module> frame of __main__
            if frame.f_globals is self.main_globals and frame.f_code.co_name == "<module>":
                main_frame = frame
            frame = frame.f_back
        if main_frame is not None and main_frame.f_lineno >= self.freeze_line:
            self._freeze(main_frame, sys._getframe(1))
            self._unhook()

    def _unhook(self) -> None:
        """Take the watcher off gc.callbacks, outside the collection (never mid-iteration:
        that would skip the next callback's call); without the C helper it stays, idle."""
        try:
            from gcscope._gcstate import call_soon
        except ImportError:
            return

        def remove() -> None:
            if self._watch in gc.callbacks:
                gc.callbacks.remove(self._watch)

        call_soon(remove)

    def _freeze(self, frame: Any, innermost: Any) -> None:
        """Freeze now; `frame` is the main module's line, `innermost` what was running."""
        before = gc.get_freeze_count()
        gc.freeze()
        self.frozen = {
            "site": f"{frame.f_code.co_filename}:{frame.f_lineno}",
            "innermost": f"{innermost.f_code.co_filename}:{innermost.f_lineno}",
            "seconds": round(self.session.clock.now(), 6),
            "objects": gc.get_freeze_count() - before,
        }

    def section(self) -> dict[str, Any]:
        """The capture's `tuning` section (built after the program ended)."""
        return {
            "candidate": self.name,
            # the process's CPU time from the program's first line to the capture (gcscope's
            # own work after the run, stopping two probes, is a few milliseconds of it)
            "cpu_seconds": round(time.process_time() - self.cpu_at_start, 6),
            "requested": dict(self.spec),
            "applied": self.applied,
            "threshold_at_end": list(gc.get_threshold()),
            "enabled_at_end": gc.isenabled(),
            "freeze": {
                "mode": self.freeze_mode,
                "line": self.freeze_line or None,
                "frozen": self.frozen,
            },
            "startup_done": {"calls": self.marker_calls, "first": self.marker_first},
        }
