"""Small, shared formatting helpers for human-readable reports."""

from __future__ import annotations

import os
from typing import Any

# Characters a terminal (or a log viewer) acts on instead of showing: C0 controls
# (ESC starts colour, cursor and OSC title/clipboard sequences; CR rewrites a line),
# DEL, C1 controls (0x9B is a one-byte CSI), and the invisible bidi and line-separator
# controls that reorder or break what is shown. Type names, paths, labels and argv are
# the program's text: every report shows these characters escaped, as Python would.
_CONTROLS = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), 0x061C, 0x200E, 0x200F]
_CONTROLS += [*range(0x2028, 0x202F), *range(0x2066, 0x206A)]
_ESCAPES = {code: repr(chr(code))[1:-1] for code in _CONTROLS}
_ESCAPES_KEEP_NEWLINE = {code: text for code, text in _ESCAPES.items() if code != 0x0A}


def printable(text: str) -> str:
    """`text` with every control character escaped (newlines too): for one line or cell."""
    return text.translate(_ESCAPES)


def printable_text(text: str) -> str:
    """A whole report with control characters escaped; its own newlines kept."""
    return text.translate(_ESCAPES_KEEP_NEWLINE)


def printable_capture(value: Any) -> Any:
    """A copy of a capture (or any part) whose strings are `printable`; the rest as is."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {key: printable_capture(item) for key, item in value.items()}
    if isinstance(value, list):
        if all(type(item) is int for item in value):  # the long ones: timeline rows
            return value
        return [printable_capture(item) for item in value]
    return value


def human_bytes(size: float | None) -> str:
    """1536 -> '1.5 KiB'; signed sizes keep their sign."""
    if size is None:
        return "n/a"
    sign = "-" if size < 0 else ""
    value = float(abs(size))
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{sign}{value:.0f} {unit}" if unit == "B" else f"{sign}{value:.1f} {unit}"
        value /= 1024
    return f"{sign}{value:.1f} TiB"


def short_path(filename: str) -> str:
    """A path relative to the current folder when it lies below it."""
    if not filename or filename.startswith("<"):
        return filename
    try:
        relative = os.path.relpath(filename)
    except ValueError:
        return filename
    return filename if relative.startswith("..") else relative


def frame_label(frame: dict[str, Any] | None) -> str:
    if not frame:
        return "<gcscope>"
    return f"{short_path(frame['filename'])}:{frame['lineno']} ({frame['function']})"


def allocation_site_label(site: dict[str, Any], arrow: str = " <- ") -> str:
    """An allocation site as file:line, with up to three callers when there is a traceback."""
    label = f"{short_path(site['filename'])}:{site['lineno']}"
    callers = site.get("traceback", [])[1:4]
    if callers:
        label += arrow + arrow.join(f"{short_path(f)}:{n}" for f, n in callers)
    return label


NO_PROGRAM_FRAME = "(no frame of the program's)"


def estimate_text(size: float, error: float | None) -> str:
    """An exact size, or a sampled estimate with its 95% interval: '~19.5 MiB \u00b1 2.1 MiB'."""
    if error is None:
        return human_bytes(size)
    return f"~{human_bytes(size)} \u00b1 {human_bytes(error)}"


def allocation_source(section: dict[str, Any]) -> str:
    """How an allocations section was recorded, in words (with the rate when sampled)."""
    frames = f"{section['frames']} frame(s), {section['snapshots']} snapshots"
    if section.get("mode") == "sampled":
        rate = human_bytes(section["sample_every_bytes"])
        return (
            f"sampled every {rate} on average, {frames}: sizes and block counts are "
            "estimates, \u00b1 is their 95% interval"
        )
    return f"tracemalloc, {frames}, started by {section['started_by']}"


def allocation_fallback(section: dict[str, Any]) -> str:
    """The note for a sampled run that ran as exact tracemalloc, or ''."""
    if not section.get("fallback_reason"):
        return ""
    return (
        f"NOTE: --allocations={section['requested_mode']} ran as exact tracemalloc: "
        f"{section['fallback_reason']}"
    )


def site_labels(site: dict[str, Any]) -> tuple[str, str]:
    """(program line, innermost frame) of a trigger site, as the report shows them.

    No program frame at all: only library code was running (a library's own thread,
    the import of a `-m` target's dependencies); both absent: gcscope's own work.
    """
    program, where = site.get("program"), site.get("where")
    if program is None and where is None:
        return "<gcscope>", ""
    if program is None:
        return NO_PROGRAM_FRAME, frame_label(where)
    return frame_label(program), "" if where == program else frame_label(where)


def table(rows: list[list[Any]], headers: list[str]) -> str:
    from tabulate import tabulate

    return tabulate(rows, headers=headers, tablefmt="simple", floatfmt=".3f", disable_numparse=True)


def ms(value: float) -> str:
    return f"{value:.3f}"


def observer_warning(gc_section: dict[str, Any]) -> str | None:
    """What the Python gc callback changed in a threaded program (lower case), or None."""
    effect = gc_section.get("observer_effect") or {}
    if not effect.get("collections_entered_late"):
        return None
    return (
        f"the Python gc callback let other threads run inside "
        f"{effect['collections_entered_late']} collections, so their allocations there "
        f"({effect['allocations_unseen']} objects) triggered no collection (about "
        f"{effect['estimated_missed_gen0_collections']} gen-0 collections fewer than plain "
        "Python would run, to within a factor of two) and any gc.collect() they called "
        "meanwhile did nothing; the C recorder, built at install, has no such effect"
    )


def cycle_warnings(section: dict[str, Any]) -> list[str]:
    """The caveats of a --cycles section, as lower-case sentences (each report dresses them)."""
    warnings = []
    if section.get("final_harvest_missed"):
        warnings.append(
            "another thread's collection never finished, so the garbage the "
            "program left at its end was not harvested"
        )
    if section.get("callback_removed"):
        warnings.append(
            "the program removed gcscope's gc callback from gc.callbacks: what its later "
            "collections found stayed in gc.garbage, uncounted"
        )
    if section.get("unsaved_collections"):
        warnings.append(
            f"the program turned gc.DEBUG_SAVEALL off; the garbage of "
            f"{section['unsaved_collections']} collections was freed uncounted"
        )
    return warnings
