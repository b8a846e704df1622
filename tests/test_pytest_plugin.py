"""The pytest plugin, run for real on generated test files (pytester, in subprocesses)."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest

# every generated test file starts with these: instance pairs in cycles, and a leak
PAIRS = """
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
"""

TESTS = (
    PAIRS
    + """
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
)


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
    assert "gcscope: 1 collection, gen 0/0/1 (max_collections=0)" in text
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


# -- judged by what the test itself did (issue 12.2) --

NEIGHBOURS = (
    PAIRS
    + """
import re
import warnings

def test_fails_first():
    frames_and_locals = [Node() for _ in range(3)]
    assert frames_and_locals == []

@pytest.mark.gcscope(max_cyclic_garbage=20)  # 10 instances (and their 10 dicts on 3.10)
def test_ten_cyclic_objects_after_a_failure():
    make_pairs(5)

@pytest.mark.gcscope(max_leaked_objects=0)
def test_only_warns():
    warnings.warn("pytest keeps this", UserWarning)

@pytest.mark.gcscope(max_leaked_objects=0)
def test_first_to_use_tmp_path(tmp_path):
    (tmp_path / "f").write_text("x")

@pytest.mark.gcscope(max_leaked_objects=0)
def test_compiles_a_regex():
    re.compile(r"gcscope-unique-(pattern)+[0-9]{3}")

@pytest.mark.gcscope(max_leaked_objects=0)
def test_imports_a_module():
    import colorsys  # its first import: module, ModuleSpec, functions, held by sys.modules

@pytest.mark.gcscope(max_leaked_objects=0)
def test_still_catches_a_real_leak():
    KEEP.extend(Leaked() for _ in range(3))
"""
)


def test_judgements_do_not_depend_on_neighbours(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_neighbours=NEIGHBOURS)
    result = pytester.runpytest_subprocess("--gcscope", "-rA", "-p", "no:cacheprovider")
    text = result.stdout.str()
    result.assert_outcomes(passed=5, failed=2)
    assert "FAILED test_neighbours.py::test_fails_first - assert" in text
    # the previous failure's frames and traceback were released in this one: not its garbage
    assert "PASSED test_neighbours.py::test_ten_cyclic_objects_after_a_failure" in text
    for name in ("warns", "first_to_use_tmp_path", "compiles_a_regex", "imports_a_module"):
        prefix = "test_only_" if name == "warns" else "test_"
        assert f"PASSED test_neighbours.py::{prefix}{name}" in text
    assert "FAILED test_neighbours.py::test_still_catches_a_real_leak - gcscope: " in text
    assert (
        "gcscope: 3 objects outlived the test (max_leaked_objects=0): test_neighbours.Leaked x3"
        in (text)
    )


def test_verbose_lists_what_was_not_counted(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_neighbours=NEIGHBOURS)
    result = pytester.runpytest_subprocess("--gcscope", "-v", "-p", "no:cacheprovider")
    lines = [line for line in result.outlines if "not counted as leaked" in line]
    text = "\n".join(lines)
    assert (
        "test_only_warns: 2 objects not counted as leaked: warnings recorded by pytest" in (text)
        or "test_only_warns: 3 objects not counted" in text
    )  # 3.10: the message's __dict__
    assert (
        "test_compiles_a_regex: 1 objects not counted as leaked: standard-library caches (re."
        in (text)
    )


XFAIL = (
    PAIRS
    + """
@pytest.mark.xfail(reason="known bug")
@pytest.mark.gcscope(max_cyclic_garbage=0)
def test_xpass_breaking_a_limit():
    make_pairs(5)

@pytest.mark.xfail(reason="known bug", strict=True)
@pytest.mark.gcscope(max_cyclic_garbage=0)
def test_strict_xpass_breaking_a_limit():
    make_pairs(5)

@pytest.mark.xfail(reason="expects ValueError", raises=ValueError)
@pytest.mark.gcscope(max_cyclic_garbage=0)
def test_xpass_expecting_an_exception():
    make_pairs(5)

@pytest.mark.xfail(reason="known bug")
@pytest.mark.gcscope(max_cyclic_garbage=0)
def test_xpass_within_limits():
    pass
"""
)


def test_an_xpass_that_breaks_a_limit_is_an_expected_failure(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_xfail=XFAIL)
    result = pytester.runpytest_subprocess("--gcscope", "-rA", "-p", "no:cacheprovider")
    text = result.stdout.str()
    result.assert_outcomes(xfailed=2, failed=1, xpassed=1)
    count = 20 if sys.version_info < (3, 11) else 10  # 3.10: and the instances' dicts
    message = f"gcscope: {count} objects died in reference cycles (max_cyclic_garbage=0)"
    assert f"XFAIL test_xfail.py::test_xpass_breaking_a_limit - known bug [{message}" in text
    assert f"XFAIL test_xfail.py::test_strict_xpass_breaking_a_limit - known bug [{message}" in (
        text
    )
    assert "FAILED test_xfail.py::test_xpass_expecting_an_exception - gcscope: " in text
    assert f"{message}: test_xfail.Node x10" in text
    assert "XPASS test_xfail.py::test_xpass_within_limits" in text


SUMMARY = (
    PAIRS
    + """
def test_unmarked_200_cyclic_objects():
    gc.disable()  # no collection in its window
    make_pairs(100)
    gc.enable()

def test_unmarked_collects_its_own_200():
    make_pairs(100)
    gc.collect()
"""
)


