"""A drawn heap layout for the benchmarks' A/B series (`--layouts`).

A full collection's time depends on where its objects lie in memory, and the smallest
change before a program starts (an import, a few hundred freed blocks) moves that time
by as much as a profiler's whole cost. With `BM_HOLES=N`, `leave_holes()` leaves N
freed blocks of several sizes among survivors that no collection traverses, the sizes
drawn from `BM_HOLES_SEED` (0: a fixed pattern). Both sides of a pair get the same
draw; over many draws the median ratio is the tool's cost with the layout averaged out.
"""
import os

KEPT = ()


def leave_holes():
    holes = int(os.environ.get("BM_HOLES", 0))
    seed = int(os.environ.get("BM_HOLES_SEED", 0))
    if not holes:
        return
    import gc
    kept = []
    for index in range(holes):
        mixed = (index * 2654435761 + seed) % 4294967296 if seed else index
        kept.append(bytes(mixed % 64 + 8))
        kept.append([])
        kept.append(bytes((mixed >> 8 if seed else mixed) % 40))
        kept.append((index, index, None))
    global KEPT
    KEPT = tuple(item for item in kept if type(item) is bytes)
    del kept
    gc.collect()  # the tuple of bytes is untracked from here
