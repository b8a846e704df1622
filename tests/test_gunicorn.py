"""A real gunicorn (pre-fork, --preload, 2 sync workers on 127.0.0.1) under `gcscope run
--follow`: a capture for the master and each worker, the workers' collections as they
recorded them, and gc.freeze() after preload seen in the workers' private memory."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from conftest import gcscope_command, run_gcscope
from follow_helpers import assert_matches_truth, captures, full_collections, settle, truth

pytest.importorskip("gunicorn")
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="smaps_rollup")

REQUESTS_PER_WORKER = 3
MAX_REQUESTS = 80
MIB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=30) as response:
        return int(response.read().decode())


def serve(
    workdir: Path, *, freeze: bool, heap_entries: int, stop: int = signal.SIGTERM
) -> tuple[subprocess.CompletedProcess, dict[int, dict[str, Any]], Counter]:
    """Run gunicorn under gcscope, send requests until each worker served a few (bounded),
    stop it with `stop`; the run's result, its captures by pid, and requests per worker."""
    port = free_port()
    env = {
        **os.environ,
        "TRUTH": str(workdir / "truth.jsonl"),
        "FREEZE": "1" if freeze else "0",
        "HEAP_ENTRIES": str(heap_entries),
    }
    command = [*gcscope_command(), "run", "--follow", "-o", "out", "-m", "gunicorn"]
    command += ["--preload", "-w", "2", "-b", f"127.0.0.1:{port}", "wsgi_heap:app"]
    process = subprocess.Popen(
        command, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    served: Counter = Counter()
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 90
        while True:  # until the master has preloaded and a worker answers
            assert process.poll() is None, process.communicate()
            try:
                served[get(url)] += 1
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn never answered"
                time.sleep(0.2)
        with ThreadPoolExecutor(2) as clients:  # two at a time: both sync workers get work
            while sum(served.values()) < MAX_REQUESTS and time.monotonic() < deadline + 120:
                if len(served) == 2 and min(served.values()) >= REQUESTS_PER_WORKER:
                    break
                for pid in clients.map(get, [url, url]):
                    served[pid] += 1
        process.send_signal(stop)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    result = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    settle(workdir / "out")
    return result, captures(workdir / "out"), served


def check_tree(
    result: subprocess.CompletedProcess, by_pid: dict[int, dict[str, Any]], served: Counter
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The master's and both workers' captures, against what the workers recorded."""
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    (master,) = [c for c in by_pid.values() if c["process"]["role"] == "main"]
    workers = [c for c in by_pid.values() if c["process"]["role"] == "forked"]
    assert master["argv"][:2] == ["-m", "gunicorn"]
    assert sorted(c["process"]["pid"] for c in workers) == sorted(served)
    assert all(c["process"]["parent_pid"] == master["process"]["pid"] for c in workers)
    assert all((c["exit_code"], c["ended_by"]) == (0, "exit") for c in workers)
    windows = truth(Path(master["cwd"]) / "truth.jsonl")
    assert_matches_truth(by_pid, windows)
    for worker in workers:  # one full collection per request, and only the worker's own
        assert full_collections(worker) == served[worker["process"]["pid"]]
    return master, workers


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGQUIT], ids=["SIGTERM", "SIGQUIT"])
def test_gunicorn_master_and_workers_each_leave_a_capture(workdir: Path, stop: int) -> None:
    """SIGTERM: the workers leave their loop and return; SIGQUIT: gunicorn's own handler in
    each worker calls sys.exit(0). Either way, through gunicorn's own exit path."""
    result, by_pid, served = serve(workdir, freeze=False, heap_entries=2000, stop=stop)
    _, workers = check_tree(result, by_pid, served)
    assert len(workers) == 2
    report = run_gcscope("report", "out", cwd=workdir)
    assert report.returncode == 0, report.stderr
    text = report.stdout.decode()
    assert "3 processes (1 main, 2 forked) of -m gunicorn" in text
    for worker in workers:
        assert f"forked  {worker['process']['pid']}" in text
    # what `gcscope run` printed at the end is that same merged report
    assert "3 processes (1 main, 2 forked)" in result.stderr.decode()


def private_growth(worker: dict[str, Any]) -> int:
    from gcscope.process_tree import memory_figures

    figures = memory_figures(worker)
    assert figures is not None
    return figures["private_growth_bytes"]


def test_gc_freeze_after_preload_keeps_the_workers_memory_shared(tmp_path: Path) -> None:
    """200,000 dicts with a list each, preloaded in the master; each request runs a full
    collection in its worker. Without gc.freeze() every collection writes into the headers
    of all those objects, and the worker's copy of each page becomes private."""
    growth = {}
    for freeze in (False, True):
        workdir = tmp_path / ("frozen" if freeze else "unfrozen")
        workdir.mkdir()
        (workdir / "wsgi_heap.py").write_bytes(
            (Path(__file__).parent / "targets" / "wsgi_heap.py").read_bytes()
        )
        result, by_pid, served = serve(workdir, freeze=freeze, heap_entries=200_000)
        _, workers = check_tree(result, by_pid, served)
        frozen = [worker["process"]["gc_frozen_at_start"] for worker in workers]
        # (3.12 starts with a few hundred objects frozen already: GC-FACTS)
        assert all(count > 400_000 if freeze else count < 1_000 for count in frozen), frozen
        growth[freeze] = sum(map(private_growth, workers)) / len(workers)
    assert growth[False] > 20 * MIB, growth
    assert growth[False] > 5 * growth[True], growth
