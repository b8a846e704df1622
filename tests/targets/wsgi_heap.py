"""A WSGI app for gunicorn --preload: a big heap of containers built at import, and
requests that each run one full collection, recorded as ground truth.

HEAP_ENTRIES (default 200000) dicts, each holding a list: built once, in the master
with --preload, then shared by the workers until written to. FREEZE=1 calls
gc.freeze() right after, so the workers' full collections never visit it. Each
request appends {"pid", "t0", "t1", "stats0", "stats1"} to TRUTH (see tree_truth.py).
"""
import gc
import json
import os
import time

HEAP = [{"n": i, "items": [i, -i]} for i in range(int(os.environ.get("HEAP_ENTRIES", "200000")))]
if os.environ.get("FREEZE") == "1":
    gc.freeze()
TRUTH = os.environ["TRUTH"]


def app(environ, start_response):
    gc.disable()
    t0 = time.perf_counter()
    stats0 = gc.get_stats()
    gc.enable()
    gc.collect()
    gc.disable()
    stats1 = gc.get_stats()
    t1 = time.perf_counter()
    line = json.dumps({"pid": os.getpid(), "t0": t0, "t1": t1, "stats0": stats0,
                       "stats1": stats1}) + "\n"
    with open(TRUTH, "a") as handle:
        handle.write(line)
    gc.enable()
    time.sleep(0.05)  # busy a moment: the client's other request goes to the other worker
    body = f"{os.getpid()}\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
