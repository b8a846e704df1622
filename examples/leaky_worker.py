"""A worker that leaks: every job's result is remembered in a cache nobody evicts.

gcscope run --allocations examples/leaky_worker.py
gcscope run --allocations --interval 200ms examples/leaky_worker.py --jobs 40 --pause 0.02
"""

from __future__ import annotations

import argparse
import time


class Result:
    def __init__(self, job: int, payload: bytes) -> None:
        self.job = job
        self.payload = payload


_results_by_job: dict[int, Result] = {}  # the leak: grows by one entry per job, forever


def handle(job: int) -> int:
    scratch = [str(i) * 8 for i in range(2_000)]  # transient: freed when the job ends
    result = Result(job, bytes(20_000))
    _results_by_job[job] = result
    return len(scratch) + len(result.payload)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--pause", type=float, default=0.0, help="seconds between jobs")
    options = parser.parse_args()
    total = 0
    for job in range(options.jobs):
        total += handle(job)
        if options.pause:
            time.sleep(options.pause)
    print(f"handled {options.jobs} jobs, {total} bytes touched")


if __name__ == "__main__":
    main()
