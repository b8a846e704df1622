"""Process memory: an RSS timeline from a background thread, and the peak RSS.

On Linux a sample is one read of `/proc/self/statm`, the file psutil's
`memory_info()` reads there: importing psutil inside the measured process costs
~25 ms and ~1 MB of RSS, which would show up in the very figures we report.
Where the C helper `gcscope._rsssampler` is built (Linux), the thread takes those
samples without the GIL and comes back to Python only when a tick has Python work
(`on_tick`, below): a thread that takes the GIL at every tick makes the program's
main thread hand it over and wait to get it back, which cost 1.5-2.7% of a
collection-dense program's collection time (see the C source's header).
Elsewhere psutil is imported inside the sampling thread after the first
interval, so a short run never pays for it. The thread is a daemon and holds no
lock the program could contend for (see `gcscope.periodic`); samples go into flat
arrays on the session clock, so they line up with GC events. The peak RSS comes
from /proc/self/status on Linux (the kernel's high-water mark), read without
importing anything at the end of the run.

With `--follow` on Linux the probe also records how much of the process's memory
is shared with other processes and how much is its own (`/proc/self/smaps_rollup`:
Rss, Pss, Shared_Clean, Shared_Dirty, Private_Clean, Private_Dirty): a forked
worker starts with all of its parent's pages shared, and each page it writes
(a collection writes into every object header it visits) becomes private. Reading
that file walks every page table of the process (about 13 ms for 360 MB here), so
it is sampled as soon as the sampling thread starts, at the end of the run, and in
between no more than 1% of the time (`SHARING_DUTY`), never more often than RSS.
The file is read directly, as psutil's `memory_full_info` would read it.
"""

from __future__ import annotations

import os
import sys
from array import array
from time import perf_counter

from gcscope.build import free_threaded
from gcscope.clock import Clock
from gcscope.periodic import PeriodicThread

TYPE_CHECKING = False  # importing typing would leave it resident in the program's process
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


def _read_proc(path: str) -> bytes:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        return os.read(descriptor, 4096)
    finally:
        os.close(descriptor)


def _vm_hwm() -> int | None:
    """Linux: the peak RSS from /proc/self/status, so no module is imported to read it."""
    try:
        for line in _read_proc("/proc/self/status").splitlines():
            if line.startswith(b"VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _peak_rss_reader() -> Callable[[], int | None]:
    """A function returning the process's high-water RSS, chosen (and imported) up front:
    an import at the end of the run would be counted as the program's."""
    if sys.platform.startswith("linux") and _vm_hwm() is not None:
        return _vm_hwm
    try:
        import resource
    except ImportError:  # Windows
        return _psutil_peak

    def from_rusage() -> int | None:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak if sys.platform == "darwin" else peak * 1024)

    return from_rusage


def _psutil_peak() -> int | None:
    try:
        import psutil

        return int(getattr(psutil.Process().memory_info(), "peak_wset", 0)) or None
    except Exception:
        return None


def _statm_reader() -> Callable[[], int] | None:
    """Linux: resident pages from /proc/self/statm (opened per sample: the program may
    close descriptors it does not know about); None where that file does not work."""
    if not sys.platform.startswith("linux"):
        return None
    page_size = os.sysconf("SC_PAGE_SIZE")

    def read() -> int:
        # the second field, digit by digit: `split()` makes a list, `index()` an argument
        # tuple and slicing a slice, GC allocations of gcscope's in the program's gen-0
        # count that 3.11-3.12 never give back after a full collection (the objects go to
        # free lists that collection emptied); a bytes iterator has no free list
        field = pages = 0
        for byte in _read_proc("/proc/self/statm"):
            if byte == 32:  # b" "
                field += 1
                if field == 2:
                    break
            elif field == 1:
                pages = pages * 10 + byte - 48
        if field < 2:
            raise ValueError("/proc/self/statm has no resident field")
        return pages * page_size

    try:
        read()
    except (OSError, ValueError, IndexError):
        return None
    return read


def _native_sampler(max_samples: int) -> Any:
    """The C sampler (`gcscope._rsssampler.Sampler`), or None where it is not built, or
    `GCSCOPE_RSS_SAMPLER=python` asks for the Python thread (the tests run both; the
    benchmarks compare them). Asked for only where statm works."""
    if os.environ.get("GCSCOPE_RSS_SAMPLER") == "python" or free_threaded():
        return None  # (a single-phase C module would turn a free-threaded build's GIL on)
    try:
        from gcscope._rsssampler import Sampler

        return Sampler(max_samples)
    except (ImportError, MemoryError):
        return None


