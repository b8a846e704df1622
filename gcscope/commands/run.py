"""`gcscope run`: execute the target under the probes, write the capture, print the report.

However the program ends (return, exit, exception, Ctrl-C, SIGTERM/SIGHUP,
`os._exit`, `os.exec*`: see `gcscope.endings`), the run is finished once, in the
measured process: the probes stop, the capture is written to the path resolved
before the program started, and the report is printed from that same capture
(never re-read from the path, which another run may have written since).

With `--follow` (`gcscope.follow`), every Python process of the tree is a
measured run of its own, finished the same way: forked children carry on with
this object (re-armed for their pid), new interpreters are re-executed under
`gcscope.follow_child`. Each writes `gcscope-<pid>.json` into the output folder
and prints nothing; the main process, once its own capture is written, prints
the merged report of the captures in the folder.
"""

from __future__ import annotations

import os
import sys

from gcscope import capture as capture_io
from gcscope.child_starts import ChildStarts
from gcscope.endings import RunEndings, die_of_signal, flush_stdio
from gcscope.errors import UsageError
from gcscope.runner import Outcome, Runner, Target, wait_for_threads
from gcscope.session import Session, SessionOptions

TYPE_CHECKING = False  # importing typing would leave it resident in the program's process
if TYPE_CHECKING:
    from gcscope.follow import FollowConfig, ProcessIdentity

SIGINT = 2
TUNE_VARIABLE = "GCSCOPE_TUNE_CANDIDATE"  # read (and removed) by gcscope/tuning/child.py


class RunRequest:
    """One parsed `gcscope run` command line: what to run, where the capture goes, what to probe."""

    __slots__ = (
        "dump_signal",
        "follow",
        "html",
        "options",
        "output",
        "report_format",
        "serve_metrics",
        "target_argv",
    )

    def __init__(
        self,
        target_argv: list[str],
        output: str | None,
        report_format: str,
        options: SessionOptions,
        html: str | None = None,
        follow: bool = False,
    ) -> None:
        self.target_argv = target_argv
        self.output = output  # a file; with `follow`, a folder
        self.report_format = report_format
        self.options = options
        self.html = html
        self.serve_metrics: tuple[str, int] | None = None  # (host, port)
        self.dump_signal: int | None = None
        self.follow = follow


def report_stream():  # type: ignore[no-untyped-def]
    """The real stderr, even if the program replaced or closed sys.stderr."""
    stream = sys.__stderr__
    if stream is None or stream.closed:
        stream = sys.stderr
    return stream


def foreign_modules(target_kind: str) -> frozenset[str]:
    """Modules of python's start-up for gcscope that python running the program would
    not have: `python -m gcscope run app.py` (and a followed child, started as `python
    -m gcscope.follow_child app.py`) imported `runpy` (~50 tracked objects every full
    collection of the program would traverse), `python app.py` never does;
    `python -m module` does, so for a `-m` target it stays the program's."""
    main_spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    # `python -m gcscope`, and a followed child's `python -m gcscope.follow_child`
    started_by_dash_m = str(getattr(main_spec, "name", "")).startswith("gcscope.")
    if started_by_dash_m and target_kind != "module" and "runpy" in sys.modules:
        return frozenset({"runpy"})
    return frozenset()


def target_argv(target: Target) -> list[str]:
    if target.kind == "script":
        return [target.name, *target.args]
    flag = "-m" if target.kind == "module" else "-c"
    return [flag, target.name, *target.args]


