"""pytest plugin: per-test GC figures, and `@pytest.mark.gcscope(...)` limits for CI.

Active with `pytest --gcscope` (or `addopts = --gcscope`). For every test, from
the start of its setup to the end of its teardown, it records collections, GC
pause total and max (the same `gc.callbacks` probe as `gcscope run`) and the
objects the cyclic collector freed. A marked test is judged after its fixtures'
teardown and fails with a message naming what broke its limits:

    @pytest.mark.gcscope(max_cyclic_garbage=0)     # no reference cycles
    @pytest.mark.gcscope(max_leaked_objects=0)     # nothing it made outlives it
    @pytest.mark.gcscope(max_pause_ms=10, max_collections=50)

Only marked tests pay for the expensive parts: `max_cyclic_garbage` turns on
gc.DEBUG_SAVEALL for that test (to name the types in cycles), `max_leaked_objects`
compares live GC-tracked objects before and after (after a full collection). A test
is judged by what it made and released itself: the previous test's failure (which
pytest releases during the next test), objects belonging to pytest, pluggy or
gcscope, the warnings pytest records, modules imported during the test and the
standard library's one-time caches (the `re` cache...) are not counted; `-v` lists
what was left out. Unmarked tests only get figures (the objects their collections
freed), and never fail because of the plugin; their gc.garbage is never touched.
Figures travel in the teardown report's `user_properties`, so `pytest -p xdist`
workers feed the controller's summary.

Marker values and `--gcscope-json` are checked before any test runs: a mistake is
a usage error for the whole session (exit status 4), never an INTERNALERROR.
"""

from __future__ import annotations

import abc
import contextlib
import functools
import gc
import json
import math
import os
import pathlib
import sys
import types
import warnings
import weakref
from collections import Counter, deque
from typing import Any

import pytest

from gcscope.clock import Clock
from gcscope.probes.cycles import CycleProbe
from gcscope.probes.gc_events import GcEventProbe
from gcscope.probes.object_labels import type_name
from gcscope.reporters.formatting import printable
from gcscope.units import counted

