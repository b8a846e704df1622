"""Parsing of user-typed quantities: durations, sizes, shares, counts.

One rule per kind, so that no value can be read two ways (docs/ci.md, "Units"):

* duration: a number and a unit, `us` (or `µs`), `ms`, `s`, `min` or `h`: `20ms`, `1.5s`;
* size: a number and a unit, `B`, `KB`/`MB`/`GB`/`TB` (powers of 1000) or
  `KiB`/`MiB`/`GiB`/`TiB` (powers of 1024), spelt exactly so: `300MB`, `1.5GiB`;
* share: a percentage from 0% to 100%: `5%`;
* count: a whole number in ASCII digits (`_` between digits allowed): `0`, `20_000`.

A plain `0` needs no unit (zero is zero in any unit); any other number without one
is refused with a suggestion (`20` -> "20ms or 20s?"). Every value must be finite,
non-negative and within its option's range. Each parser raises `UsageError` with
the offending text, so a typo becomes one `gcscope:` line and exit status 2.

No `re` here: `gcscope run` parses its durations in the process the program runs in.
"""

from __future__ import annotations

from gcscope.errors import UsageError

DURATION_UNITS = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0}
SIZE_UNITS = {
    "B": 1,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "TB": 1000**4,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
    "TiB": 1024**4,
}
DAY = 86_400.0  # the longest duration anything accepts: 24h
MAX_SIZE = 1024 * 1024**4  # 1024TiB
MAX_COUNT = 2**63 - 1  # what a 64-bit counter holds
_NUMBER_CHARS = frozenset("0123456789.eE+-")


def _split(text: str, what: str, example: str) -> tuple[float, str]:
    """'20ms' -> (20.0, 'ms'); refuses anything that is not a finite, non-negative number."""
    stripped = text.strip()
    end = 0
    while end < len(stripped) and stripped[end] in _NUMBER_CHARS:
        end += 1
    number, unit = stripped[:end], stripped[end:].strip()
    try:
        value = float(number)  # ASCII only: the characters were checked above
    except ValueError:
        raise UsageError(f"invalid {what} {text!r} (expected something like {example})") from None
    if value < 0:
        raise UsageError(f"invalid {what} {text!r}: must not be negative")
    if value == float("inf"):  # '1e400': the limits below would all pass it
        raise UsageError(f"invalid {what} {text!r}: too large")
    return value, unit


def _tidy(number: float) -> str:
    """20.0 -> '20', 0.5 -> '0.5', 1e-07 -> '1e-07': for messages and suggestions."""
    return f"{number:g}"


def _zero_without_unit(value: float, text: str, what: str, suggestion: str) -> None:
    """A number without a unit is fine only when it is 0; else say what it could mean."""
    if value != 0:
        raise UsageError(f"invalid {what} {text!r}: {suggestion}")


def parse_duration(text: str, what: str = "duration", high: float = DAY) -> float:
    """'20ms' -> 0.02, '1.5s' -> 1.5, '0' -> 0.0. Returns seconds, 0 to `high`."""
    value, unit = _split(text, what, "20ms or 1.5s")
    if not unit:
        number = _tidy(value)
        _zero_without_unit(value, text, what, f"give a unit, e.g. {number}ms or {number}s")
        return 0.0
    factor = DURATION_UNITS.get(unit)
    if factor is None:
        known = "use us, ms, s, min or h"
        raise UsageError(f"invalid {what} {text!r}: unknown unit {unit!r} ({known})")
    seconds = value * factor
    if seconds > high:
        raise UsageError(f"invalid {what} {text!r}: must be at most {show_duration(high)}")
    return seconds


def parse_size(text: str, what: str = "size") -> int:
    """'300MB' -> 300_000_000, '1.5GiB' -> 1_610_612_736, '0' -> 0. Returns bytes."""
    value, unit = _split(text, what, "300MB or 1.5GiB")
    if not unit:
        number = _tidy(value)
        hint = f"give a unit, e.g. {number}MB or {number}MiB (or B for bytes)"
        _zero_without_unit(value, text, what, hint)
        return 0
    factor = SIZE_UNITS.get(unit)
    if factor is None:
        same = [known for known in SIZE_UNITS if known.lower() == unit.lower()]
        hint = f"write {same[0]!r}" if same else "use B, KB, MB, GB, TB or KiB, MiB, GiB, TiB"
        raise UsageError(f"invalid {what} {text!r}: unknown unit {unit!r} ({hint})")
    size = value * factor
    if size > MAX_SIZE:
        raise UsageError(f"invalid {what} {text!r}: must be at most 1024TiB")
    return round(size)


def parse_share(text: str, what: str = "share") -> float:
    """'5%' -> 0.05, '0' -> 0.0. Returns a fraction, 0 to 1."""
    value, unit = _split(text, what, "5%")
    if not unit:
        meant = f"{_tidy(value)}%" + (f" or {_tidy(value * 100)}%" if value <= 1 else "")
        _zero_without_unit(value, text, what, f"give a percentage (did you mean {meant}?)")
        return 0.0
    if unit != "%":
        raise UsageError(f"invalid {what} {text!r}: give a percentage, e.g. 5%")
    if value > 100:
        raise UsageError(f"invalid {what} {text!r}: must be between 0% and 100%")
    return value / 100.0


def parse_count(text: str, what: str = "count", low: int = 0, high: int = MAX_COUNT) -> int:
    """A whole number from `low` to `high`: ASCII digits, `_` allowed between them."""
    stripped = text.strip()
    wrong = UsageError(f"invalid {what} {text!r} (expected a whole number, e.g. 0 or 20)")
    if not (stripped.isascii() and stripped.replace("_", "").isdigit()):
        raise wrong
    try:
        number = int(stripped)
    except ValueError:  # misplaced underscores: '_1', '1__0'
        raise wrong from None
    if number < low:
        raise UsageError(f"invalid {what} {text!r}: must be at least {low}")
    if number > high:
        raise UsageError(f"invalid {what} {text!r}: must be at most {high}")
    return number


def show_duration(seconds: float) -> str:
    """A duration in the largest unit that keeps it at least 1: 0.02 -> '20ms'."""
    for unit in ("h", "min", "s", "ms"):
        if seconds >= DURATION_UNITS[unit]:
            return f"{_tidy(round(seconds / DURATION_UNITS[unit], 6))}{unit}"
    return f"{_tidy(round(seconds / 1e-6, 6))}us"


def in_unit_of(value: float, written: str, kind: str) -> str | None:
    """`value` (seconds, bytes or a fraction) in the unit the user wrote `written` in.

    So a figure reads beside its limit as the limit was written: 12.5MB > 10MB,
    35.2ms > 20ms, 6.12% > 5%. None when `written` has no unit (a plain 0).
    """
    unit = written.strip().lstrip("0123456789.eE+-").strip()
    if kind == "share":
        return f"{value * 100:.2f}%" if unit == "%" else None
    factor = (DURATION_UNITS if kind == "duration" else SIZE_UNITS).get(unit)
    if factor is None:
        return None
    scaled = value / factor
    shown = f"{scaled:.3f}".rstrip("0").rstrip(".") if scaled >= 0.001 or scaled == 0 else None
    return f"{shown or f'{scaled:.3g}'}{unit}"


def counted(count: int, noun: str) -> str:
    """`1 collection`, `2 collections`: a count with its noun in the right number."""
    return f"{count} {noun if count == 1 else noun + 's'}"
