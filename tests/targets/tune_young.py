"""Known answer for `gcscope tune --goal throughput`: young collections dominate.

Each batch makes 60,001 containers (30,000 rows of two lists) that all live until
the batch is summed, then die together. With the default threshold0 (700, or 2000
from 3.13) every batch triggers dozens of young collections, and the middle and
full ones they lead to, traversing objects that die a moment later: GC is 35-45%
of the run. With threshold0 x50 a batch reaches the threshold once at most.
"""

import sys

BATCHES = int(sys.argv[1]) if len(sys.argv) > 1 else 30

total = 0
for batch in range(BATCHES):
    rows = [[i, [i]] for i in range(30_000)]
    total += sum(len(row) for row in rows)
    del rows
print(total)
