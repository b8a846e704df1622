"""Every user mistake: one `gcscope:` line on stderr, exit status 2, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_gcscope


def assert_one_line_usage_error(result, *fragments: str) -> None:
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("gcscope: ")
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["run", "missing.py"], ["missing.py", "no such file"]),
        (["run", "-o", "nowhere/c.json", "empty.py"], ["nowhere", "does not exist"]),
        (["run", "-m", "no_such_module_xyz"], ["No module named", "no_such_module_xyz"]),
        (["run", "--bogus", "empty.py"], ["--bogus"]),
        (["run", "--rss-interval", "fast", "empty.py"], ["fast"]),
        (["run", "--max-events", "-5", "empty.py"], ["max-events"]),
        (["run"], ["nothing to run"]),
        (["run", "-c"], ["-c"]),
        (["report", "absent.json"], ["absent.json", "no such capture"]),
        (["report", "--format", "yaml", "x.json"], ["yaml"]),
    ],
)
def test_usage_errors(workdir: Path, args: list[str], fragments: list[str]) -> None:
    assert_one_line_usage_error(run_gcscope(*args, cwd=workdir), *fragments)


def test_nothing_runs_when_the_capture_cannot_be_written(workdir: Path) -> None:
    result = run_gcscope("run", "-o", "nowhere/c.json", "show_env.py", cwd=workdir)
    assert result.stdout == b""


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("{not json", "invalid JSON"),
        ("[1, 2]", "must be an object"),
        ('{"schema_version": 1}', "missing"),
        (None, "newer"),
        (None, "wall_seconds must be a number"),
        (None, "pause_ms"),
    ],
)
def test_corrupt_captures(workdir: Path, content: str | None, fragment: str) -> None:
    if content is None:
        good = run_gcscope("run", "-o", "good.json", "--format", "none", "empty.py", cwd=workdir)
        assert good.returncode == 0
        data = json.loads((workdir / "good.json").read_text())
        if fragment == "newer":
            data["schema_version"] = 99
        elif fragment.startswith("wall_seconds"):
            data["wall_seconds"] = "long"
        else:
            data["generations"][0]["pause_ms"] = {"total": 1}
        content = json.dumps(data)
    (workdir / "bad.json").write_text(content)
    assert_one_line_usage_error(
        run_gcscope("report", "bad.json", cwd=workdir), "bad.json", fragment
    )


# -- every option and limit value: one rule per kind, ranges, no overflow (issues 12.4, 13.5) --

RUN_VALUES = [
    # values that overflowed in the sampler thread, the JSON encoder or C
    (["--rss-interval", "1e400"], ["--rss-interval", "too large"]),
    (["--rss-interval", "1e400s"], ["--rss-interval", "too large"]),
    (["--interval", "1e400"], ["--interval", "too large"]),
    (["--rss-interval", "100000h"], ["--rss-interval", "at most 24h"]),
    (["--max-events", "99999999999999999999"], ["--max-events", "at most 1000000"]),
    # unicode digits pass str.isdigit() (and int() reads some of them)
    (["--max-events", "\u00b2"], ["--max-events", "whole number"]),
    (["--max-events", "\u0661\u0662"], ["--max-events", "whole number"]),
    (["--frames", "\u00b3"], ["--frames", "whole number"]),
    # a duration needs a unit: '1' was one second here and 1 ms in check
    (["--rss-interval", "1"], ["--rss-interval", "1ms or 1s"]),
    (["--interval", "0.5"], ["--interval", "0.5ms or 0.5s"]),
    (["--rss-interval", "1m"], ["--rss-interval", "unknown unit 'm'"]),
    (["--rss-interval", "nan"], ["--rss-interval", "nan"]),
    (["--rss-interval", "-1s"], ["--rss-interval", "negative"]),
    (["--rss-interval", "1us"], ["--rss-interval", "at least 1ms"]),
    (["--interval", "0"], ["--interval", "at least 1ms"]),
]


@pytest.mark.parametrize("flags, fragments", RUN_VALUES)
def test_run_option_values_out_of_range(
    workdir: Path, flags: list[str], fragments: list[str]
) -> None:
    result = run_gcscope("run", *flags, "-o", "c.json", "show_env.py", cwd=workdir)
    assert_one_line_usage_error(result, *fragments)
    assert result.stdout == b""  # refused before the program ran
    assert not (workdir / "c.json").exists()


@pytest.fixture(scope="module")
def plain_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from conftest import copy_targets

    folder = copy_targets(tmp_path_factory.mktemp("limits"))
    result = run_gcscope("run", "--format", "none", "-o", "c.json", "empty.py", cwd=folder)
    assert result.returncode == 0, result.stderr
    return folder


CHECK_VALUES = [
    (["--max-peak-rss", "1e400"], ["--max-peak-rss", "too large"]),
    (["--max-peak-rss", "1e400MB"], ["--max-peak-rss", "too large"]),
    (["--max-peak-rss", "10"], ["--max-peak-rss", "10MB or 10MiB"]),
    (["--max-peak-rss", "10mb"], ["--max-peak-rss", "write 'MB'"]),
    (["--max-peak-rss", "10m"], ["--max-peak-rss", "unknown unit 'm'"]),
    (["--max-growth", "-1MB"], ["--max-growth", "negative"]),
    (["--max-cyclic-garbage", "\u00b2"], ["--max-cyclic-garbage", "whole number"]),
    (["--max-cyclic-garbage", "-1"], ["--max-cyclic-garbage", "whole number"]),
    (["--max-uncollectable", "1e3"], ["--max-uncollectable", "whole number"]),
    (["--max-pause", "20"], ["--max-pause", "20ms or 20s"]),
    (["--max-pause", "gen\u00b2=5ms"], ["--max-pause", "generation"]),
    (["--max-pause", "gen2=5"], ["--max-pause", "5ms or 5s"]),
    (["--max-p99-pause", "1e400ms"], ["--max-p99-pause", "too large"]),
    (["--max-gc-time", "1"], ["--max-gc-time", "1% or 100%"]),
    (["--max-gc-time", "1.5"], ["--max-gc-time", "1.5%"]),
    (["--max-gc-time", "200%"], ["--max-gc-time", "between 0% and 100%"]),
    (["--max-gc-time", "5 percent"], ["--max-gc-time", "percentage"]),
]


@pytest.mark.parametrize("flags, fragments", CHECK_VALUES)
def test_check_limit_values(plain_capture: Path, flags: list[str], fragments: list[str]) -> None:
    result = run_gcscope("check", "c.json", *flags, cwd=plain_capture)
    assert_one_line_usage_error(result, *fragments)


@pytest.mark.parametrize(
    "tolerance, fragment", [("0.1", "0.1% or 10%"), ("200%", "100%"), ("1e400%", "too large")]
)
def test_diff_tolerance_values(plain_capture: Path, tolerance: str, fragment: str) -> None:
    result = run_gcscope("diff", "--tolerance", tolerance, "c.json", "c.json", cwd=plain_capture)
    assert_one_line_usage_error(result, "--tolerance", fragment)


@pytest.mark.parametrize(
    "limits",
    [
        ["--max-pause", "0", "--max-gc-time", "0", "--max-peak-rss", "0"],  # 0 needs no unit
        ["--max-pause", "10s", "--max-gc-time", "100%", "--max-peak-rss", "1024TiB"],
        ["--max-pause", "gen0=1h", "--max-p99-pause", "1min", "--max-uncollectable", "1_000"],
    ],
)
def test_limits_in_every_unit_are_read(plain_capture: Path, limits: list[str]) -> None:
    result = run_gcscope("check", "c.json", *limits, cwd=plain_capture)
    assert result.returncode in (0, 1), result.stderr
    assert result.stderr == b""


@pytest.mark.parametrize(
    "config, fragments",
    [
        ("tool = 3\n", ["pyproject.toml", "'tool' must be a table"]),
        ("[tool]\ngcscope = 3\n", ["pyproject.toml", "'gcscope' must be a table"]),
        ("[tool.gcscope]\ncheck = 5\n", ["pyproject.toml", "'check' must be a table"]),
        ("[tool.gcscope.check]\nmax-pause = 20\n", ["max-pause", "20ms or 20s"]),
        ("[tool.gcscope.check]\nmax-pause = true\n", ["max-pause", "boolean"]),
        ("[tool.gcscope.check]\nmax-gc-time = 0.05\n", ["max-gc-time", "5%"]),
        ("[tool.gcscope.check]\nmax-gc-time = {a = 1}\n", ["max-gc-time", "table"]),
        ("[tool.gcscope.check]\nmax-peak-rss = inf\n", ["max-peak-rss", "'inf'"]),
        ("[tool.gcscope.check]\nmax-cyclic-garbage = [1]\n", ["max-cyclic-garbage", "array"]),
        ("[tool.gcscope.check]\nmax-leaks = 0\n", ["unknown limit 'max-leaks'"]),
    ],
)
def test_malformed_pyproject_names_file_and_key(
    plain_capture: Path, config: str, fragments: list[str]
) -> None:
    (plain_capture / "pyproject.toml").write_text(config)
    try:
        # even with every limit on the command line: check reads the table to merge it
        result = run_gcscope("check", "c.json", "--max-pause", "10s", cwd=plain_capture)
        assert_one_line_usage_error(result, *fragments)
        # commands that do not read [tool.gcscope.check] do not mind
        report = run_gcscope("report", "c.json", cwd=plain_capture)
        assert report.returncode == 0, report.stderr
    finally:
        (plain_capture / "pyproject.toml").unlink()


def test_no_memory_limit_gives_a_false_verdict(workdir: Path) -> None:
    """Under every RLIMIT_AS from where python cannot start to where check works, `check`
    judges (exit 0 here: the limit holds), says it ran out of memory (one line, exit 2),
    or, where the interpreter itself breaks under the limit (3.12 raises SystemError
    importing click), ends as an internal error (exit 3): never exit 1, which CI reads as
    "limit exceeded"."""
    resource = pytest.importorskip("resource")
    made = run_gcscope("run", "--format", "none", "-o", "c.json", "empty.py", cwd=workdir)
    assert made.returncode == 0, made.stderr
    judged = []
    for megabytes in range(16, 90, 3):
        limit = megabytes * 1024 * 1024

        def cap(limit: int = limit) -> None:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

        result = run_gcscope(
            "check", "c.json", "--max-gc-time", "100%", cwd=workdir, preexec_fn=cap
        )
        stderr = result.stderr.decode()
        if result.returncode < 0 or (
            "gcscope" not in stderr and result.returncode != 0 and not result.stdout
        ):
            continue  # the interpreter itself could not start, or aborted (a fatal error)
        if result.returncode == 0:
            judged.append(megabytes)
            assert b"all limits hold" in result.stdout
        elif result.returncode == 3:
            assert stderr.strip().splitlines()[-1].startswith("gcscope: internal error"), stderr
        else:
            assert_one_line_usage_error(result, "out of memory")
    assert judged, "check never ran: raise the range"
