"""Marks the end of its start-up with gcscope.startup_done(), after a work-like line."""

import gcscope

CACHE = {i: [i] for i in range(50_000)}  # start-up work the heuristic would not include
gcscope.startup_done()  # startup marker
rows = [[i] for i in range(100_000)]
print(len(rows), len(CACHE))
