"""GitHub Actions workflow commands (`::error title=...::message`), escaped.

A capture's path and the type names in a message are not gcscope's to trust: a
newline in either would end the command and start another (`::add-mask::`,
`::set-output`). GitHub's rules (actions/toolkit, `command.ts`): in the message,
`%`, `\\r` and `\\n` are percent-encoded; in property values also `:` and `,`.
Terminal control characters are made visible first, as in every other report.
"""

from __future__ import annotations

from gcscope.reporters.formatting import printable

_MESSAGE = {"%": "%25", "\r": "%0D", "\n": "%0A"}
_PROPERTY = {**_MESSAGE, ":": "%3A", ",": "%2C"}


def _escape(text: str, table: dict[str, str]) -> str:
    return "".join(table.get(char, char) for char in printable(text))


def workflow_command(command: str, properties: dict[str, str], message: str) -> str:
    """One `::command key=value,...::message` line."""
    shown = ",".join(f"{key}={_escape(value, _PROPERTY)}" for key, value in properties.items())
    return f"::{command}{' ' + shown if shown else ''}::{_escape(message, _MESSAGE)}"
