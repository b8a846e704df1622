"""pyperformance's GC benchmarks (bm_gc_collect, bm_gc_traversal) as plain programs.

The benchmark scripts are fetched from PyPI by this script itself (`pip download
pyperformance==VERSION --no-deps`), not vendored, and run as ordinary programs: a
stand-in `pyperf` module beside them runs each benchmark function once, with a
fixed loop count (`BM_LOOPS`), so `python bm_gc_collect.py` and `gcscope run
bm_gc_collect.py` do exactly the same work and can be timed side by side. With
`BM_TIME_FILE` set, the stand-in writes there the time the benchmark measured itself
(its timed loops only, as pyperf reads it: no start-up, no end of run).

    python benchmarks/pyperformance_gc.py            # fetch, then print the programs' paths
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

VERSION = "1.14.0"
CACHE = Path(__file__).resolve().parent / ".cache" / f"pyperformance-{VERSION}"
BENCHMARKS = {
    # name: (pyperformance benchmark folder, the name it gives pyperf, loops for ~2 s here)
    "gc_collect": ("bm_gc_collect", "create_gc_cycles", 500),
    "gc_traversal": ("bm_gc_traversal", "gc_traversal", 60),
}

PYPERF_STAND_IN = '''"""A stand-in for pyperf: the benchmark function runs once, as a program."""
import os
import time

perf_counter = time.perf_counter
LOOPS = %r  # per benchmark name; BM_LOOPS overrides


class Runner:
    def __init__(self, *args, **kwargs):
        self.metadata = {}

    def bench_time_func(self, name, function, *args):
        ab_switches()
        seconds = function(int(os.environ.get("BM_LOOPS", LOOPS[name])), *args)
        if os.environ.get("BM_TIME_FILE"):  # the benchmark's own timing, as pyperf reads it
            with open(os.environ["BM_TIME_FILE"], "w") as out:
                out.write(repr(seconds))


def ab_switches():
    """The A/B variants of benchmarks/pyperf_own_time.py --components, right before the
    timed loops (nothing here runs unless asked)."""
    import gc
    if os.environ.get("BM_WITHOUT_GC_CALLBACKS"):  # gcscope's gc callback taken out
        gc.callbacks.clear()
    if os.environ.get("BM_BARE_RECORDER"):  # the least any gc.callbacks tool pays
        import array
        stamps, clock = array.array("d"), time.perf_counter
        def record(phase, info, append=stamps.append, clock=clock):
            append(clock())
        gc.callbacks.append(record)
    # freed blocks among survivors no collection traverses: a drawn layout (BM_HOLES,
    # BM_HOLES_SEED; benchmarks/workloads/_layout.py, copied beside this file)
    from _layout import leave_holes
    leave_holes()
'''


def fetch() -> dict[str, Path]:
    """The benchmark programs, downloaded (once) into benchmarks/.cache."""
    programs = {name: CACHE / f"{entry[0]}.py" for name, entry in BENCHMARKS.items()}
    loops = {pyperf_name: count for _, pyperf_name, count in BENCHMARKS.values()}
    stand_in = PYPERF_STAND_IN % loops
    layout = (Path(__file__).resolve().parent / "workloads" / "_layout.py").read_text()
    if all(path.exists() for path in programs.values()):
        for name, text in (("pyperf.py", stand_in), ("_layout.py", layout)):
            if not (CACHE / name).exists() or (CACHE / name).read_text() != text:
                (CACHE / name).write_text(text)  # an older stand-in
        return programs
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", str(CACHE),
         f"pyperformance=={VERSION}"],
        check=True,
    )  # fmt: skip
    wheel = next(CACHE.glob(f"pyperformance-{VERSION}-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        for name, (folder, _, _) in BENCHMARKS.items():
            source = archive.read(
                f"pyperformance/data-files/benchmarks/{folder}/run_benchmark.py"
            ).decode()
            programs[name].write_text(source)
    (CACHE / "pyperf.py").write_text(stand_in)
    (CACHE / "_layout.py").write_text(layout)
    return programs


if __name__ == "__main__":
    for name, path in fetch().items():
        print(f"{name}: {path} (BM_LOOPS={BENCHMARKS[name][2]})")
