"""`gcscope run --follow`: which process this is in the tree, and the folder they all write to.

The first process (the one `gcscope run` starts, role "main") resolves the output
folder, then hands the run down to every Python process it starts through one
environment variable, `GCSCOPE_FOLLOW`: the folder, the options of `run`, the
tree's id and its epoch (a `time.perf_counter` reading: the machine's monotonic
clock, the same in every process). Forked children inherit the same settings in
memory. Each process writes `gcscope-<pid>.json` into the folder; while it runs,
a small marker `gcscope-<pid>.started` says it exists, so a process that never
wrote its capture (killed by SIGKILL, or still running) is reported, not lost.

Roles: `main` (the program gcscope was asked to run), `forked` (an `os.fork`
child of a followed process: a pre-fork server's worker, a multiprocessing
`fork` or `forkserver` worker), `spawned` (a new interpreter that multiprocessing
started: `spawn` workers, the forkserver, the resource tracker), `subprocess`
(any other new interpreter, e.g. `subprocess.run([sys.executable, ...])`).

Everything here runs in the measured processes: no json, no typing.
"""

from __future__ import annotations

import gc
import os
import stat
import sys
import time

from gcscope.errors import UsageError

TYPE_CHECKING = False  # importing typing would leave it resident in the program's process
if TYPE_CHECKING:
    from typing import Any

    from gcscope.session import SessionOptions

ENV_VAR = "GCSCOPE_FOLLOW"
FORMAT_VERSION = "1"
MARKER_HEADER = b"gcscope-started 1\n"
# what a capture written by gcscope starts with (`capture.dumps` keeps the key order)
CAPTURE_SIGNATURE = b'{"schema_version":'
TOOL_SIGNATURE = b'"tool":{"name":"gcscope"'


class FollowConfig:
    """One followed run's settings, as every process of the tree sees them."""

    __slots__ = ("epoch", "folder", "options", "root_pid", "tree_id")

    def __init__(
        self, folder: str, options: SessionOptions, root_pid: int, epoch: float, tree_id: str
    ) -> None:
        self.folder = folder  # absolute, real
        self.options = options
        self.root_pid = root_pid
        self.epoch = epoch  # time.perf_counter() when the tree began
        self.tree_id = tree_id

    @classmethod
    def for_root(cls, folder: str, options: SessionOptions) -> FollowConfig:
        pid = os.getpid()
        return cls(folder, options, pid, time.perf_counter(), f"{pid}-{time.time_ns()}")

    def encode(self) -> str:
        """The value of GCSCOPE_FOLLOW: `|`-separated fields, the folder last (it may hold `|`)."""
        options = self.options
        fields = (
            FORMAT_VERSION,
            self.tree_id,
            str(self.root_pid),
            repr(self.epoch),
            repr(options.rss_interval),
            str(options.max_events),
            "1" if options.allocations else "0",
            str(options.frames),
            "" if options.snapshot_interval is None else repr(options.snapshot_interval),
            "1" if options.cycles else "0",
            self.folder,
        )
        return "|".join(fields)

    @classmethod
    def decode(cls, value: str) -> FollowConfig | None:
        """The settings in GCSCOPE_FOLLOW, or None if it is not one gcscope wrote."""
        from gcscope.session import SessionOptions

        fields = value.split("|", 10)
        if len(fields) != 11 or fields[0] != FORMAT_VERSION:
            return None
        try:
            options = SessionOptions(
                rss_interval=float(fields[4]),
                max_events=int(fields[5]),
                allocations=fields[6] == "1",
                frames=int(fields[7]),
                snapshot_interval=float(fields[8]) if fields[8] else None,
                cycles=fields[9] == "1",
                sharing=True,
            )
            return cls(fields[10], options, int(fields[2]), float(fields[3]), fields[1])
        except ValueError:
            return None


