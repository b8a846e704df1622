"""Known answer for the freeze candidate: a large start-up heap, then steady work.

Importing tune_startup_heap builds a million long-lived lists. The work that
follows keeps a rolling window of three 10,000-object batches: they live long
enough to reach the oldest generation, so full collections keep coming, and each
one traverses the whole start-up heap again, unless it was frozen at the end of
start-up (the `if __name__ == "__main__":` line, where gcscope tune's heuristic
puts the freeze point).
"""

import sys
from collections import deque

import tune_startup_heap


def serve(rounds):
    window = deque(maxlen=3)
    handled = 0
    for request in range(rounds):
        window.append([[request, i] for i in range(10_000)])
        handled += len(window[-1])
    return handled + len(tune_startup_heap.TABLE)


if __name__ == "__main__":  # the end of start-up
    print(serve(int(sys.argv[1]) if len(sys.argv) > 1 else 400))
