"""`--max-rss`, `--max-pause`, `--max-wall`: absolute, or relative to the default.

`300MB`, `20ms`, `2s` are parsed by `gcscope.units`; `+10%` (or `-5%`) means the
default candidate's median plus that share, resolved once the default has been
measured. A relative limit therefore always lets the default through.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gcscope.errors import UsageError
from gcscope.units import parse_duration, parse_size

_RELATIVE = re.compile(r"([+-])\s*([0-9]*\.?[0-9]+)\s*%")

# option -> (metric it limits, parser of absolute values, unit for messages)
LIMITED = {
    "max_rss": ("peak_rss_bytes", "size"),
    "max_pause": ("max_pause_ms", "duration"),
    "max_wall": ("wall_seconds", "duration"),
}


@dataclass(frozen=True)
class Limit:
    """One constraint: `metric` at most `absolute`, or at most default x (1 + `relative`)."""

    option: str
    metric: str
    text: str
    absolute: float | None = None
    relative: float | None = None

    def bound(self, default_median: float) -> float:
        if self.absolute is not None:
            return self.absolute
        assert self.relative is not None
        return default_median * (1 + self.relative)


def parse_limit(option: str, text: str) -> Limit:
    metric, kind = LIMITED[option]
    flag = "--" + option.replace("_", "-")
    relative = _RELATIVE.fullmatch(text.strip())
    if relative:
        share = float(relative.group(2)) / 100
        share = -share if relative.group(1) == "-" else share
        if share <= -1:
            raise UsageError(f"invalid {flag} {text!r}: a relative limit must be above -100%")
        return Limit(option, metric, text, relative=share)
    if text.strip().endswith("%"):
        raise UsageError(
            f"invalid {flag} {text!r}: a relative limit needs a sign, e.g. +10% or -5%"
        )
    try:
        if kind == "size":
            value: float = float(parse_size(text))
        else:
            value = parse_duration(text)
            if metric == "max_pause_ms":
                value *= 1000.0
    except UsageError as exc:
        raise UsageError(f"{flag}: {exc}") from None
    if value <= 0:
        raise UsageError(f"invalid {flag} {text!r}: must be more than 0")
    return Limit(option, metric, text, absolute=value)
