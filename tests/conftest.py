"""Helpers: run the installed `gcscope` (and plain `python`) as real subprocesses."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

TARGETS = Path(__file__).parent / "targets"
PYTHON = sys.executable

# The programs the tests start get the signal dispositions an interactive shell gives
# them, however the suite was launched: `nohup` leaves SIGHUP ignored and a shell's
# background job leaves SIGINT ignored, and an ignored signal stays ignored across exec
# (python then installs no KeyboardInterrupt handler at all). A handled signal is reset
# to its default at exec, so handling them here gives every child the default.
if hasattr(signal, "SIGHUP"):
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if signal.getsignal(signal.SIGHUP) is signal.SIG_IGN:
        signal.signal(signal.SIGHUP, signal.SIG_DFL)


def gcscope_command() -> list[str]:
    script = Path(sys.executable).parent / "gcscope"
    return [str(script)] if script.exists() else [sys.executable, "-m", "gcscope"]


def run_gcscope(*args: str, cwd: Path, timeout: float = 120, **kwargs: Any):
    return subprocess.run(
        [*gcscope_command(), *args],
        cwd=cwd,
        capture_output=True,
        timeout=timeout,
        **kwargs,
    )


def run_python(*args: str, cwd: Path, timeout: float = 120, **kwargs: Any):
    return subprocess.run([PYTHON, *args], cwd=cwd, capture_output=True, timeout=timeout, **kwargs)


def load_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def copy_targets(folder: Path) -> Path:
    for item in TARGETS.iterdir():
        if item.is_dir():
            if item.name != "__pycache__":
                shutil.copytree(item, folder / item.name)
        else:
            shutil.copy(item, folder / item.name)
    return folder


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A temporary folder holding copies of the target programs."""
    return copy_targets(tmp_path)


@pytest.fixture(params=["C recorder", "Python"])
def callback(request: pytest.FixtureRequest) -> tuple[str, dict[str, str]]:
    """(the gc callback to use, the environment that selects it): both must measure alike."""
    if request.param == "C recorder":
        pytest.importorskip("gcscope._gcrecorder", reason="C recorder not built (no compiler)")
    choice = "python" if request.param == "Python" else ""
    return request.param, {**os.environ, "GCSCOPE_CALLBACK": choice}


def line_of(path: Path, marker: str) -> int:
    """The line number of the line whose comment starts with `marker` (ground truth)."""
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if f"# {marker}" in line:
            return number
    raise AssertionError(f"{marker!r} not in {path}")


def stderr_report(stderr: bytes) -> str:
    """The report part of gcscope run's stderr (after the 'capture written' line)."""
    text = stderr.decode()
    marker = "gcscope: capture written to "
    start = text.index(marker)
    return text[text.index("\n", start) + 1 :]


os.environ.setdefault("PYTHONHASHSEED", "0")

pytest_plugins = ["pytester"]