class MeasuredRun:
    """One program run under the probes, and how it is finished.

    With `follow` (the tree's settings) and `identity` (this process's place in the
    tree), `path` is the output folder and each process writes its own capture there.
    """

    def __init__(
        self,
        request: RunRequest,
        target: Target,
        follow: FollowConfig | None = None,
        identity: ProcessIdentity | None = None,
    ) -> None:
        self.request = request
        self.target = target
        self.follow = follow
        if follow is None:
            self.shown_path = request.output or f"gcscope-{target.stem}-{os.getpid()}.json"
            self.path = capture_io.resolve_output_path(self.shown_path)
        else:
            self.shown_path = request.output or follow.folder
            self.path = follow.folder
        self.html_path = (
            capture_io.resolve_output_path(request.html, "HTML report") if request.html else None
        )
        if self.html_path == self.path:
            raise UsageError(f"--html {request.html!r} is the capture file itself; give another")
        if identity is None:
            from gcscope.follow import ProcessIdentity

            identity = ProcessIdentity("main")
        self.identity = identity
        self.marker: str | None = None
        self.runner = Runner(target)
        self.session = Session(request.options)
        self.session.restore_collector = True
        self.session.foreign_modules = foreign_modules(target.kind)
        self.endings = RunEndings(
            self.finish,
            before_fork=self.session.before_fork,
            after_fork_parent=self.session.after_fork_parent,
            in_child=self.session.detach_in_child,
            follow_child=None if follow is None else self.follow_forked_child,
        )
        self.child_starts = ChildStarts(self.endings, None if follow is None else follow.encode())
        self.exception_type: str | None = None
        self.monitor = None
        if request.serve_metrics is not None:
            self._serve_metrics(*request.serve_metrics)

    @staticmethod
    def _serve_metrics(host: str, port: int) -> None:
        """Bind the metrics port before the program runs: a taken port is a usage error."""
        from gcscope.outlets.prometheus import serve

        try:
            serve(host, port)
        except ImportError:
            raise UsageError(
                "--serve-metrics needs prometheus_client: pip install 'gcscope[prometheus]'"
            ) from None
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise UsageError(f"cannot serve metrics on {host}:{port}: {reason}") from None

    def _start_monitor(self) -> None:
        """`gcscope.monitor()`'s outlets on the run's own recorder (monitor mode)."""
        from gcscope.monitoring import Monitor, attach

        monitor = Monitor(self.session.gc_probe, self.session.clock, owned=False)
        monitor.argv = target_argv(self.target)
        monitor.dump_stem = self.target.stem
        monitor.dump_dir = os.path.dirname(self.path)
        monitor.start()
        attach(monitor)
        self.monitor = monitor
        if self.request.serve_metrics is not None:
            from gcscope.monitoring import DEFAULT_TOP_SITES
            from gcscope.outlets.prometheus import add_prometheus

            add_prometheus(
                monitor,
                registry=None,
                top_sites=DEFAULT_TOP_SITES,
                publish_interval=5.0,
                required=True,
            )
        if self.request.dump_signal is not None:
            monitor.handle_signal(self.request.dump_signal, None)

    def execute(self) -> int:
        """Run the program; return its exit status (or die of its SIGINT, as python does)."""
        self.runner.prepare()
        self.session.gc_probe.program_folders = self.runner.program_folders()
        if self.target.kind == "command":
            self.runner.on_program_code = self.session.gc_probe.mark_program_code
        self.endings.arm()
        self.session.memory_probe.on_tick = self.endings.check_signals
        self.session.memory_probe.tick_watch = self.endings.signal_watch
        self.child_starts.install()
        # bound now, so that it is among gcscope's objects set aside by `start`
        program_starts = self.session.program_starts
        self.session.extra_roots = (self, self.endings.handlers, self.child_starts, program_starts)
        self.session.entry_module = self.runner.entry_module
        if self.follow is not None:
            self._write_marker()
        self.session.start()
        if self.request.options.monitor:
            self._start_monitor()
        if self.follow is not None and self.identity.role == "main":
            self._hand_down()
        self.endings.begin()
        try:
            try:
                outcome = self.runner.run(program_starts)
                wait_for_threads()
                self.session.program_ends()
                self.endings.hold_threads()  # its daemon threads' work is not the program's
            except KeyboardInterrupt:  # landed outside the target's own frames
                outcome = Outcome(130, "interrupt", "KeyboardInterrupt")
        except UsageError:
            self.endings.release_threads()
            if self.endings.running():
                self.endings.state = "done"
                self.session.stop()
            if self.marker:
                from gcscope.follow import remove_marker

                remove_marker(self.marker)
            raise
        self.exception_type = outcome.exception_type
        if not self.endings.end(outcome.exit_code, outcome.ended_by, True):
            return outcome.exit_code  # a forked child: not the measured process
        if outcome.ended_by == "interrupt":
            die_of_signal(SIGINT)
        return outcome.exit_code

    def _hand_down(self) -> None:
        """The tree's epoch is the main program's start; every Python process it starts
        inherits the settings through the environment. The collector is paused meanwhile:
        these few objects of gcscope's must not trigger one of the program's collections."""
        import gc

        from gcscope.follow import ENV_VAR

        assert self.follow is not None
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            self.follow.epoch = self.session.clock.origin
            value = self.follow.encode()
            self.child_starts.follow_value = value
            os.environ[ENV_VAR] = value
        finally:
            if was_enabled:
                gc.enable()

    def follow_forked_child(self, parent_pid: int) -> None:
        """In a forked child, with --follow: this process is a measured run of its own."""
        from gcscope.follow import ProcessIdentity

        self.identity = ProcessIdentity("forked", parent_pid)
        self.exception_type = None
        self._write_marker()  # before the probes restart: its allocations are gcscope's
        self.child_starts.restart_in_child()
        self.session.restart_in_child()

    def _write_marker(self) -> None:
        from gcscope.follow import write_marker

        assert self.follow is not None
        offset = self.identity.started_at - self.follow.epoch
        self.marker = write_marker(self.path, self.identity, offset, target_argv(self.target))

    def finish(self, exit_code: int, ended_by: str, flush_stdout: bool) -> None:
        """Stop the probes, write the capture, print the report (called once)."""
        try:
            self._finish(exit_code, ended_by, flush_stdout)
        finally:
            # after the capture: until then a scrape or a dump signal still finds the
            # recorder's tables (and the dump signal never falls back to killing)
            if self.monitor is not None:
                self.monitor.stop()

    def _finish(self, exit_code: int, ended_by: str, flush_stdout: bool) -> None:
        self.session.stop()
        data = self.session.capture(
            target_argv(self.target),
            exit_code,
            ended_by,
            exception=self.exception_type,
            forks=self.endings.forks,
            process=self.identity.section(
                self.follow, self.session.clock.origin, self.child_starts.section()
            ),
        )
        text = capture_io.dumps(data)
        del data
        stream = report_stream()
        if self.follow is not None:
            self._finish_followed(text, stream, flush_stdout)
            return
        if flush_stdout:
            flush_stdio()  # python flushes at a normal exit; not at os._exit or a signal
        stream.write(self._write(text, self.path, self.shown_path))
        if self.request.report_format != "none":
            stream.write(report_text(text, self.request.report_format, self.shown_path))
        if self.html_path is not None:
            stream.write(self._write_html([(self.shown_path, text)]))
        stream.flush()

    def _write_html(self, captures: list[tuple[str, str]]) -> str:
        """The page of this run's captures (label, JSON text), made after the program has
        ended (Jinja2 is never in its process while it runs). A failure is one line; the
        exit status stays the program's. Returns the line to print."""
        import json

        from gcscope.commands.report import render_several

        try:
            page = render_several([(label, json.loads(text)) for label, text in captures], "html")
            capture_io.write_text(page, self.html_path, "HTML report")  # type: ignore[arg-type]
        except UsageError as exc:
            return f"gcscope: {exc}\n"
        return f"gcscope: HTML report written to {self.request.html}\n"

    def _finish_followed(self, text: str, stream, flush_stdout: bool) -> None:  # type: ignore[no-untyped-def]
        """Write this process's capture into the folder; the main process also reports
        on the whole tree. Other processes print nothing unless their capture is lost."""
        from gcscope.follow import capture_path, remove_marker

        assert self.follow is not None
        path = capture_path(self.path, os.getpid())
        shown = os.path.join(self.shown_path, os.path.basename(path))
        line = self._write(text, path, shown)
        remove_marker(self.marker)
        main = self.identity.role == "main" and os.getpid() == self.follow.root_pid
        if flush_stdout:
            flush_stdio()
        if not main:
            if line != written_line(shown):  # lost, or written elsewhere: say so
                stream.write(f"{line.rstrip()} (pid {os.getpid()}, {self.identity.role})\n")
                stream.flush()
            return
        if self.request.report_format != "none":
            from gcscope.commands.report import render_tree

            stream.write(
                render_tree([self.path], self.request.report_format, line, shown=[self.shown_path])
            )
        else:
            stream.write(line)
        if self.html_path is not None:  # every process's capture, side by side
            stream.write(self._write_html(self._folder_captures()))
        stream.flush()

    def _folder_captures(self) -> list[tuple[str, str]]:
        """(file name, JSON text) of each capture in the folder, the main process's first."""
        from gcscope.follow import capture_pid

        found = []
        for name in sorted(os.listdir(self.path)):
            if capture_pid(name) is not None:
                with open(os.path.join(self.path, name), encoding="utf-8") as handle:
                    found.append((name, handle.read()))
        found.sort(key=lambda item: capture_pid(item[0]) != os.getpid())
        return found

    def _write(self, text: str, path: str, shown: str) -> str:
        """Write the capture where asked; if that fails, somewhere it can be found.

        Returns the line that says where it went (or that it is lost).
        """
        try:
            capture_io.write_text(text, path)
        except UsageError as exc:
            problem = str(exc)
        else:
            return written_line(shown)
        import tempfile

        fallback = os.path.join(
            tempfile.gettempdir(), f"gcscope-{self.target.stem}-{os.getpid()}.json"
        )
        try:
            if os.path.realpath(fallback) == path:
                raise UsageError(problem)
            capture_io.write_text(text, fallback)
        except UsageError:
            return (
                f"gcscope: {problem}; the capture could not be written anywhere, and any "
                f"previous file at {shown} is left as it was (the report below "
                "is what remains of this run)\n"
            )
        return (
            f"gcscope: {problem}; capture written to {fallback} instead "
            f"(any previous file at {shown} is left as it was)\n"
        )


