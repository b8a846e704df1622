"""The Prometheus outlet (prometheus_client, the optional extra `gcscope[prometheus]`).

One process: a custom collector in prometheus_client's registry, which reads the
recorder's tables at each scrape (exact, nothing kept in between). prometheus_client's
multiprocess mode (PROMETHEUS_MULTIPROC_DIR set, gunicorn-style workers): custom
collectors are not scraped there, only the metric files each process writes; so each
process writes its figures into prometheus_client's own Histogram/Counter/Gauge values,
as increments since its last write, every `publish_interval` seconds, at
`Monitor.flush()` and at exit, from a thread of gcscope's (never inside a collection).

The metrics (all since monitoring began in this process; see docs/monitoring.md):

    gcscope_gc_pause_seconds{generation}              histogram; _count = collections
    gcscope_gc_objects_collected_total{generation}    counter
    gcscope_gc_objects_uncollectable_total{generation} counter
    gcscope_gc_time_ratio                             gauge: pause time / wall time
    gcscope_gc_objects_frozen                         gauge: gc.get_freeze_count()
    gcscope_gc_trigger_site_collections_total{site,generation}  counter, top sites + other
    gcscope_gc_trigger_site_pause_seconds_total{site} counter, top sites + other

None is named like prometheus_client's own `python_gc_*` (cumulative since the
interpreter started, from gc.get_stats(); absent in multiprocess mode).
"""

from __future__ import annotations

import gc
import os

from gcscope.outlets import Outlet
from gcscope.outlets.sites import SiteLabels
from gcscope.periodic import PeriodicThread
from gcscope.probes.gc_ring import PAUSE_BUCKETS, cumulative

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from gcscope.monitoring import Monitor
    from gcscope.probes.gc_ring import RecorderState

PAUSE = "gcscope_gc_pause_seconds"
COLLECTED = "gcscope_gc_objects_collected"
UNCOLLECTABLE = "gcscope_gc_objects_uncollectable"
TIME_RATIO = "gcscope_gc_time_ratio"
FROZEN = "gcscope_gc_objects_frozen"
SITE_COLLECTIONS = "gcscope_gc_trigger_site_collections"
SITE_PAUSE = "gcscope_gc_trigger_site_pause_seconds"
HELP = {
    PAUSE: "Pause of each garbage collection, by generation, since gcscope began monitoring "
    "(_count: collections).",
    COLLECTED: "Objects the garbage collector freed, by generation, since gcscope began "
    "monitoring.",
    UNCOLLECTABLE: "Objects the garbage collector found uncollectable, by generation, since "
    "gcscope began monitoring.",
    TIME_RATIO: "Share of wall time spent in garbage collection pauses since gcscope began "
    "monitoring.",
    FROZEN: "Objects in the permanent generation (gc.freeze()).",
    SITE_COLLECTIONS: "Collections by trigger site (the program line running when each "
    'began; the costliest sites, the rest as site="other") and generation.',
    SITE_PAUSE: 'Pause seconds by trigger site (the costliest sites, the rest as site="other").',
}


def multiprocess_mode() -> bool:
    """prometheus_client's own test for its multiprocess mode."""
    return "PROMETHEUS_MULTIPROC_DIR" in os.environ or "prometheus_multiproc_dir" in os.environ


def time_ratio(monitor: Monitor, state: RecorderState) -> float:
    seconds = monitor.seconds()
    return sum(state.pause) / seconds if seconds > 0 else 0.0


