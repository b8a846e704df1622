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


def execute(path: str, report_format: str) -> str:
    return render(capture_io.load(path), report_format)
