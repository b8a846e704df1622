"""`gcscope run`: execute the target under the probes, write the capture, print the report."""

from __future__ import annotations

import os
import signal
import sys

from gcscope import capture as capture_io
from gcscope.errors import UsageError
from gcscope.runner import Outcome, Runner, Target, wait_for_threads
from gcscope.session import Session, SessionOptions


class RunRequest:
    """One parsed `gcscope run` command line: what to run, where the capture goes, what to probe."""

    __slots__ = ("options", "output", "report_format", "target_argv")

    def __init__(
        self,
        target_argv: list[str],
        output: str | None,
        report_format: str,
        options: SessionOptions,
    ) -> None:
        self.target_argv = target_argv
        self.output = output
        self.report_format = report_format
        self.options = options


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


def execute(request: RunRequest) -> int:
    """Run, capture, report. Returns the target's exit status (or re-raises its SIGINT)."""
    target = Target.from_argv(request.target_argv)
    target.check()
    path = request.output or f"gcscope-{target.stem}-{os.getpid()}.json"
    capture_io.check_output_path(path)
    runner = Runner(target)
    session = Session(request.options)
    runner.prepare()
    session.start()
    try:
        try:
            outcome = runner.run(session.program_starts)
            wait_for_threads()
        except KeyboardInterrupt:  # landed outside the target's own frames
            outcome = Outcome(130, "interrupt", "KeyboardInterrupt")
    except UsageError:
        session.stop()
        raise
    session.stop()
    data = session.capture(
        target_argv(target),
        outcome.exit_code,
        outcome.ended_by,
        exception=outcome.exception_type,
    )
    capture_io.save(data, path)
    del data  # the report renders from the file, exactly as `gcscope report` would
    stream = report_stream()
    try:
        sys.stdout.flush()
    except Exception:
        pass
    stream.write(f"gcscope: capture written to {path}\n")
    if request.report_format != "none":
        from gcscope.commands.report import render

        stream.write(render(capture_io.load(path), request.report_format))
    stream.flush()
    if outcome.ended_by == "interrupt":
        die_of_sigint()
    return outcome.exit_code


def die_of_sigint() -> None:
    """Exit the way CPython does after an unhandled KeyboardInterrupt: killed by SIGINT."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    except (OSError, ValueError, AttributeError):
        pass
    sys.exit(130)
