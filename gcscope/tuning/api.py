"""`gcscope.tune(function, ...)`: tune the GC for code that is not run from a command line.

    result = gcscope.tune(build_index, args=("corpus/",), goal="latency", max_rss="+20%")
    print(result.report())
    result.recommended      # "gen0x10", or "default"
    result.snippet          # the lines that apply it

Each candidate runs in its own `gcscope run` child process, never in the caller's:
a process's peak RSS never goes down, the collector's generations and counters
carry one run's objects into the next, and `gc.freeze()` cannot be undone, so
in-process runs of one candidate after another would measure each other. The
child imports the function by module and qualified name (a function defined in a
script is loaded with `runpy` under another name, so the script's
`if __name__ == "__main__":` block does not run), reads the arguments from a
pickle, marks the end of start-up (`gcscope.startup_done()`: the import is the
start-up, the call is the work) and calls it. Lambdas and nested functions cannot
be named from another process: TypeError.
"""

from __future__ import annotations

import os
import pickle
import shutil
import sys
import tempfile
from collections.abc import Callable
from typing import Any

_IMPORT_BY_NAME = """\
import importlib
function = importlib.import_module({module!r})
for part in {qualname!r}.split("."):
    function = getattr(function, part)
"""
_LOAD_FROM_FILE = """\
import runpy
namespace = runpy.run_path({path!r}, run_name="__gcscope_tune__")
function = namespace[{first!r}]
for part in {rest!r}:
    function = getattr(function, part)
"""
_CALL = """\
import pickle, sys
sys.path.insert(0, {root!r})
{load}
with open({arguments!r}, "rb") as handle:
    args, kwargs = pickle.load(handle)
import gcscope
gcscope.startup_done()
function(*args, **kwargs)
"""


class TuneResult:
    """What `gcscope.tune` found: the result document and its rendering."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    @property
    def recommended(self) -> str:
        return self.data["recommendation"]["candidate"]

    @property
    def snippet(self) -> list[str]:
        return list(self.data["recommendation"]["snippet"])

    @property
    def folder(self) -> str:
        return self.data["folder"]

    def report(self, report_format: str = "text") -> str:
        from gcscope.reporters.tune import render

        return render(self.data, report_format)


def call_code(function: Callable[..., Any], arguments_path: str) -> str:
    """The `-c` program that imports `function` and calls it with the pickled arguments."""
    qualname = getattr(function, "__qualname__", "")
    module_name = getattr(function, "__module__", None)
    if not qualname or "<" in qualname or module_name is None:
        raise TypeError(
            f"gcscope.tune needs a function it can import by name in another process "
            f"(defined at module level), not {function!r}"
        )
    module = sys.modules.get(module_name)
    path = getattr(module, "__file__", None)
    if module_name == "__main__":
        if not path:
            raise TypeError(
                "gcscope.tune: a function of an interactive session cannot be "
                "imported by another process; put it in a module"
            )
        first, *rest = qualname.split(".")
        load = _LOAD_FROM_FILE.format(path=os.path.abspath(path), first=first, rest=rest)
        root = os.path.dirname(os.path.abspath(path))
    else:
        load = _IMPORT_BY_NAME.format(module=module_name, qualname=qualname)
        root = _import_root(module_name, path)
    return _CALL.format(root=root, load=load, arguments=arguments_path)


def _import_root(module_name: str, path: str | None) -> str:
    """The sys.path entry the module was imported from (its package's parent folder)."""
    if not path:
        return os.getcwd()
    folder = os.path.dirname(os.path.abspath(path))
    depth = module_name.count(".")
    if os.path.basename(path).startswith("__init__."):
        depth += 1
    for _ in range(depth):
        folder = os.path.dirname(folder)
    return folder


def tune(
    function: Callable[..., Any],
    *,
    args: tuple[Any, ...] = (),
    kwargs: dict[str, Any] | None = None,
    goal: str = "throughput",
    max_rss: str | None = None,
    max_pause: str | None = None,
    max_wall: str | None = None,
    repeat: int | None = None,
    budget: float | None = None,
    candidates: list[str] | None = None,
    allow_disable: bool = False,
    output: str | None = None,
    progress: Any = None,
) -> TuneResult:
    """Run `function(*args, **kwargs)` under each candidate GC setting and recommend one.

    Same options as `gcscope tune` (limits as text: "300MB", "20ms", "+10%"; `budget`
    in seconds). The captures and `tune.json` go to `output` (a new or empty folder;
    by default a new temporary folder). Progress goes to `progress` (a text stream;
    stderr by default). Mistakes raise `gcscope.errors.UsageError`.
    """
    if goal not in ("throughput", "latency", "memory"):
        from gcscope.errors import UsageError

        raise UsageError(f"unknown goal {goal!r} (use throughput, latency or memory)")
    from gcscope.commands.tune import Tuner, tune_request

    folder = output or tempfile.mkdtemp(prefix="gcscope-tune-")
    arguments = os.path.join(folder, "call-arguments.pickle")
    code = call_code(function, arguments)
    request = tune_request(
        ["-c", code],
        goal=goal,
        max_rss=max_rss,
        max_pause=max_pause,
        max_wall=max_wall,
        repeat=repeat,
        budget=budget,
        candidates=",".join(candidates) if candidates else None,
        allow_disable=allow_disable,
    )
    staging = tempfile.mkdtemp(prefix="gcscope-tune-arguments-")
    staged = os.path.join(staging, "call-arguments.pickle")
    with open(staged, "wb") as handle:
        pickle.dump((tuple(args), dict(kwargs or {})), handle)
    request.output = folder
    request.progress = progress
    try:
        tuner = Tuner(request)  # checks the folder is new or empty, before anything is put in
        shutil.move(staged, arguments)
    finally:
        if os.path.exists(staged):
            os.unlink(staged)
        os.rmdir(staging)
    return TuneResult(tuner.run())
