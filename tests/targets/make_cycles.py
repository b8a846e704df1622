"""Creates exactly PAIRS instance pairs and LISTS self-referencing lists, all garbage.

argv[1]: pairs (default 1000), argv[2]: lists (default 300).
"""
import sys

PAIRS = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
LISTS = int(sys.argv[2]) if len(sys.argv) > 2 else 300


class Node:
    def __init__(self):
        self.partner = None


def make_pairs(n):
    for _ in range(n):
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
