"""`gcscope run` behaves like `python` for the program, and measures what it claims."""

from __future__ import annotations

import array
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import gcscope_command, line_of, load_json, run_gcscope, run_python, stderr_report


def test_script_sees_what_python_gives_it(workdir: Path) -> None:
    args = ["show_env.py", "--port", "8000", "-o", "not-gcscope's"]
    plain = run_python(*args, cwd=workdir)
    scoped = run_gcscope("run", "-o", "cap.json", *args, cwd=workdir)
    assert plain.returncode == 0, plain.stderr
    assert scoped.returncode == 0, scoped.stderr
    assert scoped.stdout == plain.stdout  # byte-identical, including argv and sys.path[0]
    assert b"sibling imported" in scoped.stdout
    assert load_json(workdir / "cap.json")["argv"] == args


def test_script_given_by_path_from_another_folder(workdir: Path) -> None:
    elsewhere = workdir / "sub"
    elsewhere.mkdir()
    plain = run_python("../show_env.py", "x", cwd=elsewhere)
    scoped = run_gcscope(
        "run", "--format", "none", "-o", "c.json", "../show_env.py", "x", cwd=elsewhere
    )
    assert scoped.stdout == plain.stdout


def test_module_like_python_dash_m(workdir: Path) -> None:
    plain = run_python("-m", "pkgdemo.tool", "a", "-o", "b", cwd=workdir)
    scoped = run_gcscope("run", "-o", "c.json", "-m", "pkgdemo.tool", "a", "-o", "b", cwd=workdir)
    assert plain.returncode == scoped.returncode == 0, scoped.stderr
    assert scoped.stdout == plain.stdout
    joined = run_gcscope("run", "-o", "d.json", "-mpkgdemo.tool", "a", cwd=workdir)
    assert joined.stdout == run_python("-mpkgdemo.tool", "a", cwd=workdir).stdout


def test_package_main(workdir: Path) -> None:
    plain = run_python("-m", "pkgdemo", "x", cwd=workdir)
    scoped = run_gcscope("run", "-o", "c.json", "-m", "pkgdemo", "x", cwd=workdir)
    assert scoped.stdout == plain.stdout


def test_command_like_python_dash_c(workdir: Path) -> None:
    code = "import sys; print(sys.argv, repr(sys.path[0]), __name__)"
    plain = run_python("-c", code, "arg", cwd=workdir)
    scoped = run_gcscope("run", "-o", "c.json", "-c", code, "arg", cwd=workdir)
    assert scoped.stdout == plain.stdout
    assert load_json(workdir / "c.json")["argv"] == ["-c", code, "arg"]


@pytest.mark.parametrize(
    "args",
    [["code", "3"], ["code", "0"], ["message"], ["raise"], ["none"], ["finish"]],
)
def test_exit_status_and_errors_match_python(workdir: Path, args: list[str]) -> None:
    plain = run_python("exits.py", *args, cwd=workdir)
    scoped = run_gcscope("run", "-o", "c.json", "exits.py", *args, cwd=workdir)
    assert scoped.returncode == plain.returncode
    assert scoped.stdout == plain.stdout
    target_stderr = scoped.stderr.decode().split("gcscope: capture written")[0]
    assert target_stderr == plain.stderr.decode()  # same traceback, no gcscope frames
    capture = load_json(workdir / "c.json")
    assert capture["exit_code"] == plain.returncode


def test_syntax_error_shown_like_python(workdir: Path) -> None:
    plain = run_python("bad_syntax.py", cwd=workdir)
    scoped = run_gcscope("run", "-o", "c.json", "bad_syntax.py", cwd=workdir)
    assert scoped.returncode == plain.returncode == 1
    assert scoped.stderr.decode().split("gcscope: capture written")[0] == plain.stderr.decode()


