"""Each loop collects, makes 100 reference cycles of 21 objects, and collects again
(pyperformance's bm_gc_collect). How many gen-0 collections fall between the explicit
ones depends on the gen-0 count each full collection leaves, which a gc callback must
not move. Prints the program's own collections per generation. argv[1]: loops."""
import gc
import json
import sys


class Node:
    def __init__(self):
        self.next = None


for loop in range(int(sys.argv[1]) if len(sys.argv) > 1 else 50):
    gc.collect()
    cycles = []
    for cycle in range(100):
        first = node = Node()
        cycles.append(first)
        for link in range(20):
            node.next = Node()
            node = node.next
        node.next = first
    del cycles, first, node
    gc.collect()
print(json.dumps([stats["collections"] for stats in gc.get_stats()]))
