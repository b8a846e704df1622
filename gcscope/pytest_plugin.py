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
compares live GC-tracked objects before and after (after a full collection; new
objects belonging to pytest, pluggy or gcscope, and what they hold, are not
counted). Unmarked tests only get figures, and never fail because of the plugin;
their gc.garbage is never touched. Figures travel in the teardown report's
`user_properties`, so `pytest -p xdist` workers feed the controller's summary.
"""

from __future__ import annotations

import abc
import functools
import gc
import json
import types
import weakref
from collections import Counter
from typing import Any

import pytest

from gcscope.clock import Clock
from gcscope.probes.cycles import CycleProbe
from gcscope.probes.gc_events import GcEventProbe
from gcscope.probes.object_labels import type_name

MARKER_LIMITS = ("max_cyclic_garbage", "max_leaked_objects", "max_pause_ms", "max_collections")
PROPERTY = "gcscope"
OWN_PREFIXES = ("_pytest.", "pytest.", "pluggy.", "gcscope.", "xdist.", "execnet.", "py.")
_STATE = pytest.StashKey["_TestMeasure"]()
_CONTAINERS = (dict, list, set, tuple)
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
        config.pluginmanager.register(_GcscopePlugin(config), "gcscope-session")


def _limits(item: pytest.Item) -> dict[str, float]:
    limits: dict[str, float] = {}
    for mark in reversed(list(item.iter_markers("gcscope"))):  # closest mark wins
        for name, value in mark.kwargs.items():
            if name not in MARKER_LIMITS:
                raise pytest.UsageError(
                    f"{item.nodeid}: unknown gcscope limit {name!r} "
                    f"(use {', '.join(MARKER_LIMITS)})"
                )
            if value is not None:
                limits[name] = value
    return limits


@functools.cache
def _is_own(kind: type) -> bool:
    """A type of pytest's, pluggy's, xdist's or gcscope's own."""
    return type_name(kind).startswith(OWN_PREFIXES)


def _follow(referents: list[Any], new_ids: set[int], leaked: set[int], stack: list[Any]) -> None:
    """Mark the test's new objects among `referents` as leaked (never pytest's own)."""
    for referent in referents:
        fresh = id(referent) in new_ids and id(referent) not in leaked
        if fresh and not _is_own(type(referent)) and not _is_cache_entry(referent):
            leaked.add(id(referent))
            stack.append(referent)


def _is_cache_entry(item: Any) -> bool:
    """A weak reference to a class (ABC and dispatch caches), or to pytest's objects."""
    if not isinstance(item, weakref.ref):
        return False
    target = item()
    return target is not None and (isinstance(target, type) or _is_own(type(target)))


class _TestMeasure:
    """Everything measured for one test, from setup start to teardown end."""

    def __init__(self, limits: dict[str, float]) -> None:
        self.probe = GcEventProbe(Clock(), max_events=0, guard_sigint=False)
        self.cycles: CycleProbe | None = None
        if "max_cyclic_garbage" in limits:  # the same harvest as `gcscope run --cycles`
            self.cycles = CycleProbe(
                self.probe.garbage_at_start, self.probe.forcing, with_shapes=False
            )
            self.probe.harvest = self.cycles.harvest
        self.leaks = "max_leaked_objects" in limits
        self.before_ids: set[int] = set()
        self.figures: dict[str, Any] | None = None

    def start(self) -> None:
        self.probe.prepare()  # gcscope's own objects exist before "before" is taken
        if self.leaks or self.cycles is not None:
            # what earlier tests left is not this test's; collected before the snapshot,
            # as freeing it may run weakref callbacks that touch pre-existing state
            gc.collect()
        if self.leaks:
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
        leaked = self._leaked_types() if self.leaks else {}
        generations = max(len(self.probe.stats_start), 1)
        totals = self.probe.totals()
        figures: dict[str, Any] = {
            "collections": sum(totals.collections[:generations]),
            "collections_by_generation": totals.collections[:generations],
            "pause_ms_total": round(sum(totals.pause) * 1000, 4),
            "pause_ms_max": round(max(totals.max_pause) * 1000, 4),
            "cyclic_garbage": sum(totals.collected[:generations]),
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
        return figures

    def _leaked_types(self) -> dict[str, int]:
        """The test's new objects that pre-existing program state still holds, by type.

        After a full collection, an object made during the test is leaked if it can be
        reached, through other new objects only, from an object that existed before
        the test and is not pytest's, pluggy's or gcscope's (nor a container such an
        object holds directly, nor a frame or generator of the running machinery): a
        module-level list, a class attribute, a cache, a registry.
        """
        gc.collect()
        everything = gc.get_objects()
        # no closure or comprehension captures a local here: on 3.10/3.11 that makes a new
        # cell, which may land where an object freed since the snapshot was and so pass
        # for pre-existing state that holds the test's objects
        new_ids = set(map(id, everything)) - self.before_ids
        own = [obj for obj in everything if _is_own(type(obj))]
        own += [self, self.probe]
        if self.cycles is not None:
            own += self.cycles.own_roots()
        theirs = {id(obj) for obj in own}
        for obj in own:  # containers pytest's objects hold directly are pytest's too
            theirs.update(id(r) for r in gc.get_referents(obj) if type(r) in _CONTAINERS)
        del own
        leaked: set[int] = set()
        stack: list[Any] = []
        for obj in everything:
            if id(obj) in new_ids or id(obj) in theirs or type(obj) in _MACHINERY:
                continue
            _follow(gc.get_referents(obj), new_ids, leaked, stack)
        while stack:
            _follow(gc.get_referents(stack.pop()), new_ids, leaked, stack)
        kinds = Counter(type_name(type(obj)) for obj in everything if id(obj) in leaked)
        del everything
        return dict(kinds.most_common(10))


def _violations(limits: dict[str, float], figures: dict[str, Any]) -> list[str]:
    found = []

    def named(types: dict[str, int]) -> str:
        return ", ".join(f"{name} x{count}" for name, count in types.items())

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
            f"{figures['collections']} collections, gen {by_generation} (max_collections={limit:g})"
        )
    return found


class _GcscopePlugin:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.results: dict[str, dict[str, Any]] = {}
        Counter(map(type, ()))  # fills ABC caches now, not inside the first measured test

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
        measure = _TestMeasure(limits)
        measure.start()
        reports = runtestprotocol(item, nextitem=nextitem, log=False)
        figures = measure.finish()
        problems = _violations(limits, figures)
        call_report = next((r for r in reports if r.when == "call"), None)
        if problems and call_report is not None and call_report.outcome == "passed":
            call_report.outcome = "failed"
            call_report.longrepr = "gcscope: " + "; ".join(problems)
        reports[-1].user_properties.append((PROPERTY, figures))
        for report in reports:
            item.ihook.pytest_runtest_logreport(report=report)
        item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        return True

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
                nodeid,
                f["collections"],
                f"{f['pause_ms_total']:.3f}",
                f"{f['pause_ms_max']:.3f}",
                f["cyclic_garbage"],
            ]
            for nodeid, f in top[: self.config.getoption("gcscope_top")]
        ]
        terminalreporter.write_sep("=", "gcscope: tests by GC pause time")
        terminalreporter.write_line(
            tabulate(rows, ["test", "collections", "pause ms", "max ms", "cyclic garbage"])
        )

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        path = self.config.getoption("gcscope_json")
        if not path or hasattr(self.config, "workerinput"):
            return
        with open(path, "w", encoding="utf-8") as handle:
            json.dump({"schema_version": 1, "tests": self.results}, handle, indent=2)
