"""gcscope: see what Python's cyclic garbage collector costs a real program.

The package import is kept cheap on purpose: the CLI imports only what each
command needs, so that `gcscope run` adds as little start-up time as possible.
`gcscope.watch`, `gcscope.monitor` and `gcscope.dump` (the Python API) are loaded on
first use.

PYTEST_DONT_REWRITE: pytest marks the packages of installed plugins (ours is
`gcscope.pytest_plugin`) for assertion rewriting, and warns when one is already
imported, as gcscope is under `gcscope run -m pytest`; gcscope has no
assertions for pytest to rewrite.
"""

from __future__ import annotations

import sys as _sys


def _collector_state() -> tuple[tuple[int, ...] | None, frozenset[str]]:
    """The collector's counters and the loaded modules as gcscope starts, before its
    own imports move them (`gcscope run` gives both back to the program)."""
    try:
        from gcscope._gcstate import snapshot
    except ImportError:
        return None, frozenset(_sys.modules)
    state = snapshot()  # first: the set below is an allocation of gcscope's
    return state, frozenset(_sys.modules)


COLLECTOR_STATE_AT_START, MODULES_AT_START = _collector_state()

TYPE_CHECKING = False  # importing typing would leave it resident in the program's process
if TYPE_CHECKING:
    from typing import Any


__version__ = "0.1.0"
__all__ = ["__version__", "dump", "monitor", "startup_done", "tune", "watch"]

# set by `gcscope tune` in a candidate's run (gcscope/tuning/child.py); None otherwise
_startup_hook: Any = None


def startup_done() -> None:
    """Mark the end of your program's start-up (imports, configuration, caches loaded).

    `gcscope tune` freezes the heap (`gc.freeze()`) at this call in its freeze
    candidates; everywhere else it does nothing and costs one function call. Put it
    where you would put `gc.freeze()`. Without it, `gcscope tune` finds the end of
    start-up itself (docs/tune.md, "Where start-up ends").
    """
    if _startup_hook is not None:
        _startup_hook()


def __getattr__(name: str) -> Any:
    if name == "watch":
        from gcscope.api import watch

        return watch
    if name == "tune":
        from gcscope.tuning.api import tune

        return tune
    if name in ("monitor", "dump"):
        from gcscope import monitoring

        return getattr(monitoring, name)
    raise AttributeError(f"module 'gcscope' has no attribute {name!r}")