def test_counts_and_pauses_match_the_programs_own_measurements(
    workdir: Path, callback: tuple[str, dict[str, str]]
) -> None:
    kind, env = callback
    result = run_gcscope("run", "-o", "c.json", "gc_truth.py", "truth.json", cwd=workdir, env=env)
    assert result.returncode == 0, result.stderr
    truth = load_json(workdir / "truth.json")
    capture = load_json(workdir / "c.json")
    assert capture["gc"]["callback"] == kind
    reconciliation = capture["gc"]["get_stats"]
    assert reconciliation["reconciled"], reconciliation["mismatches"]
    generations = {g["generation"]: g for g in capture["generations"]}
    for g, (before, after) in enumerate(zip(truth["before"], truth["after"])):
        own = after["collections"] - before["collections"]
        # the capture's window holds the program's, plus only start-up/shut-down instants
        assert own <= generations[g]["collections"] <= own + 2
        assert generations[g]["collected"] >= after["collected"] - before["collected"]
    assert capture["gc"]["callback_errors"] == 0

    # the five gc.collect() calls: attributed to their line, with the pause the program timed
    collect_line = line_of(workdir / "gc_truth.py", "COLLECT-LINE")
    columns = capture["gc"]["events"]["columns"]
    rows = [dict(zip(columns, row)) for row in capture["gc"]["events"]["rows"]]
    sites = capture["gc"]["sites"]
    at_collect = [
        r for r in rows if (sites[r["site"]]["program"] or {}).get("lineno") == collect_line
    ]
    assert len(at_collect) == 5
    assert all(r["generation"] == len(capture["generations"]) - 1 for r in at_collect)
    for row, measured in zip(at_collect, truth["collect_seconds"]):
        pause_s = row["pause_ns"] / 1e9
        assert pause_s <= measured  # the callback sits inside the program's own timing
        assert pause_s >= 0.5 * measured  # ...and the pause is most of it

    # automatic collections come from the two allocating lines (3.12+: where they ran, nearby)
    churn_line = line_of(workdir / "gc_truth.py", "CHURN-LINE")
    keep_line = line_of(workdir / "gc_truth.py", "KEEP-LINE")
    program_sites = [s for s in sites if s["program"]]
    assert all(s["program"]["filename"].endswith("gc_truth.py") for s in program_sites)
    lines = {s["program"]["lineno"] for s in program_sites}
    functions = {s["program"]["function"] for s in program_sites}
    init = "Node.__init__" if sys.version_info >= (3, 11) else "__init__"  # co_qualname: 3.11+
    assert functions <= {"<module>", "<listcomp>", "churn", init}
    assert "churn" in functions or init in functions
    if sys.version_info < (3, 12):
        assert {churn_line, keep_line, collect_line} <= lines


def test_report_printed_by_run_is_the_report_of_the_file(workdir: Path) -> None:
    result = run_gcscope("run", "-o", "c.json", "gc_truth.py", "t.json", cwd=workdir)
    report = run_gcscope("report", "c.json", cwd=workdir)
    assert report.returncode == 0
    assert stderr_report(result.stderr) == report.stdout.decode()
    assert "Collections by generation" in report.stdout.decode()
    assert "Top trigger sites" in report.stdout.decode()
    as_json = run_gcscope("report", "--format", "json", "c.json", cwd=workdir)
    assert json.loads(as_json.stdout) == load_json(workdir / "c.json")


def test_capture_contract(workdir: Path) -> None:
    result = run_gcscope("run", "-o", "c.json", "gc_truth.py", "t.json", cwd=workdir)
    assert result.returncode == 0
    capture = load_json(workdir / "c.json")
    assert capture["schema_version"] == 1
    assert capture["python"]["version"].startswith("{}.{}".format(*sys.version_info[:2]))
    assert capture["wall_seconds"] > 0
    assert capture["peak_rss_bytes"] > 10_000_000  # the target keeps 300k lists alive
    assert 0 < capture["gc_time_fraction"] < 1
    total_ms = sum(g["pause_ms"]["total"] for g in capture["generations"])
    assert capture["gc_time_fraction"] == pytest.approx(
        total_ms / 1000 / capture["wall_seconds"], rel=1e-3
    )
    for g in capture["generations"]:
        pause = g["pause_ms"]
        assert pause["p50"] <= pause["p95"] <= pause["p99"] <= pause["max"] <= pause["total"]
    assert capture["rss"]["samples"], "the RSS sampler took no sample in a >0.1 s run"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="statm")
