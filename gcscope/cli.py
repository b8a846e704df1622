"""The command line: a thin click group. Each verb's work lives in `gcscope.commands`.

Every user mistake ends as one `gcscope: ...` line on stderr and exit status 2;
heavier modules are imported inside the command that needs them.
"""

from __future__ import annotations

import sys

import click

from gcscope import __version__
from gcscope.errors import UsageError

# click >= 8.2 raises this for a bare `gcscope`; older versions print help themselves
_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())
RUN_USAGE = "[OPTIONS] (SCRIPT | -m MODULE | -c COMMAND) [ARGS]..."


class _RunCommand(click.Command):
    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        return [RUN_USAGE]


class _Duration(click.ParamType):
    name = "duration"

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        if isinstance(value, float):
            return value
        from gcscope.units import parse_duration

        seconds = parse_duration(str(value))
        if seconds < 0:
            raise UsageError(f"invalid duration {value!r}: must not be negative")
        return seconds


DURATION = _Duration()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gcscope")
def cli() -> None:
    """See what Python's garbage collector costs your program."""


@cli.command(
    cls=_RunCommand,
    context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True},
)
@click.option("-o", "--output", metavar="PATH", help="Capture file [gcscope-<name>-<pid>.json].")
@click.option(
    "--format",
    "report_format",
    type=click.Choice(["text", "json", "none"]),
    default="text",
    show_default=True,
    help="Report printed to stderr after the run.",
)
@click.option(
    "--rss-interval",
    type=DURATION,
    default=0.1,
    metavar="DURATION",
    help="RSS sampling interval (e.g. 100ms, 1s; 0 turns sampling off).  [default: 0.1s]",
)
@click.option(
    "--max-events",
    type=click.IntRange(min=0),
    default=20_000,
    show_default=True,
    help="Collections kept in the capture's timeline (aggregates always cover all).",
)
@click.option(
    "--allocations",
    is_flag=True,
    help="Trace allocations (tracemalloc): top sites, growth, type growth.",
)
@click.option(
    "--cycles",
    is_flag=True,
    help="Harvest cyclic garbage (gc.DEBUG_SAVEALL): types, cycle shapes, creation sites.",
)
@click.option(
    "--frames",
    type=click.IntRange(1, 1000),
    default=None,
    help="Frames per allocation traceback; >1 groups by traceback (implies --allocations).",
)
@click.option(
    "--interval",
    "snapshot_interval",
    type=DURATION,
    default=None,
    metavar="DURATION",
    help="Also take an allocation snapshot every DURATION, e.g. 5s (implies --allocations).",
)
@click.argument("argv", nargs=-1, type=click.UNPROCESSED, metavar="")
def run(
    output: str | None,
    report_format: str,
    rss_interval: float,
    max_events: int,
    allocations: bool,
    cycles: bool,
    frames: int | None,
    snapshot_interval: float | None,
    argv: tuple[str, ...],
) -> None:
    """Run a Python program exactly as `python` would, with GC probes on.

    Everything after SCRIPT (or -m MODULE, -c COMMAND) belongs to the program.
    The program's stdout is untouched; the report goes to stderr and the
    capture to a JSON file. The exit status is the program's.
    """
    from gcscope.commands.run import RunRequest, execute
    from gcscope.session import SessionOptions

    if snapshot_interval is not None and snapshot_interval <= 0:
        raise UsageError("invalid --interval: it must be longer than 0s")
    options = SessionOptions(
        rss_interval=rss_interval,
        max_events=max_events,
        allocations=allocations or frames is not None or snapshot_interval is not None,
        frames=frames or 1,
        snapshot_interval=snapshot_interval,
        cycles=cycles,
    )
    sys.exit(execute(RunRequest(list(argv), output, report_format, options)))


@cli.command()
@click.option(
    "--format",
    "report_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
@click.argument("capture", metavar="CAPTURE")
def report(capture: str, report_format: str) -> None:
    """Print the report of a saved capture."""
    from gcscope.commands.report import execute

    click.echo(execute(capture, report_format), nl=False)


@cli.command()
@click.argument("capture", metavar="CAPTURE")
@click.option(
    "--graph", "graph_path", metavar="FILE", help="Draw example cycles: .dot, .png, .svg."
)
@click.option("--shape", type=click.IntRange(min=0), help="Only this shape (its id in the table).")
@click.option("--type", "type_filter", metavar="TYPE", help="Only cycles holding this type.")
@click.option(
    "--max-nodes",
    type=click.IntRange(1, 10_000),
    default=60,
    show_default=True,
    help="Most objects drawn.",
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
    help="Allowed worsening before a metric counts as regressed.",
)
@click.option("--format", "output", type=click.Choice(["text", "github"]), default="text")
def diff(base: str, new: str, tolerance: str, output: str) -> None:
    """Compare two captures; exit 1 when a metric regresses beyond tolerance."""
    from gcscope.commands.diff import execute
    from gcscope.units import parse_share

    text, status = execute(base, new, parse_share(tolerance), output)
    click.echo(text, nl=False)
    sys.exit(status)


def _split_joined_flag(args: list[str]) -> list[str]:
    """`run -mpkg` / `run -c'code'`: split like python does, before click sees them."""
    if not args or args[0] != "run":
        return args
    takes_value = {
        opt
        for param in run.params
        if isinstance(param, click.Option) and not param.is_flag
        for opt in param.opts
    }
    position = 1
    while position < len(args):
        token = args[position]
        if token in takes_value:
            position += 2
            continue
        if token[:2] in ("-m", "-c") and len(token) > 2:
            return [*args[:position], token[:2], token[2:], *args[position + 1 :]]
        if not token.startswith("-") or token in ("-m", "-c"):
            break
        position += 1
    return args


def main(args: list[str] | None = None) -> None:
    argv = _split_joined_flag(list(sys.argv[1:] if args is None else args))
    try:
        status = cli.main(argv, prog_name="gcscope", standalone_mode=False)
    except UsageError as exc:
        click.echo(f"gcscope: {exc}", err=True)
        sys.exit(exc.exit_code)
    except _NO_ARGS_IS_HELP as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc), err=True)
        sys.exit(2)
    except click.ClickException as exc:
        hint = (
            f" (see 'gcscope {exc.ctx.command.name} --help')" if getattr(exc, "ctx", None) else ""
        )
        click.echo(f"gcscope: {exc.format_message()}{hint}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("gcscope: aborted", err=True)
        sys.exit(130)
    sys.exit(status if isinstance(status, int) else 0)
