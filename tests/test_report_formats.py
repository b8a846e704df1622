"""`gcscope report --format perfetto|html -o`: the trace's structure, the output file's
safety, and the package data a wheel must carry.

The trace checks follow the Trace Event Format document ("Trace Event Format", the
Google doc that chrome://tracing and Perfetto both implement) and Perfetto's notes on
it: a JSON object with a `traceEvents` array; every event has `name`, `ph`, `pid`,
`tid`, and `ts` in microseconds; complete events ("X") carry `dur`; counter events
("C") carry numeric `args`, one series per key; metadata events ("M") named
`process_name`/`thread_name` carry `args.name`; duration events on one thread must
nest (Perfetto lays overlapping ones out on a separate track).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from conftest import line_of, load_json, run_gcscope

PHASE_KEYS = {
    "X": {"name", "ph", "ts", "dur", "pid", "tid"},
    "C": {"name", "ph", "ts", "pid", "args"},
    "M": {"name", "ph", "pid", "args"},
}
REPO = Path(__file__).resolve().parent.parent
PACKAGE_DATA = (
    "gcscope/reporters/templates/report.html.j2",
    "gcscope/reporters/assets/uPlot.iife.min.js",
    "gcscope/reporters/assets/uPlot.min.css",
    "gcscope/reporters/assets/uPlot.LICENSE",
    "gcscope/reporters/assets/uplot.json",
    "gcscope/reporters/assets/report.js",
    "gcscope/reporters/assets/report.css",
)


def truth_capture(workdir: Path, name: str = "truth.json") -> Path:
    result = run_gcscope(
        "run", "--format", "none", "--rss-interval", "10ms", "-o", name, "html_truth.py",
        cwd=workdir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return workdir / name


def trace_of(workdir: Path, *captures: Path) -> dict[str, Any]:
    result = run_gcscope(
        "report", "--format", "perfetto", "-o", "trace.json", *map(str, captures), cwd=workdir
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == b""
    return load_json(workdir / "trace.json")


def check_trace_event_format(trace: dict[str, Any]) -> None:
    """The structural rules of the format (module docstring), for every event."""
    assert isinstance(trace["traceEvents"], list)
    assert trace.get("displayTimeUnit", "ms") in ("ms", "ns")
    slices: dict[tuple[int, int], list[tuple[float, float]]] = defaultdict(list)
    counters: dict[tuple[int, str], list[float]] = defaultdict(list)
    for event in trace["traceEvents"]:
        phase = event["ph"]
        assert phase in PHASE_KEYS, event
        assert PHASE_KEYS[phase] <= set(event), event
        assert isinstance(event["pid"], int) and isinstance(event.get("tid", 0), int)
        if phase == "M":
            assert event["name"] in ("process_name", "thread_name")
            assert isinstance(event["args"]["name"], str) and event["args"]["name"]
            continue
        assert isinstance(event["ts"], (int, float)) and event["ts"] >= 0
        if phase == "X":
            assert isinstance(event["dur"], (int, float)) and event["dur"] >= 0
            slices[(event["pid"], event["tid"])].append((event["ts"], event["ts"] + event["dur"]))
        else:
            assert event["args"] and all(
                isinstance(v, (int, float)) and not isinstance(v, bool)
                for v in event["args"].values()
            )
            for key in event["args"]:
                counters[(event["pid"], f"{event['name']} {key}")].append(event["ts"])
    for spans in slices.values():  # one thread's slices: in order, never overlapping
        for (start, end), (next_start, _) in itertools.pairwise(spans):
            assert start <= next_start and end <= next_start
    for times in counters.values():
        assert times == sorted(times)


def test_perfetto_trace_has_one_slice_per_collection(workdir: Path) -> None:
    capture_path = truth_capture(workdir)
    capture = load_json(capture_path)
    trace = trace_of(workdir, capture_path)
    check_trace_event_format(trace)
    events = trace["traceEvents"]
    threads = {e["args"]["name"]: e["tid"] for e in events if e["name"] == "thread_name"}
    assert set(threads) == {"GC", "program"}
    (process,) = [e for e in events if e["name"] == "process_name"]
    assert "truth.json" in process["args"]["name"]
    gc_slices = [e for e in events if e["ph"] == "X" and e["tid"] == threads["GC"]]
    columns = capture["gc"]["events"]["columns"]
    rows = [dict(zip(columns, row)) for row in capture["gc"]["events"]["rows"]]
    plan = [0, 1, 0, 2, 0, 1, 0, 2, 0, 1]  # html_truth.py's PLAN
    assert [e["name"] for e in gc_slices] == [f"gen {g}" for g in plan]
    line = line_of(workdir / "html_truth.py", "COLLECT")
    for event, row in zip(gc_slices, rows):
        assert event["ts"] == pytest.approx(row["start_ns"] / 1000, abs=1e-3)  # microseconds
        assert event["dur"] == pytest.approx(row["pause_ns"] / 1000, abs=1e-3)
        assert event["args"]["generation"] == row["generation"]
        assert event["args"]["collected"] == row["collected"]
        assert event["args"]["uncollectable"] == row["uncollectable"]
        assert event["args"]["trigger"] == f"html_truth.py:{line} (<module>)"
    (wall,) = [e for e in events if e["ph"] == "X" and e["tid"] == threads["program"]]
    assert wall["name"] == "html_truth.py" and wall["ts"] == 0
    assert wall["dur"] == pytest.approx(capture["wall_seconds"] * 1e6, abs=1e-3)
    rss = [e for e in events if e["ph"] == "C"]
    assert [(e["ts"], e["args"]["bytes"]) for e in rss] == [
        (pytest.approx(t * 1e6, abs=1e-3), b) for t, b in capture["rss"]["samples"]
    ]
    assert len(rss) >= 10


def test_perfetto_trace_of_several_captures_has_a_process_each(workdir: Path) -> None:
    first, second = truth_capture(workdir, "a.json"), truth_capture(workdir, "b.json")
    trace = trace_of(workdir, first, second)
    check_trace_event_format(trace)
    names = {
        e["pid"]: e["args"]["name"] for e in trace["traceEvents"] if e["name"] == "process_name"
    }
    assert sorted(names) == [1, 2] and "a.json" in names[1] and "b.json" in names[2]
    for pid in (1, 2):
        assert sum(e["ph"] == "X" and e["pid"] == pid for e in trace["traceEvents"]) == 11


def test_report_to_stdout_without_output(workdir: Path) -> None:
    capture_path = truth_capture(workdir)
    result = run_gcscope("report", "--format", "perfetto", str(capture_path), cwd=workdir)
    assert result.returncode == 0
    check_trace_event_format(json.loads(result.stdout))
    text = run_gcscope("report", "-o", "report.txt", str(capture_path), cwd=workdir)
    assert text.returncode == 0 and text.stdout == b""
    assert "Collections by generation" in (workdir / "report.txt").read_text()


# -- the output file ----------------------------------------------------------------------


def one_error_line(result: subprocess.CompletedProcess[bytes], *fragments: str) -> None:
    assert result.returncode == 2
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gcscope: "), lines
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize(
    "kind, fragment",
    [
        ("device", "character device"),
        ("fifo", "FIFO"),
        ("directory", "directory"),
        ("missing folder", "does not exist"),
    ],
)
def test_output_that_is_not_a_regular_file_is_refused(
    workdir: Path, kind: str, fragment: str
) -> None:
    capture_path = truth_capture(workdir)
    target = {
        "device": workdir / "null",
        "fifo": workdir / "pipe",
        "directory": workdir / "folder",
        "missing folder": workdir / "nowhere" / "out.html",
    }[kind]
    if kind == "device":
        # a null device of our own, never the real /dev/null: a broken check would
        # replace the node in /dev for the whole machine
        try:
            os.mknod(target, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        except PermissionError:
            pytest.skip("making a device node needs root (CAP_MKNOD)")
    if kind == "fifo":
        os.mkfifo(target)
    if kind == "directory":
        target.mkdir()
    before = sorted(os.listdir(workdir))
    for fmt in ("html", "perfetto", "text"):
        result = run_gcscope(
            "report", "--format", fmt, "-o", str(target), str(capture_path), cwd=workdir,
            timeout=30,
        )  # fmt: skip
        one_error_line(result, fragment, str(target))
    run = run_gcscope(
        "run", "--html", str(target), "-o", "never.json", "html_truth.py", cwd=workdir, timeout=30
    )
    one_error_line(run, fragment)
    assert run.stdout == b""  # refused before the program ran
    assert sorted(os.listdir(workdir)) == before  # nothing written, nothing left behind
    if kind == "device":
        assert stat.S_ISCHR(os.stat(target).st_mode)
    if kind == "fifo":
        assert stat.S_ISFIFO(os.stat(target).st_mode)


def test_run_html_cannot_overwrite_the_capture(workdir: Path) -> None:
    result = run_gcscope(
        "run", "-o", "same.out", "--html", "./same.out", "html_truth.py", cwd=workdir
    )
    one_error_line(result, "is the capture file itself")
    assert result.stdout == b"" and not (workdir / "same.out").exists()


def test_output_is_replaced_atomically_or_not_at_all(workdir: Path) -> None:
    capture_path = truth_capture(workdir)
    (workdir / "corrupt.json").write_text("{not json")
    out = workdir / "out.html"
    out.write_text("the previous report")
    failed = run_gcscope(
        "report", "--format", "html", "-o", "out.html", str(capture_path), "corrupt.json",
        cwd=workdir,
    )  # fmt: skip
    one_error_line(failed, "corrupt.json")
    assert out.read_text() == "the previous report"
    written = run_gcscope(
        "report", "--format", "html", "-o", "out.html", str(capture_path), cwd=workdir
    )
    assert written.returncode == 0, written.stderr
    assert out.read_text().startswith("<!doctype html>")
    assert not [name for name in os.listdir(workdir) if name.endswith(".tmp")]
    link = workdir / "link.html"
    link.symlink_to(out)
    again = run_gcscope(
        "report", "--format", "html", "-o", "link.html", str(capture_path), cwd=workdir
    )
    assert again.returncode == 0, again.stderr
    assert link.is_symlink()  # written through the link, which stays a link


def test_text_and_json_of_several_captures_are_the_merged_report(workdir: Path) -> None:
    """(docs/processes.md: several captures are read as one process tree.)"""
    capture_path = truth_capture(workdir)
    text = run_gcscope("report", str(capture_path), str(capture_path), cwd=workdir)
    assert text.returncode == 0, text.stderr
    assert "gcscope: 2 processes (2 main)" in text.stdout.decode()
    result = run_gcscope(
        "report", "--format", "json", str(capture_path), str(capture_path), cwd=workdir
    )
    assert json.loads(result.stdout)["totals"]["processes"] == 2


# -- what ships ----------------------------------------------------------------------------


def test_vendored_uplot_matches_its_pin_and_licence() -> None:
    assets = REPO / "gcscope" / "reporters" / "assets"
    pin = json.loads((assets / "uplot.json").read_text())
    script = (assets / "uPlot.iife.min.js").read_text()
    assert script.startswith(f"/*! https://github.com/leeoniya/uPlot (v{pin['version']}) */")
    assert pin["integrity"].startswith("sha512-") and pin["license"] == "MIT"
    assert "Permission is hereby granted" in (assets / "uPlot.LICENSE").read_text()
    for name in ("uPlot.iife.min.js", "uPlot.min.css", "report.js", "report.css"):
        text = (assets / name).read_text().lower()  # inlined: nothing may end the element
        assert "</script" not in text and "</style" not in text and "<!--" not in text, name


def test_a_wheel_carries_the_template_and_assets(tmp_path: Path, workdir: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(
        REPO / "gcscope", source / "gcscope", ignore=shutil.ignore_patterns("__pycache__", "*.so")
    )
    dist = tmp_path / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), "."],
        cwd=source, capture_output=True, timeout=600,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr.decode()
    (wheel,) = dist.glob("gcscope-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert set(PACKAGE_DATA) <= names
    # the installed (not editable) package renders a page from its own package data
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    capture_path = truth_capture(workdir)
    import jinja2
    import markupsafe

    dependencies = {str(Path(m.__file__).parent.parent) for m in (jinja2, markupsafe)}
    script = (
        "import sys; sys.path[:0] = sys.argv[1:-1]; import gcscope\n"
        "assert gcscope.__file__.startswith(sys.argv[1]), gcscope.__file__\n"
        "from gcscope.commands.report import execute\n"
        "sys.stdout.write(execute([sys.argv[-1]], 'html', None))\n"
    )
    page = subprocess.run(
        [sys.executable, "-S", "-c", script, str(site), *dependencies, str(capture_path)],
        cwd=tmp_path, capture_output=True, timeout=120,
    )  # fmt: skip
    assert page.returncode == 0, page.stderr.decode()
    html = page.stdout.decode()
    pin = json.loads((REPO / "gcscope/reporters/assets/uplot.json").read_text())
    assert f"(v{pin['version']})" in html and "html_truth.py" in html


def test_counts_of_one_read_in_the_singular(workdir: Path) -> None:
    """One collection is "1 collection" (the program disables automatic ones, then makes
    exactly one)."""
    (workdir / "one.py").write_text("import gc\ngc.disable()\ngc.collect()\n")
    result = run_gcscope("run", "-o", "c.json", "one.py", cwd=workdir)
    assert result.returncode == 0, result.stderr
    report = result.stderr.decode() + result.stdout.decode()
    assert "GC: 1 collection, " in report
    assert "1 collections" not in report
