"""Creates exactly PAIRS instance pairs and LISTS self-referencing lists, all garbage.

argv[1]: pairs (default 1000), argv[2]: lists (default 300), argv[3] "paced": pause
0.1 s after every 40000 pairs (so a long run gives gcscope's harvester time to act).
"""
import sys
import time

PAIRS = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
LISTS = int(sys.argv[2]) if len(sys.argv) > 2 else 300


class Node:
    def __init__(self):
        self.partner = None


PACED = len(sys.argv) > 3 and sys.argv[3] == "paced"


def make_pairs(n):
    for done in range(n):
        if PACED and done % 40_000 == 0:
            time.sleep(0.1)
        first = Node()  # FIRST-LINE
        second = Node()  # SECOND-LINE
        first.partner = second
        second.partner = first


def make_lists(m):
    for _ in range(m):
        loop = []  # LIST-LINE
        loop.append(loop)


warm = [[] for _ in range(200)]  # drain the list free list: the garbage lists are fresh blocks
make_pairs(PAIRS)
make_lists(LISTS)
print("made", PAIRS, LISTS)
