"""Limits on a capture: which hold, which are exceeded, which cannot be judged, and why.

The limits are data (`Limits`), parsed from the command line or from
`[tool.gcscope.check]` in pyproject.toml with the same unit parsers (one rule per
kind, `gcscope.units`), kept as the user wrote them for messages, and judged
against `metrics` figures. A limit that needs data the capture lacks (cyclic
garbage without `--cycles`) is a usage error, not a pass; a figure gcscope itself
knows to be incomplete (the program removed gcscope's gc callback, turned
DEBUG_SAVEALL off, stopped tracemalloc) fails the limit with the reason, unless the
figure it has already exceeds it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gcscope import metrics
from gcscope.errors import UsageError
from gcscope.reporters.formatting import human_bytes
from gcscope.units import in_unit_of, parse_count, parse_duration, parse_share, parse_size

MAX_GENERATION = 7  # gcscope keeps up to 8 generations' figures


@dataclass(frozen=True)
class Limit:
    """One limit: its value in the figure's unit and the text the user wrote."""

    name: str  # e.g. "max-pause", "max-pause (gen2)"
    kind: str  # duration | share | count | size
    value: float  # seconds, a fraction, objects or bytes
    written: str
    generation: int | None = None

    @property
    def option(self) -> str:
        """The option that set it: `max-pause` for `max-pause (gen2)`."""
        return self.name.split(" ")[0]


@dataclass
class Limits:
    items: dict[str, Limit] = field(default_factory=dict)

    def empty(self) -> bool:
        return not self.items

    def drop(self, option: str) -> None:
        """Forget every limit set by `option` (the command line replaces the config's)."""
        for name in [n for n in self.items if n.split(" ")[0] == option]:
            del self.items[name]


@dataclass
class Violation:
    """A limit that fails: exceeded (value > limit), or not judgeable (`doubt` says why)."""

    metric: str
    value: str
    limit: str
    offender: str = ""
    doubt: str = ""  # why the figure is incomplete (gcscope knows it to be a lower bound)
    # the figure is an estimate whose interval holds the limit: it cannot tell either way
    undecided: str = ""

    def line(self) -> str:
        if self.doubt:
            return f"{self.metric} cannot be judged: {self.doubt}"
        if self.undecided:
            return (
                f"{self.metric} cannot be judged: the estimate {self.value} includes the "
                f"limit {self.limit} ({self.undecided}); rerun with a smaller --sample-every "
                "or --allocations=exact"
            )
        text = f"{self.metric} exceeded: {self.value} > {self.limit}"
        return text + (f" ({self.offender})" if self.offender else "")


# limit name -> (kind, the figure, the `gcscope run` option it needs, what it depends on)
_RULES: dict[str, tuple[str, Callable[..., metrics.Figure | None], str, tuple[str, ...]]] = {
    "max-pause": ("duration", metrics.max_pause_ms, "", ("gc",)),
    "max-p99-pause": ("duration", metrics.p99_pause_ms, "", ("gc",)),
    "max-gc-time": ("share", metrics.gc_time_fraction, "", ("gc",)),
    "max-cyclic-garbage": ("count", metrics.cyclic_garbage, "--cycles", ("gc", "cycles")),
    "max-uncollectable": ("count", metrics.uncollectable, "", ("gc",)),
    "max-peak-rss": ("size", metrics.peak_rss_bytes, "", ()),
    "max-growth": ("size", metrics.growth_bytes, "--allocations", ("allocations",)),
}
KNOWN = tuple(_RULES)
EXAMPLES = {"duration": "20ms", "share": "5%", "count": "0", "size": "300MB"}


def _parse(kind: str, text: str, option: str) -> float:
    if kind == "duration":
        return parse_duration(text, option)
    if kind == "share":
        return parse_share(text, option)
    if kind == "size":
        return parse_size(text, option)
    return parse_count(text, option)


def parse_limit(name: str, text: str) -> Limit:
    """`name` like `max-pause`, `text` like `20ms` (or `gen2=50ms` for max-pause)."""
    kind = _RULES[name][0]
    option = f"--{name}"
    if name == "max-pause" and "=" in text:
        prefix, _, value = text.partition("=")
        digits = prefix.strip().lower().removeprefix("generation").removeprefix("gen")
        generation = parse_count(digits, f"{option} generation", 0, MAX_GENERATION)
        return Limit(
            f"{name} (gen{generation})",
            kind,
            _parse(kind, value, option),
            value.strip(),
            generation,
        )
    return Limit(name, kind, _parse(kind, text, option), text.strip())


