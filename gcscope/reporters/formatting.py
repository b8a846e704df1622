"""Small, shared formatting helpers for human-readable reports."""

from __future__ import annotations

import os
from typing import Any


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


def cycle_warnings(section: dict[str, Any]) -> list[str]:
    """The caveats of a --cycles section, as lower-case sentences (each report dresses them)."""
    warnings = []
    if section.get("final_harvest_missed"):
        warnings.append(
            "another thread's collection never finished, so the garbage the "
            "program left at its end was not harvested"
        )
    if section.get("unsaved_collections"):
        warnings.append(
            f"the program turned gc.DEBUG_SAVEALL off; the garbage of "
            f"{section['unsaved_collections']} collections was freed uncounted"
        )
    return warnings
