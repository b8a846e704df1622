"""`gcscope check` and `gcscope diff` on captures of programs with known properties."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import copy_targets, load_json, run_gcscope


@pytest.fixture(scope="module")
def captures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Captures recorded once: few cycles, 100x more cycles, allocations, a plain run."""
    workdir = copy_targets(tmp_path_factory.mktemp("captures"))
    runs = [
        ("few.json", ["--cycles"], ["make_cycles.py", "100", "0"]),
        ("many.json", ["--cycles"], ["make_cycles.py", "10000", "0"]),
        ("leak.json", ["--allocations"], ["leaker.py"]),
        ("plain.json", [], ["empty.py"]),
    ]
    for name, flags, target in runs:
        result = run_gcscope("run", *flags, "--format", "none", "-o", name, *target, cwd=workdir)
        assert result.returncode == 0, result.stderr
    return workdir


def check(folder: Path, *args: str):
    return run_gcscope("check", *args, cwd=folder)


def test_limits_that_hold_pass(captures: Path) -> None:
    result = check(
        captures,
        "many.json",
        "--max-pause",
        "10s",
        "--max-gc-time",
        "100%",
        "--max-cyclic-garbage",
        "1000000",
        "--max-peak-rss",
        "10GiB",
        "--max-uncollectable",
        "0",
    )
    assert result.returncode == 0, result.stdout
    assert b"all limits hold" in result.stdout


def test_exceeded_limits_name_metric_value_limit_and_offender(captures: Path) -> None:
    capture = load_json(captures / "many.json")
    worst = max(capture["generations"], key=lambda g: g["pause_ms"]["max"])
    result = check(
        captures,
        "many.json",
        "--max-cyclic-garbage",
        "0",
        "--max-pause",
        "0.000001ms",
        "--max-gc-time",
        "0%",
        "--max-peak-rss",
        "1KB",
    )
    assert result.returncode == 1
    lines = result.stdout.decode().splitlines()
    assert len(lines) == 4
    cyclic = next(line for line in lines if "max-cyclic-garbage" in line)
    total = capture["cycles"]["total_objects"]
    assert f"{total} objects > 0" in cyclic and "__main__.Node" in cyclic
    pause = next(line for line in lines if "max-pause" in line)
    assert f"generation {worst['generation']}" in pause
    assert any("max-peak-rss exceeded" in line for line in lines)


def test_growth_limit_names_the_leaking_site(captures: Path) -> None:
    result = check(captures, "leak.json", "--max-growth", "1MB")
    assert result.returncode == 1
    assert b"max-growth exceeded" in result.stdout and b"leaker.py:" in result.stdout
    assert check(captures, "leak.json", "--max-growth", "1GiB").returncode == 0


def test_per_generation_pause_and_github_format(captures: Path) -> None:
    result = check(captures, "many.json", "--max-pause", "gen0=0.000001ms", "--format", "github")
    assert result.returncode == 1
    assert result.stdout.startswith(b"::error title=gcscope check (many.json)::max-pause (gen0)")


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["many.json", "--max-pause", "fast"], "fast"),
        (["many.json", "--max-gc-time", "lots"], "lots"),
        (["many.json", "--max-peak-rss", "300 parsecs"], "parsecs"),
        (["many.json", "--max-pause", "gen5=1ms"], "generation 5"),
        (["plain.json", "--max-cyclic-garbage", "0"], "--cycles"),
        (["plain.json", "--max-growth", "1MB"], "--allocations"),
        (["missing.json", "--max-pause", "1ms"], "no such capture"),
        (["many.json"], "no limits"),
    ],
)
def test_usage_errors_exit_2(captures: Path, args: list[str], fragment: str) -> None:
    result = check(captures, *args)
    assert result.returncode == 2
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], lines


def test_limits_from_pyproject(captures: Path) -> None:
    config = captures / "pyproject.toml"
    config.write_text('[tool.gcscope.check]\nmax-cyclic-garbage = 0\nmax-pause = "10s"\n')
    result = check(captures, "few.json")
    assert result.returncode == 1
    assert b"max-cyclic-garbage exceeded" in result.stdout
    config.write_text('[tool.gcscope.check]\nmax-pause = "soon"\n')
    bad = check(captures, "few.json")
    config.unlink()
    assert bad.returncode == 2 and b"pyproject.toml" in bad.stderr


def test_diff_of_a_capture_with_itself_passes(captures: Path) -> None:
    result = run_gcscope("diff", "many.json", "many.json", cwd=captures)
    assert result.returncode == 0, result.stdout
    assert b"REGRESSED" not in result.stdout


