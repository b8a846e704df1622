"""The capture: one JSON document, the only thing reporters and checks read.

`save` writes atomically (temporary file in the same folder, then rename), so a
reader never sees half a capture. `load` validates it completely against the
documented schema (`capture.schema.json`, docs/capture.md) and turns every problem
into one `UsageError` line naming the file and the field.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

from gcscope.errors import UsageError

TYPE_CHECKING = False  # importing typing would leave it resident in the program's process
if TYPE_CHECKING:
    from typing import Any

SCHEMA_VERSION = 1


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
    folder = os.path.dirname(os.path.abspath(path))
    try:
        # a unique name beside the target, so os.replace is an atomic rename
        temp_path = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.tmp")
        fd = os.open(temp_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                for piece in encode_in_pieces(capture):
                    handle.write(piece)
            os.replace(temp_path, path)
        except BaseException:
            if os.path.exists(temp_path):
                os.unlink(temp_path)
            raise
    except OSError as exc:
        raise UsageError(f"cannot write capture {path!r}: {exc.strerror or exc}") from None


def loads(text: str, source: str) -> dict[str, Any]:
    """Parse and validate a capture's JSON text; `source` names it in errors."""
    from gcscope import capture_schema

    data = capture_schema.parse(text, source)
    validate(data, source)
    return data


def load(path: str) -> dict[str, Any]:
    """Read, parse and validate a capture file: any problem is one UsageError naming it."""
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
    """Check a parsed capture against `capture.schema.json` (see `gcscope.capture_schema`)."""
    from gcscope import capture_schema

    capture_schema.validate(data, source, SCHEMA_VERSION)
