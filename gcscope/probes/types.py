"""Live GC-tracked objects by type at start and end, and sizes by type at the end.

Counting uses objgraph's notion (every object `gc.get_objects()` returns, named
by module and type) but counts with `Counter(map(type, ...))`: objgraph's own
`typestats` runs Python code per object (2.4 s on 3 M objects here, against
0.3 s). Sizes come from pympler's `summary.summarize` (shallow `sys.getsizeof`,
never `asizeof`, which on 3.13+ mis-sizes instances and materialises their
`__dict__`s); above `SUMMARY_LIMIT` objects it summarises an evenly spaced sample
and scales up, and says so.

Before the final count gcscope runs one full collection, outside the program's
GC statistics, so garbage that merely has not been collected yet is not
mistaken for growth.
"""

from __future__ import annotations

import gc
import sys
import types
from collections import Counter

from gcscope.own_objects import own_objects
from gcscope.probes.object_labels import type_name

TYPE_CHECKING = False  # importing typing would leave it resident in the program's process
if TYPE_CHECKING:
    from typing import Any

SUMMARY_LIMIT = 200_000
TOP_TYPES = 50
_GCSCOPE_PREFIX = "gcscope."


def count_types(own_roots: tuple[Any, ...] = ()) -> dict[type, int]:
    """Live GC-tracked objects by type, less gcscope's own (see `own_objects`)."""
    objects = gc.get_objects()
    try:
        counts = dict(Counter(map(type, objects)))
    finally:
        del objects
    for kind, owned in Counter(map(type, own_objects(own_roots).values())).items():
        counts[kind] = counts.get(kind, 0) - owned
    return counts


# the types pympler names object by object (`summary.representations`, first entry:
# "function (name)", "module(name)", "frame (codename: ...)"); every other type's
# name is its type's. tests/test_sampled_allocations.py holds the rows equal to
# pympler's own on a live heap.
_NAMED_PER_OBJECT = (types.FunctionType, types.ModuleType, types.FrameType)


def summarize(objects: list[Any]) -> list[list[Any]]:
    """`pympler.summary.summarize(objects)`: the same rows, summed per type at C speed.

    pympler names each object with a Python call and two regular expressions (~6 us
    an object: 0.1 s for the ~13,000 objects of an empty program, 1.5 s for 200,000).
    Objects are counted and sized (`sys.getsizeof`, as pympler does) per type here,
    and pympler names one object of each type; only the types it names object by
    object go through it whole.
    """
    from pympler import summary

    kinds = list(map(type, objects))
    sizes_by_type: dict[type, int] = {}
    for kind, size in zip(kinds, map(sys.getsizeof, objects)):
        sizes_by_type[kind] = sizes_by_type.get(kind, 0) + size
    first_of_type = dict(zip(reversed(kinds), reversed(objects)))
    rows: dict[str, list[Any]] = {}
    named = summary.summarize([item for item in objects if type(item) in _NAMED_PER_OBJECT])
    for kind, count in Counter(kinds).items():
        if kind not in _NAMED_PER_OBJECT:
            name = summary.summarize([first_of_type[kind]])[0][0]
            named.append([name, count, sizes_by_type[kind]])
    for name, count, size in named:
        row = rows.setdefault(name, [name, 0, 0])
        row[1] += count
        row[2] += size
    return list(rows.values())


class TypeProbe:
    """Type counts around the run (exact deltas) and pympler's size summary at the end."""

    name = "types"

    def __init__(self) -> None:
        # Counter(map(...)) fills the ABC caches (isinstance(map, Mapping)) on first use:
        # do it now, before tracing starts, so those entries are not the program's growth
        Counter(map(type, ()))
        self.before: dict[type, int] = {}
        self.after: dict[type, int] = {}
        self.sizes: list[dict[str, Any]] = []
        self.sample_step = 1
        self.total_objects = 0

    def start(self, own_roots: tuple[Any, ...] = ()) -> None:
        self.before = count_types(own_roots)

    @staticmethod
    def collect() -> None:
        """One full collection before the final count; the caller has stopped the GC probe."""
        gc.collect()

    def count_after(self, own_roots: tuple[Any, ...] = ()) -> None:
        self.after = count_types((*own_roots, self.before))

    def summarise_sizes(self, own_roots: tuple[Any, ...] = ()) -> None:
        owned = own_objects(own_roots)
        objects = [item for item in gc.get_objects() if id(item) not in owned]
        del owned
        self.total_objects = len(objects)
        self.sample_step = max(1, -(-len(objects) // SUMMARY_LIMIT))
        sample = objects[:: self.sample_step]
        del objects
        rows = summarize(sample)
        del sample
        rows = [row for row in rows if not str(row[0]).startswith(_GCSCOPE_PREFIX)]
        rows.sort(key=lambda row: -row[2])
        step = self.sample_step
        self.sizes = [
            {"type": str(kind), "count": count * step, "size_bytes": size * step}
            for kind, count, size in rows[:TOP_TYPES]
        ]

    def contribute(self, capture: dict[str, Any]) -> None:
        growth = []
        for kind in set(self.before) | set(self.after):
            count_before, count_after = self.before.get(kind, 0), self.after.get(kind, 0)
            diff = count_after - count_before
            name = type_name(kind)
            if diff and not name.startswith(_GCSCOPE_PREFIX):
                growth.append(
                    {
                        "type": name,
                        "count_diff": diff,
                        "count_before": count_before,
                        "count_after": count_after,
                    }
                )
        growth.sort(key=lambda row: (-row["count_diff"], row["type"]))
        capture["type_growth"] = [row for row in growth if row["count_diff"] > 0][:TOP_TYPES]
        capture["type_shrink"] = sorted(
            (row for row in growth if row["count_diff"] < 0), key=lambda row: row["count_diff"]
        )[:10]
        capture["type_sizes"] = {
            "source": "pympler.summary (shallow sys.getsizeof)",
            "objects": self.total_objects,
            "sampled_every": self.sample_step,
            "estimated": self.sample_step > 1,
            "types": self.sizes,
        }
