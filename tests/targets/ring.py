"""One ring of SIZE objects (argv[1], default 60): a single cycle, larger than a picture.

Each Link points at the next and at the previous one, so the picture has two-way pairs.
"""
import sys

SIZE = int(sys.argv[1]) if len(sys.argv) > 1 else 60


class Link:
    def __init__(self, previous=None):
        self.before = previous  # DICT-LINE: up to 3.10 the instance's __dict__ is made here
        self.after = None


first = last = Link()  # RING-LINE
for _ in range(SIZE - 1):
    link = Link(last)  # LINK-LINE
    last.after = link
    last = link
last.after, first.before = first, last
del first, last, link
print("ring done", SIZE)
