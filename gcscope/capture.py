"""The capture: one JSON document, the only thing reporters and checks read.

`save` writes atomically (temporary file in the same folder, then rename), so a
reader never sees half a capture. `load` validates the minimum contract that CI
scripts rely on and turns every problem into one `UsageError` line naming the file.
"""

from __future__ import annotations

import os
import stat

from gcscope.errors import UsageError

TYPE_CHECKING = False  # importing typing would leave it resident in the program's process
if TYPE_CHECKING:
    from collections.abc import Iterator
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


def resolve_output_path(path: str, what: str = "capture") -> str:
    """The absolute, real path of an output file (`what`: the capture, a report),
    checked before the program runs (and before a report is rendered).

    Resolved against the starting folder, so a program that changes folder does not
    move its capture. A symlink is written through: its target is replaced, the link
    stays. Refused, with the thing at the path untouched: a folder, a trailing slash,
    a missing or unwritable folder, and anything that is not a regular file (a
    device such as /dev/null, a FIFO, a socket), or a file we could not write.
    """
    if not path:
        raise UsageError(f"cannot write {what} '': give a file name")
    if path.endswith(("/", os.sep)) or (os.altsep and path.endswith(os.altsep)):
        raise UsageError(f"cannot write {what} {path!r}: that names a folder; give a file name")
    real = os.path.realpath(os.path.abspath(path))
    try:
        status = os.stat(real)
    except FileNotFoundError:
        status = None
    except OSError as exc:
        raise UsageError(f"cannot write {what} {path!r}: {exc.strerror or exc}") from None
    if status is not None:
        if stat.S_ISDIR(status.st_mode):
            raise UsageError(f"cannot write {what} {path!r}: it is a directory")
        if not stat.S_ISREG(status.st_mode):
            raise UsageError(
                f"cannot write {what} {path!r}: it is {_file_kind(status.st_mode)}, "
                "not a regular file (gcscope only writes regular files)"
            )
        if not os.access(real, os.W_OK):
            raise UsageError(f"cannot write {what} {path!r}: the file is not writable")
    folder = os.path.dirname(real)
    if not os.path.isdir(folder):
        raise UsageError(f"cannot write {what} {path!r}: folder {folder!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write {what} {path!r}: folder {folder!r} is not writable")
    return real


def check_output_path(path: str) -> None:
    """Fail before anything runs if a capture could not be written at `path`."""
    resolve_output_path(path)


def _file_kind(mode: int) -> str:
    for test, kind in (
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return kind
    return "not a regular file"


SLICE_ITEMS = 256  # long lists (the event timeline, RSS samples) are encoded this many at a time


def dumps(capture: dict[str, Any]) -> str:
    return "".join(encode_in_pieces(capture))


def _dumps(value: Any) -> str:
    import json  # not at module level: this module is loaded before the program runs

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
    """Write `capture` to `path` atomically (see `write_text`)."""
    write_text(dumps(capture), path)


def write_text(text: str, path: str, what: str = "capture") -> None:
    """Replace the regular file at `path` with `text`, atomically.

    A reader never sees half a capture: the text goes to an unnamed file in the
    same folder (Linux `O_TMPFILE`), which is given a name and renamed over `path`
    only once complete, so a process killed while writing leaves nothing behind.
    Elsewhere a dot-file beside the target plays that part, removed on any error.
    Raises `UsageError` (the old file, if any, is left as it was).
    """
    real = os.path.realpath(os.path.abspath(path))
    folder = os.path.dirname(real)
    temp_path = os.path.join(folder, f".{os.path.basename(real)}.{os.getpid()}.tmp")
    data = text.encode("utf-8")
    try:
        try:
            descriptor = os.open(folder, os.O_TMPFILE | os.O_WRONLY, 0o644)  # type: ignore[attr-defined]
        except (AttributeError, OSError):
            descriptor = -1
        try:
            if descriptor >= 0:
                _write_all(descriptor, data)
                # linkat(AT_SYMLINK_FOLLOW), which a dir_fd argument selects: plain link()
                # would not follow the /proc magic link to the unnamed file
                folder_fd = os.open(folder, os.O_RDONLY)
                try:
                    os.link(
                        f"/proc/self/fd/{descriptor}",
                        os.path.basename(temp_path),
                        dst_dir_fd=folder_fd,
                        follow_symlinks=True,
                    )
                finally:
                    os.close(folder_fd)
            else:
                descriptor = os.open(temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                _write_all(descriptor, data)
            os.replace(temp_path, real)
        except BaseException:
            if os.path.lexists(temp_path):
                os.unlink(temp_path)
            raise
        finally:
            if descriptor >= 0:
                os.close(descriptor)
    except OSError as exc:
        raise UsageError(f"cannot write {what} {path!r}: {exc.strerror or exc}") from None


def _write_all(descriptor: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(descriptor, view)
        view = view[written:]


def loads(text: str, source: str) -> dict[str, Any]:
    """Parse and validate a capture's JSON text; `source` names it in errors."""
    import json

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
