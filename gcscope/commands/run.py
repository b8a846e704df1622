"""`gcscope run`: execute the target under the probes, write the capture, print the report.

However the program ends (return, exit, exception, Ctrl-C, SIGTERM/SIGHUP,
`os._exit`, `os.exec*`: see `gcscope.endings`), the run is finished once, in the
measured process: the probes stop, the capture is written to the path resolved
before the program started, and the report is printed from that same capture
(never re-read from the path, which another run may have written since).
"""

from __future__ import annotations

import os
import sys

from gcscope import capture as capture_io
from gcscope.endings import RunEndings, die_of_signal, flush_stdio
from gcscope.errors import UsageError
from gcscope.runner import Outcome, Runner, Target, wait_for_threads
from gcscope.session import Session, SessionOptions

SIGINT = 2
TUNE_VARIABLE = "GCSCOPE_TUNE_CANDIDATE"  # read (and removed) by gcscope/tuning/child.py


class RunRequest:
    """One parsed `gcscope run` command line: what to run, where the capture goes, what to probe."""

    __slots__ = (
        "dump_signal",
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
    ) -> None:
        self.target_argv = target_argv
        self.output = output
        self.report_format = report_format
        self.options = options
        self.html = html
        self.serve_metrics: tuple[str, int] | None = None  # (host, port)
        self.dump_signal: int | None = None


def report_stream():  # type: ignore[no-untyped-def]
    """The real stderr, even if the program replaced or closed sys.stderr."""
    stream = sys.__stderr__
    if stream is None or stream.closed:
        stream = sys.stderr
    return stream


def target_argv(target: Target) -> list[str]:
    if target.kind == "script":
        return [target.name, *target.args]
    flag = "-m" if target.kind == "module" else "-c"
    return [flag, target.name, *target.args]


class MeasuredRun:
    """One program run under the probes, and how it is finished."""

    def __init__(self, request: RunRequest, target: Target) -> None:
        self.request = request
        self.target = target
        self.shown_path = request.output or f"gcscope-{target.stem}-{os.getpid()}.json"
        self.path = capture_io.resolve_output_path(self.shown_path)
        self.html_path = (
            capture_io.resolve_output_path(request.html, "HTML report") if request.html else None
        )
        if self.html_path == self.path:
            raise UsageError(f"--html {request.html!r} is the capture file itself; give another")
        self.runner = Runner(target)
        self.session = Session(request.options)
        self.session.restore_collector = True
        self.endings = RunEndings(
            self.finish,
            before_fork=self.session.before_fork,
            after_fork_parent=self.session.after_fork_parent,
            in_child=self.session.detach_in_child,
        )
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
        self.session.extra_roots = (self, self.endings.handlers)
        self.session.start()
        if self.request.options.monitor:
            self._start_monitor()
        self.endings.begin()
        try:
            try:
                outcome = self.runner.run(self.session.program_starts)
                wait_for_threads()
                self.session.program_ends()
            except KeyboardInterrupt:  # landed outside the target's own frames
                outcome = Outcome(130, "interrupt", "KeyboardInterrupt")
        except UsageError:
            if self.endings.running():
                self.endings.state = "done"
                self.session.stop()
            raise
        self.exception_type = outcome.exception_type
        if not self.endings.end(outcome.exit_code, outcome.ended_by, True):
            return outcome.exit_code  # a forked child: not the measured process
        if outcome.ended_by == "interrupt":
            die_of_signal(SIGINT)
        return outcome.exit_code

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
        )
        text = capture_io.dumps(data)
        del data
        stream = report_stream()
        if flush_stdout:
            flush_stdio()  # python flushes at a normal exit; not at os._exit or a signal
        stream.write(self._write(text))
        if self.request.report_format != "none":
            import json

            from gcscope.commands.report import render

            stream.write(render(json.loads(text), self.request.report_format))
        if self.html_path is not None:
            stream.write(self._write_html(text))
        stream.flush()

    def _write_html(self, text: str) -> str:
        """The page of this run's capture, made after the program has ended (Jinja2 is
        never in its process while it runs). A failure is one line; the exit status
        stays the program's. Returns the line to print."""
        import json

        from gcscope.commands.report import render_several

        try:
            page = render_several([(self.shown_path, json.loads(text))], "html")
            capture_io.write_text(page, self.html_path, "HTML report")
        except UsageError as exc:
            return f"gcscope: {exc}\n"
        return f"gcscope: HTML report written to {self.request.html}\n"

    def _write(self, text: str) -> str:
        """Write the capture where asked; if that fails, somewhere it can be found.

        Returns the line that says where it went (or that it is lost).
        """
        try:
            capture_io.write_text(text, self.path)
        except UsageError as exc:
            problem = str(exc)
        else:
            return f"gcscope: capture written to {self.shown_path}\n"
        import tempfile

        fallback = os.path.join(
            tempfile.gettempdir(), f"gcscope-{self.target.stem}-{os.getpid()}.json"
        )
        try:
            if os.path.realpath(fallback) == self.path:
                raise UsageError(problem)
            capture_io.write_text(text, fallback)
        except UsageError:
            return (
                f"gcscope: {problem}; the capture could not be written anywhere, and any "
                f"previous file at {self.shown_path} is left as it was (the report below "
                "is what remains of this run)\n"
            )
        return (
            f"gcscope: {problem}; capture written to {fallback} instead "
            f"(any previous file at {self.shown_path} is left as it was)\n"
        )


def execute(request: RunRequest) -> int:
    """Run, capture, report. Returns the target's exit status (or re-raises its SIGINT)."""
    from gcscope.startup_probe import StartupProbe

    startup = StartupProbe()
    startup.spawn()  # first: it runs while gcscope prepares
    try:
        target = Target.from_argv(request.target_argv)
        target.check()
        run = MeasuredRun(request, target)
    except BaseException:
        startup.result()  # reap it
        raise
    run.session.collector_state_source = startup.result
    if TUNE_VARIABLE in os.environ:  # one candidate run of `gcscope tune`
        from gcscope.tuning.child import install

        install(run.session)
    return run.execute()