class GcscopeCollector(Outlet):
    """prometheus_client custom collector: the recorder's tables at each scrape."""

    def __init__(self, monitor: Monitor, top_sites: int) -> None:
        import _thread

        self.monitor = monitor
        self.top_sites = top_sites
        self.sites = SiteLabels(monitor.probe, top_sites, monitor.generations)
        self.registry: Any = None
        self._lock = _thread.allocate_lock()  # scrapes may come from several threads at once

    def describe(self) -> Iterator[Any]:
        return iter(self._families())

    def collect(self) -> Iterator[Any]:
        monitor = self.monitor
        if not monitor.running:
            return iter(())
        state = monitor.tables()
        families = self._families()
        pause, collected, uncollectable, ratio, frozen, site_collections, site_pause = families
        from prometheus_client.utils import floatToGoString

        bounds = [*(floatToGoString(b) for b in PAUSE_BUCKETS), "+Inf"]
        for g in range(monitor.generations):
            label = [str(g)]
            buckets = list(zip(bounds, cumulative(state.bucket_counts[g])))
            pause.add_metric(label, buckets=buckets, sum_value=state.pause[g])
            collected.add_metric(label, state.collected[g])
            uncollectable.add_metric(label, state.uncollectable[g])
        ratio.add_metric([], time_ratio(monitor, state))
        frozen.add_metric([], _freeze_count())
        with self._lock:
            rows = self.sites.rows(state)
        for site, counts, seconds in rows:
            for g, n in enumerate(counts):
                site_collections.add_metric([site, str(g)], n)
            site_pause.add_metric([site], seconds)
        return iter(families)

    @staticmethod
    def _families() -> list[Any]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        generation = ["generation"]
        return [
            HistogramMetricFamily(PAUSE, HELP[PAUSE], labels=generation, unit="seconds"),
            CounterMetricFamily(COLLECTED, HELP[COLLECTED], labels=generation),
            CounterMetricFamily(UNCOLLECTABLE, HELP[UNCOLLECTABLE], labels=generation),
            GaugeMetricFamily(TIME_RATIO, HELP[TIME_RATIO], labels=[], unit="ratio"),
            GaugeMetricFamily(FROZEN, HELP[FROZEN], labels=[]),
            CounterMetricFamily(
                SITE_COLLECTIONS, HELP[SITE_COLLECTIONS], labels=["site", "generation"]
            ),
            CounterMetricFamily(SITE_PAUSE, HELP[SITE_PAUSE], labels=["site"], unit="seconds"),
        ]

    def after_fork_in_child(self) -> None:
        import _thread

        self._lock = _thread.allocate_lock()  # another thread may have held it at the fork
        self.sites = SiteLabels(self.monitor.probe, self.top_sites, self.monitor.generations)

    def close(self) -> None:
        if self.registry is not None:
            try:
                self.registry.unregister(self)
            except KeyError:
                pass
            self.registry = None


def _freeze_count() -> int:
    return gc.get_freeze_count() if hasattr(gc, "get_freeze_count") else 0


