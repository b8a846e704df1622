"""Two forked children, one of which leaves reference cycles; optionally a third that its
parent kills with SIGKILL (it can leave no capture).

argv: CYCLES [kill]. Child 1 makes CYCLES pairs of Knots in cycles (2 objects each) and
collects; child 2 only collects; the parent neither. With "kill", a third child sleeps
until the parent kills it.
"""
import gc
import os
import signal
import sys
import time


class Knot:
    pass


def knots(count):
    for _ in range(count):
        a, b = Knot(), Knot()
        a.other, b.other = b, a
    gc.collect()


cycles = int(sys.argv[1])
pids = []
for number in (1, 2):
    pid = os.fork()
    if pid == 0:
        knots(cycles if number == 1 else 0)
        os._exit(0)
    pids.append(pid)
if sys.argv[2:] == ["kill"]:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        os.write(write_fd, b"x")
        time.sleep(60)
        os._exit(0)
    os.close(write_fd)
    os.read(read_fd, 1)  # it runs
    time.sleep(0.3)
    os.kill(pid, signal.SIGKILL)
    pids.append(pid)
for pid in pids:
    os.waitpid(pid, 0)
print("done")
