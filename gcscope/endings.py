"""Every way a measured program can end leaves a capture (or a clear message).

A program ends by returning, `sys.exit`, an exception or Ctrl-C (all seen by
`gcscope.commands.run`), and also in ways that never return to gcscope:

* **SIGTERM / SIGHUP** (a service stopped by its supervisor, a closed terminal):
  while the program has the default disposition, gcscope's handler writes the
  capture and then lets the process die of the same signal, as python would.
  The handler is hidden from the program: `signal.getsignal` reports the default,
  and `signal.signal` returns the default as the previous handler, so a program
  that installs, chains or inspects handlers sees what python gives it. A handler
  the program installs replaces gcscope's, and is respected.
  A Python handler runs only when the main thread runs bytecode: a signal that
  lands just before the main thread blocks in C (a pool worker entering
  `sem_wait` for its next task) would wait forever, where the default disposition
  kills at once. So, while gcscope's handler stands in for the default, the
  signal also reaches a wakeup fd (`signal.set_wakeup_fd`, an anonymous file, Linux;
  hidden like the handlers; not when the program has one) that gcscope's sampling
  thread reads:
  if the handler has not started by the next tick, the thread sends the signal
  again to the main thread itself, whose blocking call then returns to run it.
* **`os._exit` and `os.exec*`** end the process (or replace it) at once; as
  coverage.py does (`patch = _exit, execv`), gcscope wraps them to write the
  capture first. Like python, it flushes none of the program's buffered output.
* **`os.fork`**: without `--follow`, a forked child is not the measured program.
  At the fork the child drops gcscope's probes (gc callback, debug flags,
  tracemalloc, signal handlers), so it runs as it would under plain python, and
  it never writes the parent's capture. With `--follow`, the child is measured
  too: the same endings are armed again for the child's pid (`follow_child`
  restarts the probes), and every ending above writes the child's own capture.
  gcscope's own threads pause around the fork, so the interpreter's
  "multi-threaded fork" warning (3.12+) appears only when the program itself has
  threads. A fork that `subprocess` makes to exec another program (`spawning`)
  is never measured: the program it execs is, if it is Python and followed.

Everything here acts only in the measured process (by pid) and only once.
"""

from __future__ import annotations

import _signal
import _thread
import os
import sys

from gcscope.holding import hold_program_threads, release_program_threads

TYPE_CHECKING = False  # importing typing would leave it resident in the program's process
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