@pytest.mark.parametrize("sampler", ["c", "python"])
def test_rss_timeline_follows_the_programs_memory(workdir: Path, sampler: str) -> None:
    """The C sampler (no GIL) and the Python thread record the same known steps: 64 MiB
    up, then down again, at the interval asked for."""
    if sampler == "c":
        pytest.importorskip("gcscope._rsssampler", reason="C sampler not built")
    env = {**os.environ, "GCSCOPE_RSS_SAMPLER": "" if sampler == "c" else "python"}
    result = run_gcscope(
        "run", "--rss-interval", "20ms", "-o", "c.json", "rss_steps.py", cwd=workdir, env=env
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    capture = load_json(workdir / "c.json")
    rss = capture["rss"]
    assert rss["sampler"] == sampler
    times = [t for t, _ in rss["samples"]]
    values = [v for _, v in rss["samples"]]
    assert times == sorted(times) and times[-1] <= capture["wall_seconds"]
    assert len(values) >= 20  # ~0.9 s at 20 ms, on a loaded machine too
    peak_at = values.index(max(values))
    mib = 1024 * 1024
    assert max(values) - values[0] >= 60 * mib
    assert max(values) - values[-1] >= 60 * mib
    assert 0.2 < times[peak_at] < capture["wall_seconds"] - 0.2


def test_c_rss_sampler_stops_one_start_and_thins_evenly() -> None:
    """A stop is for one start of the sampling thread: a later start (a fork in another
    thread restarts it) neither undoes it nor is ended by it. A full timeline keeps
    every other tick, evenly spaced."""
    sampler_module = pytest.importorskip("gcscope._rsssampler", reason="C sampler not built")
    sampler = sampler_module.Sampler(4)
    first = sampler.arm()
    sampler.wake(first)
    second = sampler.arm()
    assert sampler.wait(0.001, -1, 0, False, first) is False  # its stop still stands
    assert sampler.wait(0.001, -1, 0, True, second) is True  # a tick, not a stop
    for _ in range(8):  # ticks 2-9: the timeline fills at 4 and halves, twice
        assert sampler.wait(0.001, -1, 0, True, second) is True
    times, rss, stride = sampler.samples()
    assert stride == 4 and len(times) == len(rss) == 2 * 8  # ticks 4 and 8, as doubles
    kept = array.array("d", times)
    gap = kept[1] - kept[0]
    assert gap >= 4 * 0.001
    sampler.wake(second)
    assert sampler.wait(0.001, -1, 0, True, second) is False


def test_event_cap_keeps_exact_aggregates(
    workdir: Path, callback: tuple[str, dict[str, str]]
) -> None:
    kind, env = callback
    capped = run_gcscope(
        "run",
        "--max-events",
        "10",
        "-o",
        "cap.json",
        "gc_truth.py",
        "t2.json",
        cwd=workdir,
        env=env,
    )
    assert capped.returncode == 0, capped.stderr
    capture = load_json(workdir / "cap.json")
    assert capture["gc"]["callback"] == kind
    events = capture["gc"]["events"]
    assert events["stored"] == len(events["rows"]) == 10
    assert events["total"] == sum(g["collections"] for g in capture["generations"]) > 10
    reconciliation = capture["gc"]["get_stats"]
    assert reconciliation["reconciled"], reconciliation["mismatches"]
    # past the cap, every collection still counts: exactly what get_stats saw
    for generation, delta in zip(capture["generations"], reconciliation["delta"]):
        assert generation["collected"] == delta["collected"]
    truth = load_json(workdir / "t2.json")
    own_full = truth["after"][2]["collections"] - truth["before"][2]["collections"]
    assert capture["generations"][2]["collections"] >= own_full
    # the sites' collections add up to all collections, stored or not
    assert sum(site["collections"] for site in capture["gc"]["sites"]) == events["total"]
    assert "2%-wide buckets" in stderr_report(capped.stderr)


def test_default_capture_name(workdir: Path) -> None:
    result = run_gcscope("run", "empty.py", cwd=workdir)
    assert result.returncode == 0
    written = list(workdir.glob("gcscope-empty-*.json"))
    assert len(written) == 1
    assert f"capture written to {written[0].name}" in result.stderr.decode()


def test_non_daemon_threads_are_waited_for(
    workdir: Path, callback: tuple[str, dict[str, str]]
) -> None:
    result = run_gcscope("run", "-o", "c.json", "threads_late.py", cwd=workdir, env=callback[1])
    assert result.returncode == 0
    assert result.stdout.decode().splitlines() == ["main done", "thread done"]
    capture = load_json(workdir / "c.json")
    full = capture["generations"][-1]
    assert full["collections"] >= 3  # the thread's collections happened inside the capture
    assert capture["wall_seconds"] >= 0.3


def test_pickle_and_multiprocessing_spawn(workdir: Path) -> None:
    result = run_gcscope("run", "-o", "c.json", "spawn_pickle.py", cwd=workdir, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"squares [0, 1, 4, 9, 16]\n"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_ends_promptly_and_still_writes_the_capture(
    workdir: Path, callback: tuple[str, dict[str, str]]
) -> None:
    process = subprocess.Popen(
        [*gcscope_command(), "run", "-o", "c.json", "forever.py"],
        cwd=workdir,
        env=callback[1],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stdout.readline() == b"ready\n"
    time.sleep(0.3)  # let collections run, so the signal lands amid them
    process.send_signal(signal.SIGINT)
    try:
        _, stderr = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("Ctrl-C was lost: the program kept running")
    assert process.returncode == -signal.SIGINT  # like python: killed by SIGINT
    assert b"KeyboardInterrupt" in stderr
    capture = load_json(workdir / "c.json")
    assert capture["ended_by"] == "interrupt"
    assert capture["generations"][0]["collections"] > 0


def test_c_helpers_are_built_where_a_compiler_exists() -> None:
    """The C recorder and clearer are optional builds: a silent build failure shows here."""
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler: gcscope uses its Python fallbacks")
    import gcscope._gcclear
    import gcscope._gcrecorder

    assert gcscope._gcrecorder.Recorder and gcscope._gcclear.clear_all


def test_python_dash_m_gcscope_works(workdir: Path) -> None:
    result = run_python("-m", "gcscope", "run", "-o", "c.json", "empty.py", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert (workdir / "c.json").exists()


@pytest.mark.skipif(
    shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler"
)
def test_every_c_helper_was_built_where_a_compiler_is(workdir: Path) -> None:
    """The C helpers are optional at install, so a helper that fails to compile is
    silent there; where a compiler exists (CI), each one must have been built."""
    helpers = ["_gcrecorder", "_gcclear", "_allocsampler", "_gcharvest", "_gcstate"]
    helpers.append("_threadhold")
    if sys.platform.startswith("linux"):
        helpers.append("_rsssampler")
    code = "; ".join(f"import gcscope.{name}" for name in helpers)
    result = subprocess.run([sys.executable, "-c", code], cwd=workdir, capture_output=True)
    assert result.returncode == 0, result.stderr.decode()
