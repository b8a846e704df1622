"""How close `--allocations=sampled` comes to the truth on a known leak, run after run.

Runs `benchmarks/workloads/leak_churn.py` (2000 x 10 kB leaked at LEAK-LINE among
~400 MB of churn) once in exact mode, whose growth at the leak line is the truth,
then N times in sampled mode with fresh random samples, and prints each run's
estimate, its error against the truth, its own 95% interval, and where the leak
line ranks among the growing sites.

    python benchmarks/sampled_accuracy.py                       # 20 runs, default rate
    python benchmarks/sampled_accuracy.py --runs 20 --sample-every 512KiB
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

WORKLOAD = Path(__file__).resolve().parent / "workloads" / "leak_churn.py"
BAND = 0.25  # the accuracy requirement: within +-25%


def leak_line() -> int:
    for number, line in enumerate(WORKLOAD.read_text().splitlines(), start=1):
        if "# LEAK-LINE" in line:
            return number
    raise SystemExit("no LEAK-LINE in the workload")


def run(python: str, flags: list[str], scratch: str) -> dict:
    capture = os.path.join(scratch, "capture.json")
    env = {k: v for k, v in os.environ.items() if k != "GCSCOPE_SAMPLER_SEED"}
    command = [python, "-m", "gcscope", "run", *flags, "--format", "none", "-o", capture]
    subprocess.run([*command, str(WORKLOAD)], check=True, env=env, capture_output=True)
    with open(capture) as handle:
        return json.load(handle)["allocations"]


def at_line(section: dict, line: int) -> tuple[int, dict | None]:
    """(rank among growing sites, 1 = first; its row), or (0, None) when absent."""
    for rank, row in enumerate(section["growth"], start=1):
        if row["filename"] == str(WORKLOAD) and row["lineno"] == line:
            return rank, row
    return 0, None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--python", default=sys.executable, help="interpreter with gcscope")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--sample-every", default=None, help="e.g. 512KiB (default: gcscope's)")
    options = parser.parse_args()
    line = leak_line()
    rate = ["--sample-every", options.sample_every] if options.sample_every else []
    with tempfile.TemporaryDirectory() as scratch:
        _, exact = at_line(run(options.python, ["--allocations"], scratch), line)
        if exact is None:
            raise SystemExit("exact mode did not see the leak line")
        truth = exact["size_diff_bytes"]
        print(f"truth (exact mode, growth at {WORKLOAD.name}:{line}): {truth:,} bytes")
        print(f"{'run':>4}{'rank':>6}{'estimate':>14}{'error':>9}{'95% +-':>12}  within")
        inside = first = 0
        for number in range(1, options.runs + 1):
            section = run(options.python, ["--allocations=sampled", *rate], scratch)
            rank, row = at_line(section, line)
            estimate = row["size_diff_bytes"] if row else 0
            error = estimate / truth - 1
            within = abs(error) <= BAND and rank == 1
            inside += within
            first += rank == 1
            interval = row.get("size_diff_error_bytes", 0) if row else 0
            print(
                f"{number:>4}{rank:>6}{estimate:>14,}{error * 100:>+8.1f}%{interval:>12,}  "
                f"{'yes' if within else 'NO'}",
                flush=True,
            )
        every = section.get("sample_every_bytes")
        print(
            f"sampled every {every:,} bytes: leak line first in {first}/{options.runs} runs, "
            f"first and within +-{BAND:.0%} in {inside}/{options.runs}"
        )


if __name__ == "__main__":
    main()
