"""EARLY self-referencing instances, then LATE pairs of another class: both must be shapes.

argv[1]: Early objects (default 9000), argv[2]: Late pairs (default 300000).
"""
import sys

EARLY = int(sys.argv[1]) if len(sys.argv) > 1 else 9_000
LATE = int(sys.argv[2]) if len(sys.argv) > 2 else 300_000


class Early:
    def __init__(self):
        self.me = self


class Late:
    __slots__ = ("other",)

    def __init__(self, other=None):
        self.other = other


for _ in range(EARLY):
    Early()
for _ in range(LATE):
    first = Late()
    first.other = Late(first)
del first
print("early/late done", EARLY, LATE)
