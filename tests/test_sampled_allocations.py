"""`gcscope run --allocations=sampled`: estimates against known leaks and exact mode."""

from __future__ import annotations

import json
import math
import os
import statistics
from pathlib import Path

import pytest
from conftest import line_of, load_json, run_gcscope, run_python, stderr_report

from gcscope.probes.allocations import DEFAULT_SAMPLE_EVERY

sampler = pytest.importorskip("gcscope._allocsampler", reason="sampler not built (no compiler)")

LEAKS, PAYLOAD = 2000, 10_000
BAND = 0.25  # issue 16: the leak's growth estimated within +-25%


def run_mode(workdir: Path, mode: str, *flags: str, target: str = "leaker.py", env=None) -> dict:
    """Run `target` under `--allocations=<mode>`; its stdout and status must be python's."""
    result = run_gcscope(
        "run", f"--allocations={mode}", *flags, "-o", f"{mode}.json", target, cwd=workdir, env=env
    )
    plain = run_python(target, cwd=workdir)
    assert result.returncode == plain.returncode, result.stderr
    assert result.stdout == plain.stdout
    return load_json(workdir / f"{mode}.json")


def seeded(seed: int, **extra: str) -> dict[str, str]:
    return {**os.environ, "GCSCOPE_SAMPLER_SEED": str(seed), **extra}


def growth_at(section: dict, path: Path, line: int) -> tuple[int, dict]:
    """(rank among growing sites, 1 = first; the row) of one line."""
    for rank, row in enumerate(section["growth"], start=1):
        if (row["filename"], row["lineno"]) == (str(path), line):
            return rank, row
    raise AssertionError(f"{path.name}:{line} not among the growing sites")


