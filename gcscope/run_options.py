"""`gcscope run`'s options as data, and a parser for well-formed `run` command lines.

Why not just click: `gcscope run` executes the program in gcscope's own process,
so everything gcscope has imported stays resident while the program runs. click
brings typing, inspect, ast, gettext, difflib...: about 6,000 container objects
that every full collection of the program would walk, ~4 MB of RSS and ~20 ms of
start-up that a plain `python app.py` does not have (and a click-based program
would find gcscope's click context where it expects none). So a well-formed
`run` command line is read here, from the same table click builds its options
from; anything else (`--help`, an unknown option, a bad value) returns None and
goes to click, which owns every help text and error message.
"""

from __future__ import annotations

import os

from gcscope.errors import UsageError

ALLOCATION_MODES = ("exact", "sampled")  # the first is what a bare --allocations means
MAX_SAMPLE_EVERY = 1 << 30  # 1 GiB: beyond it even a 100 MB leak is a handful of samples

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from gcscope.commands.run import RunRequest


class RunOption:
    """One `gcscope run` option: its flags, where its value goes, and how it is checked."""

    __slots__ = (
        "choices",
        "default",
        "dest",
        "flags",
        "help",
        "high",
        "kind",
        "low",
        "metavar",
        "zero_ok",
    )

    def __init__(
        self,
        flags: tuple[str, ...],
        dest: str,
        kind: str,  # flag | mode | text | choice | count | duration | size
        help: str,
        default: object = None,
        metavar: str | None = None,
        choices: tuple[str, ...] = (),
        low: float | None = None,  # counts: the least value; durations: the least but 0
        high: float | None = None,
        zero_ok: bool = False,  # durations: 0 is allowed (and means "off")
    ) -> None:
        self.flags = flags
        self.dest = dest
        self.kind = kind
        self.help = help
        self.default = default
        self.metavar = metavar
        self.choices = choices
        self.low = low
        self.high = high
        self.zero_ok = zero_ok


MIN_INTERVAL = 0.001  # a shorter sampling interval would make the sampler the workload
DAY = 86_400.0


RUN_OPTIONS = (
    RunOption(
        ("-o", "--output"), "output", "text",
        "Capture file [gcscope-<name>-<pid>.json]; with --follow, a folder.",
        metavar="PATH",
    ),
    RunOption(
        ("--html",), "html", "text",
        "Also write the run's HTML report to PATH (one self-contained page).",
        metavar="PATH",
    ),
    RunOption(
        ("--follow",), "follow", "flag",
        "Also measure every Python process the program starts (fork, multiprocessing, "
        "subprocess); -o names a folder [gcscope-<name>-<pid>/].",
        default=False,
    ),
    RunOption(
        ("--format",), "report_format", "choice", "Report printed to stderr after the run.",
        default="text", choices=("text", "json", "none"),
    ),
    RunOption(
        ("--rss-interval",), "rss_interval", "duration",
        "RSS sampling interval, 1ms to 24h (e.g. 100ms, 1s; 0 turns sampling off).  "
        "[default: 100ms]",
        default=0.1, metavar="DURATION", low=MIN_INTERVAL, high=DAY, zero_ok=True,
    ),
    RunOption(
        ("--max-events",), "max_events", "count",
        "Collections kept in the capture's timeline, 0 to 1,000,000 (aggregates always "
        "cover all).",
        default=20_000, low=0, high=1_000_000,
    ),
    RunOption(
        ("--allocations",), "allocations", "mode",
        "Allocation sites, growth, type growth: exact (tracemalloc, every block; what a "
        "bare --allocations means) or sampled (every ~128 KiB, estimates, a service's "
        "cost).",
        metavar="[=exact|sampled]", choices=ALLOCATION_MODES,
    ),
    RunOption(
        ("--cycles",), "cycles", "flag",
        "Harvest cyclic garbage (gc.DEBUG_SAVEALL): types, cycle shapes, creation sites.",
        default=False,
    ),
    RunOption(
        ("--frames",), "frames", "count",
        "Frames per allocation traceback; >1 groups by traceback (implies --allocations).",
        low=1, high=1000,
    ),
    RunOption(
        ("--interval",), "snapshot_interval", "duration",
        "Also take an allocation snapshot every DURATION, 1ms to 24h, e.g. 5s (implies "
        "--allocations).",
        metavar="DURATION", low=MIN_INTERVAL, high=DAY,
    ),
    RunOption(
        ("--sample-every",), "sample_every", "size",
        "Mean bytes between samples, e.g. 64KiB (implies --allocations=sampled).  "
        "[default: 128KiB]",
        metavar="SIZE",
    ),
    RunOption(
        ("--serve-metrics",), "serve_metrics", "text",
        "Serve Prometheus metrics on HOST:PORT while the program runs (gcscope[prometheus]); "
        "the capture's timeline keeps the latest --max-events collections.",
        metavar="HOST:PORT",
    ),
    RunOption(
        ("--dump-signal",), "dump_signal", "text",
        "On this signal (e.g. USR2), write a capture of the recent window beside the -o file.",
        metavar="SIGNAL",
    ),
)  # fmt: skip
_BY_FLAG = {flag: option for option in RUN_OPTIONS for flag in option.flags}