class _NativeSleep:
    """The sampling thread's sleep with the C sampler (a `gcscope.periodic.Sleeper`):
    RSS is sampled inside `wait`; it returns True only when `on_tick` has work (it asked
    for the next tick, or the file it watches, the signal wakeup file, has grown)."""

    def __init__(self, probe: ProcessMemoryProbe, sampler: Any) -> None:
        self.probe = probe
        self.sampler = sampler

    def arm(self) -> int:
        return int(self.sampler.arm())

    def wake(self, generation: int) -> None:
        self.sampler.wake(generation)

    def wait(self, generation: int) -> bool:
        probe = self.probe
        watch = probe.tick_watch() if probe.on_tick is not None and probe.tick_watch else None
        descriptor, offset = watch if watch is not None else (-1, 0)
        every_tick = probe.on_tick is not None and probe.tick_again
        return bool(self.sampler.wait(probe.interval, descriptor, offset, every_tick, generation))


SMAPS_ROLLUP = "/proc/self/smaps_rollup"
SHARING_FIELDS = (
    b"Rss:", b"Pss:", b"Shared_Clean:", b"Shared_Dirty:", b"Private_Clean:", b"Private_Dirty:"
)  # fmt: skip
SHARING_COLUMNS = (
    "t_s", "rss", "pss", "shared_clean", "shared_dirty", "private_clean", "private_dirty"
)  # fmt: skip
SHARING_DUTY = 0.01  # smaps_rollup is read at most this share of the time


def read_sharing() -> list[int]:
    """Bytes of memory by kind, in `SHARING_FIELDS` order, from smaps_rollup."""
    found: dict[bytes, int] = {}
    for line in _read_proc(SMAPS_ROLLUP).split(b"\n")[1:]:
        parts = line.split()
        if len(parts) >= 2:
            found[parts[0]] = int(parts[1]) * 1024
    return [found.get(field, 0) for field in SHARING_FIELDS]


def _sharing_reader() -> Callable[[], list[int]] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        read_sharing()
    except (OSError, ValueError):
        return None
    return read_sharing


