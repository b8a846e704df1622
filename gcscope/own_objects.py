"""gcscope's own objects in the program's process: which they are, and keeping them out
of the collector's way.

The type counts and sizes of `--allocations` leave them out (`own_objects`), and
`gcscope run` sets them aside before the program starts (`set_aside_own`): every full
collection traverses every tracked object, and gcscope's (its modules' functions,
classes and dicts, its probes and tables: ~450) would add ~5% to each full
collection of a small heap, time charged to the program. (gcscope/_gcstate.c says
how, and why not untracked or frozen.)
"""

from __future__ import annotations

import _thread
import _weakref
import gc
import importlib.machinery
import os
import sys
import types
from array import array

from gcscope.paths import PACKAGE_DIR

TYPE_CHECKING = False  # importing typing would leave it resident in the program's process
if TYPE_CHECKING:
    from typing import Any

_CONTAINERS = (dict, list, tuple, set, frozenset)
# what a class or module of gcscope's holds that is part of it: its descriptors, its
# module's spec and loader, its threads' locks
_PARTS = (
    types.MemberDescriptorType,
    types.GetSetDescriptorType,
    types.MethodDescriptorType,
    types.WrapperDescriptorType,
    types.ClassMethodDescriptorType,
    staticmethod,
    classmethod,
    property,
    _weakref.ReferenceType,  # the weak references the interpreter keeps to a class
    type(_thread.allocate_lock()),
    type(sys.modules["gcscope"].__spec__),  # ModuleSpec
    importlib.machinery.SourceFileLoader,
    importlib.machinery.SourcelessFileLoader,
    importlib.machinery.ExtensionFileLoader,
    importlib.machinery.FileFinder,
)


