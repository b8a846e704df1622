"""What a gc callback costs each collection, measured inside one process.

Whole-process comparisons mix the callback's cost with everything else that differs
between two processes (the heap's layout above all, which alone moves a collection's
time by a few percent). Here one process makes bm_gc_collect's kind of garbage (100
cycles of 21 linked instances) and times the full collection that frees it, in blocks
whose `gc.callbacks` differ: none, whatever was installed when the program started
(under `gcscope run`: gcscope's callback), a no-op builtin (`{}.get`: what the
interpreter itself pays to call any callback) and a bare Python recorder (one
timestamp per call). The order rotates from block to block; the same heap, the same
layout, serve every variant.

    gcscope run --format none benchmarks/workloads/callback_blocks.py
    python benchmarks/workloads/callback_blocks.py      # the same, with no tool's callback

Prints the mean time per collection of each variant and its ratio to "none".
"""

from __future__ import annotations

import gc
import os
import time
from array import array

CYCLES, LINKS = 100, 20
BLOCKS = int(os.environ.get("CALLBACK_BLOCKS", 96))
LOOPS_PER_BLOCK = 10


class Node:
    def __init__(self) -> None:
        self.next: Node | None = None
        self.prev: Node | None = None


def make_cycles() -> list[Node]:
    heads = []
    for _ in range(CYCLES):
        head = current = Node()
        for _ in range(LINKS):
            following = Node()
            current.next, following.prev = following, current
            current = following
        current.next, head.prev = head, current
        heads.append(head)
    return heads


def timed_collections(loops: int) -> float:
    total = 0.0
    for _ in range(loops):
        gc.collect()
        cycles = make_cycles()
        del cycles
        start = time.perf_counter()
        gc.collect()
        total += time.perf_counter() - start
    return total


def main() -> None:
    stamps = array("d")

    def bare_recorder(phase: str, info: dict, append=stamps.append, clock=time.perf_counter):
        append(clock())

    installed = list(gc.callbacks)
    variants = {"none": [], "no-op builtin": [{}.get], "bare recorder": [bare_recorder]}
    if installed:
        variants["installed"] = installed
    names = list(variants)
    seconds = dict.fromkeys(names, 0.0)
    for block in range(BLOCKS):
        turn, position = divmod(block, len(names))
        name = names[(position + turn) % len(names)]
        gc.callbacks[:] = variants[name]
        seconds[name] += timed_collections(LOOPS_PER_BLOCK)
    gc.callbacks[:] = installed
    collections = BLOCKS // len(names) * LOOPS_PER_BLOCK
    base = seconds["none"]
    for name in names:
        per_collection = seconds[name] / collections * 1e6
        print(f"{name:<14} {per_collection:8.1f} us per collection  {seconds[name] / base:.3f}x")


if __name__ == "__main__":
    main()
