"""gcscope's proportional cost in CPU instructions (callgrind), free of wall-clock noise.

Wall time on a shared machine varies by 10-20% between identical runs, more than
the 3% being measured. Instruction counts are deterministic. Each workload runs at
two sizes, plain and under `gcscope run`; the difference between the sizes cancels
every fixed cost (start-up, capture, report), leaving what gcscope adds per unit
of the program's own work:

    proportional overhead = (gcscope[big] - gcscope[small]) / (plain[big] - plain[small]) - 1

Valgrind slows the program ~50x but not the RSS sampler's clock, so the sampling
interval is stretched by the measured slowdown: samples per unit of program work
stay what they are in a native run.

    python benchmarks/instructions.py --workload alloc --workload cycles
    python benchmarks/instructions.py --monitor recorder    # gcscope.monitor(prometheus=False)
    python benchmarks/instructions.py --monitor prometheus  # gcscope.monitor(), prometheus_client
    python benchmarks/instructions.py --monitor bare-recorder  # an array of timestamps: the floor
    python benchmarks/instructions.py --monitor runpy   # a bare runpy wrapper against python
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from overhead import FLOOR_RECORDER, FLOOR_RUNPY, MONITOR_CODE, MONITOR_PROMETHEUS_CODE

# each against a bare runpy wrapper; "bare-recorder": the least any gc.callbacks tool pays
MONITOR_CODES = {
    "recorder": MONITOR_CODE,
    "prometheus": MONITOR_PROMETHEUS_CODE,
    "bare-recorder": FLOOR_RECORDER,
    "runpy": FLOOR_RUNPY,  # against plain python: what running in-process costs at all
}

WORKLOADS = Path(__file__).resolve().parent / "workloads"
# the environment variable that sizes each workload, and its small and big values
SIZES = {
    "cycles": ("CYCLES_BATCHES", 10, 20),
    "alloc": ("ALLOC_ITERS", 10, 20),
    "steady": ("STEADY_ROUNDS", 1, 2),
    "gc_collect": ("BM_LOOPS", 50, 100),  # pyperformance's, fetched by pyperformance_gc.py
    "gc_traversal": ("BM_LOOPS", 5, 10),
}
# a fixed hash seed: string hashing changes dict probing, which moves counts by ~1%
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ENV["PYTHONHASHSEED"] = "0"


def instructions(command: list[str], env: dict[str, str], scratch: str) -> tuple[int, float]:
    """(instructions executed, wall seconds) of `command` under callgrind."""
    out = os.path.join(scratch, "callgrind.out")
    # address randomisation moves dict probing and allocator paths: ~1% between runs
    fixed_layout = ["setarch", "-R"] if shutil.which("setarch") else []
    started = time.perf_counter()
    result = subprocess.run(
        [*fixed_layout, "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *command],
        env=env,
        cwd=scratch,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    wall = time.perf_counter() - started
    found = re.search(r"Collected : (\d+)", result.stderr)
    if result.returncode != 0 or found is None:
        raise SystemExit(f"callgrind failed for {command}:\n{result.stderr[-2000:]}")
    return int(found.group(1)), wall


def native_seconds(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--workload", action="append", choices=sorted(SIZES))
    parser.add_argument("--flags", default="", help="extra gcscope run flags, e.g. --cycles")
    parser.add_argument(
        "--monitor",
        choices=sorted(MONITOR_CODES),
        help="instead of gcscope run: gcscope.monitor() or a floor, against a bare runpy wrapper "
        "(runpy itself: against plain python)",
    )
    options = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    python = options.python
    print(
        f"{'workload':<10}{'plain small':>14}{'plain big':>14}{'gcscope small':>15}"
        f"{'gcscope big':>14}{'fixed M':>10}{'proportional':>14}"
    )
    with tempfile.TemporaryDirectory() as scratch:
        # one native run first: gcscope writes its bytecode if it is missing, and starts
        # again (os.execv), which callgrind would not follow (gcscope/bytecode.py)
        warm = [python, "-m", "gcscope", "run", "--format", "none", "-o"]
        warm += [os.path.join(scratch, "warm.json"), "-c", "pass"]
        subprocess.run(warm, env=ENV, check=False, capture_output=True)
        for workload in options.workload or ["alloc", "cycles"]:
            script = str(WORKLOADS / f"{workload}.py")
            if workload.startswith("gc_"):
                from pyperformance_gc import fetch

                script = str(fetch()[workload])
            variable, small, big = SIZES[workload]
            counts = {}
            for label, size in (("small", small), ("big", big)):
                env = {**ENV, variable: str(size)}
                plain = [python, script]
                if options.monitor and options.monitor != "runpy":
                    plain = [python, "-c", FLOOR_RUNPY, script]
                native = native_seconds(plain, env)
                counts["plain", label], slow_wall = instructions(plain, env, scratch)
                interval = 0.1 * max(1.0, slow_wall / native)
                scoped = [
                    python,
                    "-m",
                    "gcscope",
                    "run",
                    *options.flags.split(),
                    "--rss-interval",
                    f"{interval:.2f}s",
                    "-o",
                    "c.json",
                    script,
                ]
                if options.monitor:
                    scoped = [python, "-c", MONITOR_CODES[options.monitor], script]
                # once natively first: a stale .pyc recompiled inside the counted run
                # (after an edit to gcscope) would add ~100-200M to one size only
                subprocess.run(scoped, env=env, cwd=scratch, capture_output=True, check=True)
                counts["gcscope", label], _ = instructions(scoped, env, scratch)
            plain_delta = counts["plain", "big"] - counts["plain", "small"]
            scoped_delta = counts["gcscope", "big"] - counts["gcscope", "small"]
            fixed = counts["gcscope", "small"] - counts["plain", "small"]
            print(
                f"{workload:<10}"
                + "".join(
                    f"{counts[side, label] / 1e6:>13.0f}M"
                    for side in ("plain", "gcscope")
                    for label in ("small", "big")
                )
                + f"{(fixed - (scoped_delta - plain_delta)) / 1e6:>9.0f}M"
                + f"{(scoped_delta / plain_delta - 1) * 100:>+13.2f}%",
                flush=True,
            )


if __name__ == "__main__":
    main()
