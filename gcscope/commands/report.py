"""`gcscope report`: render a saved capture."""

from __future__ import annotations

import json
from typing import Any

from gcscope import capture as capture_io
from gcscope.errors import UsageError

FORMATS = ("text", "json")


def render(data: dict[str, Any], report_format: str) -> str:
    if report_format == "json":
        return json.dumps(data, indent=2) + "\n"
    if report_format == "text":
        from gcscope.reporters.text import render as render_text

        return render_text(data)
    raise UsageError(f"unknown report format {report_format!r} (use {', '.join(FORMATS)})")


def render_tree(
    paths: list[str], report_format: str, main_line: str = "", shown: list[str] | None = None
) -> str:
    """The merged report of several captures (a `--follow` folder, or files).

    `main_line`, from `gcscope run --follow`, says where the main process's capture went;
    processes still running are listed, not waited for (they may be waiting for it).
    """
    from gcscope.process_tree import load, merge

    tree = merge(load(paths))
    if report_format == "json":
        return main_line + json.dumps(tree, indent=2) + "\n"
    if report_format == "text":
        from gcscope.reporters.process_tree import render as render_text

        folders = ", ".join(shown or paths)
        written = f"gcscope: {len(tree['processes'])} captures in {folders}\n"
        return main_line + written + render_text(tree)
    raise UsageError(f"unknown report format {report_format!r} (use {', '.join(FORMATS)})")


def execute(paths: list[str], report_format: str) -> str:
    from gcscope.process_tree import is_tree_source

    if is_tree_source(paths):
        return render_tree(paths, report_format)
    return render(capture_io.load(paths[0]), report_format)
