"""Forks a child that outlives the parent (argv[1] "late") or reports what it inherited.

late: the child sleeps, then exits 7, after the parent has exited 0.
inherit: the child prints its gc callbacks, debug flags and tracing, then both exit 0.
"""
import gc
import os
import sys
import time
import tracemalloc

mode = sys.argv[1]
for _ in range(2):
    gc.collect()
pid = os.fork()
if pid == 0:
    if mode == "late":
        time.sleep(1.0)
        sys.exit(7)
    print("child callbacks", len(gc.callbacks), "debug", gc.get_debug(),
          "tracing", tracemalloc.is_tracing(), flush=True)
    sys.exit(0)
if mode == "inherit":
    os.waitpid(pid, 0)
print("parent done", flush=True)
