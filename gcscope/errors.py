"""The one exception type that means "the user asked for something impossible".

The CLI turns it into a single `gcscope: ...` line on stderr and exit status 2,
never a traceback.
"""


class UsageError(Exception):
    """A user mistake: bad option value, missing file, corrupt capture..."""

    exit_code = 2


# 0 pass, 1 a limit or gate failed, 2 a usage error or malformed input, 3 gcscope broke
INTERNAL_ERROR = 3
