"""Run a script, a module or a command string in-process, exactly as `python` would.

Modelled on coverage.py's `PyRunner`: a fresh `__main__` module, the same
`sys.argv` and `sys.path[0]` that the interpreter would set up, and the target's
own exceptions reported through `sys.excepthook` with gcscope's frames removed.
The outcome (exit code, how the target ended) is returned, never raised, so the
session can always write its capture afterwards.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
import types

from gcscope.errors import UsageError
from gcscope.paths import PACKAGE_DIR

TYPE_CHECKING = False  # importing typing would leave it resident in the program's process
if TYPE_CHECKING:
    from typing import Any


class Outcome:
    """How the target ended: the exit status Python would have given, and why."""

    __slots__ = ("ended_by", "exception_type", "exit_code")

    def __init__(
        self,
        exit_code: int = 0,
        ended_by: str = "return",  # return | exit | exception | interrupt
        exception_type: str | None = None,
    ) -> None:
        self.exit_code = exit_code
        self.ended_by = ended_by
        self.exception_type = exception_type


class Target:
    """What to run: `kind` is script, module or command, `name` the path/module/code."""

    __slots__ = ("args", "kind", "name")

    def __init__(self, kind: str, name: str, args: list[str]) -> None:
        self.kind = kind
        self.name = name
        self.args = args

    @classmethod
    def from_argv(cls, argv: list[str]) -> Target:
        """Read `SCRIPT ARGS...`, `-m MODULE ARGS...` or `-c CODE ARGS...` like python does."""
        if not argv:
            raise UsageError("nothing to run: give a script, -m MODULE or -c COMMAND")
        first, rest = argv[0], list(argv[1:])
        for flag, kind in (("-m", "module"), ("-c", "command")):
            if first == flag:
                if not rest:
                    raise UsageError(f"argument expected for the {flag} option")
                return cls(kind, rest[0], rest[1:])
            if first.startswith(flag) and len(first) > 2:
                return cls(kind, first[2:], rest)
        if first.startswith("-") and first != "-":
            raise UsageError(f"no such option: {first} (options after the script belong to it)")
        if first == "-":
            raise UsageError("reading the program from stdin is not supported; give a file")
        return cls("script", first, rest)

    @property
    def stem(self) -> str:
        """A short name for default capture file names."""
        if self.kind == "script":
            return os.path.splitext(os.path.basename(self.name))[0] or "script"
        if self.kind == "module":
            return self.name.rsplit(".", 1)[-1] or "module"
        return "command"

    def check(self) -> None:
        """Fail early, as a usage error, on a target that cannot even be found."""
        if self.kind == "script":
            if not os.path.exists(self.name):
                raise UsageError(f"can't open file {os.path.abspath(self.name)!r}: no such file")
            if os.path.isdir(self.name):
                raise UsageError(f"{self.name!r} is a directory; give a .py file or use -m")


def compile_main(source: bytes, filename: str, ignore_cookie: bool) -> types.CodeType:
    """Compile the main script or -c command the way the interpreter does: in C.

    The builtin compile() creates the AST node types on first use (700-1,100 container
    objects a plain python process does not have); gcscope._gcstate compiles without
    them. Without the C helper the builtin is used.
    """
    if b"\0" in source:  # what python's file tokenizer does with a NUL byte
        before = source[: source.index(b"\0")]
        if sys.version_info < (3, 11):  # 3.10 reads lines as C strings: a NUL ends its line
            source = b"".join(line.split(b"\0", 1)[0] for line in source.splitlines(keepends=True))
        else:
            line = before.rsplit(b"\n", 1)[-1].decode("utf-8", "replace") + "\n"
            position = (filename, before.count(b"\n") + 1, None, line)
            raise SyntaxError("source code cannot contain null bytes", position)
    try:
        from gcscope._gcstate import compile_source
    except ImportError:
        text = source.decode("utf-8", "surrogateescape") if ignore_cookie else source
        return compile(text, filename, "exec", dont_inherit=True)
    return compile_source(source, filename, ignore_cookie)


class _ModuleNotFound(UsageError):
    pass


def _find_module_code(modname: str) -> tuple[types.CodeType, Any]:
    """Locate `modname` (or `modname.__main__` for a package) as `python -m` does."""
    try:
        spec = importlib.util.find_spec(modname)
    except ModuleNotFoundError as exc:
        raise _ModuleNotFound(f"No module named {exc.name or modname!r}") from None
    if spec is None:
        raise _ModuleNotFound(f"No module named {modname!r}")
    if spec.submodule_search_locations is not None:
        main_name = modname + ".__main__"
        spec = importlib.util.find_spec(main_name)
        if spec is None:
            raise _ModuleNotFound(
                f"No module named {main_name!r}; {modname!r} is a package and cannot be "
                "directly executed"
            )
    loader = spec.loader
    code = loader.get_code(spec.name) if loader is not None else None  # type: ignore[attr-defined]
    if code is None:
        raise _ModuleNotFound(f"No code object available for {modname!r}")
    return code, spec


class Runner:
    """Sets up interpreter state for one target, then executes it."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.main_module = types.ModuleType("__main__")
        # the `__main__` gcscope started as (its console script, or gcscope/__main__.py
        # under `python -m gcscope`), replaced by `prepare`: gcscope's, not the program's
        self.entry_module: types.ModuleType | None = None
        # told about the program's code before it runs (the trigger-site probe marks a
        # `-c` command's code, whose "<string>" file name generated code also uses)
        self.on_program_code: Any = None

    def program_folders(self) -> tuple[str, ...]:
        """For `-m`: the target's top-level package folders, the program's own code even
        when installed in site-packages (`gcscope run -m black` measures black)."""
        if self.target.kind != "module":
            return ()
        top = self.target.name.partition(".")[0]
        try:
            spec = importlib.machinery.PathFinder.find_spec(top)
        except Exception:
            return ()
        if spec is None:
            return ()
        if spec.submodule_search_locations:
            folders = list(spec.submodule_search_locations)
        elif spec.origin:
            folders = [spec.origin]
        else:
            return ()
        return tuple(
            os.path.join(os.path.realpath(folder), "") if os.path.isdir(folder) else folder
            for folder in folders
        )

    def prepare(self) -> None:
        """Install argv, sys.path[0] and `__main__`; the target's code is not run yet."""
        target = self.target
        module = self.main_module
        module.__dict__["__builtins__"] = sys.modules["builtins"]
        if target.kind == "script":
            # like the interpreter: joined to the cwd, not normalised ("sub/../app.py" stays)
            path = (
                target.name
                if os.path.isabs(target.name)
                else os.path.join(os.getcwd(), target.name)
            )
            sys.argv = [target.name, *target.args]
            sys.path[0] = os.path.dirname(os.path.realpath(path))
            module.__file__ = path
            module.__cached__ = None  # type: ignore[attr-defined]
            module.__loader__ = importlib.machinery.SourceFileLoader("__main__", path)
            module.__spec__ = None
        elif target.kind == "command":
            sys.argv = ["-c", *target.args]
            sys.path[0] = ""
            module.__loader__ = importlib.machinery.BuiltinImporter  # type: ignore[assignment]
            module.__spec__ = None
        else:
            sys.argv = ["-m", *target.args]  # python shows "-m" while it searches
            sys.path[0] = os.getcwd()
        module.__package__ = None
        if self.entry_module is None:
            self.entry_module = sys.modules.get("__main__")
        sys.modules["__main__"] = module

    def _code(self) -> types.CodeType:
        target = self.target
        module = self.main_module
        if target.kind == "script":
            with open(module.__file__, "rb") as source_file:  # type: ignore[arg-type]
                source = source_file.read()
            return compile_main(source, module.__file__, ignore_cookie=False)  # type: ignore[arg-type]
        if target.kind == "command":
            if sys.version_info >= (3, 13):  # 3.13+ show a -c command's lines in tracebacks
                import linecache

                lines = [line + "\n" for line in target.name.splitlines()]
                linecache.cache["<string>"] = (len(target.name), None, lines, "<string>")
            return compile_main(target.name.encode("utf-8"), "<string>", ignore_cookie=True)
        code, spec = _find_module_code(target.name)
        sys.argv[0] = spec.origin
        module.__file__ = spec.origin
        module.__cached__ = spec.cached  # type: ignore[attr-defined]
        module.__loader__ = spec.loader
        module.__package__ = spec.parent
        module.__spec__ = spec
        return code

    def run(self, before_first_line: Any = None) -> Outcome:
        """Execute the target; report its errors the way the interpreter would.

        `before_first_line()` is called after the target is compiled, right before its
        code runs (the probes' last preparation: see Session.program_starts).
        """
        try:
            code = self._code()
        except _ModuleNotFound:
            raise
        except SyntaxError as exc:
            exc.__traceback__ = None  # python shows no traceback for the main file's syntax
            sys.excepthook(type(exc), exc, None)
            return Outcome(1, "exception", "SyntaxError")
        except BaseException as exc:  # the target's package __init__ failed, etc.
            return self._handle(exc, skip_frames=0)
        if self.on_program_code is not None:
            self.on_program_code(code)
        if before_first_line is not None:
            before_first_line()  # last: nothing of gcscope's runs after it
        try:
            exec(code, self.main_module.__dict__)
        except BaseException as exc:
            return self._handle(exc, skip_frames=1)
        return Outcome()

    @staticmethod
    def _handle(exc: BaseException, skip_frames: int) -> Outcome:
        if isinstance(exc, SystemExit):
            return Outcome(exit_status(exc), "exit", None)
        traceback = exc.__traceback__
        for _ in range(skip_frames):
            if traceback is not None:
                traceback = traceback.tb_next
        traceback = _without_trailing_gcscope_frames(traceback)
        exc.__traceback__ = traceback
        sys.excepthook(type(exc), exc, traceback)
        if isinstance(exc, KeyboardInterrupt):
            return Outcome(130, "interrupt", "KeyboardInterrupt")
        return Outcome(1, "exception", type(exc).__qualname__)


