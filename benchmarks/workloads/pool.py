"""Workload (d): a multiprocessing Pool of 4 workers, each running GC-heavy tasks.

The measure of `gcscope run --follow`'s cost per followed process: every worker is
a followed process (re-armed after the fork, writing its own capture at its end).
POOL_METHOD picks the start method (fork by default), POOL_TASKS the number of
tasks (16: four per worker), POOL_BATCHES the batches of 20k self-referencing
lists each task makes and drops.
"""
import multiprocessing
import os

METHOD = os.environ.get("POOL_METHOD", "fork")
TASKS = int(os.environ.get("POOL_TASKS", "16"))
BATCHES = int(os.environ.get("POOL_BATCHES", "6"))


def task(batches):
    made = 0
    for _ in range(batches):
        batch = []
        for value in range(20000):
            node = [value]
            node.append(node)  # a cycle: only the cyclic collector frees it
            batch.append(node)
        made += len(batch)
    return made


if __name__ == "__main__":
    with multiprocessing.get_context(METHOD).Pool(4) as pool:
        print(sum(pool.map(task, [BATCHES] * TASKS, chunksize=1)))