class ProcessMemoryProbe:
    """Samples RSS every `interval` seconds; keeps at most `max_samples` (thinning evenly).

    With `sharing`, also shared and private memory (see the module docstring).
    """

    name = "process"

    def __init__(
        self, clock: Clock, interval: float = 0.1, max_samples: int = 5000, sharing: bool = False
    ) -> None:
        self.clock = clock
        self.interval = interval
        self.max_samples = max_samples
        self.times = array("d")
        self.rss = array("q")
        self._stride = 1
        self._ticks = 0
        self._reader: Callable[[], int] | None = None
        self._sharing_reader = _sharing_reader() if sharing else None
        self.sharing_times = array("d")
        self.sharing = array("q")  # len(SHARING_FIELDS) numbers per sample
        self.sharing_read_seconds = 0.0
        self._sharing_reads = 0
        self._next_sharing = 0.0
        first = self._sample_sharing if self._sharing_reader is not None else None
        self._thread = PeriodicThread(interval, self._sample, first)
        self._native: Any = None  # the C sampler, once started with it
        self._peak_reader = _peak_rss_reader()
        self.peak_rss: int | None = None
        # more work for the thread: called every tick, or with the C sampler only when
        # `tick_watch()`'s (descriptor, offset) file has grown past offset, or the tick
        # after one where it returned True (`tick_again`)
        self.on_tick: Callable[[], bool] | None = None
        self.tick_watch: Callable[[], tuple[int, int]] | None = None
        self.tick_again = False

    def start(self, eager: bool = False) -> None:
        """Start sampling; `eager` makes the reader now (psutil, off Linux): before type counts."""
        if self.interval <= 0:
            self._sample_sharing(force=True)
            return
        self._reader = _statm_reader()
        if self._reader is not None and self._sharing_reader is None:
            self._use_native()  # statm works: the C sampler reads it too
        if self._reader is None and eager:
            self._reader = self._psutil_reader()
        self._thread.start()

    def _use_native(self) -> None:
        """Sample with the C sampler from now on, where it is built."""
        sampler = _native_sampler(self.max_samples)
        if sampler is None:
            return
        self._native = sampler
        self._thread = PeriodicThread(
            self.interval, self._run_on_tick, sleeper=_NativeSleep(self, sampler)
        )

    def _run_on_tick(self) -> None:
        if self.on_tick is not None:
            self.tick_again = bool(self.on_tick())

    def _take_native_samples(self) -> None:
        """The C sampler's timeline into `times` and `rss` (the thread has stopped)."""
        if self._native is None:
            return
        times, rss, stride = self._native.samples()
        self.times = array("d")
        self.times.frombytes(times)
        self.rss = array("q")
        self.rss.frombytes(rss)
        self._stride = stride

    @staticmethod
    def _psutil_reader() -> Callable[[], int]:
        import psutil

        memory_info = psutil.Process().memory_info
        return lambda: int(memory_info().rss)

    def _sample(self) -> None:
        if self._reader is None:  # off Linux: psutil, imported after the first interval
            self._reader = self._psutil_reader()
        self._record(self._reader())
        if self._sharing_reader is not None:
            self._sample_sharing()
        self._run_on_tick()

    def _sample_sharing(self, force: bool = False) -> None:
        """One smaps_rollup sample, if its share of the time allows (or `force`)."""
        reader = self._sharing_reader
        now = self.clock.now()
        if reader is None or (now < self._next_sharing and not force):
            return
        try:
            values = reader()
        except (OSError, ValueError):
            return
        spent = self.clock.now() - now
        self.sharing_read_seconds += spent
        self._sharing_reads += 1
        self._next_sharing = now + max(self.interval, spent / SHARING_DUTY)
        self.sharing_times.append(now)
        self.sharing.extend(values)
        if len(self.sharing_times) >= self.max_samples:  # keep the whole run, half as dense
            width = len(SHARING_FIELDS)
            keep = range(0, len(self.sharing_times), 2)
            self.sharing_times = array("d", [self.sharing_times[i] for i in keep])
            self.sharing = array(
                "q", [v for i in keep for v in self.sharing[i * width : (i + 1) * width]]
            )

    def _record(self, rss: int) -> None:
        self._ticks += 1
        if self._ticks % self._stride:
            return
        self.times.append(perf_counter())  # absolute: the clock is reset as the program starts
        self.rss.append(rss)
        if len(self.rss) >= self.max_samples:  # halve resolution, keep the whole run
            # ticks 2, 4, ...: every kept tick a multiple of the new stride, evenly spaced
            self.times = self.times[1::2]
            self.rss = self.rss[1::2]
            self._stride *= 2

    def pause(self) -> None:
        """Step aside for a fork (the sampling thread ends, and is gone from the OS)."""
        self._thread.stop()

    def resume(self) -> None:
        if self.interval > 0:
            self._thread.start()

    def forget_thread(self) -> None:
        """In a forked child: there is no sampling thread, and none is started."""
        self._thread.forget()

    def restart_in_child(self) -> None:
        """In a followed forked child: its own samples from now on (`resume` starts the
        thread again; the kernel's high-water mark already starts over at a fork)."""
        self._thread.forget()
        if self._native is not None:  # a fresh one: the parent's samples stay the parent's
            self._use_native()
        self.times = array("d")
        self.rss = array("q")
        self.sharing_times = array("d")
        self.sharing = array("q")
        self._stride = 1
        self._ticks = 0
        self._next_sharing = 0.0
        self.sharing_read_seconds = 0.0
        self._sharing_reads = 0
        self._sample_sharing(force=True)  # now: private memory grows from the first write on

    def stop(self) -> None:
        self._thread.stop()
        self._take_native_samples()
        self._sample_sharing(force=True)
        self.peak_rss = self._peak_reader()

    def contribute(self, capture: dict[str, Any]) -> None:
        origin = self.clock.origin
        sampled_peak = max(self.rss) if self.rss else 0
        capture["peak_rss_bytes"] = max(self.peak_rss or 0, sampled_peak) or None
        capture["rss"] = {
            "interval_s": self.interval * self._stride,
            "sampler": "c" if self._native is not None else "python",
            # on the session clock; samples from before the program started are dropped
            "samples": [
                [round(t - origin, 4), r] for t, r in zip(self.times, self.rss) if t >= origin
            ],
        }
        if self._sharing_reader is not None:
            width = len(SHARING_FIELDS)
            values = self.sharing
            capture["memory_sharing"] = {
                "source": SMAPS_ROLLUP,
                "columns": list(SHARING_COLUMNS),
                "samples": [
                    [round(t, 4), *values[i * width : (i + 1) * width]]
                    for i, t in enumerate(self.sharing_times)
                ],
                "read_ms_mean": round(
                    self.sharing_read_seconds * 1000 / max(1, self._sharing_reads), 3
                ),
            }
