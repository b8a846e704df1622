"""`gcscope run --cycles` and `gcscope cycles`: exact counts against programs that know them."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from conftest import line_of, load_json, run_gcscope, run_python

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz not installed")
# up to 3.10 an instance's attributes live in a separate dict, which dies with it
SEPARATE_DICTS = sys.version_info < (3, 11)
PAIR_SIGNATURE = (
    "Node -__dict__-> dict x2; dict -partner-> Node x2"
    if SEPARATE_DICTS
    else "Node -partner-> Node x2"
)


def with_dicts(expected: dict[str, int], instances: int) -> dict[str, int]:
    if SEPARATE_DICTS:
        expected = {**expected, "builtins.dict": expected.get("builtins.dict", 0) + instances}
    return expected


def cycles_of(workdir: Path, *args: str) -> dict:
    result = run_gcscope("run", "--cycles", *args, cwd=workdir, timeout=300)
    assert result.returncode == 0, result.stderr
    return load_json(workdir / "c.json")["cycles"]


def counts(section: dict) -> dict[str, int]:
    return {row["type"]: row["count"] for row in section["by_type"]}


def test_pairs_and_self_referencing_lists_are_counted_exactly(workdir: Path) -> None:
    section = cycles_of(workdir, "-o", "c.json", "make_cycles.py", "1000", "300")
    assert counts(section) == with_dicts({"__main__.Node": 2000, "builtins.list": 300}, 2000)
    assert section["total_objects"] == 2300 + (2000 if SEPARATE_DICTS else 0)
    signatures = {s["signature"]: s for s in section["shapes"]}
    pair = signatures[PAIR_SIGNATURE]
    assert (pair["cycles"], pair["objects"]) == (1000, 4000 if SEPARATE_DICTS else 2000)
    loop = signatures["list -[0]-> list"]
    assert (loop["cycles"], loop["objects"]) == (300, 300)


def test_creation_sites_with_allocations(workdir: Path) -> None:
    section = cycles_of(workdir, "--allocations", "-o", "c.json", "make_cycles.py", "500", "200")
    script = workdir / "make_cycles.py"
    sites = {(s["filename"], s["lineno"]): s["count"] for s in section["sites"]}
    assert sites[(str(script), line_of(script, "FIRST-LINE"))] == 500
    assert sites[(str(script), line_of(script, "SECOND-LINE"))] == 500
    assert sites[(str(script), line_of(script, "LIST-LINE"))] == 200
    assert section["sites_unknown"] == 0
    if sys.version_info[:2] == (3, 11):
        assert "pre-header" in section["site_method"]  # gh-101430 worked around


def test_each_object_counted_once_across_many_harvest_rounds(workdir: Path) -> None:
    section = cycles_of(workdir, "-o", "c.json", "make_cycles.py", "160000", "0", "paced")
    assert section["harvests"] >= 100  # released collection by collection, not kept
    assert counts(section) == with_dicts({"__main__.Node": 320_000}, 320_000)


def test_a_program_without_cycles_reports_zero(workdir: Path) -> None:
    for extra in ([], ["--allocations"]):
        section = cycles_of(workdir, *extra, "-o", "c.json", "no_cycles.py")
        assert section["total_objects"] == 0, section["by_type"]
        assert section["shapes"] == []


def test_gc_statistics_exclude_gcscopes_own_collections(workdir: Path) -> None:
    result = run_gcscope(
        "run", "--cycles", "-o", "c.json", "gc_truth.py", "truth.json", cwd=workdir
    )
    assert result.returncode == 0, result.stderr
    capture = load_json(workdir / "c.json")
    assert capture["gc"]["get_stats"]["reconciled"]
    assert sum(capture["gc"]["forced_by_gcscope"]) >= 1  # the final harvest's collection...
    columns = capture["gc"]["events"]["columns"]
    rows = [dict(zip(columns, row)) for row in capture["gc"]["events"]["rows"]]
    sites = capture["gc"]["sites"]
    collect_line = line_of(workdir / "gc_truth.py", "COLLECT-LINE")
    explicit = [
        r for r in rows if (sites[r["site"]]["program"] or {}).get("lineno") == collect_line
    ]
    assert len(explicit) == 5  # ...never stand in for, or hide, the program's own
    assert all(r["pause_ns"] > 0 for r in explicit)


def test_hostile_objects_never_break_gcscope(workdir: Path, tmp_path: Path) -> None:
    plain = run_python("hostile.py", cwd=workdir, timeout=120)
    result = run_gcscope("run", "--cycles", "-o", "c.json", "hostile.py", cwd=workdir, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == plain.stdout
    assert (workdir / "c.json").stat().st_size < 5_000_000
    section = load_json(workdir / "c.json")["cycles"]
    found = counts(section)
    expected = {"RaisingRepr": 101, "HugeRepr": 100, "SlowRepr": 100, "Lying": 100}
    for kind, count in expected.items():  # 50 pairs each; one more RaisingRepr as a dict key
        assert found[f"__main__.{kind}"] == count
    assert found["builtins.list"] == 1
    assert found["builtins.dict"] == 1 + (400 if SEPARATE_DICTS else 0)
    for graph in section["graphs"]:
        for node in graph["nodes"]:
            assert len(node["label"]) <= 60
    drawn = run_gcscope("cycles", "c.json", "--graph", "h.dot", cwd=workdir)
    assert drawn.returncode == 0, drawn.stderr
    assert "Lying" in (workdir / "h.dot").read_text()


def test_uncollectable_and_parked_objects_are_reported_apart(workdir: Path) -> None:
    plain = run_python("parks_garbage.py", cwd=workdir)
    result = run_gcscope("run", "--cycles", "-o", "c.json", "parks_garbage.py", cwd=workdir)
    assert result.stdout == plain.stdout == b"parked 7\n"
    section = load_json(workdir / "c.json")["cycles"]
    assert counts(section) == with_dicts({"__main__.Loop": 40}, 40)
    parked = {r["type"]: r["count"] for r in section["uncollectable"]["parked_by_program"]}
    assert parked == {"__main__.Parked": 7}


@needs_dot
def test_png_and_svg_pictures(workdir: Path) -> None:
    cycles_of(workdir, "-o", "c.json", "make_cycles.py", "50", "5")
    png = run_gcscope("cycles", "c.json", "--graph", "c.png", cwd=workdir)
    assert png.returncode == 0, png.stderr
    assert (workdir / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = run_gcscope("cycles", "c.json", "--graph", "c.svg", "--type", "Node", cwd=workdir)
    assert svg.returncode == 0, svg.stderr
    text = (workdir / "c.svg").read_text()
    assert "<svg" in text and "Node" in text and "partner" in text
    assert "list" not in text  # --type picked the Node cycles only
    capped = run_gcscope("cycles", "c.json", "--graph", "d.dot", "--max-nodes", "1", cwd=workdir)
    assert capped.returncode == 0
    assert (workdir / "d.dot").read_text().count("bytes") == 1


def test_missing_graphviz_is_one_clear_line(workdir: Path) -> None:
    cycles_of(workdir, "-o", "c.json", "make_cycles.py", "5", "1")
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}
    result = run_gcscope("cycles", "c.json", "--graph", "c.png", cwd=workdir, env=env)
    assert result.returncode == 2
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "apt-get install graphviz" in lines[0]
    assert "brew install graphviz" in lines[0]


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--graph", "c.gif"], ".gif"),
        (["--graph", "nowhere/c.dot"], "does not exist"),
        (["--shape", "99", "--graph", "c.dot"], "shape 99"),
        (["--max-nodes", "0"], "max-nodes"),
    ],
)
def test_cycles_command_usage_errors(workdir: Path, args: list[str], fragment: str) -> None:
    cycles_of(workdir, "-o", "c.json", "make_cycles.py", "5", "1")
    result = run_gcscope("cycles", "c.json", *args, cwd=workdir)
    assert result.returncode == 2
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], lines


def test_cycles_needs_a_cycles_capture(workdir: Path) -> None:
    assert run_gcscope("run", "-o", "plain.json", "empty.py", cwd=workdir).returncode == 0
    result = run_gcscope("cycles", "plain.json", cwd=workdir)
    assert result.returncode == 2
    assert "--cycles" in result.stderr.decode()


def test_report_has_a_cycles_section(workdir: Path) -> None:
    cycles_of(workdir, "-o", "c.json", "make_cycles.py", "100", "10")
    text = run_gcscope("report", "c.json", cwd=workdir).stdout.decode()
    total = 210 + (200 if SEPARATE_DICTS else 0)
    assert f"Cyclic garbage (gc.DEBUG_SAVEALL): {total} objects" in text
    assert PAIR_SIGNATURE in text


@pytest.mark.parametrize("clear", ["C helper", "ctypes"])
def test_the_program_sees_the_collector_it_would_see_without_gcscope(
    workdir: Path, clear: str
) -> None:
    """Weakrefs cleared, finalizers run once, gc.garbage empty, exact counts across threads."""
    if clear == "C helper":
        pytest.importorskip("gcscope._gcclear", reason="C helper not built (no compiler)")
    env = {**os.environ, "GCSCOPE_CLEAR": "ctypes" if clear == "ctypes" else ""}
    plain = run_python("observes_collector.py", cwd=workdir)
    result = run_gcscope(
        "run", "--cycles", "-o", "c.json", "observes_collector.py", cwd=workdir, env=env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == plain.stdout
    assert b"weakref cleared: True callback ran: 1" in plain.stdout
    section = load_json(workdir / "c.json")["cycles"]
    assert clear in section["freed_with"]
    # 4 threads x 5000 pairs, 1 self-loop, 11 self-referencing finalizable objects
    expected = {"__main__.Node": 40_001, "__main__.Finalized": 11}
    assert counts(section) == with_dicts(expected, 40_012)
    assert section["unsaved_collections"] == 0


def test_a_program_that_turns_saveall_off_is_warned_about(workdir: Path) -> None:
    result = run_gcscope(
        "run", "--cycles", "-o", "c.json", "observes_collector.py", "nosaveall", cwd=workdir
    )
    assert result.returncode == 0, result.stderr
    section = load_json(workdir / "c.json")["cycles"]
    assert section["unsaved_collections"] > 0
    assert counts(section)["__main__.Node"] <= 40_001  # some went uncounted, none invented
    assert "turned gc.DEBUG_SAVEALL off" in result.stderr.decode()


def test_snapshots_during_the_run_never_leave_garbage_behind(workdir: Path) -> None:
    """Interval snapshots (gcscope's own collections) while the program collects too."""
    result = run_gcscope(
        "run",
        "--cycles",
        "--allocations",
        "--interval",
        "10ms",
        "-o",
        "c.json",
        "observes_collector.py",
        cwd=workdir,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    section = load_json(workdir / "c.json")["cycles"]
    expected = {"__main__.Node": 40_001, "__main__.Finalized": 11}
    assert counts(section) == with_dicts(expected, 40_012)
    assert section["uncollectable"]["parked_by_program"] == []
