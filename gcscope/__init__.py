"""gcscope: see what Python's cyclic garbage collector costs a real program.

The package import is kept cheap on purpose: the CLI imports only what each
command needs, so that `gcscope run` adds as little start-up time as possible.
`gcscope.watch` (the Python API) is loaded on first use.
"""

from __future__ import annotations

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
