"""What one followed forked process costs: fork a child that exits at once, N times.

    python benchmarks/fork_cost.py 50                       # plain python
    gcscope run -o c.json benchmarks/fork_cost.py 50        # children run untouched
    gcscope run --follow -o tree benchmarks/fork_cost.py 50 # each child measured

Prints the median milliseconds from fork to the child's exit having been reaped, and
the children's median CPU time (user + system, from wait4): under --follow that is
the re-arming at the fork, one smaps_rollup read and the child's capture, written.
The heap is made of HEAP containers first, so the child has a parent's worth of
memory to map (as a preloaded worker does).
"""

import os
import statistics
import sys
import time

HEAP = [[i] for i in range(int(os.environ.get("HEAP", "100000")))]
rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 50
walls, cpus = [], []
for _ in range(rounds):
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    _, status, usage = os.wait4(pid, 0)
    walls.append(time.perf_counter() - started)
    cpus.append(usage.ru_utime + usage.ru_stime)
print(
    f"fork to reaped: median {statistics.median(walls) * 1000:.2f} ms; "
    f"child CPU: median {statistics.median(cpus) * 1000:.2f} ms ({rounds} children)"
)
