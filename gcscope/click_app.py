"""The click group: every verb's options, help and messages. Each verb's work lives in
`gcscope.commands`; heavier modules are imported inside the command that needs them.

`gcscope run` returns what to run instead of running it, so that the program never
runs inside click's context (`gcscope.cli.main` executes it).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from gcscope import __version__
from gcscope.commands.run import RunRequest
from gcscope.errors import INTERNAL_ERROR, UsageError
from gcscope.run_options import (
    RUN_OPTIONS,
    RunOption,
    option_value,
    run_request,
    split_joined_flag,
)

# click >= 8.2 raises this for a bare `gcscope`; older versions print help themselves
_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())
RUN_USAGE = "[OPTIONS] (SCRIPT | -m MODULE | -c COMMAND) [ARGS]..."


class _RunCommand(click.Command):
    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        return [RUN_USAGE]


class _Duration(click.ParamType):
    """A duration as `gcscope.units` reads every duration (a unit is required), in seconds."""

    name = "duration"

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        if isinstance(value, float):
            return value
        from gcscope.units import parse_duration

        return parse_duration(str(value), f"--{param.name}" if param is not None else "duration")


DURATION = _Duration()


class _RunValue(click.ParamType):
    """A duration, count or size of `run`, converted exactly as the click-free parser does.

    Its UsageError passes through click: one `gcscope: invalid --opt ...` line, exit 2.
    """

    def __init__(self, option: RunOption) -> None:
        self.option = option
        self.name = option.kind

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value  # the default
        return option_value(self.option, str(value))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gcscope")
def cli() -> None:
    """See what Python's garbage collector costs your program."""


def _click_settings(option: RunOption) -> dict[str, Any]:
    """The `click.option` keywords for one entry of `RUN_OPTIONS`."""
    if option.kind == "flag":
        return {"is_flag": True}
    if option.kind == "mode":  # `--allocations` or `--allocations=sampled` (see split_joined_flag)
        return {
            "type": click.Choice(list(option.choices)),
            "is_flag": False,
            "flag_value": option.choices[0],
            "default": None,
        }
    settings: dict[str, Any] = {"default": option.default, "metavar": option.metavar}
    if option.kind == "choice":
        settings.update(type=click.Choice(list(option.choices)), show_default=True)
    elif option.kind in ("count", "duration", "size"):
        settings.update(
            type=_RunValue(option),
            show_default=option.kind == "count" and option.default is not None,
        )
    return settings


def _with_run_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """One table, `RUN_OPTIONS`, for click's `run` and for the click-free parser."""
    for option in reversed(RUN_OPTIONS):
        settings = _click_settings(option)
        command = click.option(*option.flags, option.dest, help=option.help, **settings)(command)
    return command


@cli.command(
    cls=_RunCommand,
    context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True},
)
@_with_run_options
@click.argument("argv", nargs=-1, type=click.UNPROCESSED, metavar="")
def run(**values: Any) -> RunRequest:
    """Run a Python program exactly as `python` would, with GC probes on.

    Everything after SCRIPT (or -m MODULE, -c COMMAND) belongs to the program.
    The program's stdout is untouched; the report goes to stderr and the
    capture to a JSON file. The exit status is the program's.
    """
    return run_request(**values)


@cli.command()
@click.option(
    "--format",
    "report_format",
    type=click.Choice(["text", "json", "html", "perfetto"]),
    default="text",
    show_default=True,
    help="html: one self-contained page; perfetto: a trace for ui.perfetto.dev.",
)
@click.option(
    "-o",
    "--output",
    metavar="PATH",
    help="Write to PATH (replaced atomically) instead of stdout.",
)
@click.argument("captures", nargs=-1, required=True, metavar="CAPTURE|DIR...")
def report(captures: tuple[str, ...], report_format: str, output: str | None) -> None:
    """Render saved captures. Several, or a `run --follow` folder: as text or JSON the
    merged report (per process, totals, tree, top sites); as HTML, side by side."""
    from gcscope.commands.report import execute

    click.echo(execute(list(captures), report_format, output), nl=False)


@cli.command()
@click.argument("capture", metavar="CAPTURE")
@click.option(
    "--graph", "graph_path", metavar="FILE", help="Draw example cycles: .dot, .png, .svg."
)
@click.option(
    "--shape", type=click.IntRange(min=0), help="Only this shape (its id in the table): tables too."
)
@click.option(
    "--type", "type_filter", metavar="TYPE", help="Only cycles holding this type: tables too."
)
@click.option(
    "--max-nodes",
    type=click.IntRange(1, 10_000),
    default=60,
    show_default=True,
    help="Most objects drawn; a larger cycle is cut, with a '... N more' box.",
)
def cycles(
    capture: str,
    graph_path: str | None,
    shape: int | None,
    type_filter: str | None,
    max_nodes: int,
) -> None:
    """Cyclic garbage in a `--cycles` capture: types, shapes, sites; --graph draws it."""
    from gcscope.commands.cycles import execute

    click.echo(execute(capture, graph_path, shape, type_filter, max_nodes), nl=False)


class _Limit(click.ParamType):
    """Limits are parsed by gcscope.units (one error line, exit 2); kept as text here."""

    name = "limit"

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        return str(value)


