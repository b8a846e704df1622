"""Captures are validated completely on load (issue 13.6): every malformed, non-finite,
out-of-range or over-deep capture is one `gcscope: FILE: ...` line naming the field,
exit 2, for every command that reads captures; nothing else ever ends in a traceback.

The capture under test is real: `gcscope run --cycles --allocations` on a program that
fills every section. The fuzz test mutates every field of it, one at a time.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from conftest import copy_targets, load_json, run_gcscope, run_python

from gcscope import cli

COMMANDS = ("report", "check", "diff", "cycles")
FUZZED = (*COMMANDS, "html", "perfetto")  # the report's other formats read every section
ALL_LIMITS = [
    *("--max-pause", "1s", "--max-pause", "gen2=1s", "--max-p99-pause", "1s"),
    *("--max-gc-time", "50%", "--max-cyclic-garbage", "1000000", "--max-uncollectable", "0"),
    *("--max-peak-rss", "1TiB", "--max-growth", "1TiB"),
]


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real captures with every section filled, written by real `gcscope run`s: real.json
    (--cycles --allocations, with tracebacks), steady.json (sites that grew steadily),
    sampled.json (--allocations=sampled: estimates and their intervals)."""
    folder = copy_targets(tmp_path_factory.mktemp("real"))
    runs = {
        "real.json": ["--cycles", "--allocations", "--frames", "2", "--rss-interval", "10ms"],
        "steady.json": ["--allocations", "--frames", "2", "--interval", "250ms"],
        "sampled.json": ["--allocations=sampled", "--sample-every", "4KiB", "--frames", "2"],
    }
    for name, flags in runs.items():
        result = run_gcscope(
            "run", *flags, "--format", "none", "-o", name, "every_section.py", cwd=folder
        )
        assert result.returncode == 0, result.stderr
    data = load_json(folder / "real.json")
    for section in ("cycles", "allocations", "type_growth", "type_sizes", "rss"):
        assert data.get(section), section
    assert data["cycles"]["graphs"] and data["cycles"]["sites"]
    assert data["gc"]["events"]["rows"] and data["gc"]["sites"]
    assert data["allocations"]["top_sites"][0]["traceback"]
    assert load_json(folder / "steady.json")["allocations"]["steady_growth"]
    return folder


def command_line(command: str, path: str) -> list[str]:
    if command in ("html", "perfetto"):
        return ["report", "--format", command, "-o", f"out.{command}", path]
    if command == "check":
        return ["check", path, *ALL_LIMITS]
    if command == "diff":
        return ["diff", "real.json", path]
    return [command, path]


# -- the malformed captures of the issue, through real gcscope processes --


def deep(levels: int) -> Any:
    value: Any = 0
    for _ in range(levels):
        value = [value]
    return value


MALFORMED = [
    # (path, replacement, what the one line must say)
    ("peak_rss_bytes", "14 MiB", "peak_rss_bytes must be an integer or null (found the string"),
    ("cycles", [], "cycles must be an object (found an array)"),
    ("generations[0].collections", "many", "generations[0].collections must be an integer"),
    ("python.version", "three.eleven", "python.version is malformed"),
    ("rss.samples", [[1]], "rss.samples[0] must have at least 2 items (found 1)"),
    ("generations[0].pause_ms.max", math.nan, "generations[0].pause_ms.max: NaN is not a finite"),
    ("wall_seconds", math.inf, "wall_seconds: Infinity is not a finite number"),
    ("gc_time_fraction", -0.5, "gc_time_fraction must be at least 0"),
    ("cycles.total_objects", 10**30, "cycles.total_objects must be at most"),
    (
        "cycles.graphs[0].nodes[0].id",
        "0 [URL=x]",
        "cycles.graphs[0].nodes[0].id must be an integer",
    ),
    (
        "allocations.growth[0].count_diff",
        5.0,
        "count_diff must be an integer (found the number 5.0)",
    ),
    ("extra", deep(100), "extra[0][0]"),
    ("generations", "@DEEP@", "nested more than 64 levels deep"),  # json's own RecursionError
]


