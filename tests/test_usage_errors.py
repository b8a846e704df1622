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
        ("[1, 2]", "not a JSON object"),
        ('{"schema_version": 1}', "missing"),
        (None, "newer"),
        (None, "wrong type"),
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
        elif fragment == "wrong type":
            data["wall_seconds"] = "long"
        else:
            data["generations"][0]["pause_ms"] = {"total": 1}
        content = json.dumps(data)
    (workdir / "bad.json").write_text(content)
    assert_one_line_usage_error(
        run_gcscope("report", "bad.json", cwd=workdir), "bad.json", fragment
    )
