"""`gcscope.watch(cycles=True)`, and a report that cannot be printed (issue 13.8)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import load_json, run_python

WATCHED = """
import json, sys
import gcscope

class Node:
    def __init__(self):
        self.partner = None

with gcscope.watch(cycles=True) as watcher:
    for _ in range(150):
        first, second = Node(), Node()
        first.partner, second.partner = second, first
    del first, second
cycles = watcher.capture["cycles"]
print(json.dumps({"by_type": cycles["by_type"], "total": cycles["total_objects"]}))
sys.stderr.write(watcher.report())
"""


def test_watch_harvests_cycles(tmp_path: Path) -> None:
    result = run_python("-c", WATCHED, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    import json

    figures = json.loads(result.stdout)
    instances = next(row["count"] for row in figures["by_type"] if row["type"] == "__main__.Node")
    assert instances == 300
    dicts = 300 if sys.version_info < (3, 11) else 0  # 3.10: the instances' __dict__s too
    assert figures["total"] == 300 + dicts
    assert b"Cyclic garbage (gc.DEBUG_SAVEALL): " in result.stderr
    # a block of a running program: its collector's counters are its own, nothing to say
    assert b"collector counters" not in result.stderr


@pytest.mark.parametrize(
    "arguments, error",
    [
        ("rss_interval=float('inf')", "ValueError: gcscope.watch: rss_interval must be"),
        ("interval=0", "ValueError: gcscope.watch: interval must be"),
        ("max_events=10**20", "ValueError: gcscope.watch: max_events must be from 0"),
        ("frames='2'", "TypeError: gcscope.watch: frames must be an integer"),
    ],
)
def test_watch_checks_its_arguments(tmp_path: Path, arguments: str, error: str) -> None:
    result = run_python("-c", f"import gcscope; gcscope.watch({arguments})", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.decode().strip().splitlines()[-1].startswith(error)


NO_TABULATE = """
import sys
sys.modules["tabulate"] = None  # what a program that exhausted RLIMIT_AS leaves: no import
from gcscope.cli import main
main(["run", "-o", "c.json", "empty.py"])
"""


def test_a_report_that_cannot_be_made_is_one_line(workdir: Path) -> None:
    """The report's lazy imports fail (under an exhausted RLIMIT_AS they do): the capture
    is written, one line says why there is no report, the exit status is the program's."""
    result = run_python("-c", NO_TABULATE, cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b""
    assert result.stderr.decode().splitlines() == [
        "gcscope: capture written to c.json",
        "gcscope: no report (cannot import tabulate); the capture is complete: "
        "gcscope report c.json",
    ]
    assert load_json(workdir / "c.json")["exit_code"] == 0
