"""pyperformance's GC benchmarks timed as pyperformance times them: by their own clock.

`overhead.py` times whole processes, so its ratios carry gcscope's start-up and end of
run (writing the capture, whose timeline grows with the collections), which its `net`
column can only estimate. Here each benchmark reports the time of its own timed loops
(pyperf's `bench_time_func` contract, through the stand-in of `pyperformance_gc.py`):
plain `python` against `gcscope run --format none`, alternating which goes first, and
the median of the per-round ratios is the slowdown of the program's own work.

    python benchmarks/pyperf_own_time.py --rounds 10
    python benchmarks/pyperf_own_time.py --python /path/to/python3.10 --flags=--cycles
    python benchmarks/pyperf_own_time.py --components --rounds 12

`--components` attributes gcscope's cost by switching its parts off one at a time, in
the same alternating series (the order rotates each round): gcscope with the Python RSS
thread it had before `gcscope._rsssampler` (`GCSCOPE_RSS_SAMPLER=python`), without its
RSS sampling thread (`--rss-interval 0`), without its gc callback (taken out of
`gc.callbacks` right before the timed loops), without both; and plain python with a
bare recorder (one timestamp per callback call: the least any `gc.callbacks` tool
pays) and with `--holes` freed objects left among survivors no collection traverses
(heap layout alone, with no more work for the collector). The switches live in the
stand-in pyperf module (`pyperformance_gc.py`), so the program is the same file in
every variant.

`--layouts` draws a new heap layout each round, the same for every variant of that
round: before the timed loops the stand-in leaves 0-2,000 random-sized freed blocks
among survivors no collection traverses (`BM_HOLES`, `BM_HOLES_SEED`). A full
collection's time depends on where its objects lie (the `--holes` row moves
bm_gc_collect by as much as gcscope does), so one fixed layout compares gcscope at one
draw of that lottery against plain python at another; paired over many drawn layouts,
the median ratio is gcscope's cost with the layout averaged out, as Stabilizer
(Curtsinger & Berger, ASPLOS 2013) randomizes layout for the same reason.
"""

from __future__ import annotations

import argparse
import os
import random
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
    parser.add_argument(
        "--components", action="store_true", help="A/B each part of gcscope's cost (above)"
    )
    parser.add_argument(
        "--holes", type=int, default=1000, help="--components: freed objects for the layout row"
    )
    parser.add_argument(
        "--layouts", action="store_true", help="a new random heap layout each round (above)"
    )
    parser.add_argument("--benchmark", action="append", choices=sorted(BENCHMARKS))
    options = parser.parse_args()
    programs = {
        name: path
        for name, path in fetch().items()
        if not options.benchmark or name in options.benchmark
    }
    with tempfile.TemporaryDirectory() as scratch:
        capture = os.path.join(scratch, "c.json")
        scoped = [options.python, "-m", "gcscope", "run", "--format", "none"]
        scoped += [*options.flags.split(), "-o", capture]
        # "plain, again" is the A/A control: plain python against itself in the same
        # series, so its ratio and interval are this machine's resolution
        variants = {
            "plain": ([options.python], {}),
            "plain, again (A/A)": ([options.python], {}),
            "gcscope": (scoped, {}),
        }
        if options.components:
            quiet = [*scoped, "--rss-interval", "0"]
            without = {"BM_WITHOUT_GC_CALLBACKS": "1"}
            variants.update({
                "gcscope, Python RSS thread": (scoped, {"GCSCOPE_RSS_SAMPLER": "python"}),
                "gcscope, no RSS thread": (quiet, {}),
                "gcscope, no gc callback": (scoped, without),
                "gcscope, neither": (quiet, without),
                "python + bare recorder": ([options.python], {"BM_BARE_RECORDER": "1"}),
                f"python + {options.holes} holes": (
                    [options.python], {"BM_HOLES": str(options.holes)}
                ),
            })  # fmt: skip
        for name, program in programs.items():
            env = {**CHILD_ENV, "BM_LOOPS": str(BENCHMARKS[name][2] * options.scale)}
            own_seconds([*scoped, str(program)], env, scratch)  # warm caches (.pyc, pages)
            times: dict[str, list[float]] = {label: [] for label in variants}
            labels = list(variants)
            draws = random.Random(19)  # the same layouts in every series
            for index in range(options.rounds):
                layout = {}
                if options.layouts:
                    layout = {
                        "BM_HOLES": str(draws.randrange(2001)),
                        "BM_HOLES_SEED": str(draws.randrange(1, 2**31)),
                    }
                shift = index % len(labels)
                order = labels[shift:] + labels[:shift]
                if index % 2:
                    order.reverse()
                for label in order:
                    command, extra = variants[label]
                    round_env = {**env, **layout, **extra}
                    seconds = own_seconds([*command, str(program)], round_env, scratch)
                    times[label].append(seconds)
            print(f"{name}: {statistics.median(times['plain']):.3f} s plain, by its own clock")
            print(f"  {'variant':<26}{'ratio to plain':>15}{'95% interval':>18}")
            for label in labels[1:]:
                ratios = [t / p for t, p in zip(times[label], times["plain"])]
                low, high = median_interval(ratios)
                print(
                    f"  {label:<26}{statistics.median(ratios):>14.3f}x{low:>11.3f}-{high:.3f}x",
                    flush=True,
                )


if __name__ == "__main__":
    main()