def _without_trailing_gcscope_frames(traceback: Any) -> Any:
    """Cut gcscope's own frames (its SIGINT guard) off the end of a target's traceback."""
    entries = []
    while traceback is not None:
        entries.append(traceback)
        traceback = traceback.tb_next
    while entries and entries[-1].tb_frame.f_code.co_filename.startswith(PACKAGE_DIR):
        entries.pop()
    if not entries:
        return None
    entries[-1].tb_next = None
    return entries[0]


C_LONG_MIN, C_LONG_MAX = -(1 << 63), (1 << 63) - 1


def exit_status(exc: SystemExit) -> int:
    """The status the shell sees when `python` ends with this SystemExit.

    As CPython's `_Py_HandleSystemExit`: None is 0; any int, bool included, is
    converted to a C long (-1 when it does not fit) and then to a C int; anything
    else is printed to sys.stderr and gives 1. The operating system keeps the low
    8 bits: `sys.exit(256)` is 0, `sys.exit(-1)` is 255.
    """
    code = exc.code
    if code is None:
        return 0
    if not isinstance(code, int):
        try:
            sys.stderr.write(f"{code}\n")
        except Exception:
            pass
        return 1
    value = int(code)
    if not C_LONG_MIN <= value <= C_LONG_MAX:
        value = -1
    return value & 0xFF


def wait_for_threads() -> None:
    """Join non-daemon threads, as the interpreter does before it exits.

    Only `threading` threads are waited for, as by the interpreter; a program that
    never imported `threading` has none (gcscope does not import it for them).
    """
    threading = sys.modules.get("threading")
    if threading is None:
        return
    current = threading.current_thread()
    while True:
        pending = [
            thread
            for thread in threading.enumerate()
            if thread is not current and not thread.daemon and thread.is_alive()
        ]
        if not pending:
            return
        for thread in pending:
            thread.join()
