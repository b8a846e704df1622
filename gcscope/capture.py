"""The capture: one JSON document, the only thing reporters and checks read.

`save` writes atomically (temporary file in the same folder, then rename), so a
reader never sees half a capture. `load` validates the minimum contract that CI
scripts rely on and turns every problem into one `UsageError` line naming the file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

from gcscope.errors import UsageError
from gcscope.output_file import replace_atomically

TYPE_CHECKING = False  # importing typing would leave it resident in the program's process
if TYPE_CHECKING:
    from typing import Any

SCHEMA_VERSION = 1

# The documented minimum contract (README, "Capture format"); extra fields are free.
_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "schema_version": int,
    "argv": list,
    "exit_code": int,
    "python": dict,
    "wall_seconds": (int, float),
    "gc_time_fraction": (int, float),
    "generations": list,
}
_GENERATION_REQUIRED = ("generation", "collections", "collected", "uncollectable", "pause_ms")
_PAUSE_KEYS = ("total", "mean", "p50", "p95", "p99", "max")


def check_output_path(path: str) -> None:
    """Fail before the target runs if the capture could not be written."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError(f"cannot write capture {path!r}: it is a directory")
    if not os.path.isdir(folder):
        raise UsageError(f"cannot write capture {path!r}: folder {folder!r} does not exist")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"cannot write capture {path!r}: folder {folder!r} is not writable")


SLICE_ITEMS = 256  # long lists (the event timeline, RSS samples) are encoded this many at a time


def dumps(capture: dict[str, Any]) -> str:
    return "".join(encode_in_pieces(capture))


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def encode_in_pieces(value: Any, depth: int = 0) -> Iterator[str]:
    """The capture's compact JSON text, in pieces.

    json's C encoder keeps every fragment of a document (each number, key and comma
    is its own string) until it joins them: for a 20,000-event timeline that is
    ~10 MB for a moment, in the process whose peak RSS we report. Encoding long
    lists a slice at a time keeps that to one slice's worth.
    """
    if isinstance(value, dict) and depth < 4:
        yield "{"
        for position, (key, item) in enumerate(value.items()):
            yield ("," if position else "") + _dumps(str(key)) + ":"
            yield from encode_in_pieces(item, depth + 1)
        yield "}"
    elif isinstance(value, list) and len(value) > SLICE_ITEMS:
        yield "["
        for start in range(0, len(value), SLICE_ITEMS):
            yield ("," if start else "") + _dumps(value[start : start + SLICE_ITEMS])[1:-1]
        yield "]"
    else:
        yield _dumps(value)


def save(capture: dict[str, Any], path: str) -> None:
    """Write `capture` to `path` atomically (temp file beside it, then rename)."""
    replace_atomically(path, encode_in_pieces(capture), "capture")


def loads(text: str, source: str) -> dict[str, Any]:
    """Parse and validate a capture's JSON text; `source` names it in errors."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{source}: not a gcscope capture (invalid JSON: {exc})") from None
    validate(data, source)
    return data


def load(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such capture file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory, not a capture file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read capture ({exc})") from None
    return loads(text, path)


def validate(data: Any, source: str) -> None:
    def bad(what: str) -> UsageError:
        return UsageError(f"{source}: not a gcscope capture ({what})")

    if not isinstance(data, dict):
        raise bad("the document is not a JSON object")
    version = data.get("schema_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        raise UsageError(
            f"{source}: capture schema_version {version} is newer than this gcscope reads "
            f"({SCHEMA_VERSION}); upgrade gcscope"
        )
    for key, kind in _REQUIRED.items():
        if key not in data:
            raise bad(f"missing {key!r}")
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, kind):
            raise bad(f"{key!r} has the wrong type")
    if version < 1:
        raise bad(f"unknown schema_version {version}")
    for entry in data["generations"]:
        if not isinstance(entry, dict) or any(k not in entry for k in _GENERATION_REQUIRED):
            raise bad("a 'generations' entry lacks required fields")
        pause = entry["pause_ms"]
        if not isinstance(pause, dict) or any(
            not isinstance(pause.get(k), (int, float)) for k in _PAUSE_KEYS
        ):
            raise bad("a 'generations' entry has a malformed 'pause_ms'")
