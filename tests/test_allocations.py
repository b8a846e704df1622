"""`gcscope run --allocations`: sites, growth and type growth against known leaks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import line_of, load_json, run_gcscope, run_python, stderr_report

LEAKS, PAYLOAD = 2000, 10_000


def run_leaker(workdir: Path, *flags: str) -> dict:
    result = run_gcscope("run", "--allocations", *flags, "-o", "c.json", "leaker.py", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert result.stdout == run_python("leaker.py", cwd=workdir).stdout
    return load_json(workdir / "c.json")


def test_growth_points_at_the_leaking_line(workdir: Path) -> None:
    capture = run_leaker(workdir)
    leak_line = line_of(workdir / "leaker.py", "LEAK-LINE")
    top = capture["allocations"]["growth"][0]
    assert top["filename"] == str(workdir / "leaker.py")
    assert top["lineno"] == leak_line
    # the payloads plus the small instances and their headers: within a few percent
    assert LEAKS * PAYLOAD <= top["size_diff_bytes"] <= LEAKS * PAYLOAD * 1.05
    assert top["count_diff"] >= LEAKS
    sites = capture["allocations"]["top_sites"]
    assert (sites[0]["filename"], sites[0]["lineno"]) == (top["filename"], leak_line)
    # the churn line allocated far more in total, but none of it stayed
    churn_line = line_of(workdir / "leaker.py", "CHURN-LINE")
    assert all(g["lineno"] != churn_line for g in capture["allocations"]["growth"][:5])
    # nothing of gcscope's own, of tracemalloc's or of the import system shows up
    for site in capture["allocations"]["growth"] + sites:
        assert "gcscope" not in site["filename"].replace(str(workdir), "")
        assert "importlib._bootstrap" not in site["filename"]


def test_type_growth_is_exact(workdir: Path) -> None:
    capture = run_leaker(workdir)
    growth = {row["type"]: row["count_diff"] for row in capture["type_growth"]}
    assert growth["__main__.Leaky"] == LEAKS
    assert growth.get("builtins.bytearray", 0) == 0  # bytearrays are not GC-tracked
    assert not any(name.startswith("gcscope.") for name in growth)
    sizes = capture["type_sizes"]
    assert sizes["types"] and sizes["source"].startswith("pympler")


def test_frames_group_by_traceback(workdir: Path) -> None:
    capture = run_leaker(workdir, "--frames", "4")
    top = capture["allocations"]["growth"][0]
    assert capture["allocations"]["frames"] == 4
    frames = top["traceback"]
    leak_line = line_of(workdir / "leaker.py", "LEAK-LINE")
    assert frames[0][1] == leak_line
    assert any(str(workdir / "leaker.py") == f and n != leak_line for f, n in frames[1:])
    assert not any("gcscope" in f for f, _ in frames)  # stack cut at the runner


def test_interval_reports_steady_growth_not_spikes(workdir: Path) -> None:
    result = run_gcscope(
        "run",
        "--allocations",
        "--interval",
        "200ms",
        "-o",
        "c.json",
        "slow_leaker.py",
        cwd=workdir,
    )
    assert result.returncode == 0, result.stderr
    allocations = load_json(workdir / "c.json")["allocations"]
    assert allocations["snapshots"] >= 4
    steady_lines = {row["lineno"] for row in allocations["steady_growth"]}
    assert line_of(workdir / "slow_leaker.py", "STEADY-LINE") in steady_lines
    assert line_of(workdir / "slow_leaker.py", "SPIKE-LINE") not in steady_lines
    assert "grew in every interval" in stderr_report(result.stderr)
    # collections during gcscope's own snapshots are never put on a program line
    sites = load_json(workdir / "c.json")["gc"]["sites"]
    assert all(
        s["program"] is None or s["program"]["filename"].endswith("slow_leaker.py") for s in sites
    )


def test_report_renders_allocation_tables(workdir: Path) -> None:
    run_leaker(workdir)
    text = run_gcscope("report", "c.json", cwd=workdir).stdout.decode()
    assert "Top allocation sites at end" in text
    assert "Growth, first to last snapshot" in text
    assert f"leaker.py:{line_of(workdir / 'leaker.py', 'LEAK-LINE')}" in text
    assert "__main__.Leaky" in text and "+2000" in text
    assert str(workdir) not in text.split("Growth")[1].split("Type growth")[0]  # short paths


def test_program_that_uses_tracemalloc_itself(workdir: Path) -> None:
    plain = run_python("own_tracemalloc.py", cwd=workdir)
    result = run_gcscope("run", "--allocations", "-o", "c.json", "own_tracemalloc.py", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert result.stdout == plain.stdout
    assert load_json(workdir / "c.json")["allocations"]["top_sites"]


def test_tracemalloc_started_by_the_environment(workdir: Path) -> None:
    env = {**os.environ, "PYTHONTRACEMALLOC": "3"}
    result = run_gcscope("run", "--allocations", "-o", "c.json", "leaker.py", cwd=workdir, env=env)
    assert result.returncode == 0, result.stderr
    allocations = load_json(workdir / "c.json")["allocations"]
    assert allocations["started_by"] == "program"
    assert allocations["frames"] == 3


def test_without_allocations_tracemalloc_stays_off(workdir: Path) -> None:
    code = "import tracemalloc; print(tracemalloc.is_tracing())"
    result = run_gcscope("run", "-o", "c.json", "-c", code, cwd=workdir)
    assert result.stdout == b"False\n"
    assert "allocations" not in load_json(workdir / "c.json")


@pytest.mark.parametrize(
    "flags, fragment",
    [
        (["--interval", "soon"], "soon"),
        (["--interval", "0"], "interval"),
        (["--frames", "0"], "frames"),
        (["--frames", "many"], "frames"),
    ],
)
def test_bad_allocation_options(workdir: Path, flags: list[str], fragment: str) -> None:
    result = run_gcscope("run", "--allocations", *flags, "leaker.py", cwd=workdir)
    assert result.returncode == 2
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in lines[0]
    assert result.stdout == b""


def test_python_api_produces_the_same_capture(tmp_path: Path) -> None:
    script = tmp_path / "api_user.py"
    script.write_text(
        "import gc, sys, gcscope\n"
        "class Kept: pass\n"
        "kept = []\n"
        "with gcscope.watch(allocations=True) as watcher:\n"
        "    kept.extend(Kept() for _ in range(300))\n"
        "    gc.collect()\n"
        "watcher.save(sys.argv[1])\n"
        "sys.stderr.write(watcher.report())\n"
        "@gcscope.watch()\n"
        "def work():\n"
        "    gc.collect()\n"
        "work()\n"
    )
    result = run_python(str(script), "api.json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    capture = load_json(tmp_path / "api.json")
    growth = {row["type"]: row["count_diff"] for row in capture["type_growth"]}
    assert growth["__main__.Kept"] == 300
    assert capture["generations"][-1]["collections"] >= 1
    report = run_gcscope("report", "api.json", cwd=tmp_path).stdout.decode()
    assert result.stderr.decode() == report


def test_allocations_capture_contract(workdir: Path) -> None:
    capture = run_leaker(workdir)
    for row in capture["allocations"]["top_sites"]:
        assert set(row) >= {"filename", "lineno", "size_bytes", "count"}
    growth = capture["allocations"]["growth"]
    for row in growth:
        assert set(row) >= {"filename", "lineno", "size_diff_bytes", "count_diff"}
    sizes = [row["size_diff_bytes"] for row in growth]
    assert sizes == sorted(sizes, reverse=True)
    for row in capture["type_growth"]:
        assert set(row) >= {"type", "count_diff"}