def set_path(data: Any, path: str, value: Any) -> None:
    parts = path.replace("[", ".[").split(".")
    target = data
    for part in parts[:-1]:
        target = target[int(part[1:-1])] if part.startswith("[") else target[part]
    last = parts[-1]
    if last.startswith("["):
        target[int(last[1:-1])] = value
    else:
        target[last] = value


def write_capture(folder: Path, name: str, data: Any) -> None:
    """The capture as JSON; "@DEEP@" becomes 100,000 nested lists (past json.dumps)."""
    text = json.dumps(data).replace('"@DEEP@"', "[" * 100_000 + "]" * 100_000)
    (folder / name).write_text(text)


@pytest.mark.parametrize("path, value, message", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_captures_are_one_line_for_every_command(
    real: Path, path: str, value: Any, message: str
) -> None:
    data = load_json(real / "real.json")
    set_path(data, path, value)
    write_capture(real, "bad.json", data)
    for command in COMMANDS:
        result = run_gcscope(*command_line(command, "bad.json"), cwd=real)
        stderr = result.stderr.decode()
        assert result.returncode == 2, (command, stderr)
        assert "Traceback" not in stderr
        lines = stderr.strip().splitlines()
        assert len(lines) == 1, (command, stderr)
        assert lines[0].startswith("gcscope: bad.json: not a valid gcscope capture: "), lines
        assert message in lines[0], (command, lines[0])


def test_a_wheel_carries_the_schema(tmp_path: Path) -> None:
    """The schema is package data: an installed gcscope validates without the source tree."""
    import subprocess
    import sys
    import zipfile

    project = Path(__file__).parent.parent
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), project],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = tmp_path.glob("gcscope-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        schema = json.loads(archive.read("gcscope/capture.schema.json"))
    assert schema == json.loads((project / "gcscope" / "capture.schema.json").read_text())


READS_NOTHING_BACK = """
import sys
from gcscope import capture, cli

def refuse(*args):
    raise AssertionError("gcscope run read a capture back")

capture.load = capture.loads = refuse
try:
    cli.main(["run", "-o", "c.json", "empty.py"])
finally:
    print("validator imported:", "gcscope.capture_schema" in sys.modules, file=sys.stderr)
"""


def test_run_reports_from_the_capture_it_built(real: Path) -> None:
    """`gcscope run` neither re-reads its file (another run may have replaced it) nor
    imports the validator."""
    result = run_python("-c", READS_NOTHING_BACK, cwd=real)
    stderr = result.stderr.decode()
    assert result.returncode == 0, stderr
    assert "Collections by generation" in stderr
    assert stderr.endswith("validator imported: False\n")


# -- the fuzz test: every field of the real capture, mutated one way at a time --

NULLABLE = {"peak_rss_bytes", "exception", "allocations.interval_s", "gc.events.rows[0][5]"}
NULLABLE |= {"gc.sites[0].program", "gc.sites[0].where", "gc.observer_effect"}
SIGNED = {"exit_code", "count_diff", "size_diff_bytes", "growth_total_bytes"}
SIGNED |= {"count_before", "count_after"}  # type counts net of gcscope's set-aside objects


def paths(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every field, and the first item of every list (they are all alike)."""
    if path:
        yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list) and value:
        yield from paths(value[0], f"{path}[0]")


def mutations(value: Any) -> Iterator[tuple[str, Any]]:
    yield "null", None
    yield "deep", deep(80)
    if isinstance(value, bool):
        yield "wrong type", "yes"
    elif isinstance(value, int):
        yield from [("wrong type", "7"), ("negative", -1), ("huge", 10**30)]
        yield from [("written 5.0", float(value)), ("fraction", 0.5), ("nan", math.nan)]
    elif isinstance(value, float):
        yield from [("wrong type", "x"), ("negative", -1.5), ("huge", 1e300)]
        yield from [("nan", math.nan), ("infinity", -math.inf)]
    elif isinstance(value, str):
        yield from [("wrong type", 7), ("huge", "x" * 100_000), ("empty", "")]
    elif isinstance(value, list):
        yield from [("wrong type", {"a": 1}), ("empty", [])]
    elif isinstance(value, dict):
        yield from [("wrong type", [1]), ("empty", {})]


def malformed(path: str, kind: str, value: Any) -> bool | None:
    """Ground truth: must this mutation be refused? None where either answer is right."""
    field = path.rsplit(".", 1)[-1].split("[")[0]
    if kind in ("deep", "wrong type", "nan", "infinity", "written 5.0", "fraction"):
        return True
    if kind == "huge":  # strings are free text, except a version, the column names, enums
        enumerated = ("python.version", "gc.events.columns[0]", "rss.sampler")
        return not isinstance(value, str) or path in enumerated
    if kind == "negative":
        in_a_timeline_row = path.startswith("gc.events.rows[0][0]")
        return field not in SIGNED and "delta" not in path and not in_a_timeline_row
    if kind == "null":
        return path not in NULLABLE
    return None


def run_in_process(*args: str) -> tuple[int, str, str]:
    """gcscope's entry point, as the console script calls it; any exception escapes."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            cli.main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


KINDS = ["null", "deep", "wrong type", "negative", "huge", "written 5.0", "fraction", "nan"]
KINDS += ["infinity", "empty", "missing"]


@pytest.mark.parametrize("kind", KINDS)
def test_fuzz_every_field(real: Path, kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(real)
    tried = 0
    sources = ("real.json", ""), ("steady.json", "allocations"), ("sampled.json", "allocations")
    for source, only in sources:
        original = load_json(real / source)
        for path, value in paths(original):
            if not path.startswith(only):
                continue
            cases = [("missing", None)] if kind == "missing" else list(mutations(value))
            for mutation, replacement in cases:
                if mutation != kind:
                    continue
                data = json.loads(json.dumps(original))
                if kind == "missing":
                    if path.endswith("]"):
                        continue
                    parent, _, key = path.rpartition(".")
                    holder = data
                    for part in parent.replace("[", ".[").split(".") if parent else []:
                        holder = holder[int(part[1:-1])] if part.startswith("[") else holder[part]
                    del holder[key]
                else:
                    set_path(data, path, replacement)
                name = f"m{tried}.json"
                (real / name).write_text(json.dumps(data))  # NaN, Infinity as JSON literals
                tried += 1
                judge(source, name, path, kind, malformed(path, kind, value))
                (real / name).unlink()
    assert tried, kind


def refusal(stderr: str) -> bool:
    """A capture refused on load (not a usage error of the command line)."""
    return any(what in stderr for what in ("not a valid gcscope", "not a gcscope", "is newer"))


def judge(source: str, name: str, path: str, kind: str, expected_malformed: bool | None) -> None:
    outcomes = {}
    for command in FUZZED:
        args = command_line(command, name)
        if command == "diff":
            args = ["diff", source, name]
        if command == "cycles":
            args += ["--graph", "g.dot"]
        code, out, err = run_in_process(*args)
        where = f"{kind} {path}: {command}"
        assert code in (0, 1, 2), (where, code, err)  # 3: a crash inside gcscope
        assert "Traceback" not in err, (where, err)
        if code == 2:
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("gcscope: "), (where, err)
        if code == 1:  # only ever a failed limit or gate, never a crash
            assert command in ("check", "diff"), (where, out, err)
            verdicts = [line for line in out.splitlines() if line.startswith("gcscope check: ")]
            assert command == "diff" or all(
                "exceeded" in line or "cannot be judged" in line for line in verdicts
            ), (where, out)
        outcomes[command] = (code, err)
    refused = {command for command, (code, err) in outcomes.items() if code == 2 and refusal(err)}
    assert refused in (set(), set(FUZZED)), (kind, path, outcomes)  # all or none
    if expected_malformed is not None:
        assert bool(refused) == expected_malformed, (kind, path, outcomes["report"])
    if refused and kind != "missing" and path != "schema_version":
        message = outcomes["report"][1]
        assert f"{name}: not a valid gcscope capture: " in message
        assert path.split("[0]")[0].split(".")[-1] in message or path in message, (path, message)
