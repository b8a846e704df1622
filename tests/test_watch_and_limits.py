"""`gcscope.watch(cycles=True)`, and a report that cannot be printed (issue 13.8)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import load_json, run_gcscope, run_python

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
    dicts = 300 if sys.version_info < (3, 12) else 0  # the instances' __dict__s before 3.12
    assert figures["total"] == 300 + dicts
    assert b"Cyclic garbage (gc.DEBUG_SAVEALL): " in result.stderr


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


EXHAUSTS_ADDRESS_SPACE = """
import resource

with open("/proc/self/statm") as handle:
    in_use = int(handle.read().split()[0]) * resource.getpagesize()
resource.setrlimit(resource.RLIMIT_AS, (in_use, resource.RLIM_INFINITY))
print("limited")
"""


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc")
def test_no_memory_left_for_the_report(tmp_path: Path) -> None:
    """The program leaves no address space: the capture is written, the report says in one
    line why it is missing, and the exit status is the program's."""
    (tmp_path / "limits.py").write_text(EXHAUSTS_ADDRESS_SPACE)
    result = run_gcscope("run", "-o", "c.json", "limits.py", cwd=tmp_path)
    stderr = result.stderr.decode()
    assert "Traceback" not in stderr, stderr
    assert result.returncode == 0
    assert result.stdout == b"limited\n"
    assert load_json(tmp_path / "c.json")["exit_code"] == 0
    lines = stderr.splitlines()
    assert lines[0] == "gcscope: capture written to c.json"
    assert "Collections by generation" in stderr or lines[1:] == [
        f"gcscope: no report ({lines[1].split('(', 1)[1].split(')')[0]}); the capture is "
        "complete: gcscope report c.json"
    ]
