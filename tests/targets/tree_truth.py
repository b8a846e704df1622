"""A process tree whose processes record their own collections (ground truth).

argv: MODE TRUTH [ENDING]. MODE: fork | spawn | forkserver (a multiprocessing Pool of
2 workers), or child (what the subprocess child runs). ENDING: terminate (the pool's
`with` block ends it: SIGTERM to the workers) or join (close and join: they return).

Every process appends one JSON line to TRUTH per window of its own work: its pid,
the window on time.perf_counter(), gc.get_stats() at both ends (read with the
collector paused, so no collection falls between a clock read and a stats read),
and the Knot objects it left in reference cycles. Inside a window: cyclic
garbage (automatic young collections) and N explicit full collections. The main
process works before and after the pool, and runs one subprocess child.
"""
import gc
import json
import multiprocessing
import os
import subprocess
import sys
import time

TRUTH = sys.argv[2] if len(sys.argv) > 2 else None


class Knot:
    def __init__(self, other=None):
        self.other = other


def work(full_collections):
    for _ in range(3000):
        a = Knot()
        a.other = Knot(a)  # 2 Knots in a cycle, garbage at the next line
    del a  # the last pair too: none is left for a forked child to inherit and collect
    for _ in range(full_collections):
        gc.collect()
    return 6000


def window(full_collections):
    gc.disable()
    t0 = time.perf_counter()
    stats0 = gc.get_stats()
    gc.enable()
    knots = work(full_collections)
    gc.disable()
    stats1 = gc.get_stats()
    t1 = time.perf_counter()
    line = json.dumps({"pid": os.getpid(), "t0": t0, "t1": t1, "stats0": stats0,
                       "stats1": stats1, "knots": knots}) + "\n"
    with open(TRUTH, "a") as handle:
        handle.write(line)
    gc.enable()
    return os.getpid()


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "child":
        window(3)
        sys.exit(0)
    window(2)
    context = multiprocessing.get_context(mode)
    ending = sys.argv[3] if len(sys.argv) > 3 else "terminate"
    # each worker's initializer works too: both workers have windows, whoever gets the tasks
    if ending == "terminate":
        with context.Pool(2, initializer=window, initargs=(1,)) as pool:
            pids = pool.map(window, [1, 2, 3, 4], chunksize=1)
    else:
        pool = context.Pool(2, initializer=window, initargs=(1,))
        pids = pool.map(window, [1, 2, 3, 4], chunksize=1)
        pool.close()
        pool.join()
    subprocess.run([sys.executable, __file__, "child", TRUTH], check=True)
    window(1)
    print("done", len(pids))
