"""A million pairs of instances that point at each other, all dropped at once: cyclic garbage.

The --cycles scale target: gcscope must harvest every pair within 2x the wall
time and 1.5x the peak RSS of plain python.
"""

import os

PAIRS = int(os.environ.get("PAIRS", "1000000"))


class Pair:
    __slots__ = ("other", "value")

    def __init__(self, value):
        self.value = value
        self.other = None


def main():
    total = 0
    for i in range(PAIRS):
        first, second = Pair(i), Pair(-i)
        first.other, second.other = second, first
        total += first.value
    print("pairs done", PAIRS, total)


if __name__ == "__main__":
    main()
