"""Started by gcscope's `.pth` file in an interpreter that has `GCSCOPE_FOLLOW` set.

The `.pth` line (`gcscope-follow.pth`, installed beside the package) imports this
module only when the variable is set, so every other interpreter pays one `in
os.environ` test. Here, in a new interpreter of a followed tree (a multiprocessing
`spawn` worker, a `subprocess` child running Python...), before the program's
first line, the interpreter is replaced (`os.execv`, same pid, same open files)
by one that runs the same program under `gcscope.follow_child`, exactly as
`gcscope run` runs its program. That is how coverage.py's `COVERAGE_PROCESS_START`
works, with one difference: coverage.py starts measuring inside the `.pth` and
saves at exit, but a `.pth` cannot know the program's exit status, exception or
fatal signal, nor measure without gcscope's own start-up in the figures; running
the program through gcscope's runner can.

Nothing happens for gcscope itself, for an interactive interpreter or one reading
its program from stdin, for a script that does not exist (python's own error is
then shown), or when the variable is not gcscope's.
"""

from __future__ import annotations

import os
import sys


def boot() -> None:
    from gcscope.follow import ENV_VAR, FollowConfig, interpreter_command

    value = os.environ.get(ENV_VAR)
    if not value or FollowConfig.decode(value) is None:
        return
    command = interpreter_command()
    if command is None:
        return
    options, target = command
    if not target or target[0] in ("-", "") or is_gcscope(target):
        return
    if not target[0].startswith("-") and not os.path.isfile(target[0]):
        return
    try:
        os.execv(sys.executable, [sys.executable, *options, "-m", "gcscope.follow_child", *target])
    except OSError:
        pass  # the program runs unmeasured, as it would without gcscope


def is_gcscope(target: list[str]) -> bool:
    """gcscope itself (`python -m gcscope...`, the `gcscope` script): never followed."""
    if target[0] == "-m" and target[1:2]:
        return target[1].partition(".")[0] == "gcscope"
    if target[0].startswith("-m"):
        return target[0][2:].partition(".")[0] == "gcscope"
    return os.path.basename(target[0]) == "gcscope"


boot()
