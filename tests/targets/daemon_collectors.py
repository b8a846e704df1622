"""Three daemon threads keep making cyclic garbage and collecting; the main thread ends.

Plain python exits as soon as the main thread is done; gcscope must too (bounded final
harvest) and must not count what the daemon threads make after that. argv[1]: how long
the main thread works (seconds, default 0.5).
"""
import gc
import sys
import threading
import time


class Junk:
    def __init__(self):
        self.me = self


def churn():
    while True:
        for _ in range(1000):
            Junk()
        gc.collect()


for _ in range(3):
    threading.Thread(target=churn, daemon=True).start()
time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 0.5)
print("main done")
