"""COLLECTIONS explicit collections (default 20,500), mostly generation 0, on a changing
heap of a few thousand small containers: the HTML report's scale case (a timeline full at
--max-events' default 20,000)."""

import gc
import os

total = int(os.environ.get("COLLECTIONS", "20500"))
heap: list[list[list[int]]] = []
for step in range(total):
    heap.append([[step, n] for n in range(40)])
    if len(heap) > 2_000:
        heap = heap[1_000:]
    gc.collect(2 if step % 2_000 == 0 else 1 if step % 100 == 0 else 0)
print(f"{total} collections")
