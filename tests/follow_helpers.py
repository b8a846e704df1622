"""Reading a `gcscope run --follow` folder in tests, and checking it against ground truth."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from conftest import load_json


def settle(folder: Path, lost: int = 0, timeout: float = 30.0) -> None:
    """Wait (bounded) until no process of the run is still without its capture: multiprocessing's
    resource tracker and forkserver end moments after the main process. `lost`: how many
    processes are expected never to write one (killed with SIGKILL)."""
    deadline = time.monotonic() + timeout
    while len(list(folder.glob("*.started"))) > lost and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(list(folder.glob("*.started"))) == lost, sorted(p.name for p in folder.iterdir())


def captures(folder: Path) -> dict[int, dict[str, Any]]:
    """The folder's captures by pid (each pid must have exactly one)."""
    found: dict[int, dict[str, Any]] = {}
    for path in sorted(folder.glob("gcscope-*.json")):
        capture = load_json(path)
        pid = capture["process"]["pid"]
        assert pid not in found, f"two captures for pid {pid}"
        found[pid] = capture
    return found


def truth(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def collections_in(capture: dict[str, Any], t0: float, t1: float) -> list[int]:
    """The capture's collections per generation that began inside [t0, t1] (perf clock)."""
    events = capture["gc"]["events"]
    assert events["dropped"] == 0
    start_at = events["columns"].index("start_ns")
    generation_at = events["columns"].index("generation")
    origin = capture["process"]["perf_counter_origin"]
    counts = [0] * len(capture["generations"])
    for row in events["rows"]:
        when = origin + row[start_at] / 1e9
        if t0 <= when <= t1:
            counts[row[generation_at]] += 1
    return counts


def assert_matches_truth(by_pid: dict[int, dict[str, Any]], windows: list[dict[str, Any]]) -> None:
    """Each window's collections, as the process counted them, are the capture's; and every
    capture agrees with gc.get_stats() over its own run."""
    for window in windows:
        capture = by_pid[window["pid"]]
        expected = [
            after["collections"] - before["collections"]
            for before, after in zip(window["stats0"], window["stats1"])
        ]
        assert collections_in(capture, window["t0"], window["t1"]) == expected, window["pid"]
    for pid, capture in by_pid.items():
        assert capture["gc"]["get_stats"]["reconciled"], (pid, capture["gc"]["get_stats"])


def full_collections(capture: dict[str, Any]) -> int:
    return capture["generations"][-1]["collections"]


def windows_full(windows: list[dict[str, Any]], pid: int) -> int:
    return sum(
        w["stats1"][-1]["collections"] - w["stats0"][-1]["collections"]
        for w in windows
        if w["pid"] == pid
    )
