"""A background thread that calls a function every interval, and can step aside for a fork.

Built on `_thread`, not `threading`: a plain `python` run does not import
`threading`, and a `threading.Thread` of gcscope's would show up in the
program's `threading.enumerate()` and `active_count()`. The thread holds no lock
the program could contend for: it sleeps on a lock of its own, which `stop`
releases to wake it at once.

`stop` waits until the operating-system thread has really gone (a thread
releases its Python state a moment before it exits): the interpreter warns
about `os.fork()` in a process with more than one OS thread (3.12+), and a
fork right after `stop` must not count ours.

The thread blocks every asynchronous signal: a signal sent to the process
(SIGTERM from a pool or a supervisor) must reach the main thread, where Python
runs handlers. Delivered to this thread instead, it would wake nothing: a main
thread waiting on a lock or a semaphore would never see it, and the process,
which plain python would have let die, would wait forever.
"""

from __future__ import annotations

import _signal
import _thread
import os
import time

TYPE_CHECKING = False  # importing typing would leave it resident in the program's process
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Protocol
else:
    Protocol = object

# idents of the threads gcscope runs (these, and the metrics server's): they go on while
# the program's threads are held for the end of a run (gcscope/holding.py)
OWN_THREADS: set[int] = set()

EXIT_WAIT_SECONDS = 0.2
FORK_RESUME_DELAY = 0.005  # seconds after a fork before gcscope's threads restart

# faults a thread raises itself: they must not be blocked
_SYNCHRONOUS = {
    getattr(_signal, name)
    for name in ("SIGSEGV", "SIGBUS", "SIGFPE", "SIGILL", "SIGTRAP", "SIGSYS", "SIGABRT")
    if hasattr(_signal, name)
}


def block_process_signals() -> object:
    """Block every asynchronous signal in this thread; returns the previous mask (or None).

    A thread of gcscope's is started with them blocked (`start_thread`): from its first
    instruction, a signal sent to the process can only go to the main thread.
    """
    if not hasattr(_signal, "pthread_sigmask"):
        return None
    try:
        return _signal.pthread_sigmask(_signal.SIG_BLOCK, _signal.valid_signals() - _SYNCHRONOUS)
    except (OSError, ValueError):
        return None


def start_thread(function: Callable[..., None], args: tuple[object, ...]) -> int:
    """`_thread.start_new_thread`, the new thread born with process signals blocked (a new
    thread inherits its creator's mask; the creator's is put back at once, and a signal
    that came meanwhile is delivered to it then). Returns its ident."""
    previous = block_process_signals()
    try:
        return int(_thread.start_new_thread(function, args))
    finally:
        if previous is not None:
            _signal.pthread_sigmask(_signal.SIG_SETMASK, previous)


class Sleeper(Protocol):
    """How a thread can sleep between ticks instead of on its own lock (the C RSS
    sampler: it samples with the GIL released and wakes Python only when a tick has
    Python work)."""

    def arm(self) -> int: ...  # a new start's generation, before the thread is visible
    def wait(self, generation: int) -> bool: ...  # True: a tick needs Python; False: woken
    def wake(self, generation: int) -> None: ...  # that start's thread (and older) ends