def written_line(shown: str) -> str:
    return f"gcscope: capture written to {shown}\n"


def execute(request: RunRequest) -> int:
    """Run, capture, report. Returns the target's exit status (or re-raises its SIGINT)."""
    from gcscope.startup_probe import StartupProbe

    startup = StartupProbe()
    startup.spawn()  # first: it runs while gcscope prepares
    try:
        target = Target.from_argv(request.target_argv)
        target.check()
        follow = None
        if request.follow:
            from gcscope.follow import FollowConfig, prepare_folder

            folder = prepare_folder(request.output or f"gcscope-{target.stem}-{os.getpid()}")
            follow = FollowConfig.for_root(folder, request.options)
        run = MeasuredRun(request, target, follow)
    except BaseException:
        startup.result()  # reap it
        raise
    run.session.collector_state_source = startup.result
    if TUNE_VARIABLE in os.environ:  # one candidate run of `gcscope tune`
        from gcscope.tuning.child import install

        install(run.session)
    return run.execute()


def execute_followed(follow: FollowConfig, argv: list[str]) -> int:
    """A new interpreter of a followed tree (`gcscope.follow_child`): its program, measured."""
    from gcscope.follow import ProcessIdentity, role_of

    request = RunRequest(argv, follow.folder, "none", follow.options, follow=True)
    target = Target.from_argv(argv)
    target.check()
    return MeasuredRun(request, target, follow, ProcessIdentity(role_of(argv))).execute()


def report_text(text: str, report_format: str, path: str) -> str:
    """The report of this run's capture, or one line saying why there is none.

    A program that exhausted memory (RLIMIT_AS) leaves none for the report's own
    imports (tabulate) and tables: the capture is written, the exit status stands.
    """
    try:
        import json

        from gcscope.commands.report import render

        return render(json.loads(text), report_format)
    except (MemoryError, ImportError) as exc:
        reason = "out of memory" if isinstance(exc, MemoryError) else f"cannot import {exc.name}"
        return f"gcscope: no report ({reason}); the capture is complete: gcscope report {path}\n"
