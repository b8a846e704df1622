"""The click-free `run` parser agrees with click, the authority, or leaves the line to it."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import load_json, run_gcscope

from gcscope.click_app import run as click_run
from gcscope.run_options import parse_run, split_joined_flag


def click_values(args: list[str]) -> dict[str, object]:
    with click_run.make_context("run", list(args)) as context:
        return dict(context.params)


@pytest.mark.parametrize(
    "line",
    [
        "app.py",
        "app.py --port 8000 -o x --cycles",
        "-o cap.json app.py",
        "-ocap.json app.py",
        "--output=cap.json app.py",
        "--format json --rss-interval 250ms --max-events 0 app.py",
        "--format=none --rss-interval=0 --max-events=007 app.py",
        "--allocations --cycles --frames 5 --interval 2s app.py a b",
        "--frames=1000 --interval=0.5s app.py",
        "--max-events 1_000 --rss-interval 1e3ms --interval 24h app.py",
        "--max-events=1000000 --rss-interval 1ms app.py",
        "--cycles -m pkg.tool -o out",
        "-mpkg.tool arg",
        "-c 'print(1)' --cycles",
        "-o a.json -o b.json app.py",
        "-- app.py --cycles",
        "--cycles -- -m pkg",
        "--allocations app.py",
        "--allocations=sampled --sample-every 64KiB app.py",
        "--sample-every=1.5MiB --frames 3 --interval 1s app.py",
        "--allocations=exact --allocations -m pkg",
    ],
)
def test_well_formed_lines_parse_as_click_parses_them(line: str) -> None:
    args = split_joined_flag(["run", *line.replace("'", "").split()])
    values = parse_run(args)
    assert values is not None, line
    assert values == click_values(args[1:])


@pytest.mark.parametrize(
    "line",
    [
        "--help app.py",
        "-h",
        "--bogus app.py",
        "--cycles=1 app.py",
        "--format yaml app.py",
        "--format",
        "--max-events -5 app.py",
        "--max-events 1000001 app.py",
        "--max-events 99999999999999999999 app.py",
        "--max-events \u00b2 app.py",
        "--interval 0.5 app.py",
        "--interval 1e400s app.py",
        "--rss-interval 1e400 app.py",
        "--rss-interval 0.5ms app.py",
        "--frames 0 app.py",
        "--frames 1001 app.py",
        "--rss-interval fast app.py",
        "--rss-interval -1s app.py",
        "--output= app.py",
        "-o -weird.json app.py",
        "--cycles",
        "",
        "--allocations=bogus app.py",
        "--allocations= app.py",
        "--sample-every 0 app.py",
        "--sample-every 2GiB app.py",
        "--sample-every fast app.py",
    ],
)
def test_anything_else_is_left_to_click(line: str) -> None:
    assert parse_run(["run", *line.split()]) is None


def test_a_line_only_click_accepts_still_runs(workdir: Path) -> None:
    result = run_gcscope("run", "-o", "-c.json", "empty.py", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert load_json(workdir / "-c.json")["exit_code"] == 0


@pytest.mark.parametrize(
    "option, value",
    [
        ("--max-events", "1000001"),
        ("--max-events", "\u00b2"),
        ("--frames", "0"),
        ("--interval", "0.5"),
        ("--interval", "1e400s"),
        ("--rss-interval", "1e400"),
        ("--rss-interval", "0.5ms"),
    ],
)
def test_both_parsers_refuse_the_same_values(option: str, value: str) -> None:
    """What the click-free parser leaves to click, click refuses: one gcscope line."""
    from gcscope.errors import UsageError

    assert parse_run(["run", option, value, "app.py"]) is None
    with pytest.raises(UsageError, match=option):
        click_values([option, value, "app.py"])
