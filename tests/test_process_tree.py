"""`gcscope report DIR` (and several captures), `check DIR`, `diff DIR DIR`: a run folder read
as one process tree, with figures per process and in total."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import load_json, run_gcscope
from follow_helpers import captures, settle

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX process trees")


def run_tree(workdir: Path, folder: str, *args: str) -> None:
    result = run_gcscope("run", "--follow", "--cycles", "-o", folder, *args, cwd=workdir)
    assert result.returncode == 0, result.stderr
    settle(workdir / folder, lost=1 if "kill" in args else 0)


def test_report_of_a_folder_merges_its_processes(workdir: Path) -> None:
    run_tree(workdir, "out", "tree_garbage.py", "10", "kill")
    by_pid = captures(workdir / "out")
    report = run_gcscope("report", "--format", "json", "out", cwd=workdir)
    assert report.returncode == 0, report.stderr
    tree = json.loads(report.stdout)
    assert tree["kind"] == "gcscope process tree" and tree["schema_version"] == 1
    rows = {row["pid"]: row for row in tree["processes"]}
    assert rows.keys() == by_pid.keys()
    (main,) = [pid for pid, row in rows.items() if row["role"] == "main"]
    for pid, capture in by_pid.items():
        row = rows[pid]
        assert row["collections"] == [g["collections"] for g in capture["generations"]]
        assert row["cyclic_garbage"] == capture["cycles"]["total_objects"]
        assert row["parent_pid"] == (capture["process"]["parent_pid"])
    totals = tree["totals"]
    assert totals["processes"] == 3
    assert totals["collections"] == [
        sum(row["collections"][g] for row in rows.values()) for g in range(3)
    ]
    assert totals["cyclic_garbage"] == sum(row["cyclic_garbage"] for row in rows.values())
    # the killed child: its marker says it ran; it could write nothing
    (killed,) = tree["unfinished"]
    assert (killed["role"], killed["parent_pid"], killed["alive"]) == ("forked", main, False)
    (root,) = tree["tree"]
    assert root["pid"] == main
    assert sorted(child["pid"] for child in root["children"]) == sorted(
        [*(pid for pid in rows if pid != main), killed["pid"]]
    )
    (site,) = [s for s in tree["top_sites"] if s["program"]["function"] == "knots"]
    assert len(site["pids"]) == 2  # both children collected at that line
    text = run_gcscope("report", "out", cwd=workdir).stdout.decode()
    assert f"pid {killed['pid']} (forked, parent {main}) ended without writing a capture" in text
    assert "Process tree" in text and "Top trigger sites across processes" in text


def test_report_merges_separate_capture_files(workdir: Path) -> None:
    for name in ("a.json", "b.json"):
        result = run_gcscope("run", "-o", name, "collects_n.py", "3", cwd=workdir)
        assert result.returncode == 0, result.stderr
    report = run_gcscope("report", "--format", "json", "a.json", "b.json", cwd=workdir)
    tree = json.loads(report.stdout)
    assert [row["capture"] for row in tree["processes"]] == ["a.json", "b.json"]
    assert tree["totals"]["collections"][-1] == sum(
        load_json(workdir / name)["generations"][-1]["collections"] for name in ("a.json", "b.json")
    )
    assert len(tree["tree"]) == 2  # two separate runs: two roots


def test_check_of_a_folder_names_the_offending_process_and_the_total(workdir: Path) -> None:
    run_tree(workdir, "out", "tree_garbage.py", "10")
    garbage = {pid: c["cycles"]["total_objects"] for pid, c in captures(workdir / "out").items()}
    roles = {pid: c["process"]["role"] for pid, c in captures(workdir / "out").items()}
    # the children inherit the same uncollected garbage; the first adds 10 cycles of 2 Knots
    limit = min(garbage.values()) + 10
    offenders = {pid for pid, count in garbage.items() if count > limit}
    assert any(roles[pid] == "forked" for pid in offenders)
    result = run_gcscope("check", "out", "--max-cyclic-garbage", str(limit), cwd=workdir)
    assert result.returncode == 1
    lines = result.stdout.decode().splitlines()
    assert len(lines) == len(offenders) + 1
    for line, pid in zip(lines, sorted(offenders)):
        assert line.startswith(
            f"gcscope check: pid {pid} ({roles[pid]}): max-cyclic-garbage exceeded: "
            f"{garbage[pid]} objects > {limit} ("
        )
    assert any("(__main__.Knot x20" in line for line in lines)
    total = sum(garbage.values())
    assert lines[-1].startswith(
        f"gcscope check: all 3 processes: max-cyclic-garbage exceeded: {total} objects > {limit}"
    )
    result = run_gcscope("check", "out", "--max-cyclic-garbage", str(total), cwd=workdir)
    assert result.returncode == 0, result.stdout
    assert b"all limits hold in all 3 processes" in result.stdout
    github = run_gcscope(
        "check", "out", "--max-cyclic-garbage", str(limit), "--format", "github", cwd=workdir
    )
    assert github.stdout.decode().startswith("::error title=gcscope check (")


def test_check_fails_when_a_process_left_no_capture(workdir: Path) -> None:
    run_tree(workdir, "out", "tree_garbage.py", "0", "kill")
    result = run_gcscope("check", "out", "--max-pause", "10s", cwd=workdir)
    assert result.returncode == 1
    assert b"ended without a capture: its limits could not be checked" in result.stdout


def test_diff_of_two_folders_compares_their_totals(workdir: Path) -> None:
    run_tree(workdir, "base", "tree_garbage.py", "10")
    run_tree(workdir, "worse", "tree_garbage.py", "500")
    same = run_gcscope("diff", "base", "base", cwd=workdir)
    assert same.returncode == 0, same.stdout
    worse = run_gcscope("diff", "base", "worse", cwd=workdir)
    assert worse.returncode == 1
    text = worse.stdout.decode()
    assert "processes" in text and "private memory of forked processes" in text
    (row,) = [line for line in text.splitlines() if line.startswith("cyclic garbage")]
    base, new = (
        sum(c["cycles"]["total_objects"] for c in captures(workdir / name).values())
        for name in ("base", "worse")
    )
    assert row.split()[2:4] == [str(base), str(new)] and "REGRESSED" in row
    knots = [
        sum(
            row["count"]
            for c in captures(workdir / name).values()
            for row in c["cycles"]["by_type"]
            if row["type"] == "__main__.Knot"
        )
        for name in ("base", "worse")
    ]
    assert knots == [20, 1000]  # 10 and 500 cycles of 2 Knots (and, on 3.10, their dicts)
