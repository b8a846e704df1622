"""Limits on a capture: which hold, which are exceeded, and by whom.

The limits are data (`Limits`), parsed from the command line or from
`[tool.gcscope.check]` in pyproject.toml with the same unit parsers, and judged
against `metrics` figures. A limit that needs data the capture lacks (cyclic
garbage without `--cycles`) is a usage error, not a pass.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gcscope import metrics
from gcscope.errors import UsageError
from gcscope.reporters.formatting import human_bytes
from gcscope.units import parse_count, parse_duration, parse_share, parse_size


@dataclass
class Limits:
    max_pause: float | None = None  # seconds, any generation
    max_pause_by_generation: dict[int, float] = field(default_factory=dict)
    max_p99_pause: float | None = None
    max_gc_time: float | None = None  # share of wall time
    max_cyclic_garbage: int | None = None
    max_uncollectable: int | None = None
    max_peak_rss: int | None = None  # bytes
    max_growth: int | None = None  # bytes

    def empty(self) -> bool:
        return self == Limits()


@dataclass
class Violation:
    metric: str
    value: str
    limit: str
    offender: str = ""
    # the figure is an estimate whose interval holds the limit: it cannot tell either way
    undecided: str = ""

    def line(self) -> str:
        if self.undecided:
            return (
                f"{self.metric} cannot be judged: the estimate {self.value} includes the "
                f"limit {self.limit} ({self.undecided}); rerun with a smaller --sample-every "
                "or --allocations=exact"
            )
        text = f"{self.metric} exceeded: {self.value} > {self.limit}"
        return text + (f" ({self.offender})" if self.offender else "")


def parse_pause(text: str, limits: Limits) -> None:
    """`20ms` for every generation, or `gen2=50ms` / `2=50ms` for one."""
    if "=" in text:
        name, _, value = text.partition("=")
        digits = name.strip().lower().removeprefix("gen").removeprefix("generation")
        if not digits.isdigit():
            raise UsageError(f"invalid --max-pause {text!r} (use 20ms or gen2=50ms)")
        limits.max_pause_by_generation[int(digits)] = parse_duration(value, default_unit="ms")
    else:
        limits.max_pause = parse_duration(text, default_unit="ms")


_PARSERS = {
    "max-p99-pause": ("max_p99_pause", lambda t: parse_duration(t, default_unit="ms")),
    "max-gc-time": ("max_gc_time", parse_share),
    "max-cyclic-garbage": ("max_cyclic_garbage", lambda t: parse_count(t, "count")),
    "max-uncollectable": ("max_uncollectable", lambda t: parse_count(t, "count")),
    "max-peak-rss": ("max_peak_rss", parse_size),
    "max-growth": ("max_growth", parse_size),
}


def set_limit(limits: Limits, name: str, value: Any) -> None:
    """Apply one limit given as text (CLI) or TOML value; `name` like `max-pause`."""
    name = name.replace("_", "-")
    values = value if isinstance(value, list) else [value]
    for item in values:
        text = str(item)
        if name == "max-pause":
            parse_pause(text, limits)
        elif name in _PARSERS:
            attribute, parser = _PARSERS[name]
            setattr(limits, attribute, parser(text))
        else:
            raise UsageError(f"unknown limit {name!r} (known: max-pause, {', '.join(_PARSERS)})")


def load_config_limits(start: str = ".") -> tuple[Limits, str | None]:
    """Limits from the nearest pyproject.toml's [tool.gcscope.check], and its path."""
    folder = os.path.abspath(start)
    while True:
        candidate = os.path.join(folder, "pyproject.toml")
        if os.path.isfile(candidate):
            break
        parent = os.path.dirname(folder)
        if parent == folder:
            return Limits(), None
        folder = parent
    try:
        import tomllib  # type: ignore[import-not-found]
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        with open(candidate, "rb") as handle:
            table = tomllib.load(handle).get("tool", {}).get("gcscope", {}).get("check", {})
    except (OSError, ValueError) as exc:
        raise UsageError(f"{candidate}: cannot read [tool.gcscope.check] ({exc})") from None
    limits = Limits()
    for name, value in table.items():
        try:
            set_limit(limits, name, value)
        except UsageError as exc:
            raise UsageError(f"{candidate} [tool.gcscope.check]: {exc}") from None
    return limits, candidate


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:g} ms"


