"""Running the candidates: each run is a real `gcscope run` of the unmodified program.

Same argv, folder and environment as the user's own `gcscope run` (plus the
candidate, which the run removes from its environment before the program starts),
stdin from /dev/null (every run must get the same input), stdout to a file whose
hash is compared across runs, stderr kept beside the capture. One run at a time,
so the children's rusage delta is that run's CPU time.
"""

from __future__ import annotations

import hashlib
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from gcscope import capture as capture_io
from gcscope.commands.run import TUNE_VARIABLE
from gcscope.errors import UsageError
from gcscope.startup_probe import interpreter_options
from gcscope.tuning.candidates import Candidate


@dataclass
class Trial:
    """One run of one candidate: what it printed, how it ended, what it measured."""

    candidate: str
    round: int  # 0 is the warm-up round, never measured
    capture_path: str
    exit_code: int
    stdout_sha256: str
    stdout_bytes: int
    cpu_seconds: float
    elapsed_seconds: float
    capture: dict[str, Any] | None = None
    problem: str | None = None
    stderr_path: str = ""
    stdout_path: str = ""

    def label(self) -> str:
        return f"{self.candidate} round {self.round}" if self.round else f"{self.candidate} warm-up"


class TrialRunner:
    """Runs `gcscope run` children for one program, writing into the output folder."""

    def __init__(self, argv: list[str], folder: str, run_options: list[str] | None = None):
        self.argv = argv
        self.folder = folder
        self.cwd = os.getcwd()
        self.run_options = run_options or []
        self.command = [sys.executable, *interpreter_options(), "-m", "gcscope", "run"]
        self.current: subprocess.Popen[bytes] | None = None

    def run(
        self,
        candidate: Candidate,
        round_number: int,
        freeze_point: str,
        tag: str | None = None,
        extra_options: tuple[str, ...] = (),
    ) -> Trial:
        tag = tag or ("warmup" if round_number == 0 else f"r{round_number}")
        base = os.path.join(self.folder, f"{candidate.name}-{tag}")
        capture_path = base + ".json"
        stdout_path = base + ".stdout"
        stderr_path = base + ".stderr"
        env = {**os.environ, TUNE_VARIABLE: candidate.spec(freeze_point)}
        command = [
            *self.command,
            "-o",
            capture_path,
            "--format",
            "none",
            *self.run_options,
            *extra_options,
            "--",
            *self.argv,
        ]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
            self.current = subprocess.Popen(
                command, cwd=self.cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err
            )
            try:
                status = self.current.wait()
            finally:
                if self.current.poll() is None:  # interrupted: the run goes too
                    self.current.kill()
                    self.current.wait()
                self.current = None
        elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        digest, size = _hash_file(stdout_path)
        trial = Trial(
            candidate.name,
            round_number,
            capture_path,
            status if status >= 0 else 128 - status,
            digest,
            size,
            cpu,
            elapsed,
            stderr_path=stderr_path,
            stdout_path=stdout_path,
        )
        try:
            trial.capture = capture_io.load(capture_path)
        except UsageError as exc:
            trial.problem = f"no capture ({exc}); {_last_line(stderr_path)}"
        return trial


def _hash_file(path: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _last_line(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            lines = handle.read().decode("utf-8", "replace").strip().splitlines()
    except OSError:
        return "no stderr"
    return f"its stderr ends: {lines[-1][:200]}" if lines else "its stderr is empty"
