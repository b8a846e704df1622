"""gcscope.monitor(): real services, real scrapes, against the service's own gc.get_stats().

Every service here listens on 127.0.0.1 only, every request loop is bounded, and every
process is stopped by the test that started it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from conftest import PYTHON, gcscope_command, line_of, load_json, run_gcscope, run_python

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX services and signals"),
]
pytest.importorskip("gcscope._gcrecorder", reason="monitoring needs the C recorder")
pytest.importorskip("prometheus_client")

HISTOGRAM = "gcscope_gc_pause_seconds"
READY_SECONDS = 60


# -- helpers -------------------------------------------------------------------------------


def get(url: str, timeout: float = 30) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The samples of a real scrape, parsed by prometheus_client's own text parser."""
    from prometheus_client.parser import text_string_to_metric_families

    samples = {}
    for family in text_string_to_metric_families(get(url).decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def by_generation(samples: dict[Any, float], name: str, **labels: str) -> dict[int, float]:
    """{generation: value} of the samples named `name` (summed over any other label)."""
    values: dict[int, float] = {}
    for (sample_name, sample_labels), value in samples.items():
        found = dict(sample_labels)
        if sample_name != name or any(found.get(k) != v for k, v in labels.items()):
            continue
        generation = int(found["generation"])
        values[generation] = values.get(generation, 0.0) + value
    return values


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_serving(base: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read().decode()  # type: ignore[union-attr]
        try:
            if get(f"{base}/ping", timeout=2) == b"pong":
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the service never answered")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def start_service(folder: Path, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [PYTHON, "gc_service.py"],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    line = process.stdout.readline().decode()  # type: ignore[union-attr]
    if not line.startswith("port "):
        stop(process)
        raise AssertionError(f"no port: {line!r} {process.stderr.read().decode()}")  # type: ignore[union-attr]
    return process, f"http://127.0.0.1:{int(line.split()[1])}"


def service_sites(folder: Path) -> set[str]:
    """Where the service's collections start: the allocation (3.10, 3.11) or, from 3.12,
    the next eval-breaker check, on entering the new object's __init__ (or in it)."""
    marks = {"made": "cycle made", "starts": "object starts", "closed": "cycle closed"}
    lines = {key: line_of(folder / "gc_service.py", mark) for key, mark in marks.items()}
    return {
        f"gc_service.py:{lines['made']} (app)",
        f"gc_service.py:{lines['starts']} (Node.__init__)",
        f"gc_service.py:{lines['closed']} (Node.__init__)",
    }


def exercise(base: str, requests: int = 30, objects: int = 20_000) -> None:
    for _ in range(requests):  # bounded: a few hundred young collections
        assert get(f"{base}/work?n={objects}") == b"ok"


def assert_matches(samples: dict[Any, float], delta: list[dict[str, int]]) -> None:
    """gcscope's figures are exactly the interpreter's own over the same window."""
    counts = by_generation(samples, f"{HISTOGRAM}_count")
    infinite = by_generation(samples, f"{HISTOGRAM}_bucket", le="+Inf")
    collected = by_generation(samples, "gcscope_gc_objects_collected_total")
    uncollectable = by_generation(samples, "gcscope_gc_objects_uncollectable_total")
    for g, change in enumerate(delta):
        assert counts[g] == change["collections"], (g, counts, delta)
        assert infinite[g] == change["collections"]
        assert collected[g] == change["collected"]
        assert uncollectable[g] == change["uncollectable"]
    assert delta[0]["collections"] > 20  # the work really collected


# -- one process: a WSGI service and its /metrics ----------------------------------------


def test_scrape_of_a_service_matches_its_own_get_stats(workdir: Path) -> None:
    process, base = start_service(workdir)
    try:
        exercise(base)
        settled = json.loads(get(f"{base}/settle"))
        samples = scrape(f"{base}/metrics")
        assert_matches(samples, settled["delta"])
        # prometheus_client's own python_gc_* are the interpreter's counts since it began:
        # gcscope's are the same collections since monitoring began
        python_gc = by_generation(samples, "python_gc_collections_total")
        gcscope_counts = by_generation(samples, f"{HISTOGRAM}_count")
        for g, stats in enumerate(settled["stats"]):
            assert python_gc[g] == stats["collections"]
            assert (
                python_gc[g] - gcscope_counts[g]
                == stats["collections"] - settled["delta"][g]["collections"]
            )
        # histogram buckets: cumulative, ending in the count; the sum is positive
        for g in range(len(settled["delta"])):
            buckets = sorted(
                (float(dict(labels)["le"]), value)
                for (name, labels), value in samples.items()
                if name == f"{HISTOGRAM}_bucket" and dict(labels)["generation"] == str(g)
            )
            assert buckets[0][0] == 1e-05 and buckets[-2][0] == 10.0  # 10 µs .. 10 s
            assert [v for _, v in buckets] == sorted(v for _, v in buckets)
        assert by_generation(samples, f"{HISTOGRAM}_sum")[0] > 0
        # the trigger site: the service's own line, labelled; summed over sites = the total
        sites = {
            dict(labels)["site"]
            for (name, labels), _ in samples.items()
            if name == "gcscope_gc_trigger_site_collections_total"
        }
        assert sites & service_sites(workdir)
        assert "other" in sites and len(sites) <= 11
        site_totals = by_generation(samples, "gcscope_gc_trigger_site_collections_total")
        assert site_totals == gcscope_counts
        ratio = samples[("gcscope_gc_time_ratio", ())]
        assert 0 < ratio < 1
        assert samples[("gcscope_gc_objects_frozen", ())] == settled["frozen"]
    finally:
        stop(process)


def test_dump_of_a_service_is_a_capture_every_command_reads(workdir: Path) -> None:
    process, base = start_service(workdir)
    try:
        exercise(base, requests=10)
        settled = json.loads(get(f"{base}/settle"))
        path = workdir / "now.json"
        assert get(f"{base}/dump?path={path}") == str(path).encode()
    finally:
        stop(process)
    capture = load_json(path)
    assert capture["ended_by"] == "dump"
    assert capture["gc"]["get_stats"]["reconciled"] is True
    assert capture["monitor"]["ring_held_every_collection"] is True
    for g, change in enumerate(settled["delta"]):
        assert capture["generations"][g]["collections"] == change["collections"]
        assert capture["generations"][g]["collected"] == change["collected"]
    assert capture["gc"]["events"]["total"] == capture["gc"]["events"]["stored"]
    report = run_gcscope("report", "now.json", cwd=workdir)
    assert report.returncode == 0, report.stderr
    assert b"Collections by generation" in report.stdout and b"dump" in report.stdout
    assert any(site.encode() in report.stdout for site in service_sites(workdir))
    for report_format in ("html", "perfetto"):
        rendered = run_gcscope("report", "--format", report_format, "now.json", cwd=workdir)
        assert rendered.returncode == 0 and rendered.stdout, rendered.stderr
    check = run_gcscope("check", "now.json", "--max-uncollectable", "0", cwd=workdir)
    assert check.returncode == 0, check.stdout + check.stderr
    diff = run_gcscope("diff", "now.json", "now.json", cwd=workdir)
    assert diff.returncode == 0, diff.stdout + diff.stderr


# -- gunicorn, 2 workers, prometheus_client's multiprocess mode ---------------------------


@pytest.mark.parametrize("preload", [False, True], ids=["import-in-worker", "preload-fork"])
def test_gunicorn_workers_in_multiprocess_mode(workdir: Path, preload: bool) -> None:
    pytest.importorskip("gunicorn")
    port = free_port()
    metrics_dir = workdir / "metrics"
    metrics_dir.mkdir()
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        # no timed writes during the test: /settle writes each worker's figures
        "GC_SERVICE_PUBLISH": "3600",
        "GC_SERVICE_FREEZE": "1" if preload else "",
        "GC_SERVICE_WARMUP": "50000",  # with --preload, the master's: not the workers'
        "PYTHONWARNINGS": "always::DeprecationWarning",  # 3.12+: multi-threaded fork warning
    }
    command = [PYTHON, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}"]
    command += ["--preload"] if preload else []
    process = subprocess.Popen(
        [*command, "gc_service:app"],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base, process)
        exercise(base, requests=40)
        settled: dict[int, dict[str, Any]] = {}
        # bounded: until both workers have settled, or a minute (a loaded machine may
        # still be booting the second worker: the kernel hands every request to the first)
        deadline = time.monotonic() + 60
        while len(settled) < 2 and time.monotonic() < deadline:
            answer = json.loads(get(f"{base}/settle"))
            settled[answer["pid"]] = answer
            time.sleep(0.02)
        assert len(settled) == 2, "one worker never answered"
        samples = scrape(f"{base}/metrics")
    finally:
        stop(process)
        _, stderr = process.communicate(timeout=30)
    generations = len(next(iter(settled.values()))["delta"])
    total = [
        {
            key: sum(worker["delta"][g][key] for worker in settled.values())
            for key in ("collections", "collected", "uncollectable")
        }
        for g in range(generations)
    ]
    assert_matches(samples, total)
    # each worker's own gauges, by pid (live processes)
    for pid, worker in settled.items():
        frozen = samples[("gcscope_gc_objects_frozen", (("pid", str(pid)),))]
        assert frozen == worker["frozen"]
        if preload:  # the master froze its objects (thousands: gunicorn's, the app's) first
            assert frozen > 5000
        # GC time only where the worker collected: the kernel may hand one worker every
        # request of the exercise (its own gc.get_stats() delta says which)
        ratio = samples[("gcscope_gc_time_ratio", (("pid", str(pid)),))]
        collected_any = any(g["collections"] for g in worker["delta"])
        assert (ratio > 0) == collected_any, (ratio, worker["delta"])
    assert b"multi-threaded" not in stderr  # gcscope's thread stepped aside for the forks


# -- OpenTelemetry, with the SDK's in-memory reader ---------------------------------------

OTEL_PROGRAM = """
import gc, json, sys
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

reader = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
import gcscope

class Node:
    def __init__(self):
        self.me = self

def points():
    found = {}
    for resource in reader.get_metrics_data().resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    g = point.attributes["cpython.gc.generation"]
                    if hasattr(point, "bucket_counts"):
                        value = {"count": point.count, "sum": point.sum,
                                 "buckets": list(point.bucket_counts),
                                 "bounds": list(point.explicit_bounds)}
                    else:
                        value = point.value
                    found.setdefault(metric.name, {})[g] = value
    return found

gc.disable()
before = [dict(s) for s in gc.get_stats()]
gcscope.monitor(otel=True, prometheus=False, max_events=int(sys.argv[1]))
gc.enable()
rounds = []
for _ in range(2):  # two exports: the histogram's counts keep adding up
    for _ in range(200_000):
        Node()
    gc.disable()
    now = [dict(s) for s in gc.get_stats()]
    rounds.append({"stats": now, "points": points()})
    gc.enable()
print(json.dumps({"before": before, "rounds": rounds}))
"""


@pytest.mark.parametrize("ring", [20_000, 8], ids=["ring-holds-all", "ring-overflows"])
def test_opentelemetry_instruments_match_get_stats(tmp_path: Path, ring: int) -> None:
    pytest.importorskip("opentelemetry.sdk.metrics")
    (tmp_path / "otel_program.py").write_text(OTEL_PROGRAM)
    result = run_python("otel_program.py", str(ring), cwd=tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    data = json.loads(result.stdout)
    before = data["before"]
    for round_ in data["rounds"]:
        stats, points = round_["stats"], round_["points"]
        for g, entry in enumerate(stats):
            # the semantic conventions' counters: since interpreter start, = gc.get_stats()
            assert points["cpython.gc.collections"][str(g)] == entry["collections"]
            assert points["cpython.gc.collected_objects"][str(g)] == entry["collected"]
            assert points["cpython.gc.uncollectable_objects"][str(g)] == entry["uncollectable"]
            # the pause histogram: every collection since monitoring began
            pauses = points["gcscope.gc.pause.duration"].get(str(g))
            collections = entry["collections"] - before[g]["collections"]
            assert (pauses["count"] if pauses else 0) == collections
            if pauses:
                assert sum(pauses["buckets"]) == collections
                assert pauses["bounds"][0] == 1e-05 and pauses["bounds"][-1] == 10.0
                assert pauses["sum"] > 0
    first, second = (r["stats"][0]["collections"] for r in data["rounds"])
    assert first - before[0]["collections"] > 8 and second - first > 8  # past the small ring


# -- captures on demand ---------------------------------------------------------------------

DUMP_PROGRAM = """
import gc, json, os, signal, sys, time
import gcscope

class Node:
    def __init__(self):
        self.me = self

def work(n):
    for _ in range(n):
        Node()

mode = sys.argv[1]
gc.disable()
before = [dict(s) for s in gc.get_stats()]
kwargs = {"dump_signal": "USR2", "dump_dir": "dumps"} if mode == "signal" else {}
gcscope.monitor(prometheus=False, max_events=int(sys.argv[2]), **kwargs)
gc.enable()
work(100_000)
if mode == "window":
    gc.disable()
    middle = [dict(s) for s in gc.get_stats()]
    time.sleep(2.0)
    gc.enable()
    work(30_000)
gc.disable()
after = [dict(s) for s in gc.get_stats()]
if mode == "signal":
    shown = signal.getsignal(signal.SIGUSR2)
    os.kill(os.getpid(), signal.SIGUSR2)
    print(json.dumps({"shown": str(shown), "before": before, "after": after}))
elif mode == "window":
    gcscope.dump("window.json", window=1.0)
    print(json.dumps({"before": middle, "after": after}))
else:
    gcscope.dump("all.json")
    print(json.dumps({"before": before, "after": after}))
"""


def _dump_program(tmp_path: Path, *args: str) -> tuple[dict[str, Any], subprocess.CompletedProcess]:
    (tmp_path / "dumper.py").write_text(DUMP_PROGRAM)
    (tmp_path / "dumps").mkdir(exist_ok=True)
    result = run_python("dumper.py", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    return json.loads(result.stdout), result


def _delta(truth: dict[str, Any], g: int, key: str = "collections") -> int:
    return truth["after"][g][key] - truth["before"][g][key]


def test_dump_signal_writes_a_capture_and_the_program_goes_on(tmp_path: Path) -> None:
    truth, result = _dump_program(tmp_path, "signal", "20000")
    assert truth["shown"] == str(signal.SIG_DFL)  # gcscope's handler is hidden
    dumps = list((tmp_path / "dumps").glob("gcscope-dumper-*.json"))
    assert len(dumps) == 1, dumps
    assert f"written to {dumps[0]}" in result.stderr.decode()
    capture = load_json(dumps[0])
    for g in range(len(capture["generations"])):
        assert capture["generations"][g]["collections"] == _delta(truth, g)
    assert run_gcscope("report", str(dumps[0]), cwd=tmp_path).returncode == 0


def test_dump_of_a_ring_that_overflowed_keeps_the_latest(tmp_path: Path) -> None:
    truth, _ = _dump_program(tmp_path, "all", "40")
    capture = load_json(tmp_path / "all.json")
    events = capture["gc"]["events"]
    assert events["stored"] == events["total"] == 40 and events["kept"] == "latest"
    assert sum(g["collections"] for g in capture["generations"]) == 40
    assert capture["monitor"]["ring_held_every_collection"] is False
    assert capture["monitor"]["collections_since_monitoring_began"] == sum(
        _delta(truth, g) for g in range(len(capture["generations"]))
    )
    assert capture["gc"]["get_stats"]["reconciled"] is True  # over the monitoring period
    starts = [row[0] for row in events["rows"]]
    assert starts == sorted(starts) and starts[0] >= 0


def test_dump_window_covers_only_the_last_seconds(tmp_path: Path) -> None:
    truth, _ = _dump_program(tmp_path, "window", "20000")
    capture = load_json(tmp_path / "window.json")
    assert capture["wall_seconds"] <= 1.0
    for g in range(len(capture["generations"])):
        assert capture["generations"][g]["collections"] == _delta(truth, g)
    assert _delta(truth, 0) > 0


# -- gcscope run --serve-metrics / --dump-signal -----------------------------------------

SERVED_PROGRAM = """
import gc, json, os, signal, sys, time

class Node:
    def __init__(self):
        self.me = self

for _ in range(100_000):
    Node()
gc.disable()
with open("truth.json", "w") as out:
    json.dump({"stats": [dict(s) for s in gc.get_stats()],
               "usr2": str(signal.getsignal(signal.SIGUSR2))}, out)
deadline = time.monotonic() + 60
while not os.path.exists("done") and time.monotonic() < deadline:
    time.sleep(0.02)
print("finished")
"""


def test_gcscope_run_serves_metrics_and_dumps_on_signal(tmp_path: Path) -> None:
    (tmp_path / "served.py").write_text(SERVED_PROGRAM)
    port = free_port()
    process = subprocess.Popen(
        [*gcscope_command(), "run", "--serve-metrics", f"127.0.0.1:{port}",
         "--dump-signal", "USR2", "-o", "run.json", "served.py"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + READY_SECONDS
        while not (tmp_path / "truth.json").exists():  # bounded wait for the program
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.05)
        time.sleep(0.1)  # the file is complete
        samples = scrape(f"http://127.0.0.1:{port}/metrics")
        process.send_signal(signal.SIGUSR2)
        deadline = time.monotonic() + READY_SECONDS
        while not list(tmp_path.glob("gcscope-served-*.json")):
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.05)
        time.sleep(0.6)  # several ticks of gcscope's sampling thread, which re-sends a
        # signal whose handler has not started: the dump's handler has, so no more dumps
    finally:
        (tmp_path / "done").write_text("")
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr.decode()
    assert stdout == b"finished\n"  # the program's output is its own
    assert len(list(tmp_path.glob("gcscope-served-*.json"))) == 1  # one signal, one dump
    truth = load_json(tmp_path / "truth.json")
    assert truth["usr2"] == str(signal.SIG_DFL)
    capture = load_json(tmp_path / "run.json")
    start = capture["gc"]["get_stats"]["start"]  # the interpreter's counts as the run began
    delta = [
        {
            key: truth["stats"][g][key] - start[g][key]
            for key in ("collections", "collected", "uncollectable")
        }
        for g in range(len(start))
    ]
    assert_matches(samples, delta)
    assert capture["gc"]["events"]["kept"] == "latest"
    dump = load_json(next(tmp_path.glob("gcscope-served-*.json")))
    assert dump["ended_by"] == "dump"
    assert [g["collections"] for g in dump["generations"]] == [d["collections"] for d in delta]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--serve-metrics", "nonsense"], "port must be 1-65535"),
        (["--serve-metrics", "127.0.0.1:70000"], "port must be 1-65535"),
        (["--serve-metrics", ":9464"], "give HOST:PORT"),
        (["--dump-signal", "KILL"], "cannot be handled"),
        (["--dump-signal", "TERM"], "ends programs"),
        (["--dump-signal", "NOPE"], "unknown signal"),
        (["--serve-metrics", "127.0.0.1:9464", "--cycles"], "cannot be combined with --cycles"),
    ],
)
def test_run_monitoring_options_mistakes(workdir: Path, args: list[str], message: str) -> None:
    result = run_gcscope("run", *args, "empty.py", cwd=workdir)
    assert result.returncode == 2
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gcscope: ") and message in lines[0], lines


def test_run_serve_metrics_on_a_taken_port(workdir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_gcscope("run", "--serve-metrics", f"127.0.0.1:{port}", "empty.py", cwd=workdir)
    assert result.returncode == 2
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"gcscope: cannot serve metrics on 127.0.0.1:{port}"
    )
    assert not list(workdir.glob("gcscope-empty-*.json"))  # nothing ran


# -- the API's own mistakes, and bounds ----------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("gcscope.dump('x.json')", "no monitor is running"),
        ("gcscope.monitor(top_sites=-1)", "top_sites must be an integer"),
        ("gcscope.monitor(max_events=0)", "max_events must be an integer"),
        ("gcscope.monitor(dump_signal='INT')", "ends programs"),
        ("gcscope.monitor(prometheus=False).dump(window=0)", "window must be a positive"),
    ],
)
def test_api_mistakes_are_clear(tmp_path: Path, call: str, message: str) -> None:
    result = run_python(
        "-c",
        f"import gcscope\ntry:\n    {call}\nexcept (ValueError, RuntimeError) as e:\n    print(e)",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert message in result.stdout.decode()


def test_trigger_sites_stay_bounded(tmp_path: Path) -> None:
    """1,200 distinct sites: 1,000 tracked one by one, the rest in one slot; labels <= K+1."""
    lines = ["import gc, gcscope, json", "gcscope.monitor(top_sites=5)"]
    lines += [f"def site{i}():\n    gc.collect(0)" for i in range(1200)]
    lines += [f"site{i}()" for i in range(1200)]
    lines += [
        "from prometheus_client import generate_latest",
        "text = generate_latest().decode()",
        "gcscope.dump('sites.json')",
        "print(text)",
    ]
    (tmp_path / "many_sites.py").write_text("\n".join(lines) + "\n")
    result = run_python("many_sites.py", cwd=tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    from prometheus_client.parser import text_string_to_metric_families

    labels = set()
    for family in text_string_to_metric_families(result.stdout.decode()):
        for sample in family.samples:
            if sample.name == "gcscope_gc_trigger_site_pause_seconds_total":
                labels.add(sample.labels["site"])
    assert len(labels) <= 6 and "other" in labels
    capture = load_json(tmp_path / "sites.json")
    sites = capture["gc"]["sites"]
    assert len(sites) == 1000  # the capture's table keeps the costliest 1,000 sites
    other = [s for s in sites if (s["program"] or {}).get("filename") == "<other trigger sites>"]
    assert len(other) == 1 and other[0]["collections"] >= 200  # sites past the 1,000th
    assert capture["generations"][0]["collections"] >= 1200
    assert capture["gc"]["get_stats"]["reconciled"] is True


def test_run_capture_in_monitor_mode_covers_the_whole_run(workdir: Path) -> None:
    """The ring keeps the latest collections; every total still covers the whole run."""
    port = free_port()
    result = run_gcscope(
        "run", "--serve-metrics", f"127.0.0.1:{port}", "--max-events", "5", "-o", "c.json",
        "collects_n.py", "12", cwd=workdir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    capture = load_json(workdir / "c.json")
    events = capture["gc"]["events"]
    assert events["kept"] == "latest" and events["stored"] == 5 and events["dropped"] > 0
    assert events["total"] == sum(g["collections"] for g in capture["generations"])
    stats = capture["gc"]["get_stats"]
    assert stats["reconciled"] is True
    assert [g["collections"] for g in capture["generations"]] == [
        d["collections"] for d in stats["delta"]
    ]
    starts = [row[0] for row in events["rows"]]
    assert starts == sorted(starts)
    assert f"timeline keeps the latest 5 of {events['total']}" in result.stderr.decode()