class MultiprocessPublisher(Outlet):
    """prometheus_client's multiprocess mode: the figures written into its metric files."""

    def __init__(self, monitor: Monitor, top_sites: int, interval: float) -> None:
        import _thread
        import atexit

        from prometheus_client import Counter, Gauge, Histogram

        self.monitor = monitor
        self.top_sites = top_sites
        gens = [str(g) for g in range(monitor.generations)]
        # registry=None: in multiprocess mode what counts is the files, which
        # prometheus_client's MultiProcessCollector reads in the process that serves a scrape
        histogram = Histogram(
            PAUSE, HELP[PAUSE], ["generation"], buckets=PAUSE_BUCKETS, registry=None
        )
        self.pause = [histogram.labels(generation=g) for g in gens]
        if not all(hasattr(c, "_buckets") and hasattr(c, "_sum") for c in self.pause):
            raise RuntimeError(
                "gcscope: this prometheus_client version's Histogram cannot take gcscope's "
                "figures in multiprocess mode; install prometheus_client>=0.17"
            )
        collected = Counter(COLLECTED, HELP[COLLECTED], ["generation"], registry=None)
        uncollectable = Counter(UNCOLLECTABLE, HELP[UNCOLLECTABLE], ["generation"], registry=None)
        self.collected = [collected.labels(generation=g) for g in gens]
        self.uncollectable = [uncollectable.labels(generation=g) for g in gens]
        self.ratio = Gauge(TIME_RATIO, HELP[TIME_RATIO], registry=None, multiprocess_mode="liveall")
        self.frozen = Gauge(FROZEN, HELP[FROZEN], registry=None, multiprocess_mode="liveall")
        self.site_collections = Counter(
            SITE_COLLECTIONS, HELP[SITE_COLLECTIONS], ["site", "generation"], registry=None
        )
        self.site_pause = Counter(SITE_PAUSE, HELP[SITE_PAUSE], ["site"], registry=None)
        self._lock = _thread.allocate_lock()
        self._reset()
        self._thread = PeriodicThread(interval, self.flush)
        self._thread.start()
        atexit.register(self.flush)

    def _reset(self) -> None:
        """Nothing written yet by this process (at start, and in a forked child)."""
        gens, buckets = self.monitor.generations, len(PAUSE_BUCKETS) + 1
        self.sent_buckets = [[0] * buckets for _ in range(gens)]
        self.sent_sum = [0.0] * gens
        self.sent_collected = [0] * gens
        self.sent_uncollectable = [0] * gens
        self.sent_sites: dict[tuple[str, int], float] = {}
        self.sites = SiteLabels(self.monitor.probe, self.top_sites, gens)

    def flush(self) -> None:
        """Write what changed since the last write (increments: the files only add up)."""
        monitor = self.monitor
        if not monitor.running:
            return
        with self._lock:
            state = monitor.tables()
            for g, child in enumerate(self.pause):
                sent = self.sent_buckets[g]
                for i, count in enumerate(state.bucket_counts[g]):
                    if count > sent[i]:
                        child._buckets[i].inc(count - sent[i])
                        sent[i] = count
                if state.pause[g] > self.sent_sum[g]:
                    child._sum.inc(state.pause[g] - self.sent_sum[g])
                    self.sent_sum[g] = state.pause[g]
                self._add(self.collected[g], state.collected[g], self.sent_collected, g)
                self._add(self.uncollectable[g], state.uncollectable[g], self.sent_uncollectable, g)
            for site, counts, seconds in self.sites.rows(state):
                for g, n in enumerate(counts):
                    self._add_site(
                        self.site_collections.labels(site=site, generation=str(g)), n, (site, g)
                    )
                self._add_site(self.site_pause.labels(site=site), seconds, (site, -1))
            self.ratio.set(time_ratio(monitor, state))
            self.frozen.set(_freeze_count())

    @staticmethod
    def _add(child: Any, value: int, sent: list[int], g: int) -> None:
        if value > sent[g]:
            child.inc(value - sent[g])
            sent[g] = value

    def _add_site(self, child: Any, value: float, key: tuple[str, int]) -> None:
        before = self.sent_sites.get(key, 0)
        if value > before:
            child.inc(value - before)
            self.sent_sites[key] = value
        elif key not in self.sent_sites:
            child.inc(0)  # the series exists from the first write
            self.sent_sites[key] = value

    def before_fork(self) -> None:
        self._thread.stop()

    def after_fork_parent(self) -> None:
        self._thread.start()

    def after_fork_in_child(self) -> None:
        """The child's figures start at zero, under its own pid; it gets its own thread."""
        import _thread

        self._lock = _thread.allocate_lock()  # the parent's may have been held at the fork
        self._reset()
        self._thread.forget()
        self._thread.start()

    def close(self) -> None:
        import atexit

        self._thread.stop()
        self.flush()
        atexit.unregister(self.flush)


def add_prometheus(
    monitor: Monitor, *, registry: Any, top_sites: int, publish_interval: float, required: bool
) -> Any:
    """Attach the Prometheus outlet (once per monitor). None if prometheus_client is absent
    and not required."""
    existing = monitor.outlet(GcscopeCollector) or monitor.outlet(MultiprocessPublisher)
    if existing is not None:
        return existing
    try:
        import prometheus_client
    except ImportError:
        if required:
            raise RuntimeError(
                "gcscope.monitor(prometheus=True) needs prometheus_client: "
                "pip install 'gcscope[prometheus]'"
            ) from None
        return None
    if multiprocess_mode():
        outlet: Any = MultiprocessPublisher(monitor, top_sites, publish_interval)
    else:
        outlet = GcscopeCollector(monitor, top_sites)
        target = registry if registry is not None else prometheus_client.REGISTRY
        target.register(outlet)
        outlet.registry = target
    monitor.add_outlet(outlet)
    return outlet


def serve(host: str, port: int) -> Any:
    """Serve /metrics on host:port from a thread (prometheus_client's own HTTP server):
    the default registry, or in multiprocess mode every process's files."""
    from prometheus_client import REGISTRY, CollectorRegistry, start_http_server

    registry = REGISTRY
    if multiprocess_mode():
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    started = start_http_server(port, addr=host, registry=registry)
    thread = started[1] if isinstance(started, tuple) and len(started) == 2 else None
    if thread is not None and getattr(thread, "ident", None) is not None:
        from gcscope.periodic import OWN_THREADS

        OWN_THREADS.add(thread.ident)  # it answers scrapes while a run finishes
    return started
