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
        (["many.json", "--max-pause", "gen9=1ms"], "generation 9"),
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