ENDING_SIGNALS = tuple(
    getattr(_signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(_signal, name)
)
_SIGNAL_NAMES = {getattr(_signal, n): n for n in ("SIGTERM", "SIGHUP") if hasattr(_signal, n)}


class HiddenHandlers:
    """Signal handlers of gcscope's that the program cannot see.

    `_signal.getsignal` and `_signal.signal` (which `signal.getsignal` and
    `signal.signal` call) are wrapped to report, wherever gcscope's handler is
    installed, the disposition it stands in for (`SIG_DFL`, or
    `default_int_handler` for SIGINT). A handler the program installs replaces
    gcscope's for good.
    """

    def __init__(self) -> None:
        self.installed: dict[int, tuple[Any, Any]] = {}  # signum -> (handler, shown as)
        self.starts = 0  # how many times a handler installed here has started
        self._real_getsignal = _signal.getsignal
        self._real_signal = _signal.signal
        self._real_set_wakeup_fd = getattr(_signal, "set_wakeup_fd", None)
        self.wakeup_fd = -1  # gcscope's wakeup file, while it is the one
        self.wakeup_read = 0
        self._patched = False
        self.wrappers: tuple[Any, ...] = ()

    def install(self, signum: int, handler: Any, shown_as: Any = _signal.SIG_DFL) -> bool:
        """Install `handler` for `signum` if the program's disposition is `shown_as`."""

        def started(signum: int, frame: Any) -> Any:
            self.starts += 1
            return handler(signum, frame)

        try:
            if self._real_getsignal(signum) is not shown_as:
                return False
            self._real_signal(signum, started)
        except (OSError, ValueError):  # not the main thread, or not a catchable signal
            return False
        self.installed[signum] = (started, shown_as)
        self._patch()
        return True

    def restore(self, signum: int) -> None:
        """Put back what gcscope's handler stood in for, if it is still installed."""
        entry = self.installed.pop(signum, None)
        if entry is not None and self._real_getsignal(signum) is entry[0]:
            try:
                self._real_signal(signum, entry[1])
            except (OSError, ValueError):
                pass

    def restore_all(self) -> None:
        for signum in list(self.installed):
            self.restore(signum)
        self.unwatch()

    def watch(self) -> bool:
        """Have the signal handler write each signal's number to an anonymous file of
        gcscope's (from the main thread; Linux; not if the program, or its environment,
        set a wakeup fd). The sampling thread reads it by its size, with no exception and
        no object the collector tracks: its reads must not move the program's collections.
        """
        self.unwatch()
        real = self._real_set_wakeup_fd
        if real is None or not self.installed or not hasattr(os, "memfd_create"):
            return False
        try:
            descriptor = os.memfd_create("gcscope-signals", os.MFD_CLOEXEC)
            os.set_blocking(descriptor, False)
        except OSError:
            return False
        try:
            previous = real(descriptor, warn_on_full_buffer=False)
        except (OSError, ValueError):
            previous = None
        if previous != -1:  # the program's, or not the main thread: leave it alone
            if previous is not None:
                real(previous)
            os.close(descriptor)
            return False
        self.wakeup_fd = descriptor
        self.wakeup_read = 0
        self._patch()
        return True

    def unwatch(self) -> None:
        """Give back the wakeup fd (python's: none) and close gcscope's file."""
        descriptor = self.wakeup_fd
        if descriptor < 0:
            return
        try:
            if self._real_set_wakeup_fd is not None:
                self._real_set_wakeup_fd(-1)
        except (OSError, ValueError):  # not the main thread: the fd stays until exit
            return
        self.wakeup_fd = -1
        os.close(descriptor)

    def signals_received(self) -> bytes:
        """The signal numbers written to gcscope's wakeup file since the last call."""
        descriptor = self.wakeup_fd
        if descriptor < 0:
            return b""
        try:
            written = os.lseek(descriptor, 0, os.SEEK_CUR)
            if written <= self.wakeup_read:
                return b""
            data = os.pread(descriptor, written - self.wakeup_read, self.wakeup_read)
        except OSError:
            return b""
        self.wakeup_read += len(data)
        return data

    def _patch(self) -> None:
        if self._patched:
            return
        self._patched = True
        installed, real_getsignal, real_signal = (
            self.installed,
            self._real_getsignal,
            self._real_signal,
        )

        def getsignal(signalnum: Any) -> Any:
            handler = real_getsignal(signalnum)
            entry = installed.get(signalnum)
            return entry[1] if entry is not None and entry[0] is handler else handler

        def signal(signalnum: Any, handler: Any) -> Any:
            previous = real_signal(signalnum, handler)
            entry = installed.get(signalnum)
            if entry is not None and entry[0] is previous:
                del installed[signalnum]  # the program's choice replaces gcscope's
                return entry[1]
            return previous

        getsignal.__doc__ = real_getsignal.__doc__
        signal.__doc__ = real_signal.__doc__
        _signal.getsignal = getsignal
        _signal.signal = signal
        self.wrappers = (getsignal, signal)  # gcscope's objects, for the type counts
        real_set_wakeup_fd = self._real_set_wakeup_fd
        if real_set_wakeup_fd is None:
            return
        handlers = self

        def set_wakeup_fd(fd: Any, *args: Any, **kwargs: Any) -> Any:
            previous = real_set_wakeup_fd(fd, *args, **kwargs)
            if previous >= 0 and previous == handlers.wakeup_fd:
                # the program's from now on; gcscope's file stays open (the sampling thread
                # may be reading it: a closed number could be the program's next file)
                handlers.wakeup_fd = -1
                return -1  # what python would have had
            return previous

        set_wakeup_fd.__doc__ = real_set_wakeup_fd.__doc__
        _signal.set_wakeup_fd = set_wakeup_fd
        self.wrappers = (getsignal, signal, set_wakeup_fd)


HIDDEN_HANDLERS = HiddenHandlers()


class RunEndings:
    """Arms the endings above for one measured run, and ends it exactly once.

    `finish(exit_code, ended_by, flush_stdout)` writes the capture and prints the
    report. `before_fork`, `after_fork_parent` and `in_child` come from the session;
    `follow_child`, when given (`--follow`), makes a forked child a measured run of
    its own instead. A signal that arrives while the capture is being written waits
    for it.
    """

    def __init__(
        self,
        finish: Callable[[int, str, bool], None],
        before_fork: Callable[[], None],
        after_fork_parent: Callable[[], None],
        in_child: Callable[[], None],
        follow_child: Callable[[int], None] | None = None,
    ) -> None:
        self.pid = os.getpid()
        self._finish = finish
        self._before_fork = before_fork
        self._after_fork_parent = after_fork_parent
        self._in_child = in_child
        self._follow_child = follow_child
        self.handlers = HIDDEN_HANDLERS
        self.state = "idle"  # idle -> running -> finishing -> done; "child" after a fork
        self.pending_signal = 0
        self.forks = 0
        self.spawning = False  # inside subprocess's fork-and-exec (gcscope.child_starts)
        self.main_thread = _thread.get_ident()
        self._unhandled = 0  # a signal seen in the wakeup file, its handler not yet started
        self._starts_at_tick = self._starts_at_notice = 0  # handlers.starts, as last seen
        self._real_exit = os._exit
        self._real_execv = os.execv
        self._real_execve = os.execve
        self.hooks: tuple[Any, ...] = ()
        self.wrappers: tuple[Any, ...] = ()
        self.holding = False  # the program's other threads are held (gcscope.holding)

    def hold_threads(self) -> None:
        """The program is over (python would be exiting): its other threads wait at their
        next call until the capture is written, so nothing they make from now on is
        harvested as the program's. Called as early as the ending is known."""
        if not self.holding and self.running():
            self.holding = hold_program_threads()

    def release_threads(self) -> None:
        """They go on, with the profile functions they had."""
        if self.holding:
            release_program_threads()
            self.holding = False

    def running(self) -> bool:
        """True in the measured process while its program runs."""
        return self.state == "running" and os.getpid() == self.pid

    def arm(self) -> None:
        """Install the signal handlers, the os wrappers and the fork hooks.

        Done before the probes start, so that these objects of gcscope's exist before
        the program's type counts begin; they act only once `begin` is called.
        """
        on_signal = self._on_signal
        for signum in ENDING_SIGNALS:
            self.handlers.install(signum, on_signal)
        self.handlers.watch()
        self._wrap_process_exits()
        self.hooks = (on_signal, self._fork_before, self._fork_parent, self._fork_child)
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(
                before=self.hooks[1], after_in_parent=self.hooks[2], after_in_child=self.hooks[3]
            )

    def begin(self) -> None:
        """The program starts now: endings from here on are the program's."""
        self.state = "running"

    def end(self, exit_code: int, ended_by: str, flush_stdout: bool) -> bool:
        """Finish the run once; False if it is not ours to finish (a child, or done)."""
        if not self.running():
            return False
        self.hold_threads()
        self.state = "finishing"
        try:
            self._finish(exit_code, ended_by, flush_stdout)
        finally:
            self.release_threads()  # atexit, or a program that goes on (exec)
            self.state = "done"
            for signum in ENDING_SIGNALS:
                self.handlers.restore(signum)
            self.handlers.unwatch()  # the sampling thread has stopped
            if self.pending_signal:
                die_of_signal(self.pending_signal, self._real_exit)
        return True

    # -- signals --
    def check_signals(self) -> bool:
        """From gcscope's sampling thread, every tick (with the C sampler: a tick after a
        signal reached the wakeup file, and the ticks this asks for): a signal of ours
        whose handler has not started since the last check is sent again to the main
        thread (see the docstring). True while one is waiting for its handler: check
        again at the next tick."""
        handlers = self.handlers
        received = handlers.signals_received()
        starts = handlers.starts
        previous, self._starts_at_tick = self._starts_at_tick, starts
        if not self.running():
            self._unhandled = 0
        elif self._unhandled:
            if starts != self._starts_at_notice:  # a handler has run since: it is handled
                self._unhandled = 0  # (what the wakeup file got meanwhile is its echo)
            else:
                try:
                    _signal.pthread_kill(self.main_thread, self._unhandled)
                except (OSError, ValueError, AttributeError):
                    pass
        elif starts == previous:  # no handler of gcscope's started since the last tick...
            for signum in received:  # ...yet one of its signals (ending or dump) came
                if signum in handlers.installed:
                    self._unhandled, self._starts_at_notice = signum, starts
        return bool(self._unhandled)

    def signal_watch(self) -> tuple[int, int]:
        """gcscope's wakeup file and how much of it `check_signals` has read (-1 for none)."""
        handlers = self.handlers
        return handlers.wakeup_fd, handlers.wakeup_read

    def _on_signal(self, signum: int, frame: Any) -> None:
        if os.getpid() == self.pid and self.state == "finishing":
            self.pending_signal = signum  # die once the capture is written
            return
        if self.state == "rearming" or (
            self._follow_child is not None and self.state == "running" and os.getpid() != self.pid
        ):  # a followed child, forked a moment ago: it ends once it is measured
            self.pending_signal = signum
            return
        self.end(128 + signum, _SIGNAL_NAMES.get(signum, f"signal {signum}"), False)
        die_of_signal(signum, self._real_exit)

    # -- os._exit, os.exec* --
    def _wrap_process_exits(self) -> None:
        endings = self

        def _exit(status: int) -> None:
            if isinstance(status, int):
                endings.end(status & 0xFF, "os._exit", False)
            endings._real_exit(status)

        def execv(path: Any, argv: Any) -> None:
            endings.end(0, "exec", False)
            endings._real_execv(path, argv)

        def execve(path: Any, argv: Any, env: Any) -> None:
            endings.end(0, "exec", False)
            endings._real_execve(path, argv, env)

        _exit.__doc__ = self._real_exit.__doc__
        execv.__doc__ = self._real_execv.__doc__
        execve.__doc__ = self._real_execve.__doc__
        os._exit = _exit
        os.execv = execv  # os.execl, execlp, execvp... all end in os.execv or os.execve
        os.execve = execve
        self.wrappers = (_exit, execv, execve)

    # -- fork --
    def _fork_before(self) -> None:
        if self.running():
            self._before_fork()

    def _fork_parent(self) -> None:
        if self.running():
            if not self.spawning:  # counted by gcscope.child_starts
                self.forks += 1
            self._after_fork_parent()

    def _fork_child(self) -> None:
        if self.state != "running":
            return
        if self._follow_child is not None and not self.spawning:
            self.state = "rearming"  # a signal that arrives meanwhile waits (`_on_signal`)
            parent, self.pid = self.pid, os.getpid()
            self.main_thread = _thread.get_ident()  # the thread that forked is the child's main
            self.forks = 0  # the child's own from here on; the handlers stay, as the child's
            self._unhandled = 0
            self.handlers.watch()  # a pipe of its own: the parent's is the parent's
            try:
                self._follow_child(parent)
            finally:
                self.state = "running"
            signum, self.pending_signal = self.pending_signal, 0
            if signum:
                self._on_signal(signum, None)
            return
        # the parent is measured: this child runs as under python
        self.state = "child"
        self.handlers.restore_all()  # gcscope's SIGTERM, SIGHUP and SIGINT handlers
        self._in_child()


def die_of_signal(signum: int, real_exit: Callable[[int], Any] | None = None) -> None:
    """End the process the way python does for an unhandled signal: killed by it."""
    try:
        _signal.signal(signum, _signal.SIG_DFL)
        os.kill(os.getpid(), signum)
    except (OSError, ValueError):
        pass
    (real_exit or os._exit)(128 + signum)


def flush_stdio() -> None:
    """What python does with sys.stdout at a normal exit (not at os._exit or a signal)."""
    try:
        sys.stdout.flush()
    except Exception:
        pass