def test_diff_fails_on_100x_more_cyclic_garbage(captures: Path) -> None:
    result = run_gcscope("diff", "few.json", "many.json", cwd=captures)
    assert result.returncode == 1
    text = result.stdout.decode()
    row = next(line for line in text.splitlines() if line.startswith("cyclic garbage"))
    assert "REGRESSED" in row and "__main__.Node" in row
    assert "regressed beyond 10%" in text
    # the other way round it is an improvement, not a regression
    reverse = run_gcscope("diff", "many.json", "few.json", cwd=captures)
    assert b"improved" in reverse.stdout


def test_diff_tolerance_and_noise_floor(captures: Path, tmp_path: Path) -> None:
    base = load_json(captures / "few.json")
    slightly = json.loads(json.dumps(base))
    slightly["cycles"]["total_objects"] += 5  # above 10% of nothing much, under the floor
    for generation in slightly["generations"]:
        generation["pause_ms"]["max"] += 0.5  # sub-millisecond: noise
    (captures / "slightly.json").write_text(json.dumps(slightly))
    assert run_gcscope("diff", "few.json", "slightly.json", cwd=captures).returncode == 0
    result = run_gcscope("diff", "--tolerance", "banana", "few.json", "few.json", cwd=captures)
    assert result.returncode == 2


# -- honest verdicts: figures gcscope knows to be incomplete (issue 12.3) --

CLEARS_CALLBACKS = """
import gc
gc.callbacks.clear()  # gcscope's callback too: it sees none of what follows
for _ in range(65):
    gc.collect(0)
"""