def own_objects(
    roots: tuple[Any, ...],
    added_modules: frozenset[str] = frozenset(),
    parts: tuple[Any, ...] = (),
    shells: tuple[Any, ...] = (),
) -> dict[int, Any]:
    """GC-tracked objects that are gcscope's, by id: the roots, and what they hold.

    From the roots (gcscope's session, probes and tables, its modules) the walk goes
    through builtin containers, instances, classes and modules of gcscope's (with
    their descriptors, specs, loaders and locks), gcscope's functions (their closures
    and defaults, never their module globals), cells, bound methods and buffers; it
    stops at anything else, so the program's objects that gcscope refers to (code
    objects of trigger sites, types) stay the program's. `added_modules`: standard
    modules gcscope imported that a plain python start does not (`array`; `runpy` under
    `python -m gcscope`): their classes and functions count as gcscope's too. `parts`:
    objects of the kinds in `_PARTS` (import finders) that are gcscope's, with what
    they hold. `shells`: modules of which only the module, its dict, spec and loader are
    gcscope's, never the classes and functions the dict holds: a standard module an
    added one imported (`array` imports `collections.abc`, whose classes are the
    program's though their `__module__` names it), and the `__main__` gcscope started
    as.
    """
    shell_ids = {id(module) for module in shells}

    def is_own_module(name: object) -> bool:
        return _is_gcscope_name(name) or name in added_modules

    # the source files of the added modules (`runpy`'s functions, for `python -m gcscope`;
    # frozen in 3.11+, where its code's file name is "<frozen runpy>")
    added_files = {getattr(sys.modules.get(name), "__file__", None) for name in added_modules} | {
        f"<frozen {name}>" for name in added_modules
    }

    def is_own_file(filename: str) -> bool:
        return filename.startswith(PACKAGE_DIR) or filename in added_files

    owned: dict[int, Any] = {}
    stack = [(root, False) for root in roots] + [(part, True) for part in parts]
    # the interpreter's own containers that gcscope's objects may refer to: the program's
    never = {id(gc.garbage), id(gc.callbacks), id(sys.modules), id(sys.path), id(sys.argv)}
    never.add(id(vars(sys.modules["builtins"])))  # every module's __builtins__
    while stack:
        item, part = stack.pop()
        if id(item) in owned or id(item) in never:
            continue
        kind = type(item)
        if kind in _CONTAINERS or kind is types.CellType:
            referents, part_of = gc.get_referents(item), part
        elif kind is types.FunctionType:
            if not is_own_file(item.__code__.co_filename):
                continue
            # the closure and defaults tuples themselves (tracked), not only their items
            referents = [item.__code__, item.__closure__, item.__defaults__, item.__kwdefaults__]
            part_of = False
        elif kind is types.CodeType:  # its constants' tuples (nested code, frozensets...)
            if not is_own_file(item.co_filename):
                continue
            referents, part_of = [item.co_consts], False
        elif kind is types.ModuleType and id(item) in shell_ids:
            # the module and its dict, never the containers the dict holds (they may be
            # shared: `collections.abc.__all__` is python's `_collections_abc`'s);
            # its spec and loader, and its functions of gcscope's (checked by file)
            namespace = vars(item)
            owned[id(namespace)] = namespace
            referents = [
                value
                for name, value in namespace.items()
                if name in ("__spec__", "__loader__") or type(value) is types.FunctionType
            ]
            part_of = True
        elif kind is types.MethodType:  # a bound method gcscope holds (a handler, a hook)
            function = item.__func__
            if not getattr(function, "__code__", None) or not (
                function.__code__.co_filename.startswith(PACKAGE_DIR)
            ):
                continue
            referents, part_of = [function, item.__self__], False
        elif (
            getattr(kind, "__module__", "").startswith("gcscope.")  # an instance of ours
            or (kind is types.ModuleType and is_own_module(item.__name__))
            or (isinstance(item, type) and is_own_module(item.__module__))  # a class
        ):
            referents, part_of = gc.get_referents(item), True
            if isinstance(item, type):
                referents += _weakref.getweakrefs(item)
                # a static type (3.10-3.11 `array.array`) reports no referents: its dict
                referents += gc.get_referents(item.__dict__)
        elif part and isinstance(item, _PARTS):
            referents, part_of = gc.get_referents(item), False
        elif kind is types.BuiltinFunctionType:
            owner = item.__self__
            if is_own_module(getattr(owner, "__name__", None)):  # of gcscope's C helpers
                referents, part_of = (), False
            elif isinstance(owner, type) and is_own_module(owner.__module__):
                referents, part_of = (), False  # a class's `__new__`
            elif part and type(owner) is _weakref.ReferenceType:
                # the callback of a weak reference to a class of gcscope's (an ABC's
                # registry made one when `array` was registered), bound to a weak
                # reference to the registry made for it
                referents, part_of = [owner], True
            else:
                continue
        elif kind is array:
            referents, part_of = (), False
        else:
            continue
        if gc.is_tracked(item):
            owned[id(item)] = item
        stack.extend((referent, part_of) for referent in referents)
    return owned


def _is_gcscope_name(name: object) -> bool:
    return isinstance(name, str) and (name == "gcscope" or name.startswith("gcscope."))


def set_aside_own(
    roots: tuple[Any, ...],
    added_modules: frozenset[str] = frozenset(),
    brought: frozenset[str] = frozenset(),
    entry_module: Any = None,
) -> int:
    """Move gcscope's own objects out of the collector's generations (see the module
    docstring); how many there were. `added_modules`: as in `own_objects`. `brought`:
    standard submodules only gcscope's imports loaded (`collections.abc`): the import
    finder of their package's folder only they made, and each is a shell (see
    `own_objects`) unless it is a module python's start-up had under another name (on
    3.13 `collections.abc` is `_collections_abc`). `entry_module`: the `__main__`
    gcscope started as, a shell too when it is gcscope's (`is_gcscope_entry`).

    A no-op without the C helper (or where it does not know the collector). Called
    once everything gcscope needs while the program runs exists, right before the
    program starts.
    """
    try:
        from gcscope._gcstate import set_aside
    except ImportError:
        return 0
    # the import system's finders for gcscope's own folders are gcscope's too (with
    # their caches); the finder of the folder gcscope was started from (a console
    # script's bin folder), if the program's sys.path no longer has it, is forgotten
    forget_entry_folder()
    # ...and so are those of the packages of `brought` (`collections/`)
    brought_folders = {
        os.path.join(folder, "")
        for package in {name.rpartition(".")[0] for name in brought}
        for folder in getattr(sys.modules.get(package), "__path__", ())
    }
    finders = tuple(
        finder
        for path, finder in list(sys.path_importer_cache.items())
        if finder is not None
        and (
            os.path.join(path, "").startswith(PACKAGE_DIR)
            or os.path.join(path, "") in brought_folders
        )
    )
    forget_entry_pattern()
    shells = [
        module
        for name in brought
        if (module := sys.modules.get(name)) is not None
        and not any(other is module for key, other in sys.modules.items() if key != name)
    ]
    if is_gcscope_entry(entry_module):
        shells.append(entry_module)
    modules = tuple(sys.modules[name] for name in added_modules if name in sys.modules)
    owned = own_objects((*roots, *modules, *shells), added_modules, finders, tuple(shells))
    owned.update(holders(owned))
    return int(set_aside(list(owned.values())))