MARKER_LIMITS = ("max_cyclic_garbage", "max_leaked_objects", "max_pause_ms", "max_collections")
_MAX_COUNT = 2**63 - 1
PROPERTY = "gcscope"
OWN_PREFIXES = ("_pytest.", "pytest.", "pluggy.", "gcscope.", "xdist.", "execnet.", "py.")
_STATE = pytest.StashKey["_TestMeasure"]()
_CONTAINERS = (dict, list, set, tuple, deque)
# what pytest keeps its own state in (a path fills its cached parts lazily, when used)
_HELD = (*_CONTAINERS, contextlib.ExitStack, pathlib.PurePath)
# not "program state": running machinery, and the ABCs' isinstance caches (filled on first
# use by whatever runs first, often pytest itself)
_MACHINERY = (
    types.FrameType,
    types.GeneratorType,
    types.CoroutineType,
    types.TracebackType,
    type(abc.ABC._abc_impl),  # type: ignore[attr-defined]
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gcscope", "garbage collector figures and limits")
    group.addoption("--gcscope", action="store_true", help="Measure GC per test; enforce marks.")
    group.addoption("--gcscope-json", metavar="FILE", help="Write per-test GC figures to FILE.")
    group.addoption(
        "--gcscope-top", type=int, default=10, metavar="N", help="Tests in the summary table."
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "gcscope(max_cyclic_garbage=None, max_leaked_objects=None, max_pause_ms=None, "
        "max_collections=None): GC limits for this test (needs --gcscope)",
    )
    if config.getoption("gcscope") or config.getoption("gcscope_json"):
        top = config.getoption("gcscope_top")
        if top < 0:
            raise pytest.UsageError(f"--gcscope-top {top}: must be 0 or more")
        path = config.getoption("gcscope_json")
        if path and not hasattr(config, "workerinput"):  # xdist workers write nothing
            _check_json_path(path)
            if "--gcscope-json" in config.invocation_params.args:
                # pytest may take FILE for a test path and its folder for the rootdir,
                # ignoring the project's configuration (docs/ci.md): say so, once
                sys.stderr.write(
                    "gcscope: write --gcscope-json=FILE: with a space, pytest may choose "
                    "its rootdir and configuration from FILE's folder\n"
                )
        config.pluginmanager.register(_GcscopePlugin(config), "gcscope-session")


def _check_json_path(path: str) -> None:
    """--gcscope-json must be writable before any test runs, not found out at the end."""
    folder = os.path.dirname(os.path.abspath(path))
    problem = ""
    if path.endswith(os.sep) or os.path.isdir(path):
        problem = "it is a directory"
    elif os.path.lexists(path) and not os.path.isfile(path):
        problem = "it exists and is not a regular file"
    elif not os.path.isdir(folder):
        problem = f"folder {folder!r} does not exist"
    elif not os.access(folder, os.W_OK | os.X_OK):
        problem = f"folder {folder!r} is not writable"
    if problem:
        raise pytest.UsageError(f"gcscope: cannot write --gcscope-json {path!r}: {problem}")


def _marker_problem(name: str, value: Any) -> str:
    """Why `value` is no limit `name` can be, or ''."""
    if name not in MARKER_LIMITS:
        return f"unknown limit {name!r} (use {', '.join(MARKER_LIMITS)})"
    if value is None:
        return ""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if name == "max_pause_ms":
        if not number or not math.isfinite(value) or value < 0:
            return f"{name}={value!r}: must be a number of milliseconds, 0 or more"
    elif not number or not isinstance(value, int) or not 0 <= value <= _MAX_COUNT:
        return f"{name}={value!r}: must be a whole number, 0 or more"
    return ""


def marker_problems(item: pytest.Item) -> list[str]:
    """Every mistake in a test's gcscope marks, each naming the test."""
    problems = []
    for mark in item.iter_markers("gcscope"):
        if mark.args:
            problems.append(f"takes keywords only, e.g. max_cyclic_garbage=0 (got {mark.args!r})")
        problems += [p for p in (_marker_problem(n, v) for n, v in mark.kwargs.items()) if p]
    return [f"{item.nodeid}: @pytest.mark.gcscope: {problem}" for problem in problems]


def _limits(item: pytest.Item) -> dict[str, float]:
    """The test's limits (checked at collection by `marker_problems`); closest mark wins."""
    limits: dict[str, float] = {}
    for mark in reversed(list(item.iter_markers("gcscope"))):
        for name, value in mark.kwargs.items():
            if value is not None:
                limits[name] = value
    return limits


@functools.cache
def _is_own(kind: type) -> bool:
    """A type of pytest's, pluggy's, xdist's or gcscope's own."""
    return type_name(kind).startswith(OWN_PREFIXES)


def _is_own_object(obj: Any) -> bool:
    """An object of pytest's (or pluggy's, xdist's, gcscope's): by its type, or for the
    callables they register (an `atexit` cleanup closure, a partial, a bound method),
    by the module that defined them."""
    kind = type(obj)
    if _is_own(kind):
        return True
    if kind is types.FunctionType:
        return (obj.__module__ or "").startswith(OWN_PREFIXES)
    if kind is types.MethodType:
        return _is_own_object(obj.__func__) or _is_own(type(obj.__self__))
    if kind is functools.partial:
        return _is_own_object(obj.func)
    return False


def _is_cache_entry(item: Any) -> bool:
    """A weak reference to a class (ABC and dispatch caches), or to pytest's objects."""
    if not isinstance(item, weakref.ref):
        return False
    target = item()
    return target is not None and (isinstance(target, type) or _is_own(type(target)))


_LRU_WRAPPER = type(functools.lru_cache(maxsize=1)(len))


def _in_stdlib(module_name: str) -> bool:
    return module_name.partition(".")[0] in sys.stdlib_module_names


def _drop_last_failure() -> None:
    """Release the previous test's failure now, as pytest would at this test's call.

    pytest keeps the last failure in `sys.last_*` (for post-mortem debugging) and
    deletes it when the next test's call phase starts: its frames and traceback, a
    few dozen objects in cycles, would otherwise die inside this test's window.
    """
    for name in ("last_exc", "last_traceback", "last_value", "last_type"):
        if hasattr(sys, name):
            delattr(sys, name)


def _not_the_tests(everything: list[Any], before_ids: set[int], modules_before: set[str]):  # type: ignore[no-untyped-def]
    """Objects whose new contents are not the test's doing: (reason, name, object).

    Modules imported during the test (one-time, whoever imports first), the standard
    library's caches (module-level dicts named like a cache or registry, its
    `lru_cache`s), the import system's (`sys.path_importer_cache` and its finders'
    directory listings), the warnings module's once-only registries, and the warnings
    pytest is recording.
    """
    roots: list[tuple[str, str, Any]] = []
    for name, module in list(sys.modules.items()):
        if module is None:
            continue
        if name not in modules_before:
            roots.append(("modules imported during the test", name, module))
            continue
        namespace = getattr(module, "__dict__", None)
        if not isinstance(namespace, dict):
            continue
        registry = namespace.get("__warningregistry__")
        if isinstance(registry, dict):
            roots.append(("warning registries", f"{name}.__warningregistry__", registry))
        if _in_stdlib(name):
            for attribute, value in list(namespace.items()):
                lowered = attribute.lower()
                if type(value) is dict and ("cache" in lowered or "registry" in lowered):
                    roots.append(("standard-library caches", f"{name}.{attribute}", value))
    finders = [sys.path_importer_cache, *sys.path_importer_cache.values()]  # (directory lists)
    roots += [("the import system's caches", "sys.path_importer_cache", f) for f in finders if f]
    log = getattr(getattr(warnings, "_showwarnmsg_impl", None), "__self__", None)
    if type(log) is list and id(log) in before_ids:  # pytest's catch_warnings(record=True)
        roots.append(("warnings recorded by pytest", "warnings", log))
    for obj in everything:
        if type(obj) is _LRU_WRAPPER and _in_stdlib(getattr(obj, "__module__", None) or ""):
            name = f"{obj.__module__}.{getattr(obj, '__qualname__', '?')}"
            roots += [
                ("standard-library caches", name, inner)
                for inner in gc.get_referents(obj)
                if type(inner) is dict
            ]
    return roots


class _TestMeasure:
    """Everything measured for one test, from setup start to teardown end."""

    def __init__(self, limits: dict[str, float], cleanups: tuple[Any, ...] = ()) -> None:
        self.probe = GcEventProbe(Clock(), max_events=0, guard_sigint=False)
        self.cleanups = cleanups  # pytest's session cleanups (tmp_path registers its own)
        self.cycles: CycleProbe | None = None
        if "max_cyclic_garbage" in limits:  # the same harvest as `gcscope run --cycles`
            self.cycles = CycleProbe(
                self.probe.garbage_at_start, self.probe.forcing, with_shapes=False
            )
            self.probe.harvest = self.cycles.harvest
        self.leaks = "max_leaked_objects" in limits
        self.before_ids: set[int] = set()
        self.modules_before: set[str] = set()
        self.figures: dict[str, Any] | None = None

    def start(self) -> None:
        self.probe.prepare()  # gcscope's own objects exist before "before" is taken
        if self.leaks or self.cycles is not None:
            # what earlier tests left is not this test's; collected before the snapshot,
            # as freeing it may run weakref callbacks that touch pre-existing state
            _drop_last_failure()
            gc.collect()
        if self.leaks:
            self.modules_before = set(sys.modules)
            everything = gc.get_objects()
            self.before_ids = set(map(id, everything))
            del everything
        if self.cycles is not None:
            self.cycles.start()
        self.probe.start()

    def finish(self) -> dict[str, Any]:
        if self.cycles is not None:
            self.cycles.stop()  # garbage still waiting is the test's too
        self.probe.stop()
        # before any figure is built: a new dict or list of ours that lands at the
        # address of an object freed since the snapshot would pass for pre-existing state
        leaked, excluded = self._leaked_types() if self.leaks else ({}, {})
        generations = max(len(self.probe.stats_start), 1)
        totals = self.probe.totals()
        figures: dict[str, Any] = {
            "collections": sum(totals.collections[:generations]),
            "collections_by_generation": totals.collections[:generations],
            "pause_ms_total": round(sum(totals.pause) * 1000, 4),
            "pause_ms_max": round(max(totals.max_pause) * 1000, 4),
            # what the collections in the test's window freed (whoever made it)
            "collected": sum(totals.collected[:generations]),
        }
        if self.cycles is not None:
            kinds = Counter(
                {
                    name: count
                    for name, count in self.cycles.by_type.items()
                    if count > 0 and not name.startswith(OWN_PREFIXES)
                }
            )
            figures["cyclic_garbage"] = sum(kinds.values())
            figures["cyclic_garbage_types"] = dict(kinds.most_common(10))
        if self.leaks:
            figures["leaked_objects_types"] = leaked
            figures["leaked_objects"] = sum(leaked.values())
            figures["leaked_objects_excluded"] = excluded
        return figures

    def _leaked_types(self) -> tuple[dict[str, int], dict[str, int]]:
        """The test's new objects that pre-existing program state still holds, by type,
        and what was left out, by reason.

        After a full collection, an object made during the test is leaked if it can be
        reached, through other new objects only, from an object that existed before
        the test and is not pytest's, pluggy's or gcscope's (nor a container such an
        object holds, nor a frame or generator of the running machinery): a
        module-level list, a class attribute, a cache, a registry. What is reachable
        only through `_not_the_tests` is counted apart, by reason.

        No closures or comprehensions over the bookkeeping sets here: before 3.12 they
        put those sets in cells, and a cell made now at the address of an object freed
        since the snapshot would pass for pre-existing state holding them.
        """
        gc.collect()
        everything = gc.get_objects()
        walk = _Walk(everything, self.before_ids)
        own = [obj for obj in everything if _is_own_object(obj)]
        own += [self, self.probe]
        if self.cycles is not None:
            own += self.cycles.own_roots()
        walk.own(own)
        del own
        excluded_roots = _not_the_tests(everything, self.before_ids, self.modules_before)
        excluded_roots += [("pytest's cleanups", "config", stack) for stack in self.cleanups]
        walk.exclude(excluded_roots)
        leaked = walk.leaked()
        kinds: Counter[str] = Counter()
        for obj in everything:
            if id(obj) in leaked:
                kinds[type_name(type(obj))] += 1
        del everything
        return dict(kinds.most_common(10)), walk.excluded(excluded_roots)


class _Walk:
    """Reachability over the objects made during a test (see `_leaked_types`)."""

    def __init__(self, everything: list[Any], before_ids: set[int]) -> None:
        self.everything = everything
        self.new_ids = set(map(id, everything))
        self.new_ids.difference_update(before_ids)
        self.theirs: set[int] = set()
        self.barrier: set[int] = set()
        self.reached: set[int] = set()
        self.stack: list[Any] = []

    def own(self, own: list[Any]) -> None:
        """pytest's objects, and the containers they hold (an ExitStack's deque of
        cleanups, a path's cached parts), a few levels down through objects that existed
        before the test (an attribute is one level, two through a __dict__ before 3.11)."""
        theirs, new_ids = self.theirs, self.new_ids
        theirs.update(map(id, own))
        layer = own
        for _ in range(5):
            deeper = []
            for obj in layer:
                for inner in gc.get_referents(obj):
                    key = id(inner)
                    if isinstance(inner, _HELD) and key not in theirs and key not in new_ids:
                        theirs.add(key)
                        deeper.append(inner)
            layer = deeper

    def exclude(self, roots: list[tuple[str, str, Any]]) -> None:
        """Never walk through these, nor the containers they hold (two levels: a finder's
        __dict__ before 3.11, then its directory cache); the list grows by those
        containers, under the same reason."""
        layer = list(roots)
        for _ in range(2):
            deeper = []
            for reason, name, root in layer:
                for inner in gc.get_referents(root):
                    if type(inner) in _CONTAINERS and id(inner) not in self.new_ids:
                        deeper.append((reason, name, inner))
            roots += deeper
            layer = deeper
        self.barrier.update(id(root) for _, _, root in roots)

    def follow(self, referents: list[Any]) -> None:
        """Mark the new objects among `referents` reached, and queue them."""
        reached, new_ids, barrier, theirs = self.reached, self.new_ids, self.barrier, self.theirs
        for referent in referents:  # never through pytest's own objects, nor barriers
            key = id(referent)
            if key not in new_ids or key in reached or key in barrier:
                continue
            if _is_own_object(referent) or _is_cache_entry(referent):
                continue
            if id(getattr(referent, "__self__", None)) in theirs:  # a bound method of theirs
                continue
            reached.add(key)
            self.stack.append(referent)

    def drain(self) -> None:
        while self.stack:
            self.follow(gc.get_referents(self.stack.pop()))

    def leaked(self) -> set[int]:
        skip = self.new_ids, self.theirs, self.barrier
        for obj in self.everything:
            key = id(obj)
            if key in skip[0] or key in skip[1] or key in skip[2] or type(obj) in _MACHINERY:
                continue
            self.follow(gc.get_referents(obj))
        self.drain()
        return set(self.reached)

    def excluded(self, roots: list[tuple[str, str, Any]]) -> dict[str, int]:
        """What the excluded roots alone hold (after `leaked`), by reason and holder."""
        counts: Counter[str] = Counter()
        names: dict[str, list[str]] = {}
        for reason, name, root in roots:
            before = len(self.reached)
            if id(root) in self.new_ids:
                self.reached.add(id(root))
            self.follow(gc.get_referents(root))
            self.drain()
            if len(self.reached) > before:
                counts[reason] += len(self.reached) - before
                if name not in names.setdefault(reason, []):
                    names[reason].append(name)
        excluded = {}
        for reason, count in counts.most_common():
            more = ", ..." if len(names[reason]) > 4 else ""
            excluded[f"{reason} ({', '.join(names[reason][:4])}{more})"] = count
        return excluded


def _violations(limits: dict[str, float], figures: dict[str, Any]) -> list[str]:
    found = []

    def named(types: dict[str, int]) -> str:  # type names are the program's text
        return ", ".join(f"{printable(name)} x{count}" for name, count in types.items())

    limit = limits.get("max_cyclic_garbage")
    if limit is not None and figures["cyclic_garbage"] > limit:
        found.append(
            f"{figures['cyclic_garbage']} objects died in reference cycles "
            f"(max_cyclic_garbage={limit:g}): {named(figures.get('cyclic_garbage_types', {}))}"
        )
    limit = limits.get("max_leaked_objects")
    if limit is not None and figures["leaked_objects"] > limit:
        found.append(
            f"{figures['leaked_objects']} objects outlived the test "
            f"(max_leaked_objects={limit:g}): {named(figures['leaked_objects_types'])}"
        )
    limit = limits.get("max_pause_ms")
    if limit is not None and figures["pause_ms_max"] > limit:
        found.append(f"a GC pause of {figures['pause_ms_max']:g} ms (max_pause_ms={limit:g})")
    limit = limits.get("max_collections")
    if limit is not None and figures["collections"] > limit:
        by_generation = "/".join(str(n) for n in figures["collections_by_generation"])
        found.append(
            f"{counted(figures['collections'], 'collection')}, gen {by_generation} "
            f"(max_collections={limit:g})"
        )
    return found


class _GcscopePlugin:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.results: dict[str, dict[str, Any]] = {}
        Counter(map(type, ()))  # fills ABC caches now, not inside the first measured test
        # where pytest keeps its session cleanups (private; absent in other versions)
        names = ("_cleanup_stack", "_cleanup")
        self.cleanups = tuple(getattr(config, n) for n in names if hasattr(config, n))

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Any:
        """A marked test: run pytest's own protocol unlogged, judge it, then log.

        Measuring here, outside the setup/teardown hook calls, keeps pluggy's
        machinery out of the before/after comparison, and lets a broken limit fail
        the test itself (its call report), not its teardown.
        """
        limits = _limits(item)
        if not limits:
            return None  # pytest's protocol; the setup/teardown hooks below give figures
        from _pytest.runner import runtestprotocol

        item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        measure = _TestMeasure(limits, self.cleanups)
        measure.start()
        reports = runtestprotocol(item, nextitem=nextitem, log=False)
        figures = measure.finish()
        problems = _violations(limits, figures)
        call_report = next((r for r in reports if r.when == "call"), None)
        if problems and call_report is not None:
            _fail(item, call_report, "gcscope: " + "; ".join(problems))
        reports[-1].user_properties.append((PROPERTY, figures))
        for report in reports:
            item.ihook.pytest_runtest_logreport(report=report)
        item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        return True

    @pytest.hookimpl(hookwrapper=True)
    def pytest_make_collect_report(self, collector: pytest.Collector) -> Any:
        """A marker mistake is a collection error of its file: the session stops before
        any test runs (also under xdist, whose workers report collection errors)."""
        outcome = yield
        report = outcome.get_result()
        if not report.passed:
            return
        nodes = [node for node in report.result if isinstance(node, pytest.Item)]
        problems = [problem for node in nodes for problem in marker_problems(node)]
        if problems:
            report.outcome = "failed"
            report.longrepr = "\n".join(problems)
            report.result = []

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Any:
        if _limits(item):
            yield  # measured by pytest_runtest_protocol above
            return
        measure = _TestMeasure({})
        item.stash[_STATE] = measure
        measure.start()
        yield

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Any:
        yield
        measure = item.stash.get(_STATE, None)
        if measure is not None:  # fixtures are torn down: the test's window closes here
            measure.figures = measure.finish()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
        outcome = yield
        measure = item.stash.get(_STATE, None)
        if call.when != "teardown" or measure is None or measure.figures is None:
            return
        del item.stash[_STATE]
        outcome.get_result().user_properties.append((PROPERTY, measure.figures))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for name, value in report.user_properties:
            if name == PROPERTY:
                self.results[report.nodeid] = value

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if hasattr(self.config, "workerinput") or not self.results:
            return  # an xdist worker: the controller prints
        from tabulate import tabulate

        top = sorted(self.results.items(), key=lambda item: -item[1]["pause_ms_total"])
        rows = [
            [
                printable(nodeid),
                f["collections"],
                f"{f['pause_ms_total']:.3f}",
                f"{f['pause_ms_max']:.3f}",
                f.get("collected", ""),
                f.get("cyclic_garbage", ""),
            ]
            for nodeid, f in top[: self.config.getoption("gcscope_top")]
        ]
        headers = ["test", "collections", "pause ms", "max ms", "freed by GC", "cyclic garbage"]
        terminalreporter.write_sep("=", "gcscope: tests by GC pause time")
        terminalreporter.write_line(tabulate(rows, headers, disable_numparse=True))
        terminalreporter.write_line(
            "(freed by GC: objects the collections during the test freed, whoever made them; "
            "cyclic garbage: the test's own, measured for max_cyclic_garbage marks)"
        )
        if self.config.getoption("verbose") > 0:
            for nodeid, f in self.results.items():
                for reason, count in f.get("leaked_objects_excluded", {}).items():
                    terminalreporter.write_line(
                        f"gcscope: {printable(nodeid)}: {count} objects not counted as "
                        f"leaked: {printable(reason)}"
                    )

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        path = self.config.getoption("gcscope_json")
        if not path or hasattr(self.config, "workerinput"):
            return
        folder, name = os.path.split(os.path.abspath(path))
        temp = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
        try:
            with open(temp, "w", encoding="utf-8") as handle:
                json.dump({"schema_version": 1, "tests": self.results}, handle, indent=2)
            os.replace(temp, path)
        except OSError as exc:
            if os.path.exists(temp):
                os.unlink(temp)
            reporter = self.config.pluginmanager.get_plugin("terminalreporter")
            message = f"gcscope: cannot write --gcscope-json {path!r}: {exc.strerror or exc}"
            if reporter is not None:
                reporter.write_line(message, red=True)
            else:
                sys.stderr.write(message + "\n")
            if session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.INTERNAL_ERROR


def _fail(item: pytest.Item, report: pytest.TestReport, message: str) -> None:
    """Make a test that broke its gcscope limits fail, as its xfail mark reads a failure.

    Under `@pytest.mark.xfail` a failing test is an expected failure: one that passed
    (XPASS, strict or not) but broke a limit did fail, so it reads XFAIL, the gcscope
    message beside the mark's reason; unless the mark names the exceptions it
    expects (`raises=`), which a broken limit is not, when it reads FAILED.
    """
    strict_xpass = report.failed and str(report.longrepr).startswith("[XPASS(strict)]")
    if not (report.passed or strict_xpass):
        return  # failed or skipped on its own: that verdict stands
    reason = getattr(report, "wasxfail", None)
    if strict_xpass:
        reason = str(report.longrepr)[len("[XPASS(strict)]") :].strip()
    expects_raise = any(mark.kwargs.get("raises") for mark in item.iter_markers("xfail"))
    if reason is not None and not expects_raise:
        report.outcome = "skipped"
        report.wasxfail = f"{reason} [{message}]" if reason else message
        report.longrepr = message
        return
    if hasattr(report, "wasxfail"):
        del report.wasxfail
    report.outcome = "failed"
    report.longrepr = message
