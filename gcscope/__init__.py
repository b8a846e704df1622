"""gcscope: see what Python's cyclic garbage collector costs a real program.

The package import is kept cheap on purpose: the CLI imports only what each
command needs, so that `gcscope run` adds as little start-up time as possible.
`gcscope.watch` (the Python API) is loaded on first use.

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
__all__ = ["__version__", "watch"]


def __getattr__(name: str) -> Any:
    if name == "watch":
        from gcscope.api import watch

        return watch
    raise AttributeError(f"module 'gcscope' has no attribute {name!r}")
