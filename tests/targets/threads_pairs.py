"""Four threads each make PAIRS instance pairs (cyclic garbage); records its own gc.get_stats().

argv[1]: where to write {"before": ..., "after": ...} (JSON); argv[2]: pairs per thread
(default 150000). The number of collections it sees is the ground truth gcscope must keep.
"""
import gc

before = gc.get_stats()
import json
import sys
import threading

PAIRS = int(sys.argv[2]) if len(sys.argv) > 2 else 150_000


class Node:
    def __init__(self):
        self.partner = None


def pairs(n):
    for _ in range(n):
        first, second = Node(), Node()
        first.partner, second.partner = second, first


workers = [threading.Thread(target=pairs, args=(PAIRS,)) for _ in range(4)]
for worker in workers:
    worker.start()
for worker in workers:
    worker.join()
after = gc.get_stats()
with open(sys.argv[1], "w") as out:
    json.dump({"before": before, "after": after}, out)
print("threads done")
