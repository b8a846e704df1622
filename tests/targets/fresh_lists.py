"""Self-referencing lists made first thing, with nothing to drain the interpreter's free list.

argv[1]: how many (default 300). Each one's creation site is LIST-LINE.
"""
import sys

for _ in range(int(sys.argv[1]) if len(sys.argv) > 1 else 300):
    loop = []  # LIST-LINE
    loop.append(loop)
del loop  # the last one dies too
print("lists done")
