"""While gcscope finishes a run, the program's other threads wait.

python stops a program's daemon threads when it exits; gcscope has the final harvest,
the capture and the report to make first, and threads that keep running take the GIL
from that work at every file, import or bytecode boundary: seconds with three busy
threads, minutes on a loaded machine. So, from the program's end until the capture is
written, every other thread (not gcscope's own) waits at its next Python call, and then
goes on exactly where it was (gcscope/_threadhold.c says how, and what is never held).
Without the C module nothing is held.
"""

from __future__ import annotations

import gc

from gcscope.periodic import OWN_THREADS

try:  # loaded with the run, not at its end: an import hands the GIL to those threads
    from gcscope import _threadhold
except ImportError:
    _threadhold = None  # type: ignore[assignment]

HOLD_SECONDS = 10.0  # no thread waits longer, even if finishing does


def hold_program_threads() -> bool:
    """Hold every thread but this one and gcscope's own; True if any is held."""
    if _threadhold is None:
        return False
    try:
        if not _threadhold.hold(tuple(OWN_THREADS), HOLD_SECONDS, callback_codes()):
            return False
    except Exception:  # (an audit hook of the program's that raises): the run still ends
        return False
    gc.callbacks.append(_threadhold._track_collector)  # which thread collects, from now on
    return True


def callback_codes() -> tuple[object, ...]:
    """The code of every Python function in gc.callbacks (gcscope's Python callback, the
    program's own): a thread running one is inside a collection, and is never held."""
    codes = []
    for callback in list(gc.callbacks):
        function = getattr(callback, "__func__", callback)
        code = getattr(function, "__code__", None)
        if code is not None:
            codes.append(code)
    return tuple(codes)


def release_program_threads() -> None:
    """Let them go on, with the profile functions they had."""
    if _threadhold is None:
        return
    try:
        _threadhold.release()
    except Exception:  # the capture is written; nothing of the program's may be lost
        pass
    try:
        gc.callbacks.remove(_threadhold._track_collector)
    except ValueError:  # the program emptied gc.callbacks meanwhile (its atexit, a thread)
        pass
