"""A WSGI app for a pre-fork server (gunicorn --preload): a big heap built at import, in
the master, then shared by the workers it forks, and requests that each run a full
collection (as a busy worker's collector eventually does).

    gcscope run --follow -o run/ -m gunicorn --preload -w 2 -b 127.0.0.1:8000 \\
        examples.preforked_app:app
    FREEZE=1 gcscope run --follow -o run-frozen/ -m gunicorn ...   # gc.freeze() after preload

HEAP_ENTRIES (default 200000) dicts holding a list each. With FREEZE=1 the module calls
gc.freeze() once the heap is built: every object alive then moves to the permanent
generation, which collections never visit, so the workers' full collections no longer
write into those objects' headers and their pages stay shared with the master.
"""

import gc
import os

HEAP = [{"n": i, "items": [i, -i]} for i in range(int(os.environ.get("HEAP_ENTRIES", "200000")))]
if os.environ.get("FREEZE") == "1":
    gc.freeze()


def app(environ, start_response):
    gc.collect()
    body = f"served by {os.getpid()}\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
