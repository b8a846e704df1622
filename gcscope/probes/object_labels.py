"""Naming and labelling arbitrary (possibly hostile) objects without running their code.

Harvested garbage can be anything: a class whose `__repr__` raises, sleeps or
returns megabytes, whose `__eq__`/`__hash__` raise, whose `__getattr__` lies.
So nothing here calls a method the program could define: types are named from
`__module__`/`__qualname__` read off the type with guards, builtin scalars are
shown through the builtin repr (bounded), containers by type and length, and
edges are labelled the way objgraph labels them (attribute name, dict key,
index) by identity comparison only.
"""

from __future__ import annotations

import gc
import sys
import tracemalloc
import types

TYPE_CHECKING = False  # importing typing would leave it resident in the program's process
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    SiteLookup = Callable[[Any], "tuple[str, int] | None"]

MAX_LABEL = 40
_SCALARS = (str, int, float, bool, bytes, type(None))
_SIZED = (list, tuple, dict, set, frozenset)
# what a function holds, as the C harvest labels it (struct fields, no code runs)
_FUNCTION_FIELDS = (
    "__globals__",
    "__closure__",
    "__defaults__",
    "__kwdefaults__",
    "__dict__",
    "__annotations__",
    "__module__",
    "__code__",
)


def type_name(kind: type) -> str:
    """`module.QualName` (`builtins.list`, `__main__.Node`), never raising."""
    try:
        module = type.__getattribute__(kind, "__module__")
    except Exception:
        module = None
    try:
        name = type.__getattribute__(kind, "__qualname__")
    except Exception:
        name = getattr(kind, "__name__", "?")
    if not isinstance(module, str):
        module = "builtins"
    if not isinstance(name, str):
        name = "?"
    return f"{module}.{name}"


def short_type(kind: type) -> str:
    return type_name(kind).rsplit(".", 1)[-1]


def scalar_repr(value: Any) -> str | None:
    """A bounded repr for exact builtin scalars, None for anything else."""
    if type(value) not in _SCALARS:
        return None
    if type(value) in (str, bytes) and len(value) > MAX_LABEL:
        value = value[:MAX_LABEL]
        return type(value).__repr__(value)[: MAX_LABEL + 2] + "..."
    return type(value).__repr__(value)[: MAX_LABEL + 3]


def node_label(item: Any) -> str:
    kind = type(item)
    label = short_type(kind)
    if kind in _SIZED:
        label += f" len={kind.__len__(item)}"
    return label


def node_size(item: Any) -> int:
    """Shallow size, as sys.getsizeof gives it, but never through a class's own override."""
    kind = type(item)
    try:
        overridden = any(
            "__sizeof__" in type.__getattribute__(base, "__dict__")
            for base in kind.__mro__
            if base is not object and base.__module__ != "builtins"
        )
        if not overridden:
            return int(sys.getsizeof(item))
        return int(object.__sizeof__(item))
    except Exception:
        return 0


def _instance_dict(item: Any) -> dict[str, Any] | None:
    try:
        mapping = object.__getattribute__(item, "__dict__")
    except Exception:
        return None
    return mapping if type(mapping) is dict else None


def _slot_names(kind: type) -> list[str]:
    names: list[str] = []
    for base in getattr(kind, "__mro__", ()):
        slots = type.__getattribute__(base, "__dict__").get("__slots__", ())
        names += [slots] if isinstance(slots, str) else [n for n in slots if type(n) is str]
    return names


