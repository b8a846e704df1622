"""A non-daemon thread that outlives the main module and collects after it returns."""
import gc
import threading
import time


def late():
    time.sleep(0.3)
    for _ in range(3):
        gc.collect()
    print("thread done", flush=True)


threading.Thread(target=late).start()
print("main done", flush=True)
