"""A small WSGI service under gcscope.monitor(), keeping its own gc.get_stats() ground truth.

Routes:
  /work?n=N   makes N objects, each in a reference cycle (collections happen)
  /settle     turns the collector off (no collection from here on), pushes gcscope's
              figures (multiprocess mode) and returns, as JSON, this process's own
              gc.get_stats() change since its monitoring began, its pid, frozen objects
  /metrics    the Prometheus exposition (every process's files in multiprocess mode)
  /dump?path=P   gcscope.dump(P)
  /ping

GC_SERVICE_WARMUP=N makes N objects in cycles at start-up (in gunicorn's master, with
--preload); GC_SERVICE_FREEZE=1 then calls gc.freeze(), as preloading services do.

Standalone: `python gc_service.py` serves on 127.0.0.1, a free port, and prints "port N".
Under gunicorn: `gunicorn gc_service:app`; with --preload, monitoring starts in the master
and the workers are forked from it: each worker's ground truth is then gc.get_stats() as
it was at its fork (taken with the collector off, right before it).
"""

import gc
import json
import os
import sys
from urllib.parse import parse_qs

import gcscope

BASELINE = {}


class Node:
    def __init__(self):  # object starts
        self.me = self  # cycle closed


def read_stats():
    return [dict(entry) for entry in gc.get_stats()]


gc.disable()  # no collection between the ground truth's start and the monitor's
BASELINE["stats"] = read_stats()
MONITOR = gcscope.monitor(publish_interval=float(os.environ.get("GC_SERVICE_PUBLISH", "5")))
gc.enable()


def _before_fork():
    gc.disable()
    BASELINE["stats"] = read_stats()


os.register_at_fork(before=_before_fork, after_in_parent=gc.enable, after_in_child=gc.enable)

for _ in range(int(os.environ.get("GC_SERVICE_WARMUP", "0"))):  # collections at start-up
    Node()
if os.environ.get("GC_SERVICE_FREEZE"):
    gc.freeze()


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    query = parse_qs(environ.get("QUERY_STRING", ""))
    content_type = "text/plain; charset=utf-8"
    if path == "/work":
        for _ in range(int(query.get("n", ["1000"])[0])):
            Node()  # cycle made
        body = b"ok"
    elif path == "/settle":
        gc.disable()
        MONITOR.flush()
        now, base = read_stats(), BASELINE["stats"]
        delta = [
            {
                key: now[g][key] - base[g][key]
                for key in ("collections", "collected", "uncollectable")
            }
            for g in range(len(now))
        ]
        body = json.dumps(
            {"pid": os.getpid(), "delta": delta, "stats": now, "frozen": gc.get_freeze_count()}
        ).encode()
        content_type = "application/json"
    elif path == "/metrics":
        from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

        registry = REGISTRY
        if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    elif path == "/dump":
        body = gcscope.dump(query["path"][0]).encode()
    elif path == "/ping":
        body = b"pong"
    else:
        start_response("404 Not Found", [("Content-Type", content_type)])
        return [b"no such route"]
    start_response("200 OK", [("Content-Type", content_type)])
    return [body]


if __name__ == "__main__":
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    server = make_server("127.0.0.1", 0, app, handler_class=QuietHandler)
    print(f"port {server.server_port}", flush=True)
    sys.stdout.flush()
    server.serve_forever()