def _objects(count: float) -> str:
    return f"{count:g} objects"


# name, how the capture gives the figure, how the limit compares (figure units), how shown,
# and which `gcscope run` option the figure needs when the capture lacks it
_RULES: list[
    tuple[str, str, Callable[..., Any], Callable[[float], float], Callable[[float], str], str]
] = [
    (
        "max-p99-pause",
        "max_p99_pause",
        metrics.p99_pause_ms,
        lambda s: s * 1000,
        lambda v: f"{v:g} ms",
        "",
    ),
    (
        "max-cyclic-garbage",
        "max_cyclic_garbage",
        metrics.cyclic_garbage,
        float,
        _objects,
        "--cycles",
    ),
    ("max-uncollectable", "max_uncollectable", metrics.uncollectable, float, _objects, ""),
    ("max-peak-rss", "max_peak_rss", metrics.peak_rss_bytes, float, human_bytes, ""),
    ("max-growth", "max_growth", metrics.growth_bytes, float, human_bytes, "--allocations"),
]


def evaluate(capture: dict[str, Any], limits: Limits, source: str) -> list[Violation]:
    """Every exceeded limit, in a fixed order; raises UsageError for missing data."""
    found: list[Violation] = []
    if limits.max_pause is not None:
        figure = metrics.max_pause_ms(capture)
        if figure.value > limits.max_pause * 1000:
            found.append(
                Violation(
                    "max-pause", f"{figure.value:g} ms", _ms(limits.max_pause), figure.offender
                )
            )
    for generation, limit in sorted(limits.max_pause_by_generation.items()):
        if generation >= len(capture["generations"]):
            raise UsageError(f"{source}: the capture has no generation {generation}")
        figure = metrics.max_pause_ms(capture, generation)
        if figure.value > limit * 1000:
            found.append(
                Violation(f"max-pause (gen{generation})", f"{figure.value:g} ms", _ms(limit))
            )
    if limits.max_gc_time is not None:
        share = capture["gc_time_fraction"]
        if share > limits.max_gc_time:
            found.append(
                Violation("max-gc-time", f"{share * 100:.2f}%", f"{limits.max_gc_time * 100:g}%")
            )
    for name, attribute, measure, in_units, show, needs in _RULES:
        limit = getattr(limits, attribute)
        if limit is None:
            continue
        figure = measure(capture)
        if figure is None:
            what = f"a capture from 'gcscope run {needs}'" if needs else "a figure it lacks"
            raise UsageError(f"{source}: --{name} needs {what}")
        shown_limit = show(in_units(limit)) if show is not _objects else f"{limit:g}"
        if figure.error:  # an estimate: judged only when its whole interval is on one side
            shown = f"~{show(figure.value)} \u00b1 {show(figure.error)} (95%)"
            if abs(figure.value - in_units(limit)) <= figure.error:
                undecided = f"sampled every {human_bytes(figure.sample_every)}"
                found.append(Violation(name, shown, shown_limit, figure.offender, undecided))
            elif figure.value > in_units(limit):
                found.append(Violation(name, shown, shown_limit, figure.offender))
        elif figure.value > in_units(limit):
            found.append(Violation(name, show(figure.value), shown_limit, figure.offender))
    return found


def github_annotation(violation: Violation, source: str) -> str:
    """A GitHub Actions error annotation (workflow command)."""
    message = violation.line().replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return f"::error title=gcscope check ({source})::{message}"