@pytest.fixture(scope="module")
def doubtful(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Captures whose figures gcscope itself flags: callbacks removed, SAVEALL turned off,
    tracemalloc stopped; and one whose timeline was capped (which is fine)."""
    folder = copy_targets(tmp_path_factory.mktemp("doubtful"))
    (folder / "clears.py").write_text(CLEARS_CALLBACKS)
    (folder / "stops_tracemalloc.py").write_text(
        "import tracemalloc\nkept = [bytearray(1000) for _ in range(100)]\ntracemalloc.stop()\n"
    )
    runs = [
        ("clears.json", [], ["clears.py"]),
        ("nosave.json", ["--cycles"], ["observes_collector.py", "nosaveall"]),
        ("stopped.json", ["--allocations"], ["stops_tracemalloc.py"]),
        ("capped.json", ["--max-events", "0", "--cycles"], ["make_cycles.py", "3000", "0"]),
        ("cycles.json", ["--cycles"], ["make_cycles.py", "3000", "0"]),
    ]
    for name, flags, target in runs:
        result = run_gcscope("run", *flags, "--format", "none", "-o", name, *target, cwd=folder)
        assert result.returncode == 0, result.stderr
    return folder


def test_check_fails_when_the_callback_missed_collections(doubtful: Path) -> None:
    stats = load_json(doubtful / "clears.json")["gc"]["get_stats"]
    assert not stats["reconciled"]  # gcscope knows (the report warns)
    counted = sum(entry["collections"] for entry in stats["delta"])
    assert counted >= 65
    result = check(doubtful, "clears.json", "--max-pause", "1s", "--max-gc-time", "100%")
    assert result.returncode == 1, result.stdout
    lines = result.stdout.decode().splitlines()
    assert len(lines) == 2
    for line, limit in zip(lines, ("max-pause", "max-gc-time")):
        assert line.startswith(f"gcscope check: {limit} cannot be judged: ")
        assert f"counted {counted} collections" in line and "saw 0" in line
    # a figure that does not come from the callback is judged as usual
    assert check(doubtful, "clears.json", "--max-peak-rss", "1024TiB").returncode == 0


def test_check_fails_when_cyclic_garbage_went_uncounted(doubtful: Path) -> None:
    unsaved = load_json(doubtful / "nosave.json")["cycles"]["unsaved_collections"]
    assert unsaved > 0
    result = check(doubtful, "nosave.json", "--max-cyclic-garbage", "1000000")
    assert result.returncode == 1
    assert b"max-cyclic-garbage cannot be judged" in result.stdout
    assert f"{unsaved} collections went uncounted".encode() in result.stdout
    # already over the limit: the undercount can only be worse
    exceeded = check(doubtful, "nosave.json", "--max-cyclic-garbage", "0")
    assert b"max-cyclic-garbage exceeded" in exceeded.stdout and exceeded.returncode == 1


def test_check_fails_when_the_program_stopped_tracemalloc(doubtful: Path) -> None:
    result = check(doubtful, "stopped.json", "--max-growth", "1GiB")
    assert result.returncode == 1  # it was "needs --allocations", exit 2, on a capture that has it
    assert b"max-growth cannot be judged: the program stopped tracemalloc" in result.stdout


def test_a_capped_timeline_is_no_doubt(doubtful: Path) -> None:
    events = load_json(doubtful / "capped.json")["gc"]["events"]
    assert events["stored"] == 0 and events["dropped"] == events["total"] > 0
    limits = ["--max-pause", "10s", "--max-gc-time", "100%", "--max-cyclic-garbage", "1000000"]
    assert check(doubtful, "capped.json", *limits).returncode == 0


def test_limits_are_echoed_as_written(captures: Path) -> None:
    peak = load_json(captures / "many.json")["peak_rss_bytes"]
    line = check(captures, "many.json", "--max-peak-rss", "1MB").stdout.decode().strip()
    value, limit = line.removeprefix("gcscope check: max-peak-rss exceeded: ").split(" > ")
    assert limit == "1MB"  # not "976.6 KiB"
    assert value.endswith("MB") and abs(float(value[:-2]) - peak / 1e6) < 0.001
    line = check(captures, "many.json", "--max-peak-rss", "0.5MiB").stdout.decode().strip()
    assert line.split(" > ")[1] == "0.5MiB" and line.split(" > ")[0].endswith("MiB")
    pause = check(captures, "many.json", "--max-pause", "0.001us").stdout.decode()
    assert pause.split(" (")[0].endswith("us > 0.001us")


def test_a_key_error_is_never_a_failed_limit(captures: Path, tmp_path: Path) -> None:
    data = load_json(captures / "few.json")
    del data["cycles"]["total_objects"]  # check used to die on KeyError: exit 1
    (tmp_path / "broken.json").write_text(json.dumps(data))
    result = run_gcscope("check", "broken.json", "--max-cyclic-garbage", "0", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.decode().strip() == (
        "gcscope: broken.json: not a valid gcscope capture: missing 'total_objects' in cycles"
    )


# -- diff: no silent gates, points for shares, warnings for different runs --


def diff(folder: Path, *args: str):
    return run_gcscope("diff", *args, cwd=folder)


def test_diff_fails_a_gate_only_one_side_can_evaluate(captures: Path) -> None:
    result = diff(captures, "plain.json", "few.json")
    assert result.returncode == 1, result.stdout
    text = result.stdout.decode()
    row = next(line for line in text.splitlines() if line.startswith("cyclic garbage"))
    assert "UNCOMPARABLE" in row
    assert (
        "cyclic garbage cannot be compared: BASE (plain.json) has no cyclic garbage figure "
        "(record it with 'gcscope run --cycles')"
    ) in text
    assert "1 metric(s) cannot be compared: cyclic garbage" in text


def test_diff_says_why_a_gate_is_skipped(captures: Path) -> None:
    result = diff(captures, "plain.json", "plain.json")
    assert result.returncode == 0
    text = result.stdout.decode()
    assert "cyclic garbage skipped: neither capture was recorded with --cycles" in text
    assert "allocation growth skipped: neither capture was recorded with --allocations" in text


def test_diff_fails_on_a_capture_gcscope_flagged(doubtful: Path) -> None:
    result = diff(doubtful, "clears.json", "clears.json")
    assert result.returncode == 1
    assert b"max pause cannot be compared: BASE (clears.json): gc.get_stats() counted" in (
        result.stdout
    )


def test_diff_shows_shares_in_percentage_points(captures: Path, tmp_path: Path) -> None:
    base = load_json(captures / "few.json")
    new = json.loads(json.dumps(base))
    base["gc_time_fraction"], new["gc_time_fraction"] = 0.2077, 0.1500
    zero = json.loads(json.dumps(base))
    zero["gc_time_fraction"] = 0
    for name, capture in (("base.json", base), ("new.json", new), ("zero.json", zero)):
        (tmp_path / name).write_text(json.dumps(capture))
    row = next(
        line
        for line in diff(tmp_path, "base.json", "new.json").stdout.decode().splitlines()
        if line.startswith("GC time share")
    )
    assert row.split()[3:7] == ["20.77%", "15.00%", "-5.77", "pp"], row
    assert "-27.8%" in row  # the relative change, separately
    grown = diff(tmp_path, "zero.json", "base.json").stdout.decode()
    row = next(line for line in grown.splitlines() if line.startswith("GC time share"))
    assert "+20.77 pp" in row and "inf" not in row


def test_diff_warns_on_different_programs_and_pythons(captures: Path, tmp_path: Path) -> None:
    result = diff(captures, "few.json", "many.json")
    assert (
        b"gcscope diff: WARNING: different command lines: BASE (few.json) ran "
        b"'make_cycles.py 100 0', NEW (many.json) ran 'make_cycles.py 10000 0'"
    ) in result.stdout
    other = load_json(captures / "few.json")
    other["python"]["version"] = "3.99.0"
    (tmp_path / "few.json").write_bytes((captures / "few.json").read_bytes())
    (tmp_path / "other.json").write_text(json.dumps(other))
    result = diff(tmp_path, "few.json", "other.json", "--format", "github")
    text = result.stdout.decode()
    assert "gcscope diff: WARNING: different Pythons" in text and "3.99.0" in text
    assert "::warning title=gcscope diff::different Pythons" in text
    assert result.returncode == 0  # a warning, not a failure
