"""`gcscope`'s entry point: a well-formed `run` goes straight to the runner, the rest to click.

`gcscope run` parses its command line with `gcscope.run_options` so that click
is never imported into the process the program runs in (why: that module's
docstring); help, mistakes and every other verb go through `gcscope.click_app`.
Every user mistake ends as one `gcscope: ...` line on stderr and exit status 2.
"""

from __future__ import annotations

import sys

from gcscope.errors import INTERNAL_ERROR, UsageError
from gcscope.run_options import parse_run, run_request


def main(args: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if args is None else args)
    try:
        values = parse_run(argv)
        if values is not None:
            request = run_request(**values)
        else:
            from gcscope.click_app import dispatch

            request = dispatch(argv)
        if isinstance(request, int):
            sys.exit(request)
        from gcscope.bytecode import restart_from_bytecode

        restart_from_bytecode()  # never the ast module's types in the program's heap
        from gcscope.commands.run import execute

        status = execute(request)
    except UsageError as exc:
        sys.stderr.write(f"gcscope: {exc}\n")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:  # in gcscope's own work; the program's are handled in `execute`
        sys.stderr.write("gcscope: aborted\n")
        sys.exit(130)
    except MemoryError:  # gcscope's own (a memory limit): never exit 1, "limit exceeded"
        sys.stderr.write("gcscope: out of memory (a memory limit such as ulimit -v is too low)\n")
        sys.exit(2)
    except Exception:  # gcscope broke before click could catch it (or an interpreter under
        # memory pressure did: 3.12 raises SystemError importing click): never exit 1
        try:
            import traceback

            traceback.print_exc()
        except Exception:  # under a memory limit even that import can fail
            pass
        sys.stderr.write(f"gcscope: internal error, please report it (exit {INTERNAL_ERROR})\n")
        sys.exit(INTERNAL_ERROR)
    sys.exit(status)
