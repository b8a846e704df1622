"""The OpenTelemetry outlet (opentelemetry-api, the optional extra `gcscope[otel]`).

Instruments on a MeterProvider (the global one unless given), read when the SDK
collects, never inside a collection:

* the semantic conventions' `cpython.gc.collections`, `cpython.gc.collected_objects`
  and `cpython.gc.uncollectable_objects`: observable counters by `cpython.gc.generation`,
  cumulative since the interpreter started, as the conventions define them (what
  gc.get_stats() says when monitoring began, plus what the recorder counted since);
* `gcscope.gc.pause.duration` (seconds, by `cpython.gc.generation`): a histogram of
  every collection's pause, with gcscope's buckets as its advisory boundaries. The API
  has no observable histogram, so at each collection the SDK makes, the collections
  recorded since the previous one are taken from the recorder's ring and recorded one
  by one. If the ring overflowed in between (more than `max_events` collections), the
  missing ones are recorded from the recorder's per-bucket counts and sums (each at its
  bucket's mean pause): counts, bucket counts and sums stay exact.
"""

from __future__ import annotations

from bisect import bisect_left

from gcscope import __version__
from gcscope.outlets import Outlet
from gcscope.probes.gc_events import EVENT_FIELDS
from gcscope.probes.gc_ring import PAUSE_BUCKETS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from gcscope.monitoring import Monitor

GENERATION = "cpython.gc.generation"
PAUSE_HISTOGRAM = "gcscope.gc.pause.duration"


class OtelOutlet(Outlet):
    def __init__(self, monitor: Monitor, meter_provider: Any) -> None:
        import _thread

        from opentelemetry import metrics

        self.monitor = monitor
        self.open = True
        self._lock = _thread.allocate_lock()
        self.attributes = [{GENERATION: g} for g in range(monitor.generations)]
        self._reset()
        provider = meter_provider if meter_provider is not None else metrics.get_meter_provider()
        meter = provider.get_meter("gcscope", __version__)
        counters = (
            ("cpython.gc.collections", "collections", "{collection}",
             "The number of times a generation was collected since interpreter start."),
            ("cpython.gc.collected_objects", "collected", "{object}",
             "The total number of objects collected inside a generation since interpreter "
             "start."),
            ("cpython.gc.uncollectable_objects", "uncollectable", "{object}",
             "The total number of objects which were found to be uncollectable inside a "
             "generation since interpreter start."),
        )  # fmt: skip
        self.instruments = [
            meter.create_observable_counter(
                name, callbacks=[self._observer(key)], unit=unit, description=description
            )
            for name, key, unit, description in counters
        ]
        description = "Pause of each garbage collection, by generation (gcscope)."
        try:
            self.pauses = meter.create_histogram(
                PAUSE_HISTOGRAM,
                unit="s",
                description=description,
                explicit_bucket_boundaries_advisory=list(PAUSE_BUCKETS),
            )
        except TypeError:  # opentelemetry-api < 1.23: no advisory boundaries
            self.pauses = meter.create_histogram(PAUSE_HISTOGRAM, unit="s", description=description)

    def _reset(self) -> None:
        """Nothing recorded into the histogram yet (at start, and in a forked child)."""
        gens, buckets = self.monitor.generations, len(PAUSE_BUCKETS) + 1
        self.drained = 0  # ring events recorded so far
        self.recorded_counts = [[0] * buckets for _ in range(gens)]
        self.recorded_sums = [[0.0] * buckets for _ in range(gens)]

    def _observer(self, key: str) -> Any:
        from opentelemetry.metrics import Observation

        def observe(options: Any) -> Iterable[Any]:
            if not self.open or not self.monitor.running:
                return []
            self.drain()
            state = self.monitor.tables()
            base = self.monitor.baseline(key)
            counts = getattr(state, key)
            return [
                Observation(base[g] + counts[g], self.attributes[g])
                for g in range(self.monitor.generations)
            ]

        return observe

    def drain(self) -> None:
        """Record the pauses of the collections since the last drain into the histogram."""
        with self._lock:
            state = self.monitor.state(since=self.drained)
            if state.recorded < self.drained:  # reset since (a fork): start again
                self._reset()
                state = self.monitor.state()
            events = state.events
            record = self.pauses.record
            gens = self.monitor.generations
            for generation, pause in zip(
                map(int, events[1::EVENT_FIELDS]), events[2::EVENT_FIELDS]
            ):
                if generation < gens:
                    self._record(generation, pause, record)
            self.drained = state.recorded
            for g in range(gens):  # collections the ring no longer held
                for bucket, count in enumerate(state.bucket_counts[g]):
                    missing = count - self.recorded_counts[g][bucket]
                    if missing > 0:
                        total = state.bucket_sums[g][bucket] - self.recorded_sums[g][bucket]
                        mean = max(total / missing, 0.0)
                        for _ in range(missing):
                            self._record(g, mean, record, bucket)

    def _record(self, generation: int, pause: float, record: Any, bucket: int = -1) -> None:
        if bucket < 0:
            bucket = bisect_left(PAUSE_BUCKETS, pause)
        record(pause, self.attributes[generation])
        self.recorded_counts[generation][bucket] += 1
        self.recorded_sums[generation][bucket] += pause

    def after_fork_in_child(self) -> None:
        import _thread

        self._lock = _thread.allocate_lock()
        self._reset()

    def close(self) -> None:
        self.open = False


def add_otel(monitor: Monitor, meter_provider: Any = None) -> OtelOutlet:
    existing = monitor.outlet(OtelOutlet)
    if existing is not None:
        return existing
    try:
        import opentelemetry.metrics  # noqa: F401
    except ImportError:
        raise RuntimeError(
            "gcscope.monitor(otel=True) needs opentelemetry-api: pip install 'gcscope[otel]'"
        ) from None
    outlet = OtelOutlet(monitor, meter_provider)
    monitor.add_outlet(outlet)
    return outlet