def option_value(option: RunOption, text: str) -> object:
    """`text` as `option`'s value, range-checked; UsageError (one line, exit 2) otherwise.

    Both parsers convert with this, so they accept and refuse exactly the same values.
    """
    name = option.flags[-1]
    if option.kind == "size":
        return sample_every_value(text)
    if option.kind == "count":
        from gcscope.units import MAX_COUNT, parse_count

        low = 0 if option.low is None else int(option.low)
        high = MAX_COUNT if option.high is None else int(option.high)
        return parse_count(text, name, low, high)
    from gcscope.units import parse_duration, show_duration

    seconds = parse_duration(text, name, option.high or DAY)
    if seconds == 0 and option.zero_ok:
        return 0.0
    if option.low is not None and seconds < option.low:
        least = show_duration(option.low)
        zero = " (or 0 for off)" if option.zero_ok else ""
        raise UsageError(f"invalid {name} {text!r}: must be at least {least}{zero}")
    return seconds


def sample_every_value(text: str) -> int:
    """--sample-every: a size in bytes from 1 B to 1 GiB; UsageError otherwise."""
    from gcscope.units import parse_size

    size = parse_size(text, "--sample-every")
    if not 0 < size <= MAX_SAMPLE_EVERY:
        raise UsageError(f"invalid --sample-every {text!r}: must be more than 0 B and at most 1GiB")
    return size


def split_joined_flag(args: list[str]) -> list[str]:
    """`run -mpkg` / `run -c'code'`: split like python does, before click sees them;
    a bare `--allocations` becomes `--allocations=exact`.

    click would read `-cimport os` as a bundle of short options (`-o` among them);
    `parse_run` stops at `-m`/`-c` and `Target.from_argv` splits them itself. An
    option whose value is optional would take the script as its value in click.
    """
    if not args or args[0] != "run":
        return args
    args = list(args)
    position = 1
    while position < len(args):
        token = args[position]
        option = _BY_FLAG.get(token)
        if option is not None and option.kind == "mode":
            args[position] = f"{token}={option.choices[0]}"
        elif option is not None and option.kind != "flag":
            position += 2
            continue
        if token[:2] in ("-m", "-c") and len(token) > 2:
            return [*args[:position], token[:2], token[2:], *args[position + 1 :]]
        if token == "--" or not token.startswith("-") or token in ("-m", "-c"):
            break
        position += 1
    return args


