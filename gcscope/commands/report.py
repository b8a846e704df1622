"""`gcscope report`: render saved captures as text, JSON, an HTML page or a Perfetto trace."""

from __future__ import annotations

import json
import sys
from typing import Any

from gcscope import capture as capture_io
from gcscope.errors import UsageError

FORMATS = ("text", "json", "html", "perfetto")
SEVERAL = ("html", "perfetto")  # formats that show several captures at once
OUTPUT_NAMES = {"text": "report", "json": "JSON report", "html": "HTML report", "perfetto": "trace"}


def render(data: dict[str, Any], report_format: str) -> str:
    """One capture as text or JSON (what `gcscope run` prints after the run)."""
    if report_format == "json":
        return json.dumps(data, indent=2) + "\n"
    if report_format == "text":
        from gcscope.reporters.text import render as render_text

        return render_text(data)
    raise UsageError(f"unknown report format {report_format!r} (use {', '.join(FORMATS)})")


def render_several(captures: list[tuple[str, dict[str, Any]]], report_format: str) -> str:
    """(label, capture) pairs as one HTML page or one trace."""
    if report_format == "html":
        from gcscope.reporters.html import render as render_html

        return render_html(captures)
    if report_format == "perfetto":
        from gcscope.reporters.perfetto import render as render_trace

        return render_trace(captures)
    raise UsageError(f"unknown report format {report_format!r} (use {', '.join(FORMATS)})")


def execute(paths: list[str], report_format: str, output: str | None) -> str:
    """Render `paths` in `report_format`; returns the text, or writes it to `output`."""
    if len(paths) > 1 and report_format not in SEVERAL:
        raise UsageError(
            f"--format {report_format} renders one capture; "
            f"use --format html (side by side) or perfetto for {len(paths)}"
        )
    what = OUTPUT_NAMES[report_format]
    if output is not None:  # before any work: a bad -o is one line, whatever the captures
        capture_io.resolve_output_path(output, what)
    captures = [(path, capture_io.load(path)) for path in paths]
    if report_format in SEVERAL:
        text = render_several(captures, report_format)
    else:
        text = render(captures[0][1], report_format)
    if output is None:
        return text
    capture_io.write_text(text, output, what)
    sys.stderr.write(f"gcscope: {what} written to {output}\n")
    return ""
