"""Measure gcscope's overhead: plain `python` and `gcscope run` side by side.

Each round runs the baseline and the gcscope command back to back, alternating
which goes first, and records wall time, CPU time and the child's own peak RSS.
Prints the median of the per-round ratios, and for the empty script the median
of the per-round differences (gcscope's fixed cost).

    python benchmarks/overhead.py                    # default probes, all workloads
    python benchmarks/overhead.py --rounds 7 --mode default --workload cycles
    python benchmarks/overhead.py --mode sampled     # sampled vs exact vs memray vs plain
    python benchmarks/overhead.py --mode floor       # plain, runpy, bare recorder, gcscope

`--mode floor` runs, in rotating order, plain python, a bare `runpy` wrapper, a bare
`gc.callbacks` recorder (one timestamp per call into an array) through runpy, gcscope
with `--rss-interval 0` and gcscope, all `--format none`: where the default mode's cost
sits between the least any in-process tool pays and what gcscope pays.

`--layouts` draws a new heap layout each round, the same for both sides of the pair
(`BM_HOLES`, `BM_HOLES_SEED`: freed blocks left before the workload starts, see
`workloads/_layout.py`): a full collection's time moves with where its objects lie,
and over many drawn layouts the median ratio is the cost with the layout averaged out.
`--control` adds plain python against itself in the same rounds (A/A): its ratio and
interval are the resolution of the series.

`--mode sampled` runs four commands per round in rotating order: plain python,
`gcscope run --allocations=sampled`, `gcscope run --allocations` (exact, tracemalloc)
and `memray run` (every allocation, natively; `pip install -e '.[bench]'`), and prints
each one's median ratios to the plain run of the same round.

Workloads are the GC-heavy programs in benchmarks/workloads (copies of the
project's reference workloads, kept here so a fresh clone can run them);
`empty` is an empty script, for the fixed cost.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
WORKLOADS = PROJECT / "benchmarks" / "workloads"


@dataclass
class Mode:
    """How one gcscope configuration is compared: its flags and its baseline."""

    name: str
    gcscope_flags: list[str]
    baseline_flags: list[str]  # python flags for the floor it is compared with
    baseline_code: str | None = None  # run the workload via -c with this prologue/epilogue
    limit: float | None = None  # the required ratio, printed for reference
    baseline_gcscope: bool = False  # compare with a default `gcscope run` instead of python
    rss_limit: float | None = None  # the required peak-RSS ratio, printed for reference
    rivals: tuple[str, ...] = ()  # other tools measured in the same rounds (see RIVALS)
    scoped_code: str | None = None  # run the workload via -c with this instead of gcscope run
    folder: bool = False  # --follow: -o names a folder


FLOOR_TRACEMALLOC = (
    "import runpy, sys, tracemalloc; sys.argv = sys.argv[1:]; "
    "runpy.run_path(sys.argv[0], run_name='__main__'); tracemalloc.take_snapshot()"
)

# the same program run by runpy, plain and under gcscope.monitor(): the recorder alone,
# and with the default outlets (prometheus_client imported and its collector registered;
# nothing scrapes it here)
FLOOR_RUNPY = (
    "import os, runpy, sys; sys.argv = sys.argv[1:]; "
    "sys.path[0] = os.path.dirname(os.path.abspath(sys.argv[0])); "  # as python sets it
    "runpy.run_path(sys.argv[0], run_name='__main__')"
)
# the least any gc.callbacks tool pays: one timestamp per callback call into an array
FLOOR_RECORDER = (
    "import array, gc, time; stamps = array.array('q'); clock = time.perf_counter_ns; "
    "gc.callbacks.append(lambda phase, info: stamps.append(clock())); " + FLOOR_RUNPY
)
MONITOR_CODE = "import gcscope; gcscope.monitor(prometheus=False); " + FLOOR_RUNPY
MONITOR_PROMETHEUS_CODE = "import gcscope; gcscope.monitor(); " + FLOOR_RUNPY

MODES = {
    "default": Mode("default", [], [], limit=1.03),
    # --allocations against its floor: tracemalloc=1 plus one snapshot, read once
    "allocations": Mode(
        "allocations",
        ["--allocations"],
        ["-X", "tracemalloc=1"],
        baseline_code=FLOOR_TRACEMALLOC,
        limit=1.15,
    ),
    "cycles": Mode("cycles", ["--cycles"], [], limit=2.0, rss_limit=1.5),
    # what the harvest itself adds: --cycles against gcscope's default probes
    "harvest": Mode("harvest", ["--cycles"], [], baseline_gcscope=True),
    # sampled allocation tracking against plain python, beside exact mode and memray
    "sampled": Mode(
        "sampled",
        ["--allocations=sampled"],
        [],
        limit=1.3,
        rss_limit=1.3,
        rivals=("exact", "memray"),
    ),
    # gcscope.monitor() in a program: the recorder in monitor mode, left on
    "monitor": Mode(
        "monitor", [], [], baseline_code=FLOOR_RUNPY, scoped_code=MONITOR_CODE, limit=1.03
    ),
    "monitor-prometheus": Mode(
        "monitor-prom",
        [],
        [],
        baseline_code=FLOOR_RUNPY,
        scoped_code=MONITOR_PROMETHEUS_CODE,
        limit=1.03,
    ),
    # issue 19's floor, in one rotating series: plain python, a bare runpy wrapper, a bare
    # gc.callbacks recorder through runpy, gcscope without its RSS thread, and gcscope
    # (--format none: no report, so the fixed cost is start-up and the capture)
    "floor": Mode(
        "gcscope",
        ["--format", "none"],
        [],
        limit=1.02,
        rivals=("runpy", "recorder", "no-rss"),
    ),
    # --follow against python, and against gcscope without it (what following adds)
    "follow": Mode("follow", ["--follow"], [], limit=1.03, folder=True),
    "follow-added": Mode("follow-added", ["--follow"], [], baseline_gcscope=True, folder=True),
}
DEFAULT_WORKLOADS = {
    "default": ["empty", "cycles", "alloc", "steady", "gc_collect", "gc_traversal"],
    "allocations": ["steady", "alloc"],
    "cycles": ["pairs", "pairs-streamed", "cycles"],
    "harvest": ["pairs", "pairs-streamed", "cycles"],
    "sampled": ["alloc", "cycles", "steady"],
    "floor": ["empty", "cycles", "gc_collect", "gc_traversal"],
    "monitor": ["empty", "cycles", "alloc", "steady"],
    "monitor-prometheus": ["empty", "cycles", "alloc", "steady"],
    "follow": ["empty", "pool", "pool-spawn"],
    "follow-added": ["pool", "pool-spawn"],
}
PYPERFORMANCE = ("gc_collect", "gc_traversal")  # pyperformance's bm_gc_collect, bm_gc_traversal
# workloads that are one program run with a different environment
WORKLOAD_ENV = {"pairs-streamed": {"PAIRS_STREAMED": "1"}, "pool-spawn": {"POOL_METHOD": "spawn"}}


def gcscope_command(python: str) -> list[str]:
    return [python, "-m", "gcscope"]


# Both sides run as a user's would: with .pyc files written and reused (some CI images set
# PYTHONDONTWRITEBYTECODE, which makes every import of gcscope recompile it).
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


SCALED = {"CYCLES_BATCHES": 50, "ALLOC_ITERS": 40, "STEADY_ROUNDS": 3, "POOL_BATCHES": 6}


def scale_workloads(factor: int) -> None:
    """Run each workload `factor` times longer, so a fixed start-up cost weighs less."""
    for variable, default in SCALED.items():
        CHILD_ENV[variable] = str(default * factor)
    from pyperformance_gc import BENCHMARKS  # each reads BM_LOOPS, with its own default

    for name in PYPERFORMANCE:
        WORKLOAD_ENV[name] = {"BM_LOOPS": str(BENCHMARKS[name][2] * factor)}


GNU_TIME = "/usr/bin/time"  # reports its child's own peak RSS (see `measure`)


def measure(
    command: list[str], cwd: str, extra_env: dict[str, str] | None = None
) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and peak RSS (bytes) of one child process.

    The child runs under GNU time when it is installed: a child forked straight from
    this (larger) Python process inherits its high-water RSS at exec, so wait4's
    ru_maxrss would report max(this process, child) and flatten every ratio. Without
    GNU time the peak comes from polling the child's VmHWM (reset at exec).
    """
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss_file:
        timed = os.path.exists(GNU_TIME)
        if timed:
            command = [GNU_TIME, "-f", "%M", "-o", rss_file.name, *command]
        started = time.perf_counter()
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env={**CHILD_ENV, **(extra_env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        peak_kib = 0 if timed else poll_peak_kib(process.pid)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            raise SystemExit(f"benchmark command failed ({process.returncode}): {command}")
        if timed:
            peak_kib = int(rss_file.read().split()[-1])
    return wall, usage.ru_utime + usage.ru_stime, peak_kib * 1024


def poll_peak_kib(pid: int) -> int:
    """The child's VmHWM, read every 2 ms until it exits (may miss its last 2 ms)."""
    peak = 0
    while True:
        try:
            with open(f"/proc/{pid}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
        except OSError:
            return peak
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return peak
        time.sleep(0.002)


def workload_path(name: str, scratch: str) -> str:
    if name.startswith("pairs"):
        return str(Path(__file__).resolve().parent / "million_pairs.py")
    if name in PYPERFORMANCE:  # fetched from PyPI by pyperformance_gc.py, not vendored
        from pyperformance_gc import fetch

        return str(fetch()[name])
    if name.startswith("pool"):
        return str(WORKLOADS / "pool.py")
    if name == "empty":
        path = os.path.join(scratch, "empty.py")
        Path(path).write_text("")
        return path
    path = WORKLOADS / f"{name}.py"
    if not path.exists():
        raise SystemExit(f"workload {path} not found (expected benchmarks/workloads/)")
    return str(path)


def compare(
    python: str,
    mode: Mode,
    workload: str,
    rounds: int,
    scratch: str,
    layouts: bool = False,
    control: bool = False,
) -> dict:
    script = workload_path(workload, scratch)
    capture = os.path.join(scratch, "capture.json")
    output = os.path.join(scratch, "tree") if mode.folder else capture
    if mode.baseline_gcscope:
        baseline = [*gcscope_command(python), "run", "-o", capture, script]
    elif mode.baseline_code:
        baseline = [python, *mode.baseline_flags, "-c", mode.baseline_code, script]
    else:
        baseline = [python, *mode.baseline_flags, script]
    scoped = [*gcscope_command(python), "run", *mode.gcscope_flags, "-o", output, script]
    if mode.scoped_code:
        scoped = [python, "-c", mode.scoped_code, script]
    workload_env = WORKLOAD_ENV.get(workload, {})
    measure(scoped, scratch, workload_env)  # warm caches (.pyc files, page cache)
    walls, cpus, rss, fixed, base_walls, scoped_walls = [], [], [], [], [], []
    again: list[float] = []
    draws = random.Random(19)  # the same layouts in every series
    for index in range(rounds):
        env = dict(workload_env)
        if layouts:
            env["BM_HOLES"] = str(draws.randrange(2001))
            env["BM_HOLES_SEED"] = str(draws.randrange(1, 2**31))
        pair = [("base", baseline), ("gcscope", scoped)]
        if control:
            pair.insert(index % 3, ("again", baseline))
        if index % 2:
            pair.reverse()
        results = {label: measure(command, scratch, env) for label, command in pair}
        if control:
            again.append(results["again"][0] / results["base"][0])
        walls.append(results["gcscope"][0] / results["base"][0])
        base_walls.append(results["base"][0])
        scoped_walls.append(results["gcscope"][0])
        cpus.append(results["gcscope"][1] / results["base"][1])
        rss.append(results["gcscope"][2] / results["base"][2])
        fixed.append(results["gcscope"][0] - results["base"][0])
    return {
        "mode": mode.name,
        "workload": workload,
        "wall_ratio": statistics.median(walls),
        "wall_ci": median_interval(walls),
        "cpu_ratio": statistics.median(cpus),
        "rss_ratio": statistics.median(rss),
        "base_s": statistics.median(base_walls),
        # noise on a shared machine only ever adds time: best-of-N vs best-of-N is a
        # second, steadier estimate of the same ratio
        "best_ratio": min(scoped_walls) / min(base_walls),
        "extra_ms": statistics.median(fixed) * 1000,
        "limit": mode.limit,
        "control": (statistics.median(again), *median_interval(again)) if again else None,
    }


def rival_command(python: str, rival: str, script: str, scratch: str) -> list[str]:
    """The command line of a tool measured beside gcscope (RIVALS)."""
    if rival == "exact":
        capture = os.path.join(scratch, "exact.json")
        return [*gcscope_command(python), "run", "--allocations", "-o", capture, script]
    if rival == "runpy":
        return [python, "-c", FLOOR_RUNPY, script]
    if rival == "recorder":
        return [python, "-c", FLOOR_RECORDER, script]
    if rival == "no-rss":
        capture = os.path.join(scratch, "no-rss.json")
        run = ["run", "--format", "none", "--rss-interval", "0", "-o", capture, script]
        return [*gcscope_command(python), *run]
    if rival == "memray":
        output = os.path.join(scratch, "memray.bin")
        return [python, "-m", "memray", "run", "-q", "-f", "-o", output, script]
    raise SystemExit(f"unknown rival {rival!r}")


def compare_tools(python: str, mode: Mode, workload: str, rounds: int, scratch: str) -> list[dict]:
    """gcscope and `mode.rivals` against plain python, all in the same rounds.

    Each round runs every command once, in an order rotated round by round (so no tool
    always runs right after another); each tool's ratios are to that round's plain run.
    """
    script = workload_path(workload, scratch)
    env = WORKLOAD_ENV.get(workload)
    capture = os.path.join(scratch, "capture.json")
    commands = {
        "plain": [python, script],
        mode.name: [*gcscope_command(python), "run", *mode.gcscope_flags, "-o", capture, script],
    }
    for rival in mode.rivals:
        commands[rival] = rival_command(python, rival, script, scratch)
    labels = list(commands)
    for label in labels:  # warm caches (.pyc files, page cache)
        measure(commands[label], scratch, env)
    ratios: dict[str, dict[str, list[float]]] = {
        label: {"wall": [], "cpu": [], "rss": [], "extra": []} for label in labels[1:]
    }
    base_walls = []
    for index in range(rounds):
        shift = index % len(labels)
        order = labels[shift:] + labels[:shift]
        results = {label: measure(commands[label], scratch, env) for label in order}
        base = results["plain"]
        base_walls.append(base[0])
        for label in labels[1:]:
            ratios[label]["wall"].append(results[label][0] / base[0])
            ratios[label]["cpu"].append(results[label][1] / base[1])
            ratios[label]["rss"].append(results[label][2] / base[2])
            ratios[label]["extra"].append(results[label][0] - base[0])
    rows = []
    for label in labels[1:]:
        figures = ratios[label]
        rows.append(
            {
                "mode": label,
                "workload": workload,
                "base_s": statistics.median(base_walls),
                "wall_ratio": statistics.median(figures["wall"]),
                "wall_ci": median_interval(figures["wall"]),
                "cpu_ratio": statistics.median(figures["cpu"]),
                "rss_ratio": statistics.median(figures["rss"]),
                "rss_ci": median_interval(figures["rss"]),
                "extra_ms": statistics.median(figures["extra"]) * 1000,
                "limit": mode.limit if label == mode.name else None,
            }
        )
    return rows


def print_tool_rows(rows: list[dict], mode: Mode, fixed_ms: dict[str, float]) -> None:
    """One line per tool; `fixed_ms`: each tool's extra on the empty script, once measured
    (the net ratio takes it out, as the default mode's does)."""
    for row in rows:
        limit = ""
        if row["limit"]:
            limit = f"wall <= {row['limit']:.2f}x"
            limit += f", RSS <= {mode.rss_limit:.2f}x" if mode.rss_limit else ""
        if row["workload"] == "empty":
            fixed_ms[row["mode"]] = row["extra_ms"]
        extra = row["extra_ms"] - fixed_ms.get(row["mode"], 0.0)
        net = (row["base_s"] + extra / 1000) / row["base_s"]
        print(
            f"{row['mode']:<12}{row['workload']:<16}{row['base_s']:>9.3f}"
            f"{row['wall_ratio']:>10.3f}x{row['cpu_ratio']:>10.3f}x"
            f"{row['rss_ratio']:>10.3f}x{row['extra_ms']:>10.1f}{net:>10.3f}x"
            f"{row['wall_ci'][0]:>9.3f}-{row['wall_ci'][1]:.3f}x"
            f"{row['rss_ci'][0]:>9.3f}-{row['rss_ci'][1]:.3f}x  {limit}",
            flush=True,
        )


def median_interval(ratios: list[float], resamples: int = 2000) -> tuple[float, float]:
    """A 95% bootstrap interval for the median ratio: how far noise alone could move it."""
    chooser = random.Random(1)
    medians = sorted(
        statistics.median(chooser.choices(ratios, k=len(ratios))) for _ in range(resamples)
    )
    return medians[int(0.025 * resamples)], medians[int(0.975 * resamples) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--python", default=sys.executable, help="interpreter with gcscope")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--mode", action="append", choices=sorted(MODES))
    parser.add_argument(
        "--workload",
        action="append",
        choices=[
            "empty",
            "cycles",
            "alloc",
            "steady",
            "pairs",
            "pairs-streamed",
            "pool",
            "pool-spawn",
            *PYPERFORMANCE,
        ],
    )
    parser.add_argument("--scale", type=int, default=1, help="make workloads N times longer")
    parser.add_argument(
        "--layouts", action="store_true", help="a new random heap layout each round (above)"
    )
    parser.add_argument(
        "--control", action="store_true", help="plain python against itself too (A/A)"
    )
    options = parser.parse_args()
    scale_workloads(options.scale)
    modes = options.mode or ["default"]
    version = subprocess.run(
        [options.python, "-c", "import sys; print(sys.version.split()[0])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    print(
        f"Python {version}, {options.rounds} alternating rounds, median of per-round ratios, "
        f"workloads x{options.scale}"
        + (", a drawn heap layout per round" if options.layouts else "")
    )
    with tempfile.TemporaryDirectory() as scratch:
        for mode_name in modes:
            mode = MODES[mode_name]
            if mode.rivals:
                print(
                    f"{'tool':<12}{'workload':<16}{'plain s':>9}{'wall ratio':>11}"
                    f"{'CPU ratio':>11}{'RSS ratio':>11}{'extra ms':>10}{'net ratio':>11}"
                    f"{'wall 95% CI':>17}{'RSS 95% CI':>17}  limit"
                )
                tool_fixed_ms: dict[str, float] = {}
                for workload in options.workload or DEFAULT_WORKLOADS[mode_name]:
                    rows = compare_tools(options.python, mode, workload, options.rounds, scratch)
                    print_tool_rows(rows, mode, tool_fixed_ms)
                continue
            print(
                f"{'mode':<12}{'workload':<16}{'plain s':>9}{'wall ratio':>11}{'CPU ratio':>11}"
                f"{'RSS ratio':>11}{'extra ms':>10}{'net ratio':>11}{'best/best':>11}"
                f"{'wall 95% CI':>17}  limit"
            )
            fixed_ms = 0.0
            for workload in options.workload or DEFAULT_WORKLOADS[mode_name]:
                row = compare(
                    options.python,
                    MODES[mode_name],
                    workload,
                    options.rounds,
                    scratch,
                    options.layouts,
                    options.control,
                )
                if workload == "empty":
                    fixed_ms = row["extra_ms"]
                # the ratio once the fixed (start-up + report) cost measured on `empty` is removed
                net = (row["base_s"] + (row["extra_ms"] - fixed_ms) / 1000) / row["base_s"]
                if workload == "empty":
                    limit = "fixed cost <= 150 ms"
                else:
                    limit = f"wall <= {row['limit']:.2f}x" if row["limit"] else ""
                    if MODES[mode_name].rss_limit:
                        limit += f", RSS <= {MODES[mode_name].rss_limit:.2f}x"
                print(
                    f"{row['mode']:<12}{row['workload']:<16}{row['base_s']:>9.3f}"
                    f"{row['wall_ratio']:>10.3f}x{row['cpu_ratio']:>10.3f}x"
                    f"{row['rss_ratio']:>10.3f}x{row['extra_ms']:>10.1f}{net:>10.3f}x"
                    f"{row['best_ratio']:>10.3f}x"
                    f"{row['wall_ci'][0]:>9.3f}-{row['wall_ci'][1]:.3f}x  {limit}",
                    flush=True,
                )
                if row["control"]:
                    middle, low, high = row["control"]
                    print(f"{'':<12}{'A/A control':<16}{middle:>19.3f}x  {low:.3f}-{high:.3f}x")


if __name__ == "__main__":
    main()
