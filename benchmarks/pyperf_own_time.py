"""pyperformance's GC benchmarks timed as pyperformance times them: by their own clock.

`overhead.py` times whole processes, so its ratios carry gcscope's start-up and end of
run (writing the capture, whose timeline grows with the collections), which its `net`
column can only estimate. Here each benchmark reports the time of its own timed loops
(pyperf's `bench_time_func` contract, through the stand-in of `pyperformance_gc.py`):
plain `python` against `gcscope run --format none`, alternating which goes first, and
the median of the per-round ratios is the slowdown of the program's own work.

    python benchmarks/pyperf_own_time.py --rounds 10
    python benchmarks/pyperf_own_time.py --python /path/to/python3.10 --flags=--cycles
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

from overhead import CHILD_ENV, median_interval
from pyperformance_gc import BENCHMARKS, fetch


def own_seconds(command: list[str], env: dict[str, str], scratch: str) -> float:
    """The benchmark's own timing of one run of `command`."""
    path = os.path.join(scratch, "seconds.txt")
    env = {**env, "BM_TIME_FILE": path}
    subprocess.run(command, env=env, cwd=scratch, capture_output=True, check=True)
    with open(path) as handle:
        return float(handle.read())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--python", default=sys.executable, help="interpreter with gcscope")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--scale", type=int, default=1, help="run N times the default loops")
    parser.add_argument("--flags", default="", help="extra gcscope run flags, e.g. --cycles")
    options = parser.parse_args()
    programs = fetch()
    print(f"{'benchmark':<14}{'plain s':>9}{'own-time ratio':>16}{'95% interval':>18}")
    with tempfile.TemporaryDirectory() as scratch:
        for name, program in programs.items():
            env = {**CHILD_ENV, "BM_LOOPS": str(BENCHMARKS[name][2] * options.scale)}
            plain = [options.python, str(program)]
            capture = os.path.join(scratch, "c.json")
            scoped = [options.python, "-m", "gcscope", "run", "--format", "none"]
            scoped += [*options.flags.split(), "-o", capture, str(program)]
            own_seconds(scoped, env, scratch)  # warm caches (.pyc files, page cache)
            ratios, plain_times = [], []
            for index in range(options.rounds):
                pair = [("plain", plain), ("gcscope", scoped)]
                if index % 2:
                    pair.reverse()
                times = {label: own_seconds(command, env, scratch) for label, command in pair}
                ratios.append(times["gcscope"] / times["plain"])
                plain_times.append(times["plain"])
            low, high = median_interval(ratios)
            print(
                f"{name:<14}{statistics.median(plain_times):>9.3f}"
                f"{statistics.median(ratios):>15.3f}x{low:>11.3f}-{high:.3f}x",
                flush=True,
            )


if __name__ == "__main__":
    main()
