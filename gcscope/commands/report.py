"""`gcscope report`: render saved captures as text, JSON, an HTML page or a Perfetto trace."""

from __future__ import annotations

import json
import sys
from typing import Any

from gcscope import capture as capture_io
from gcscope.errors import UsageError

FORMATS = ("text", "json", "html", "perfetto")
SEVERAL = ("html", "perfetto")  # formats that show several captures at once
TREE_WAIT_SECONDS = 3.0  # a run folder's processes still running: waited for, that long at most
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


def render_tree(
    paths: list[str], report_format: str, main_line: str = "", shown: list[str] | None = None
) -> str:
    """The merged report (text or JSON) of several captures: a `run --follow` folder, or
    capture files (`gcscope.process_tree`).

    `main_line`, from `gcscope run --follow`, says where the main process's capture went;
    processes still running are listed, not waited for (they may be waiting for it).
    """
    from gcscope.process_tree import load, merge

    tree = merge(load(paths, wait_seconds=0.0 if main_line else TREE_WAIT_SECONDS))
    if report_format == "json":
        return main_line + json.dumps(tree, indent=2) + "\n"
    if report_format == "text":
        from gcscope.reporters.process_tree import render as render_text

        folders = ", ".join(shown or paths)
        written = f"gcscope: {len(tree['processes'])} captures in {folders}\n"
        return main_line + written + render_text(tree)
    raise UsageError(f"unknown report format {report_format!r} (use {', '.join(FORMATS)})")


def execute(paths: list[str], report_format: str, output: str | None) -> str:
    """Render `paths` in `report_format`; returns the text, or writes it to `output`.

    Several captures, or a `run --follow` folder: as text or JSON, the merged report of
    the process tree; as HTML or a trace, every capture side by side.
    """
    from gcscope.process_tree import is_tree_source, load

    what = OUTPUT_NAMES[report_format]
    if output is not None:  # before any work: a bad -o is one line, whatever the captures
        capture_io.resolve_output_path(output, what)
    if report_format in SEVERAL:
        text = render_several(load(paths, TREE_WAIT_SECONDS).captures, report_format)
    elif is_tree_source(paths):
        text = render_tree(paths, report_format)
    else:
        text = render(capture_io.load(paths[0]), report_format)
    if output is None:
        return text
    capture_io.write_text(text, output, what)
    sys.stderr.write(f"gcscope: {what} written to {output}\n")
    return ""
