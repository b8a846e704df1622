"""Fills every section of a capture: reference cycles of instances and lists (with
edges to label), memory that grows in every interval, type growth, collections,
RSS samples. Run twice by tests/test_capture_validation.py (--cycles, and --interval 250ms).
"""
import gc
import time


class Node:
    def __init__(self):
        self.partner = None


kept = []


def pairs(n):
    for _ in range(n):
        first, second = Node(), Node()
        first.partner, second.partner = second, first


def lists(n):
    for _ in range(n):
        loop = []
        loop.append(loop)


def grow():
    kept.append(bytearray(4_000))  # grows in every interval
    kept.append(Node())


end = time.monotonic() + 1.2  # several 250 ms intervals, each with many grow() calls
while time.monotonic() < end:
    pairs(50)
    lists(3)
    grow()
    time.sleep(0.01)
gc.collect()
print("done", len(kept))
