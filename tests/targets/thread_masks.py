"""Prints, for every thread of the process other than the main one, whether SIGTERM is
blocked in it (from /proc/self/task/*/status), once gcscope's sampler has started."""
import os
import signal
import time

time.sleep(0.3)
main = os.getpid()
for task in sorted(os.listdir("/proc/self/task")):
    if int(task) == main:
        continue
    with open(f"/proc/self/task/{task}/status") as status:
        blocked = next(int(line.split()[1], 16) for line in status if line.startswith("SigBlk"))
    print("thread", bool(blocked & (1 << (signal.SIGTERM - 1))))
