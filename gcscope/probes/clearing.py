"""Freeing harvested garbage exactly as the collector would: each object's `tp_clear`.

For the Python fallback harvest (the C harvest, `gcscope._gcharvest`, frees in C).
The C helper (`gcscope._gcclear`, built at install) does it at the collector's
own speed. Without a compiler, the same calls go through ctypes: identical in
effect, about 20x slower per object. `GCSCOPE_CLEAR=ctypes` picks the fallback
(the test suite checks both give the same counts).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # importing typing would leave it resident in the program's process
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

PY_TP_CLEAR = 51  # the slot number of tp_clear (Include/typeslots.h), for PyType_GetSlot


def _ctypes_clear_all() -> Callable[[list[Any]], None]:
    import ctypes

    get_slot = ctypes.pythonapi.PyType_GetSlot
    get_slot.restype = ctypes.c_void_p
    get_slot.argtypes = [ctypes.py_object, ctypes.c_int]
    # PYFUNCTYPE: called with the GIL held, as tp_clear must be
    inquiry = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.py_object)
    clear_of: dict[type, Any] = {}

    def clear_all(batch: list[Any]) -> None:
        for item in batch:
            kind = type(item)
            clear = clear_of.get(kind)
            if clear is None:
                address = get_slot(kind, PY_TP_CLEAR)
                clear = clear_of[kind] = inquiry(address) if address else False
            if clear:
                try:
                    clear(item)
                except Exception:
                    pass  # the collector too ignores a failing tp_clear (after reporting it)

    return clear_all


def load() -> tuple[Callable[[list[Any]], None], str]:
    """(clear_all, how): the C helper when it was built, else the ctypes path."""
    if os.environ.get("GCSCOPE_CLEAR") != "ctypes":
        try:
            from gcscope._gcclear import clear_all
        except ImportError:
            pass
        else:
            return clear_all, "tp_clear (C helper)"
    return _ctypes_clear_all(), "tp_clear (ctypes; C helper not built)"
