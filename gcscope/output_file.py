"""Writing a report file the user named: checked before any work, replaced atomically.

A report file (`report -o`, `run --html`) is only ever a regular file: a device, a
FIFO or a directory at that path is refused with one line (writing "through" a FIFO
would block, and renaming a temporary file over `/dev/null` would replace the device
node). The text goes to a temporary file beside the target, which is then renamed
over it: a reader never sees half a page, and a failed render leaves the old file.
"""

from __future__ import annotations

import os
import stat

from gcscope.errors import UsageError

TYPE_CHECKING = False  # typing stays out of the program's process (this is on the run path)
if TYPE_CHECKING:
    from collections.abc import Iterable


def check_target(path: str, what: str = "report") -> str:
    """The real path to write (symlinks followed); UsageError if it cannot be a file."""
    real = os.path.realpath(path)
    try:
        mode = os.stat(real).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise UsageError(f"cannot write {what} {path!r}: {exc.strerror or exc}") from None
    if mode is not None and not stat.S_ISREG(mode):
        kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
        raise UsageError(f"cannot write {what} {path!r}: it is {kind}, not a regular file")
    folder = os.path.dirname(real)
    if not os.path.isdir(folder):
        raise UsageError(f"cannot write {what} {path!r}: folder {folder!r} does not exist")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"cannot write {what} {path!r}: folder {folder!r} is not writable")
    return real


_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
}


def write_atomically(path: str, text: str, what: str = "report") -> None:
    """Check `path`, then replace the file it names with `text`, atomically."""
    replace_atomically(check_target(path, what), (text,), what)


def replace_atomically(path: str, pieces: Iterable[str], what: str) -> None:
    """Write `pieces` to a temporary file beside `path`, then rename it over `path`."""
    folder, name = os.path.split(os.path.abspath(path))
    # a unique name beside the target, so os.replace is an atomic rename
    temp_path = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
    try:
        fd = os.open(temp_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                for piece in pieces:
                    handle.write(piece)
            os.replace(temp_path, path)
        except BaseException:
            if os.path.lexists(temp_path):
                os.unlink(temp_path)
            raise
    except OSError as exc:
        raise UsageError(f"cannot write {what} {path!r}: {exc.strerror or exc}") from None
