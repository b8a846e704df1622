"""A daemon thread with a profile function of its own works on while the program ends.

Ground truth for the end of a run: gcscope holds the program's threads only while it
writes the capture, so in the program's atexit handler the thread runs again, still
with its own profile function, and the main thread's profile function is the one the
program left (none). Every printed line is the same under python and gcscope.
"""
import atexit
import sys
import threading
import time

calls = [0]
ticks = [0]


def profiler(frame, event, arg):
    calls[0] += 1


def work():
    sys.setprofile(profiler)
    while True:
        ticks[0] += 1
        time.sleep(0.0005)


threading.Thread(target=work, daemon=True).start()
while ticks[0] < 10:
    time.sleep(0.01)


def at_exit():
    ticks_then, calls_then = ticks[0], calls[0]
    deadline = time.monotonic() + 5  # less than gcscope holds a thread at most (10 s)
    while ticks[0] < ticks_then + 20 and time.monotonic() < deadline:
        time.sleep(0.001)
    print("the daemon thread goes on:", ticks[0] >= ticks_then + 20)
    print("with its own profile function:", calls[0] > calls_then)
    print("the main thread's profile function:", sys.getprofile())


atexit.register(at_exit)
print("main done")
