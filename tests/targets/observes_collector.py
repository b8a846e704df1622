"""Watches the collector the way a program might: weakrefs, __del__, gc.garbage, threads.

Under `gcscope run --cycles` every line it prints must be what plain python prints:
harvested garbage is freed as the collector would free it, in the same collection.
argv[1] "nosaveall": turn gc.DEBUG_SAVEALL off partway (a program may set its own flags).
"""
import gc
import sys
import threading
import weakref

finalized = []


class Finalized:
    def __init__(self):
        self.me = self

    def __del__(self):
        finalized.append(1)


class Node:
    def __init__(self):
        self.partner = None


def pairs(n):
    for _ in range(n):
        first, second = Node(), Node()
        first.partner, second.partner = second, first


garbage_seen = []
gc.callbacks.append(lambda phase, info: garbage_seen.append(len(gc.garbage)))
probe = Node()
probe.partner = probe
ref = weakref.ref(probe)
called = []
watcher = weakref.ref(Finalized(), lambda _: called.append(1))
for _ in range(10):
    Finalized()
del probe
gc.collect()
print("weakref cleared:", ref() is None, "callback ran:", len(called))
print("finalizers ran:", len(finalized))
print("gc.garbage after collect:", len(gc.garbage))

workers = [threading.Thread(target=pairs, args=(5000,)) for _ in range(4)]
for worker in workers:
    worker.start()
for worker in workers:
    worker.join()
if len(sys.argv) > 1 and sys.argv[1] == "nosaveall":
    gc.set_debug(0)
    pairs(3000)
gc.collect()
print("gc.garbage at the end:", len(gc.garbage), "finalizers:", len(finalized))
print("most objects a gc callback saw in gc.garbage:", max(garbage_seen))