def is_gcscope_entry(module: Any) -> bool:
    """Whether this `__main__` is the one gcscope started as: the console script (its
    `main` is gcscope's) or `python -m gcscope`; not a program's that called gcscope's
    command line in its own process, whose module is the program's."""
    if not isinstance(module, types.ModuleType):
        return False
    spec_name = getattr(getattr(module, "__spec__", None), "name", None)
    entry = vars(module).get("main")
    return spec_name == "gcscope.__main__" or (
        type(entry) is types.FunctionType and _is_gcscope_name(entry.__module__)
    )


def holders(owned: dict[int, Any]) -> dict[int, Any]:
    """Containers the interpreter made for gcscope's objects alone, that hold nothing
    else: the lists `os.register_at_fork` made for gcscope's fork hooks (python's
    start-up registers none), the subclass tables of the bases of gcscope's classes, an
    ABC's registry sets made when `array` was registered. The program's own items, if it
    adds any later, go in the same containers; set aside, they still keep them alive,
    as the interpreter does anyway."""
    kinds = (types.MethodType, _weakref.ReferenceType)
    held = [item for item in owned.values() if type(item) in kinds]
    shared = {id(gc.callbacks), id(sys.meta_path), id(sys.path_hooks), id(sys.path)}
    found: dict[int, Any] = {}
    for holder in gc.get_referrers(*held):
        if id(holder) in shared or id(holder) in owned or not holder:
            continue
        if type(holder) is dict:
            items = list(holder.values())
            if not all(type(key) is int for key in holder):  # a subclass table's keys
                continue
        elif type(holder) in (list, set):
            items = list(holder)
        else:
            continue
        if all(id(item) in owned for item in items):
            found[id(holder)] = holder
    return found


# the console scripts pip writes run `re.sub(ENTRY_PATTERN, "", sys.argv[0])` before
# gcscope starts
ENTRY_PATTERN = r"(-script\.pyw|\.exe)?$"


def forget_entry_pattern() -> None:
    """Drop the console script's compiled pattern from `re`'s caches: python started on
    the program never compiled it (a pattern, its key and code: every full collection
    would traverse them)."""
    re_module = sys.modules.get("re")
    for name in ("_cache", "_cache2"):  # _cache2: 3.13
        cache = getattr(re_module, name, None)
        if type(cache) is not dict:
            continue
        for key in [key for key in cache if type(key) is tuple and ENTRY_PATTERN in key]:
            cache.pop(key, None)


def forget_entry_folder() -> None:
    """Drop the import finder of the folder of gcscope's entry point (`.../bin` for the
    console script) when the program's `sys.path` does not have it: python started on
    the program would never have looked there, and its finder and caches are ~10
    objects every full collection would traverse."""
    entry = getattr(sys, "orig_argv", [None, None])
    script = entry[1] if len(entry) > 1 else None
    if not script or script.startswith("-"):
        return
    folder = os.path.dirname(os.path.abspath(script))
    if folder not in sys.path:
        sys.path_importer_cache.pop(folder, None)