def _toml_type(value: Any) -> str:
    names = {bool: "a boolean", dict: "a table", list: "an array", int: "an integer"}
    return names.get(type(value), f"a {type(value).__name__}")


def set_limit(limits: Limits, name: str, value: Any) -> None:
    """Apply one limit given as text (CLI) or a TOML value; `name` like `max-pause`."""
    name = name.replace("_", "-")
    if name not in _RULES:
        raise UsageError(f"unknown limit {name!r} (known: {', '.join(KNOWN)})")
    example = EXAMPLES[_RULES[name][0]]
    values = value if isinstance(value, list) and name == "max-pause" else [value]
    for item in values:
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise UsageError(f"{name} must be a string like {example!r} (found {_toml_type(item)})")
        limit = parse_limit(name, str(item))
        limits.items[limit.name] = limit


def _table(data: Any, key: str, path: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise UsageError(f"{path}: '{key}' must be a table (found {_toml_type(value)})")
    return value


def load_config_limits(start: str = ".") -> tuple[Limits, str | None]:
    """Limits from the nearest pyproject.toml's [tool.gcscope.check], and its path.

    Only `check` reads this table; any problem in it (a `tool` that is not a table,
    a limit of the wrong type) is a usage error naming the file and the key.
    """
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
            document = tomllib.load(handle)
    except (OSError, ValueError) as exc:
        raise UsageError(f"{candidate}: cannot read [tool.gcscope.check] ({exc})") from None
    tool = _table(document, "tool", candidate)
    gcscope = _table(tool, "gcscope", f"{candidate}: [tool]")
    table = _table(gcscope, "check", f"{candidate}: [tool.gcscope]")
    limits = Limits()
    for name, value in table.items():
        try:
            set_limit(limits, name, value)
        except UsageError as exc:
            raise UsageError(f"{candidate}: [tool.gcscope.check] {name}: {exc}") from None
    return limits, candidate


def _show(kind: str, value: float, written: str) -> str:
    """A figure (seconds, fraction, objects, bytes) as its limit was written."""
    shown = in_unit_of(value, written, kind) if kind != "count" else None
    if shown is not None:
        return shown
    if kind == "duration":
        return f"{value * 1000:g}ms"
    if kind == "share":
        return f"{value * 100:.2f}%"
    if kind == "size":
        return human_bytes(value)
    return f"{value:g} objects"


def _in_limit_units(kind: str, figure: float) -> float:
    return figure / 1000 if kind == "duration" else figure  # pause figures are in ms


def evaluate(capture: dict[str, Any], limits: Limits, source: str) -> list[Violation]:
    """Every failing limit, in a fixed order; raises UsageError for missing data."""
    doubts = metrics.doubts(capture)
    found: list[Violation] = []
    order = {name: position for position, name in enumerate(KNOWN)}
    for limit in sorted(limits.items.values(), key=lambda item: order[item.name.split(" ")[0]]):
        base = limit.name.split(" ")[0]
        kind, measure, needs, depends = _RULES[base]
        if limit.generation is not None:
            if limit.generation >= len(capture["generations"]):
                raise UsageError(f"{source}: the capture has no generation {limit.generation}")
            figure = metrics.max_pause_ms(capture, limit.generation)
        else:
            figure = measure(capture)
        doubt = "; ".join(doubts[d] for d in depends if d in doubts)
        if figure is None:
            if doubt:
                found.append(Violation(limit.name, "", limit.written, doubt=doubt))
                continue
            what = f"a capture from 'gcscope run {needs}'" if needs else "a figure it lacks"
            raise UsageError(f"{source}: --{base} needs {what}")
        value = _in_limit_units(kind, figure.value)
        offender = figure.offender if limit.generation is None else ""
        shown = _show(kind, value, limit.written)
        if figure.error:  # an estimate: judged only when its whole interval is on one side
            error = _in_limit_units(kind, figure.error)
            shown = f"~{shown} \u00b1 {_show(kind, error, limit.written)} (95%)"
            if abs(value - limit.value) <= error:
                undecided = f"sampled every {human_bytes(figure.sample_every)}"
                found.append(
                    Violation(limit.name, shown, limit.written, offender, undecided=undecided)
                )
                continue
        if value > limit.value:  # the figures in doubt are undercounts: exceeded is exceeded
            found.append(Violation(limit.name, shown, limit.written, offender))
        elif doubt:
            found.append(Violation(limit.name, "", limit.written, doubt=doubt))
    return found


def github_annotation(violation: Violation, source: str) -> str:
    """A GitHub Actions error annotation (workflow command), escaped."""
    from gcscope.reporters.annotations import workflow_command

    return workflow_command("error", {"title": f"gcscope check ({source})"}, violation.line())