class PeriodicThread:
    """Calls `tick()` every `interval` seconds (the first call after one interval), and
    `first()`, if given, as soon as the thread starts; with a `sleeper`, whenever its
    `wait()` returns True instead."""

    def __init__(
        self,
        interval: float,
        tick: Callable[[], None],
        first: Callable[[], None] | None = None,
        sleeper: Sleeper | None = None,
    ) -> None:
        self.interval = interval
        self.tick = tick
        self.first = first
        self.sleeper = sleeper
        # bound once, here: bound in the thread (or at each start), they would be made
        # after gcscope's objects are set aside, and sit in the program's heap
        self._sleeper_wait = sleeper.wait if sleeper is not None else None
        self._loop_bound = self._loop
        self._wake: object | None = None  # locked while the thread should keep sleeping
        self._exited: object | None = None  # released by the thread as it returns
        self._generation = 0  # the sleeper's generation of the running start
        self._native_id = 0

    @property
    def running(self) -> bool:
        return self._wake is not None

    def start(self) -> None:
        if self._wake is not None or self.interval <= 0:
            return
        wake, exited = _thread.allocate_lock(), _thread.allocate_lock()
        wake.acquire()
        exited.acquire()
        # a stop is for one start: a fork in another thread may stop the sampler while it
        # is being started, and a later start must neither undo that stop nor be ended by it
        generation = self.sleeper.arm() if self.sleeper is not None else 0
        self._wake, self._exited, self._generation = wake, exited, generation
        # gcscope's from its first instant: a run that ends before the thread has run a
        # line must not hold it as the program's (gcscope/holding.py), nor wait for it.
        # The target was bound in __init__, before gcscope's objects were set aside: a
        # restart after a fork makes only the arguments' tuple, which holds no container
        # and is untracked by the next collection.
        OWN_THREADS.add(start_thread(self._loop_bound, (wake, exited, generation)))

    def _loop(self, wake: object, exited: object, generation: int) -> None:
        ident = _thread.get_ident()  # in OWN_THREADS since `start`
        try:
            self._native_id = _thread.get_native_id()
            if self.first is not None:
                self.first()
            if self._sleeper_wait is not None:
                wait = self._sleeper_wait
                while wait(generation):
                    self.tick()
                return
            # the arguments are built once: a call with a keyword (a dict) or positional
            # arguments (a tuple) would be a GC allocation at every tick, which 3.11-3.12
            # count in the program's gen-0 count and never give back after a full
            # collection (the object goes to a free list that collection emptied)
            acquire, timed = wake.acquire, (True, self.interval)  # type: ignore[attr-defined]
            while not acquire(*timed):
                self.tick()
        except Exception:  # a sampler must never take the program down
            pass
        finally:
            OWN_THREADS.discard(ident)
            exited.release()  # type: ignore[attr-defined]

    def stop(self) -> None:
        """Wake the thread, wait for it to return, and for its OS thread to be gone."""
        wake, exited, generation = self._wake, self._exited, self._generation
        if wake is None or exited is None:
            return
        self._wake = self._exited = None
        wake.release()  # type: ignore[attr-defined]
        if self.sleeper is not None:
            self.sleeper.wake(generation)
        exited.acquire()  # type: ignore[attr-defined]
        task = f"/proc/self/task/{self._native_id}"
        deadline = time.monotonic() + EXIT_WAIT_SECONDS
        while self._native_id and os.path.exists(task) and time.monotonic() < deadline:
            time.sleep(0.0005)

    def forget(self) -> None:
        """In a forked child: the thread was not copied; drop its handles."""
        self._wake = self._exited = None


class ForkResume:
    """Calls `resume` (restarting gcscope's threads) once a fork is over, in the parent.

    Python 3.13 counts the process's threads for its fork warning after the fork
    hooks, and after any Python code they run; so the threads restart from a
    pending call (run between the program's own bytecodes, `gcscope._gcstate.call_soon`)
    once a few milliseconds have passed, which os.fork() has long returned by.
    """

    def __init__(self, resume: Callable[[], None]) -> None:
        self.resume = resume
        self._at = 0.0
        self._pid = 0
        self._call_soon: Callable[[Callable[[], None]], bool] | None = None

    def schedule(self, delay: float = FORK_RESUME_DELAY) -> None:
        """Call `resume` from a pending call, `delay` seconds from now or later."""
        self._at = time.perf_counter() + delay
        self._pid = os.getpid()
        try:
            from gcscope._gcstate import call_soon
        except ImportError:
            self.resume()
            return
        self._call_soon = call_soon
        if not call_soon(self._run):
            self.resume()

    def _run(self) -> None:
        # a pending call is interpreter state: one still pending at a fork runs in the
        # child too (maybe inside its fork hooks); it acts only where it was asked for
        if os.getpid() != self._pid:
            return
        if time.perf_counter() < self._at and self._call_soon(self._run):  # type: ignore[misc]
            return  # not yet: ask again at the next chance
        self.resume()