def test_summary_names_its_columns_for_what_they_hold(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_summary=SUMMARY)
    result = pytester.runpytest_subprocess(
        "--gcscope", "--gcscope-json=figures.json", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=2)
    figures = json.loads((pytester.path / "figures.json").read_text())["tests"]
    unmarked = figures["test_summary.py::test_unmarked_200_cyclic_objects"]
    assert "cyclic_garbage" not in unmarked  # not measured: no figure, rather than a wrong 0
    assert "collected" in unmarked
    collects = figures["test_summary.py::test_unmarked_collects_its_own_200"]
    assert collects["collected"] >= 200
    header = next(line for line in result.outlines if line.startswith("test "))
    assert header.split()[-5:] == ["freed", "by", "GC", "cyclic", "garbage"]
    row = next(line for line in result.outlines if "test_unmarked_200" in line)
    assert len(row.split()) == 5  # test, collections, pause, max, freed: no cyclic garbage
    row = next(line for line in result.outlines if "collects_its_own" in line)
    assert int(row.split()[4]) == collects["collected"]


# -- mistakes are usage errors before any test runs (issue 13.8) --

BAD_MARKS = """
import pytest

def test_runs_first():
    pass

@pytest.mark.gcscope(max_cyclic_garbage="0")
def test_string_limit():
    pass

@pytest.mark.gcscope(max_leaks=0)
def test_unknown_keyword():
    pass

@pytest.mark.gcscope(max_pause_ms=float("nan"), max_collections=-1)
def test_nan_and_negative():
    pass

@pytest.mark.gcscope(max_leaked_objects=True)
def test_boolean():
    pass

def test_runs_last():
    pass
"""


@pytest.mark.parametrize("xdist", [False, True], ids=["serial", "xdist"])
def test_marker_mistakes_stop_the_session_at_collection(
    pytester: pytest.Pytester, xdist: bool
) -> None:
    if xdist and importlib.util.find_spec("xdist") is None:
        pytest.skip("pytest-xdist not installed")
    pytester.makepyfile(test_marks=BAD_MARKS)
    flags = ["-p", "xdist", "-n", "2"] if xdist else []
    result = pytester.runpytest_subprocess("--gcscope", "-p", "no:cacheprovider", *flags)
    text = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in text and "Traceback" not in text
    assert result.ret != 0
    result.assert_outcomes(errors=1)  # no test ran, not even the first
    assert "ERROR collecting test_marks.py" in text
    for problem in (
        "test_marks.py::test_string_limit: @pytest.mark.gcscope: max_cyclic_garbage='0': "
        "must be a whole number, 0 or more",
        "test_marks.py::test_unknown_keyword: @pytest.mark.gcscope: unknown limit 'max_leaks'",
        "test_marks.py::test_nan_and_negative: @pytest.mark.gcscope: max_pause_ms=nan",
        "test_marks.py::test_nan_and_negative: @pytest.mark.gcscope: max_collections=-1",
        "test_marks.py::test_boolean: @pytest.mark.gcscope: max_leaked_objects=True",
    ):
        assert problem in text, problem


@pytest.mark.parametrize(
    "target, problem",
    [
        ("nodir/o.json", "does not exist"),
        ("here/", "it is a directory"),
        (".", "it is a directory"),
    ],
)
def test_an_unwritable_json_path_is_a_usage_error_at_start(
    pytester: pytest.Pytester, target: str, problem: str
) -> None:
    (pytester.path / "here").mkdir()
    pytester.makepyfile(test_sample="def test_passes():\n    pass\n")
    result = pytester.runpytest_subprocess("--gcscope", f"--gcscope-json={target}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    text = result.stderr.str()
    assert f"ERROR: gcscope: cannot write --gcscope-json '{target}'" in text and problem in text
    assert "Traceback" not in text + result.stdout.str()
    assert "passed" not in result.stdout.str()  # refused before any test ran


def test_marks_name_types_without_their_control_characters(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_evil="""
import pytest
Evil = type("Evil\\x1b]0;pwned\\x07", (), {})

@pytest.mark.gcscope(max_cyclic_garbage=0)
def test_evil_cycles():
    a, b = Evil(), Evil()
    a.b, b.a = b, a
"""
    )
    result = pytester.runpytest_subprocess("--gcscope", "-rA", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    assert "\x1b" not in text and "\x07" not in text
    assert "test_evil.Evil\\x1b]0;pwned\\x07 x2" in text


# -- `--gcscope-json=FILE`, not `--gcscope-json FILE` (issue 12.9, docs/ci.md) --


def test_json_option_with_equals_keeps_the_projects_rootdir(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = pytester.path / "project"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    (project / "test_sample.py").write_text("def test_passes():\n    pass\n")
    (pytester.path / "reports").mkdir()
    (pytester.path / "reports" / "gc.json").write_text("{}")  # an earlier run's figures
    monkeypatch.chdir(project)
    joined = pytester.runpytest_subprocess("--gcscope", "--gcscope-json=../reports/gc.json")
    assert f"rootdir: {project}" in joined.stdout.str()
    assert "configfile: pytest.ini" in joined.stdout.str()
    joined.assert_outcomes(passed=1)
    assert json.loads((pytester.path / "reports" / "gc.json").read_text())["tests"]
    # the space-separated form: pytest takes the existing file's folder for a path to test
    spaced = pytester.runpytest_subprocess("--gcscope", "--gcscope-json", "../reports/gc.json")
    assert f"rootdir: {project}" not in spaced.stdout.str()
    # ...and gcscope says so, where the equals form is silent
    assert "write --gcscope-json=FILE" in spaced.stderr.str()
    assert "--gcscope-json=FILE" not in joined.stderr.str()
