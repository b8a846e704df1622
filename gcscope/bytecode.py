"""gcscope's own modules are loaded from bytecode, or the program's heap is not python's.

When a module has no up-to-date `.pyc` (the first run after an editable install or an
edit, `PYTHONDONTWRITEBYTECODE`, a read-only folder), importing it compiles its source
with the builtin `compile()`, and the first call of that in a process creates the `ast`
module's node types: 530-640 GC-tracked objects (3.10-3.13) that a plain python
process does not have, and that every full collection of the program would then
traverse (+6-8% of a small heap's collection; this made `gcscope run` look several
points dearer on collection-dense benchmarks than its instruction counts said).

So before a run, if any of gcscope's modules loaded so far came from source, gcscope
compiles the whole package to bytecode in a child interpreter (`compileall`, which
writes `.pyc` files even under `PYTHONDONTWRITEBYTECODE`) and starts itself again,
once, with the same command line (`os.execv`: same process id, same open files). If
the bytecode cannot be written (a read-only install), the run goes on as it is.
"""

from __future__ import annotations

import os
import sys

from gcscope.paths import PACKAGE_DIR

RESTARTED_VARIABLE = "GCSCOPE_BYTECODE_RESTART"  # set only across gcscope's own exec


def _is_fresh(source: str, cached: str) -> bool:
    """Whether `cached` is a timestamp `.pyc` of `source` that the import system accepts
    (what `SourceLoader.get_code` checks: magic number, flags, mtime and size)."""
    magic = sys.modules["_frozen_importlib_external"].MAGIC_NUMBER
    try:
        status = os.stat(source)
        with open(cached, "rb") as file:
            header = file.read(16)
    except OSError:
        return False
    if len(header) < 16 or header[:4] != magic:
        return False
    flags = int.from_bytes(header[4:8], "little")
    if flags & 0b1:  # hash-based: checked or not, import reads it without compiling
        return True
    mtime = int.from_bytes(header[8:12], "little")
    size = int.from_bytes(header[12:16], "little")
    return mtime == int(status.st_mtime) & 0xFFFFFFFF and size == status.st_size & 0xFFFFFFFF


def compiled_from_source() -> list[str]:
    """gcscope's modules loaded so far whose bytecode is missing or out of date."""
    stale = []
    for name, module in list(sys.modules.items()):
        if name != "gcscope" and not name.startswith("gcscope."):
            continue
        spec = getattr(module, "__spec__", None)
        source, cached = getattr(spec, "origin", None), getattr(spec, "cached", None)
        if not source or not source.endswith(".py") or not cached:
            continue
        if not _is_fresh(source, cached):
            stale.append(name)
    return stale


def compile_package() -> bool:
    """Write the package's bytecode from a child interpreter; True if it exited 0."""
    if not hasattr(os, "posix_spawn"):
        return False
    command = [sys.executable, "-m", "compileall", "-q"]
    if sys.flags.optimize:
        command += ["-o", str(sys.flags.optimize)]
    command.append(PACKAGE_DIR.rstrip(os.sep))
    try:
        pid = os.posix_spawn(sys.executable, command, os.environ)
        _, status = os.waitpid(pid, 0)
    except OSError:
        return False
    return os.waitstatus_to_exitcode(status) == 0


def restart_from_bytecode() -> None:
    """Before a run: if gcscope compiled any of its own modules in this process, compile
    them all and start again (once). Returns only when no restart is needed or possible."""
    if os.environ.pop(RESTARTED_VARIABLE, None) is not None:
        return  # this is the restart: whatever could be written has been
    if not compiled_from_source() or not compile_package() or compiled_from_source():
        return
    argv = list(getattr(sys, "orig_argv", []))
    if not argv:
        return
    os.environ[RESTARTED_VARIABLE] = "1"
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, [sys.executable, *argv[1:]])
    except OSError:
        os.environ.pop(RESTARTED_VARIABLE, None)
