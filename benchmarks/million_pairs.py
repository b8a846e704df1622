"""A million pairs of instances that point at each other: two million objects of cyclic garbage.

The --cycles scale target: gcscope must harvest every pair within 2x the wall
time and 1.5x the peak RSS of plain python. Two shapes of the same program:

- default: all million pairs are alive together, then dropped at once. The heap
  really holds a million cycles, and the collector (and gcscope's harvest)
  faces them in a few large batches.
- PAIRS_STREAMED=1: each pair is dropped as soon as it is made. The heap never
  holds more than one young generation of pairs: the peak RSS is the
  interpreter's own, so the RSS ratio measures gcscope's fixed footprint.
"""

import os

PAIRS = int(os.environ.get("PAIRS", "1000000"))
STREAMED = os.environ.get("PAIRS_STREAMED") == "1"


class Pair:
    __slots__ = ("other", "value")

    def __init__(self, value):
        self.value = value
        self.other = None


def make_pair(value):
    first, second = Pair(value), Pair(-value)
    first.other, second.other = second, first
    return first


def main():
    total = 0
    if STREAMED:
        for i in range(PAIRS):
            total += make_pair(i).value
    else:
        pairs = [make_pair(i) for i in range(PAIRS)]
        total = sum(pair.value for pair in pairs)
        del pairs  # a million cycles become garbage at once
    print("pairs done", PAIRS, total)


if __name__ == "__main__":
    main()