LIMIT = _Limit()


@cli.command()
@click.argument("capture", metavar="CAPTURE")
@click.option("--max-pause", multiple=True, type=LIMIT, help="Longest pause: 20ms, or gen2=50ms.")
@click.option("--max-p99-pause", type=LIMIT, help="Worst generation's p99 pause, e.g. 5ms.")
@click.option("--max-gc-time", type=LIMIT, help="GC share of wall time, e.g. 5%.")
@click.option("--max-cyclic-garbage", type=LIMIT, help="Objects dying in cycles (--cycles).")
@click.option("--max-uncollectable", type=LIMIT, help="Uncollectable objects.")
@click.option("--max-peak-rss", type=LIMIT, help="Peak RSS, e.g. 300MB or 1.5GiB.")
@click.option("--max-growth", type=LIMIT, help="Net traced memory growth (--allocations).")
@click.option("--format", "output", type=click.Choice(["text", "github"]), default="text")
def check(capture: str, output: str, **limits: str | tuple[str, ...] | None) -> None:
    """Exit 1 if CAPTURE exceeds a limit (also read from [tool.gcscope.check])."""
    from gcscope.commands.check import execute

    text, status = execute(
        capture, {name.replace("_", "-"): value for name, value in limits.items()}, output
    )
    click.echo(text, nl=False)
    sys.exit(status)


@cli.command()
@click.argument("base", metavar="BASE")
@click.argument("new", metavar="NEW")
@click.option(
    "--tolerance",
    type=LIMIT,
    default="10%",
    show_default=True,
    help="Allowed worsening before a metric counts as regressed, 0% to 100%.",
)
@click.option("--format", "output", type=click.Choice(["text", "github"]), default="text")
def diff(base: str, new: str, tolerance: str, output: str) -> None:
    """Compare two captures; exit 1 when a metric regresses beyond tolerance."""
    from gcscope.commands.diff import execute
    from gcscope.units import parse_share

    share = parse_share(tolerance, "--tolerance")
    text, status = execute(base, new, share, output, tolerance.strip())
    click.echo(text, nl=False)
    sys.exit(status)


@cli.command(
    cls=_RunCommand,
    context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True},
)
@click.option(
    "--goal",
    type=click.Choice(["throughput", "latency", "memory"]),
    default="throughput",
    show_default=True,
    help="What to improve: the program's CPU time, longest pause, or peak RSS.",
)
@click.option("--max-rss", type=LIMIT, help="Peak RSS limit: 300MB, or +10% of the default.")
@click.option("--max-pause", type=LIMIT, help="Longest-pause limit: 20ms, or +10%.")
@click.option("--max-wall", type=LIMIT, help="Wall-time limit: 2s, or +10%.")
@click.option("--repeat", type=click.IntRange(1, 100), help="Measured runs per candidate [5].")
@click.option("--budget", type=DURATION, help="Time to spend, e.g. 5min: sizes --repeat.")
@click.option("--candidates", metavar="NAMES", help="Only these, e.g. gen0x10,freeze.")
@click.option(
    "--allow-disable", is_flag=True, help="Also try gc.disable() (cyclic garbage checked)."
)
@click.option("-o", "--output", metavar="DIR", help="Folder for the captures and tune.json.")
@click.option(
    "--format",
    "report_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
@click.argument("argv", nargs=-1, type=click.UNPROCESSED, metavar="")
def tune(argv: tuple[str, ...], **options: Any) -> None:
    """Try GC settings on a program (SCRIPT | -m MODULE | -c COMMAND [ARGS]) and recommend one.

    Every candidate runs the unmodified program as `gcscope run` would, alternating,
    after a warm-up round; the table shows medians and changes beyond noise.
    """
    from gcscope.commands.tune import execute as run_tune
    from gcscope.commands.tune import tune_request

    text, _ = run_tune(tune_request(list(argv), **options))
    click.echo(text, nl=False)


def dispatch(argv: list[str]) -> RunRequest | int:
    """Parse and run one command line through click: a `RunRequest` for `run`, else a status.

    Every click complaint becomes one `gcscope: ...` line (or the help text) and 2.
    """
    try:
        args = split_joined_flag(argv)
        if args and args[0] == "tune":  # imported for tune only: `run` may come this way
            from gcscope.commands.tune import split_joined_target

            args = split_joined_target(args)
        result = cli.main(args, prog_name="gcscope", standalone_mode=False)
    except _NO_ARGS_IS_HELP as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc), err=True)
        return 2
    except click.ClickException as exc:
        hint = (
            f" (see 'gcscope {exc.ctx.command.name} --help')" if getattr(exc, "ctx", None) else ""
        )
        click.echo(f"gcscope: {exc.format_message()}{hint}", err=True)
        return 2
    except click.exceptions.Abort:
        click.echo("gcscope: aborted", err=True)
        return 130
    except (UsageError, KeyboardInterrupt, SystemExit, MemoryError):
        raise
    except Exception:  # a bug in gcscope: never exit 1, which check and diff mean as "failed"
        import traceback

        traceback.print_exc()
        click.echo(f"gcscope: internal error, please report it (exit {INTERNAL_ERROR})", err=True)
        return INTERNAL_ERROR
    return result if isinstance(result, (RunRequest, int)) else 0
