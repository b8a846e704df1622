"""Program-controlled text (type names, attribute names, paths, argv) never reaches a
terminal or a CI log as control characters, nor a GitHub workflow command (issue 13.7).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import copy_targets, load_json, run_gcscope

# what a terminal acts on: C0 (but newline), DEL, C1, bidi and line-separator controls
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = copy_targets(tmp_path_factory.mktemp("hostile"))
    argv = ["-c", "exec(open('control_chars.py').read())", "\x1b]52;c;c2VjcmV0\x07"]
    result = run_gcscope("run", "--cycles", "--allocations", "-o", "c.json", *argv, cwd=folder)
    assert result.returncode == 0, result.stderr
    return folder, result.stderr.decode()


def assert_no_controls(text: str) -> None:
    found = CONTROL.findall(text)
    assert not found, found


def test_the_capture_keeps_the_names_as_they_are(hostile: tuple[Path, str]) -> None:
    folder, _ = hostile
    types = [row["type"] for row in load_json(folder / "c.json")["cycles"]["by_type"]]
    assert any("\x1b]0;pwned\x07" in name for name in types)  # data is data


def test_run_report_escapes_control_characters(hostile: tuple[Path, str]) -> None:
    _, stderr = hostile
    assert_no_controls(stderr)
    assert "Evil\\x1b]0;pwned\\x07\\x1b[2J\\r\\ngcscope check: all limits hold\\x9b31m" in stderr
    assert "\\x1b]52;c;c2VjcmV0\\x07" in stderr  # the program's argv, in the header
    assert not any(line.startswith("gcscope check:") for line in stderr.splitlines())


@pytest.mark.parametrize(
    "args",
    [
        ["report", "c.json"],
        ["cycles", "c.json"],
        ["check", "c.json", "--max-cyclic-garbage", "0"],
        ["diff", "c.json", "c.json"],
    ],
)
def test_every_text_output_escapes_them(hostile: tuple[Path, str], args: list[str]) -> None:
    folder, _ = hostile
    result = run_gcscope(*args, cwd=folder)
    assert result.returncode in (0, 1), result.stderr
    assert_no_controls(result.stdout.decode() + result.stderr.decode())
    if args[0] != "diff":
        assert "Evil\\x1b]0;pwned" in result.stdout.decode()


def test_github_annotations_escape_a_path_with_newlines(hostile: tuple[Path, str]) -> None:
    folder, _ = hostile
    name = "c\n::add-mask::hunter2\n::set-output name=x::y,z:w.json"
    (folder / name).write_bytes((folder / "c.json").read_bytes())
    result = run_gcscope(
        "check", name, "--max-cyclic-garbage", "0", "--format", "github", cwd=folder
    )
    assert result.returncode == 1
    lines = result.stdout.decode().splitlines()
    assert len(lines) == 1  # one violation, one workflow command
    line = lines[0]
    # the newlines are shown, not obeyed; ':' and ',' are percent-encoded in a property
    assert line.startswith("::error title=gcscope check (c\\n%3A%3Aadd-mask%3A%3Ahunter2\\n")
    assert "%3A%3Aset-output name=x%3A%3Ay%2Cz%3Aw.json)::max-cyclic-garbage exceeded" in line
    assert_no_controls(line)
    assert "\\x1b]0;pwned" in line  # the type name, escaped twice over: visible, inert


def test_diff_annotations_escape_the_programs_argv(hostile: tuple[Path, str]) -> None:
    folder, _ = hostile
    data = load_json(folder / "c.json")
    data["argv"] = ["app.py", "\n::add-mask::hunter2"]
    (folder / "other.json").write_text(json.dumps(data))
    result = run_gcscope("diff", "c.json", "other.json", "--format", "github", cwd=folder)
    commands = [line for line in result.stdout.decode().splitlines() if line.startswith("::")]
    assert commands and all(line.startswith(("::warning ", "::error ")) for line in commands)
    warning = next(line for line in commands if "different command lines" in line)
    assert "'\\n::add-mask::hunter2'" in warning  # inside the message: inert