def edge_labels(source: Any, slot_cache: dict[type, list[str]] | None = None) -> dict[int, str]:
    """`id(referent) -> label` for what `source` holds, as objgraph labels edges.

    On 3.11+ reading an instance's attributes may make its `__dict__`: harmless on
    garbage, which is cleared and freed right after (the dict with it), never saved.
    """
    labels: dict[int, str] = {}
    kind = type(source)
    if kind is dict:
        for key, value in dict.items(source):
            text = key[:MAX_LABEL] if type(key) is str and key.isidentifier() else scalar_repr(key)
            labels.setdefault(
                id(value), text if text is not None else f"<{short_type(type(key))} key>"
            )
            labels.setdefault(id(key), "key")
        return labels
    if kind in (list, tuple):
        for position, value in enumerate(source):
            labels.setdefault(id(value), f"[{position}]")
        return labels
    if kind in (set, frozenset):
        for value in source:
            labels.setdefault(id(value), "member")
        return labels
    referents = gc.get_referents(source)  # before __dict__ is read: 3.11+ makes one on demand
    attributes = _instance_dict(source)
    if attributes is not None:
        if any(referent is attributes for referent in referents):
            labels[id(attributes)] = "__dict__"  # a real dict object (always on <= 3.10)
        else:  # 3.11+: attributes stored inline, read through this dict
            for name, value in dict.items(attributes):
                if type(name) is str:
                    labels.setdefault(id(value), name[:MAX_LABEL])
    slot_names = slot_cache.get(kind) if slot_cache is not None else None
    if slot_names is None:
        slot_names = _slot_names(kind)
        if slot_cache is not None:
            slot_cache[kind] = slot_names
    for name in slot_names:
        try:
            value = object.__getattribute__(source, name)
        except Exception:
            continue
        labels.setdefault(id(value), name[:MAX_LABEL])
    if kind is types.FunctionType:
        for name in _FUNCTION_FIELDS:
            labels.setdefault(id(getattr(source, name)), name)
    if isinstance(source, type):  # type's own descriptors: a metaclass's are never called
        for name in ("__mro__", "__bases__", "__base__"):
            labels.setdefault(id(vars(type)[name].__get__(source, type)), name)
    if kind is types.MethodType:
        labels.setdefault(id(source.__self__), "__self__")
        labels.setdefault(id(source.__func__), "__func__")
    if kind is types.CellType:
        try:
            labels.setdefault(id(source.cell_contents), "cell_contents")
        except ValueError:
            pass
    return labels


# -- creation sites --------------------------------------------------------------

_MANAGED_DICT = 1 << 4  # Py_TPFLAGS_MANAGED_DICT (3.11)
PUBLIC_METHOD = "tracemalloc.get_object_traceback"
PREHEADER_METHOD = "tracemalloc + managed-dict pre-header (3.11)"


def _preheader_lookup() -> SiteLookup | None:
    """3.11: find an instance's trace at its real block start (CPython gh-101430).

    On 3.11 `get_object_traceback` subtracts only the GC header, but instances of
    ordinary classes have two more pointers (the managed dict) before it, so the
    lookup misses. `_PyTraceMalloc_GetTraceback`, at the right address, finds it.
    Only the Python fallback needs this (the C harvest calls it directly); it imports
    ctypes, so it is built before tracing starts (`site_lookups`).
    """
    import ctypes

    try:
        function = ctypes.pythonapi._PyTraceMalloc_GetTraceback
    except AttributeError:
        return None
    function.restype = ctypes.py_object
    function.argtypes = [ctypes.c_uint, ctypes.c_size_t]
    pointer = ctypes.sizeof(ctypes.c_void_p)
    gc_head, preheader = 2 * pointer, 2 * pointer
    public = tracemalloc.get_object_traceback

    def lookup(item: Any) -> tuple[str, int] | None:
        traceback = public(item)
        if traceback is not None:
            return traceback[-1].filename, traceback[-1].lineno
        kind = type(item)
        if not kind.__flags__ & _MANAGED_DICT:
            return None
        frames = function(0, id(item) - gc_head - preheader)
        return (frames[0][0], frames[0][1]) if frames else None

    return lookup


def _public_lookup(item: Any) -> tuple[str, int] | None:
    traceback = tracemalloc.get_object_traceback(item)
    if traceback is None:
        return None
    frame = traceback[-1]  # most recent call
    return frame.filename, frame.lineno


class _Probe:
    pass


def site_lookups() -> list[tuple[SiteLookup | None, str]]:
    """Candidate creation-site lookups, best first; call before tracing starts (imports)."""
    candidates: list[tuple[SiteLookup | None, str]] = [(_public_lookup, PUBLIC_METHOD)]
    if sys.version_info[:2] == (3, 11):
        candidates.insert(0, (_preheader_lookup(), PREHEADER_METHOD))
    return candidates


def self_tested(
    candidates: list[tuple[SiteLookup | None, str]],
) -> tuple[SiteLookup | None, str]:
    """The first candidate that finds this function's own allocation (tracing must be on).

    Returns (lookup, method); lookup is None when no method passes the test.
    """
    if not tracemalloc.is_tracing():
        return None, "tracemalloc is not tracing"
    expected_line = sys._getframe().f_lineno + 1
    sample = _Probe()
    for lookup, method in candidates:
        if lookup is None:
            continue
        try:
            site = lookup(sample)
        except Exception:
            continue
        if site is not None and site[1] == expected_line and site[0] == __file__:
            return lookup, method
    return None, f"unavailable on Python {sys.version.split()[0]} (self-test failed)"