class ProcessIdentity:
    """Who this process is in the tree: pid, parent, role, when it started."""

    __slots__ = ("frozen_at_start", "parent_pid", "pid", "role", "started_at")

    def __init__(self, role: str, parent_pid: int | None = None) -> None:
        self.pid = os.getpid()
        self.parent_pid = os.getppid() if parent_pid is None else parent_pid
        self.role = role
        self.started_at = time.perf_counter()
        # in a forked child: what its parent had moved out of the collector's reach
        # with gc.freeze() before forking (3.7+), the cure for copy-on-write losses
        self.frozen_at_start = _freeze_count()

    def section(
        self, config: FollowConfig | None, origin: float, children: dict[str, int]
    ) -> dict[str, Any]:
        """The capture's `process` section; `origin` is the process's clock origin."""
        section: dict[str, Any] = {
            "pid": self.pid,
            "parent_pid": self.parent_pid,
            "role": self.role,
            "followed": config is not None,
            "perf_counter_origin": origin,
            "children": children,
            "gc_frozen_at_start": self.frozen_at_start,
            "gc_frozen_at_end": _freeze_count(),
        }
        if config is not None:
            section["tree"] = {"id": config.tree_id, "root_pid": config.root_pid}
            section["start_offset_s"] = round(origin - config.epoch, 6)
        return section


def _freeze_count() -> int:
    return gc.get_freeze_count() if hasattr(gc, "get_freeze_count") else 0


def role_of(target_argv: list[str]) -> str:
    """`spawned` for the interpreters multiprocessing starts, else `subprocess`."""
    if "--multiprocessing-fork" in target_argv:
        return "spawned"
    code = target_argv[1] if target_argv[:1] == ["-c"] and target_argv[1:2] else ""
    if code.lstrip().startswith(("from multiprocessing", "import multiprocessing")):
        return "spawned"
    return "subprocess"


# -- the output folder --------------------------------------------------------------


