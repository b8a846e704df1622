"""At least COUNT collections (default 20,500), most of generation 0: the HTML report's
scale case (more than --max-events' default 20,000, so the timeline is full)."""
import gc
import sys

COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 20_500
live = []
for i in range(COUNT):
    live.append([i])
    if len(live) > 5_000:
        del live[:2_500]
    generation = 2 if i % 2_000 == 0 else 1 if i % 100 == 0 else 0
    gc.collect(generation)
print("collections made", COUNT)
