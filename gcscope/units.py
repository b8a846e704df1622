"""Parsing of user-typed quantities: durations, sizes, shares, counts.

Every parser raises `UsageError` with the offending text, so a typo like
`--max-pause fast` becomes one line and exit status 2.
"""

from __future__ import annotations

import re

from gcscope.errors import UsageError

_NUMBER = r"([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"
_DURATION_UNITS = {"": 1.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "m": 60.0, "min": 60.0}
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "k": 1024,
    "kib": 1024,
    "m": 1024**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gib": 1024**3,
    "tib": 1024**4,
}


def _split(text: str, what: str, example: str) -> tuple[float, str]:
    match = re.fullmatch(_NUMBER + r"\s*([A-Za-zµ%]*)", text.strip())
    if not match:
        raise UsageError(f"invalid {what} {text!r} (expected something like {example})")
    return float(match.group(1)), match.group(2)


def parse_duration(text: str, default_unit: str = "s") -> float:
    """'20ms' -> 0.02, '0.5s' -> 0.5, '5' -> 5 seconds (or `default_unit`). Returns seconds."""
    value, unit = _split(text, "duration", "20ms or 0.5s")
    unit = unit or default_unit
    if unit not in _DURATION_UNITS:
        raise UsageError(f"invalid duration {text!r}: unknown unit {unit!r} (use ms, s or min)")
    return value * _DURATION_UNITS[unit]


def parse_size(text: str) -> int:
    """'300MB' -> 300_000_000, '1.5GiB' -> 1_610_612_736, '4096' -> 4096 bytes."""
    value, unit = _split(text, "size", "300MB or 1.5GiB")
    factor = _SIZE_UNITS.get(unit.lower())
    if factor is None:
        raise UsageError(f"invalid size {text!r}: unknown unit {unit!r} (use B, KB, MB, GiB...)")
    return int(value * factor)


def parse_share(text: str) -> float:
    """'5%' -> 0.05; a bare number is a fraction if at most 1 ('0.05'), else percent."""
    value, unit = _split(text, "share", "5% or 0.05")
    if unit == "%":
        return value / 100.0
    if unit:
        raise UsageError(f"invalid share {text!r}: use a percentage like 5%")
    return value if value <= 1 else value / 100.0


def parse_count(text: str, what: str = "count") -> int:
    """A whole number >= 0."""
    stripped = text.strip().replace("_", "")
    if not stripped.isdigit():
        raise UsageError(f"invalid {what} {text!r} (expected a whole number >= 0)")
    return int(stripped)