def prepare_folder(path: str) -> str:
    """The folder's absolute real path, created if missing, checked before the program runs.

    An existing folder must be empty or hold only what a followed run writes there
    (captures and markers, checked by name and content); those of a previous run are
    removed, as `-o FILE` replaces a previous capture. Anything else is refused, and
    left untouched. A missing folder's parent must exist.
    """
    if not path:
        raise UsageError("cannot write captures to '': give a folder name")
    real = os.path.realpath(os.path.abspath(path))
    try:
        status = os.stat(real)
    except FileNotFoundError:
        status = None
    except OSError as exc:
        raise UsageError(f"cannot write captures to {path!r}: {exc.strerror or exc}") from None
    if status is None:
        parent = os.path.dirname(real)
        if not os.path.isdir(parent):
            raise UsageError(f"cannot write captures to {path!r}: folder {parent!r} does not exist")
        try:
            os.mkdir(real)
        except OSError as exc:
            raise UsageError(
                f"cannot create folder {path!r} for the captures: {exc.strerror or exc}"
            ) from None
        return real
    if not stat.S_ISDIR(status.st_mode):
        raise UsageError(
            f"cannot write captures to {path!r}: it is not a folder (with --follow, -o names "
            "a folder that will hold one capture per process)"
        )
    if not os.access(real, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write captures to {path!r}: the folder is not writable")
    previous = []
    for name in sorted(os.listdir(real)):
        entry = os.path.join(real, name)
        if not is_tree_file(entry):
            raise UsageError(
                f"cannot write captures to {path!r}: it holds {name!r}, which is not a "
                "gcscope capture; give an empty folder or a new name"
            )
        previous.append(entry)
    for entry in previous:
        try:
            os.unlink(entry)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise UsageError(
                f"cannot remove the previous run's {os.path.basename(entry)!r} from {path!r}: "
                f"{exc.strerror or exc}"
            ) from None
    return real


def is_tree_file(path: str) -> bool:
    """A capture or a marker written by a followed run (by its name and first bytes)."""
    name = os.path.basename(path)
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return False
        with open(path, "rb") as handle:
            head = handle.read(200)
    except OSError:
        return False
    if capture_pid(name) is not None:
        return head.startswith(CAPTURE_SIGNATURE) and TOOL_SIGNATURE in head
    if marker_pid(name) is not None:
        return head.startswith(MARKER_HEADER)
    return False


def capture_pid(name: str) -> int | None:
    """The pid in a capture's file name (`gcscope-<pid>.json`, `gcscope-<pid>.<n>.json`)."""
    if not (name.startswith("gcscope-") and name.endswith(".json")):
        return None
    pid, _, number = name[len("gcscope-") : -len(".json")].partition(".")
    if pid.isdigit() and pid.isascii() and (not number or (number.isdigit() and number.isascii())):
        return int(pid)
    return None


def marker_pid(name: str) -> int | None:
    """The pid in a marker's file name (`gcscope-<pid>.started`)."""
    if not (name.startswith("gcscope-") and name.endswith(".started")):
        return None
    pid = name[len("gcscope-") : -len(".started")]
    return int(pid) if pid.isdigit() and pid.isascii() else None


def capture_path(folder: str, pid: int) -> str:
    """`gcscope-<pid>.json`; `gcscope-<pid>.<n>.json` when a process that had the same pid
    earlier in the run (the pid was reused, or the process exec'd) left its capture."""
    path = os.path.join(folder, f"gcscope-{pid}.json")
    number = 1
    while os.path.lexists(path):
        number += 1
        path = os.path.join(folder, f"gcscope-{pid}.{number}.json")
    return path


def marker_path(folder: str, pid: int) -> str:
    return os.path.join(folder, f"gcscope-{pid}.started")


def write_marker(
    folder: str, identity: ProcessIdentity, offset: float, argv: list[str]
) -> str | None:
    """Say that this process runs (a few lines of text; no json in the program's process)."""
    path = marker_path(folder, identity.pid)
    text = (
        f"pid={identity.pid}\nparent_pid={identity.parent_pid}\nrole={identity.role}\n"
        f"start_offset_s={offset:.6f}\nargv="
    )
    data = (
        MARKER_HEADER
        + text.encode()
        + b"\0".join(arg.encode("utf-8", "surrogateescape") for arg in argv)
    )
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(descriptor, data)
        finally:
            os.close(descriptor)
    except OSError:
        return None
    return path


def remove_marker(path: str | None) -> None:
    if path:
        try:
            os.unlink(path)
        except OSError:
            pass


def read_marker(path: str) -> dict[str, Any] | None:
    """A marker's fields (for the merged report), or None if it is not one."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(1 << 16)
    except OSError:
        return None
    if not data.startswith(MARKER_HEADER):
        return None
    head, _, argv = data[len(MARKER_HEADER) :].partition(b"argv=")
    fields: dict[str, Any] = {}
    for line in head.decode("utf-8", "replace").splitlines():
        key, _, value = line.partition("=")
        fields[key] = value
    try:
        return {
            "pid": int(fields["pid"]),
            "parent_pid": int(fields["parent_pid"]),
            "role": fields["role"],
            "start_offset_s": float(fields["start_offset_s"]),
            "argv": [arg.decode("utf-8", "replace") for arg in argv.split(b"\0")] if argv else [],
        }
    except (KeyError, ValueError):
        return None


def interpreter_command() -> tuple[list[str], list[str]] | None:
    """(interpreter options, what it runs) of this process, from `sys.orig_argv`; None
    for an interactive interpreter or a program read from stdin."""
    original = list(getattr(sys, "orig_argv", []))
    argv = list(sys.argv)
    if len(original) < 2 or not argv or argv[0] in ("", "-"):
        return None
    options = original[1 : max(1, len(original) - len(argv))]
    if options and options[-1] in ("-m", "-c"):
        options.pop()
    return options, original[1 + len(options) :]
