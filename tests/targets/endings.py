"""Ends in the way argv[1] asks, for endings that never return to the caller.

sigterm/sighup: print "ready" and make garbage until a signal ends the process.
own-handler: report what signal.getsignal shows, install a SIGTERM handler that
exits 3, print "ready", wait. os-exit N: collect, print without flushing, os._exit(N).
exec: os.execv a new python that prints. chdir DIR: change folder, then return.
"""
import gc
import os
import signal
import sys
import time

mode = sys.argv[1]


def churn_until_killed():
    print("ready", flush=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for _ in range(2000):
            node = [None]
            node[0] = node  # cyclic garbage: collections keep happening
        time.sleep(0.001)


if mode in ("sigterm", "sighup"):
    churn_until_killed()
elif mode == "own-handler":
    print("default", signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)

    def handler(signum, frame):
        print("handled", signum, flush=True)
        sys.exit(3)

    previous = signal.signal(signal.SIGTERM, handler)
    print("previous", previous is signal.SIG_DFL)
    churn_until_killed()
elif mode == "os-exit":
    for _ in range(3):
        gc.collect()
    sys.stdout.write("never flushed\n")  # lost under python too: os._exit flushes nothing
    os._exit(int(sys.argv[2]))
elif mode == "exec":
    gc.collect()
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, "-c", "print('the new program')"])
elif mode == "chdir":
    os.chdir(sys.argv[2])
    print("moved")
