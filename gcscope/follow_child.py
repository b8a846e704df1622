"""`python -m gcscope.follow_child TARGET...`: a new interpreter of a followed tree.

`gcscope.follow_boot` re-executes a followed tree's new interpreters with this
module, and the same interpreter options and target (`SCRIPT ARGS`, `-m MODULE
ARGS`, `-c CODE ARGS`). The settings come from `GCSCOPE_FOLLOW`. The program then
runs as under `gcscope run --follow`, silently, its capture going to the tree's
folder. If it cannot be run that way (its module cannot be found...), the original
command runs unmeasured, so the error is python's own.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    from gcscope.follow import ENV_VAR, FollowConfig, interpreter_command

    argv = sys.argv[1:]
    command = interpreter_command()  # now: the runner changes sys.argv
    options = command[0] if command else []
    follow = FollowConfig.decode(os.environ.get(ENV_VAR, ""))
    if follow is None or not argv:
        run_unmeasured(options, argv)
    from gcscope.commands.run import execute_followed
    from gcscope.errors import UsageError

    try:
        status = execute_followed(follow, argv)  # type: ignore[arg-type]
    except UsageError:
        run_unmeasured(options, argv)
    sys.exit(status)


def run_unmeasured(options: list[str], argv: list[str]) -> None:
    """Replace this process with python running `argv` as it was asked, unfollowed."""
    from gcscope.follow import ENV_VAR

    environment = {key: value for key, value in os.environ.items() if key != ENV_VAR}
    os.execve(sys.executable, [sys.executable, *options, *argv], environment)


if __name__ == "__main__":
    main()
