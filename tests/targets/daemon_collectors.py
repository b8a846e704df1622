"""Three daemon threads keep making cyclic garbage and collecting; the main thread ends.

Plain python exits as soon as the main thread is done; gcscope must too (bounded final
harvest) and must not count what the daemon threads make after that. argv[1]: how long
the main thread works (seconds, default 0.5); argv[2]: where to write how many Junk
objects the threads had made when the main thread ended (ground truth).
"""
import gc
import sys
import threading
import time


class Junk:
    def __init__(self):
        self.me = self


made = [0, 0, 0]


def churn(number):
    while True:
        for _ in range(1000):
            Junk()
        made[number] += 1000
        gc.collect()


for number in range(3):
    threading.Thread(target=churn, args=(number,), daemon=True).start()
time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 0.5)
if len(sys.argv) > 2:
    with open(sys.argv[2], "w") as out:
        out.write(str(sum(made) + 3 * 1000))  # + what each thread has under way
print("main done")