def parse_run(args: list[str]) -> dict[str, Any] | None:
    """`run [OPTIONS] TARGET...` -> option values plus `argv`, or None for click to handle.

    Accepts exactly what click accepts for these options, in the plain forms people
    type (`--opt value`, `--opt=value`, `-o PATH`, `-oPATH`, flags); any doubt
    returns None, and click then parses the line itself.
    """
    if not args or args[0] != "run":
        return None
    values: dict[str, Any] = {option.dest: option.default for option in RUN_OPTIONS}
    position = 1
    while position < len(args):
        token = args[position]
        if token == "--":
            position += 1
            break
        if not token.startswith("-") or token == "-" or token[:2] in ("-m", "-c"):
            break
        flag, joined, text = token.partition("=") if token.startswith("--") else (token, "", "")
        option = _BY_FLAG.get(flag)
        if option is None and not token.startswith("--"):
            option = _BY_FLAG.get(token[:2])
            flag, joined, text = token[:2], "=", token[2:]
        if option is None:
            return None  # unknown option or -h/--help: click's
        if option.kind == "flag":
            if joined:
                return None
            values[option.dest] = True
            position += 1
            continue
        if option.kind == "mode":  # a value only when joined: `--allocations=sampled`
            if joined and text not in option.choices:
                return None
            values[option.dest] = text if joined else option.choices[0]
            position += 1
            continue
        if not joined:
            if position + 1 >= len(args) or args[position + 1].startswith("-"):
                return None
            text = args[position + 1]
            position += 1
        position += 1
        value = _convert(option, text)
        if value is None:
            return None
        values[option.dest] = value
    argv = args[position:]
    if not argv:
        return None
    values["argv"] = tuple(argv)
    return values


def _convert(option: RunOption, text: str) -> object:
    """The value click would produce, or None where click would complain (or might)."""
    if not text:
        return None
    if option.kind == "text":
        return text
    if option.kind == "choice":
        return text if text in option.choices else None
    try:
        return option_value(option, text)
    except UsageError:
        return None  # click says what is wrong with it


def run_request(
    *,
    argv: tuple[str, ...],
    output: str | None,
    html: str | None,
    report_format: str,
    rss_interval: float,
    max_events: int,
    allocations: str | None,
    cycles: bool,
    frames: int | None,
    snapshot_interval: float | None,
    sample_every: int | None = None,
    serve_metrics: str | None = None,
    dump_signal: str | None = None,
    follow: bool = False,
) -> RunRequest:
    """The parsed options (from either parser) as what `gcscope.commands.run` executes."""
    from gcscope.commands.run import RunRequest
    from gcscope.session import SessionOptions

    if sample_every is not None:
        if allocations == "exact":
            raise UsageError(
                "--sample-every applies to --allocations=sampled, not to exact tracemalloc"
            )
        allocations = "sampled"
    if allocations is None and (frames is not None or snapshot_interval is not None):
        allocations = "exact"
    if allocations and argv and argv[0] in ALLOCATION_MODES and not os.path.exists(argv[0]):
        raise UsageError(
            f"can't open file {argv[0]!r}: to choose the mode, join it: --allocations={argv[0]}"
        )
    options = SessionOptions(
        rss_interval=rss_interval,
        max_events=max_events,
        allocations=allocations,
        frames=frames or 1,
        snapshot_interval=snapshot_interval,
        cycles=cycles,
        sample_every=sample_every,
        monitor=serve_metrics is not None or dump_signal is not None,
        sharing=follow,
    )
    request = RunRequest(list(argv), output, report_format, options, html, follow=follow)
    if options.monitor:
        if cycles:
            raise UsageError(
                "--serve-metrics and --dump-signal cannot be combined with --cycles "
                "(a long-running service's recorder keeps no harvest)"
            )
        request.serve_metrics = metrics_address(serve_metrics) if serve_metrics else None
        if dump_signal is not None:
            from gcscope.monitoring import signal_number

            try:
                request.dump_signal = signal_number(dump_signal)
            except ValueError as exc:
                raise UsageError(f"invalid --dump-signal: {exc}") from None
    return request


def metrics_address(text: str) -> tuple[str, int]:
    """`HOST:PORT`, `[IPv6]:PORT` or `PORT` (on 127.0.0.1) -> (host, port)."""
    host, colon, port_text = text.rpartition(":")
    if not colon:
        host, port_text = "127.0.0.1", text
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host:
        raise UsageError(
            f"invalid --serve-metrics {text!r}: give HOST:PORT, e.g. 127.0.0.1:9464 "
            "(0.0.0.0:9464 to listen on every interface)"
        )
    if not (port_text.isascii() and port_text.isdigit() and 0 < int(port_text) < 65536):
        raise UsageError(f"invalid --serve-metrics {text!r}: the port must be 1-65535")
    return host, int(port_text)
