"""The pytest plugin, run for real on generated test files (pytester, in subprocesses)."""

from __future__ import annotations

import importlib.util
import json

import pytest

TESTS = """
import gc
import pytest

class Node:
    def __init__(self):
        self.partner = None

class Leaked:
    pass

KEEP = []

def make_pairs(n):
    for _ in range(n):
        a, b = Node(), Node()
        a.partner, b.partner = b, a

@pytest.mark.gcscope(max_cyclic_garbage=0)
def test_makes_cycles():
    make_pairs(25)

@pytest.mark.gcscope(max_leaked_objects=0)
def test_leaks_instances():
    KEEP.extend(Leaked() for _ in range(7))

@pytest.mark.gcscope(max_cyclic_garbage=0, max_leaked_objects=0)
def test_stays_clean():
    total = sum(len([i, str(i)]) for i in range(10_000))
    assert total == 20_000

@pytest.mark.gcscope(max_collections=0)
def test_collects():
    gc.collect()

def test_unmarked_makes_cycles_and_leaks():
    make_pairs(25)
    KEEP.append(Leaked())

def test_disables_and_freezes_gc():
    gc.disable()
    make_pairs(5)
    gc.freeze()
    gc.unfreeze()
    gc.enable()

def test_checks_gc_garbage_is_empty():
    make_pairs(5)
    gc.collect()
    assert gc.garbage == []
"""


def outcome_of(result, name: str) -> str:
    lines = [line for line in result.outlines if f"::{name}" in line and " - " in line]
    return "\n".join(lines)


def test_marks_fail_the_right_tests_with_the_right_names(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_sample=TESTS)
    result = pytester.runpytest_subprocess("--gcscope", "-rA", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4, failed=3)  # three tests break their gcscope limits
    text = result.stdout.str()
    for name in ("test_makes_cycles", "test_leaks_instances", "test_collects"):
        assert f"FAILED test_sample.py::{name} - gcscope: " in text
    # the messages name what broke the limit (3.10 instances also lose a __dict__ each)
    assert "died in reference cycles (max_cyclic_garbage=0): test_sample.Node x50" in text
    assert "7 objects outlived the test (max_leaked_objects=0): test_sample.Leaked x7" in text
    assert "gcscope: 1 collections, gen 0/0/1 (max_collections=0)" in text
    for clean in ("test_stays_clean", "test_unmarked", "test_disables", "test_checks_gc_garbage"):
        assert f"PASSED test_sample.py::{clean}" in text
    assert "gcscope: tests by GC pause time" in text


def test_json_figures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_sample=TESTS)
    pytester.runpytest_subprocess("--gcscope", "--gcscope-json", "figures.json")
    figures = json.loads((pytester.path / "figures.json").read_text())["tests"]
    assert len(figures) == 7
    unmarked = figures["test_sample.py::test_unmarked_makes_cycles_and_leaks"]
    assert unmarked["collections"] >= 0 and unmarked["pause_ms_total"] >= 0
    collects = figures["test_sample.py::test_collects"]
    assert collects["collections"] >= 1
    assert collects["collections_by_generation"][-1] >= 1


def test_without_the_flag_marks_are_inert(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_sample=TESTS)
    result = pytester.runpytest_subprocess("-W", "error::pytest.PytestUnknownMarkWarning")
    result.assert_outcomes(passed=7)


@pytest.mark.skipif(importlib.util.find_spec("xdist") is None, reason="pytest-xdist not installed")
def test_xdist_workers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_sample=TESTS)
    result = pytester.runpytest_subprocess(
        "-p", "xdist", "-n", "2", "--gcscope", "--gcscope-json", "figures.json"
    )
    result.assert_outcomes(passed=4, failed=3)
    assert len(json.loads((pytester.path / "figures.json").read_text())["tests"]) == 7