def test_estimator_is_unbiased_and_its_interval_honest_at_the_default_rate(
    workdir: Path,
) -> None:
    """200 independent samplings of a 2000 x 10 kB leak (tracemalloc gives the truth).

    The CI form of issue 16's "19 of 20 runs within +-25%": at the default rate one
    run's relative error is ~8% (sqrt(rate/bytes)), so >= 95% of runs must land in
    the band; the mean must sit on the truth (the estimator is unbiased: the mean of
    200 runs has a ~0.6% standard error), the spread must match the variance each
    run reports, and the reported 95% intervals must cover the truth ~95% of the time.
    """
    runs = 200
    result = run_python(
        "sampler_statistics.py", str(runs), str(DEFAULT_SAMPLE_EVERY), cwd=workdir, timeout=300
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    truth, estimates, variances = data["truth"], data["estimates"], data["variances"]
    assert LEAKS * PAYLOAD <= truth <= LEAKS * PAYLOAD * 1.05
    errors = [estimate / truth - 1 for estimate in estimates]
    assert sum(abs(error) <= BAND for error in errors) >= 0.95 * runs
    assert abs(statistics.mean(estimates) / truth - 1) < 0.03
    reported = statistics.mean(math.sqrt(v) for v in variances)
    assert 0.75 < statistics.stdev(estimates) / reported < 1.33
    covered = sum(abs(e - truth) <= 1.96 * math.sqrt(v) for e, v in zip(estimates, variances))
    assert covered >= 0.88 * runs


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sampled_run_names_the_leaking_line_and_estimates_its_growth(
    workdir: Path, seed: int
) -> None:
    exact = run_mode(workdir, "exact")["allocations"]
    section = run_mode(workdir, "sampled", env=seeded(seed))["allocations"]
    script, leak_line = workdir / "leaker.py", line_of(workdir / "leaker.py", "LEAK-LINE")
    rank, row = growth_at(section, script, leak_line)
    assert rank == 1
    truth = growth_at(exact, script, leak_line)[1]["size_diff_bytes"]
    assert abs(row["size_diff_bytes"] / truth - 1) <= BAND
    assert row["size_diff_error_bytes"] > 0
    top = section["top_sites"][0]
    assert (top["filename"], top["lineno"]) == (str(script), leak_line)
    # the churn line allocated twice as much, all of it freed: no live sample stays
    churn_line = line_of(script, "CHURN-LINE")
    assert all(g["lineno"] != churn_line for g in section["growth"])


def test_top_sites_and_tracebacks_match_exact_mode(workdir: Path) -> None:
    exact = run_mode(workdir, "exact", "--frames", "4")["allocations"]
    sampled = run_mode(workdir, "sampled", "--frames", "4", env=seeded(7))["allocations"]
    assert sampled["frames"] == exact["frames"] == 4
    for table in ("growth", "top_sites"):
        first_exact, first_sampled = exact[table][0], sampled[table][0]
        assert first_sampled["traceback"] == first_exact["traceback"]
    assert not any("gcscope" in f for f, _ in sampled["growth"][0]["traceback"])


def test_steady_growth_across_intervals(workdir: Path) -> None:
    # 50 kB per step: at 4 KiB every step is sampled (the report explains coarser rates)
    section = run_mode(
        workdir,
        "sampled",
        "--interval",
        "200ms",
        "--sample-every",
        "4KiB",
        target="slow_leaker.py",
        env=seeded(3),
    )["allocations"]
    assert section["snapshots"] >= 4
    steady_lines = {row["lineno"] for row in section["steady_growth"]}
    assert line_of(workdir / "slow_leaker.py", "STEADY-LINE") in steady_lines
    assert line_of(workdir / "slow_leaker.py", "SPIKE-LINE") not in steady_lines


def test_capture_and_report_mark_every_figure_as_an_estimate(workdir: Path) -> None:
    result = run_gcscope(
        "run",
        "--allocations=sampled",
        "--sample-every",
        "64KiB",
        "-o",
        "s.json",
        "leaker.py",
        cwd=workdir,
        env=seeded(11),
    )
    assert result.returncode == 0, result.stderr
    section = load_json(workdir / "s.json")["allocations"]
    assert section["mode"] == "sampled" and section["estimated"] is True
    assert section["sample_every_bytes"] == 64 * 1024
    assert section["confidence"] == 0.95
    assert section["sampler"]["seed"] == 11 and section["sampler"]["samples"] > 0
    assert section["growth_total_error_bytes"] > 0 and section["total_size_error_bytes"] > 0
    for row in section["top_sites"]:
        assert {"size_bytes", "count", "size_error_bytes", "samples"} <= set(row)
    for row in section["growth"]:
        assert {"size_diff_bytes", "count_diff", "size_diff_error_bytes"} <= set(row)
    report = stderr_report(result.stderr)
    assert "sampled every 64.0 KiB" in report and "estimates" in report
    leak = f"leaker.py:{line_of(workdir / 'leaker.py', 'LEAK-LINE')}"
    growth_table = report.split("Growth, first to last snapshot")[1]
    row = next(line for line in growth_table.splitlines() if line.startswith(leak))
    assert "~" in row and "\u00b1" in row
    assert run_gcscope("report", "s.json", cwd=workdir).stdout.decode() == report
    html = run_gcscope("report", "--format", "html", "-o", "s.html", "s.json", cwd=workdir)
    assert html.returncode == 0, html.stderr
    page = (workdir / "s.html").read_text()
    assert "sampled every 64.0 KiB" in page and "\u00b1" in page


def test_exact_mode_is_unchanged(workdir: Path) -> None:
    for flag in ("--allocations", "--allocations=exact"):
        result = run_gcscope("run", flag, "-o", "e.json", "leaker.py", cwd=workdir)
        assert result.returncode == 0, result.stderr
        section = load_json(workdir / "e.json")["allocations"]
        assert section["mode"] == "exact" and section["estimated"] is False
        assert "sample_every_bytes" not in section
        assert "size_error_bytes" not in section["top_sites"][0]
        assert "Allocations (tracemalloc" in stderr_report(result.stderr)


def test_type_growth_and_sizes_in_sampled_mode(workdir: Path) -> None:
    capture = run_mode(workdir, "sampled", env=seeded(5))
    growth = {row["type"]: row["count_diff"] for row in capture["type_growth"]}
    assert growth["__main__.Leaky"] == LEAKS  # exact: type counts are never sampled
    assert not any(name.startswith("gcscope.") for name in growth)
    sizes = capture["type_sizes"]
    leaky = next(row for row in sizes["types"] if row["type"] == "__main__.Leaky")
    assert leaky["count"] == LEAKS


@pytest.mark.parametrize("mode", ["sampled", "exact"])
def test_empty_program_types_and_sizes_hold_nothing_of_gcscope(workdir: Path, mode: str) -> None:
    capture = run_mode(workdir, mode, target="empty.py")
    assert capture["type_growth"] == []
    rows = [row["type"] for row in capture["type_sizes"]["types"]]
    # gcscope's flat buffers (its event and RSS arrays) and its own classes are not the
    # program's: an empty program has no array.array at all
    assert "array.array" not in rows
    assert not any(row.startswith("gcscope") for row in rows)


def test_empty_program_shows_no_sites_in_sampled_mode(workdir: Path) -> None:
    section = run_mode(workdir, "sampled", "--sample-every", "1KiB", target="empty.py")[
        "allocations"
    ]
    # gcscope allocated well over 1 KiB around the program (snapshots, reports, its
    # RSS thread): every such sample is recognised as its own and discarded
    assert section["sampler"]["own_discarded"] > 0
    assert section["top_sites"] == [] and section["growth"] == []
    assert section["growth_total_bytes"] == 0 and section["total_size_bytes"] == 0


def test_empty_program_shows_no_sites_in_exact_mode(workdir: Path) -> None:
    section = run_mode(workdir, "exact", target="empty.py")["allocations"]
    assert section["top_sites"] == [] and section["growth"] == []


@pytest.mark.parametrize("mode", ["sampled", "exact"])
def test_gc_recorder_buffers_are_not_the_programs(workdir: Path, mode: str) -> None:
    """20,000 collections grow gcscope's timeline to ~1 MB inside the program's
    collections: none of it may show on the program's line."""
    script = workdir / "collects.py"
    script.write_text("import gc\nfor _ in range(20_000):\n    gc.collect(0)\nprint('ok')\n")
    section = run_mode(workdir, mode, target=script.name, env=seeded(6))["allocations"]
    assert all(row["size_diff_bytes"] < 10_000 for row in section["growth"]), section["growth"]


def test_without_the_extension_sampled_falls_back_to_exact(workdir: Path) -> None:
    # what an install without a C compiler has: the module cannot be imported
    code = (
        "import sys; sys.modules['gcscope._allocsampler'] = None; "
        "from gcscope.cli import main; main(sys.argv[1:])"
    )
    result = run_python(
        "-c", code, "run", "--allocations=sampled", "-o", "f.json", "leaker.py", cwd=workdir
    )
    assert result.returncode == 0, result.stderr
    section = load_json(workdir / "f.json")["allocations"]
    assert section["mode"] == "exact" and section["requested_mode"] == "sampled"
    assert "not built" in section["fallback_reason"]
    leak_line = line_of(workdir / "leaker.py", "LEAK-LINE")
    assert section["growth"][0]["lineno"] == leak_line
    assert "NOTE: --allocations=sampled ran as exact tracemalloc" in stderr_report(result.stderr)


def test_check_max_growth_judges_estimates_by_their_interval(workdir: Path) -> None:
    run_mode(workdir, "sampled", env=seeded(13))
    section = load_json(workdir / "sampled.json")["allocations"]
    estimate, error = section["growth_total_bytes"], section["growth_total_error_bytes"]
    below, above = estimate - 2 * error, estimate + 2 * error
    exceeded = run_gcscope("check", "sampled.json", "--max-growth", f"{below}B", cwd=workdir)
    assert exceeded.returncode == 1 and b"max-growth exceeded: ~" in exceeded.stdout
    held = run_gcscope("check", "sampled.json", "--max-growth", f"{above}B", cwd=workdir)
    assert held.returncode == 0 and b"all limits hold" in held.stdout
    inside = run_gcscope("check", "sampled.json", "--max-growth", f"{estimate}B", cwd=workdir)
    assert inside.returncode == 1
    assert b"max-growth cannot be judged" in inside.stdout
    assert b"--sample-every" in inside.stdout
    # the same limit on an exact capture is simply judged
    run_mode(workdir, "exact")
    exact = load_json(workdir / "exact.json")["allocations"]["growth_total_bytes"]
    limit = f"{exact + 1}B"
    assert run_gcscope("check", "exact.json", "--max-growth", limit, cwd=workdir).returncode == 0


def test_diff_does_not_call_sampling_noise_a_regression(workdir: Path) -> None:
    for seed in (21, 22):
        result = run_gcscope(
            "run", "--allocations=sampled", "--format", "none", "-o", f"{seed}.json",
            "leaker.py", cwd=workdir, env=seeded(seed),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    first, second = (load_json(workdir / f"{s}.json")["allocations"] for s in (21, 22))
    assert first["growth_total_bytes"] != second["growth_total_bytes"]  # two estimates
    result = run_gcscope("diff", "21.json", "22.json", "--tolerance", "0%", cwd=workdir)
    line = next(text for text in result.stdout.decode().splitlines() if "allocation" in text)
    assert "REGRESSED" not in line


def test_seed_makes_samples_repeatable(workdir: Path) -> None:
    env = seeded(99, PYTHONHASHSEED="0")
    flags = ("--rss-interval", "0")
    first = run_mode(workdir, "sampled", *flags, env=env)["allocations"]["growth"][0]
    second = run_mode(workdir, "sampled", *flags, env=env)["allocations"]["growth"][0]
    assert first == second


def test_program_tracemalloc_and_threads_under_the_sampler(workdir: Path) -> None:
    # the program wraps our hooks with its own tracemalloc: both keep working
    section = run_mode(workdir, "sampled", target="own_tracemalloc.py")["allocations"]
    assert "error" not in section
    script = workdir / "threads_alloc.py"
    script.write_text(
        "import threading\n"
        "kept = []\n"
        "def work():\n"
        "    kept.extend(bytearray(20_000) for _ in range(200))  # THREAD-LINE\n"
        "threads = [threading.Thread(target=work) for _ in range(4)]\n"
        "for t in threads: t.start()\n"
        "for t in threads: t.join()\n"
        "print(len(kept))\n"
    )
    section = run_mode(workdir, "sampled", target="threads_alloc.py", env=seeded(4))["allocations"]
    first = section["growth"][0]
    assert (first["filename"], first["lineno"]) == (str(script), 4)
    assert abs(first["size_diff_bytes"] / (800 * 20_000) - 1) <= BAND


def test_program_that_removes_the_hooks_is_reported(workdir: Path) -> None:
    # PYTHONTRACEMALLOC starts tracemalloc first, the sampler wraps it, and the program's
    # tracemalloc.stop() then restores the interpreter's allocators, taking ours out
    script = workdir / "stops_tracemalloc.py"
    script.write_text(
        "import tracemalloc\nkeep = [bytearray(10_000) for _ in range(100)]\n"
        "tracemalloc.stop()\nprint('stopped')\n"
    )
    env = {**os.environ, "PYTHONTRACEMALLOC": "1"}
    section = run_mode(workdir, "sampled", target=script.name, env=env)["allocations"]
    assert "replaced the memory allocator" in section["error"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forking_program_runs_as_under_python(workdir: Path) -> None:
    script = workdir / "forks.py"
    script.write_text(
        "import os\n"
        "keep = [bytearray(10_000) for _ in range(500)]\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    more = [bytearray(10_000) for _ in range(500)]\n"
        "    os._exit(7)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "print('child', os.waitstatus_to_exitcode(status))\n"
    )
    section = run_mode(workdir, "sampled", target=script.name, env=seeded(8))["allocations"]
    assert section["growth"][0]["lineno"] == 2


@pytest.mark.parametrize(
    "flags, fragment",
    [
        (["--allocations=sampled", "--sample-every", "0"], "--sample-every"),
        (["--sample-every", "0.5"], "--sample-every"),
        (["--sample-every", "2GiB"], "1GiB"),
        (["--sample-every", "lots"], "lots"),
        (["--sample-every", "-1KiB"], "-1KiB"),
        (["--allocations=exact", "--sample-every", "64KiB"], "--allocations=sampled"),
        (["--allocations=often"], "often"),
        (["--allocations", "sampled"], "--allocations=sampled"),
    ],
)
def test_bad_sampled_options(workdir: Path, flags: list[str], fragment: str) -> None:
    result = run_gcscope("run", *flags, "leaker.py", cwd=workdir)
    assert result.returncode == 2
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in lines[0], lines
    assert result.stdout == b""


def test_bad_seed_is_a_usage_error(workdir: Path) -> None:
    env = {**os.environ, "GCSCOPE_SAMPLER_SEED": "abc"}
    result = run_gcscope("run", "--allocations=sampled", "leaker.py", cwd=workdir, env=env)
    assert result.returncode == 2
    assert result.stderr.decode().strip().splitlines() == [
        "gcscope: invalid GCSCOPE_SAMPLER_SEED 'abc' (expected a whole number from 1 to 2**64-1)"
    ]


def test_sample_every_implies_sampled_mode(workdir: Path) -> None:
    result = run_gcscope(
        "run", "--sample-every", "1MiB", "--format", "none", "-o", "i.json", "leaker.py",
        cwd=workdir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    section = load_json(workdir / "i.json")["allocations"]
    assert section["mode"] == "sampled" and section["sample_every_bytes"] == 1024 * 1024


def test_python_api_sampled(tmp_path: Path) -> None:
    script = tmp_path / "api_sampled.py"
    script.write_text(
        "import sys, gcscope\n"
        "kept = []\n"
        "with gcscope.watch(allocations='sampled', sample_every=4096) as watcher:\n"
        "    kept.extend(bytearray(5000) for _ in range(1000))  # KEPT\n"
        "watcher.save(sys.argv[1])\n"
    )
    result = run_python(str(script), "api.json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    section = load_json(tmp_path / "api.json")["allocations"]
    assert section["mode"] == "sampled"
    assert section["growth"][0]["lineno"] == 4
    assert abs(section["growth"][0]["size_diff_bytes"] / 5_000_000 - 1) <= BAND


def test_type_sizes_are_pymplers_own_rows() -> None:
    """The per-type summary (C speed) gives exactly the rows pympler's summarize gives,
    on this test process's whole heap (functions, modules and frames named one by one)."""
    import gc
    import sys

    from pympler import summary

    from gcscope.probes.types import summarize

    objects = [*gc.get_objects(), sys._getframe()]
    assert sorted(map(tuple, summarize(objects))) == sorted(map(tuple, summary.summarize(objects)))
