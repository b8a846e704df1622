/* gcscope._gcstate: read and restore the cyclic collector's counters (and two helpers
 * that keep gcscope's own work from showing in them: a pending call, for work that
 * must wait until the interpreter is back in the program, and a compile that makes
 * no objects python's own would not).
 *
 * When a collection runs is decided by counters the interpreter keeps and
 * `gc` does not let Python set: the allocations since the last young
 * collection, the young (and middle) collections since the next older one ran,
 * and the long-lived object totals that gate full collections (Modules/gcmodule.c,
 * `gc_collect_generations`). gcscope's own start-up (importing itself, reading
 * its options, preparing its probes) moves them, so without this the program's
 * first collections would fall earlier or later than under plain `python`, and
 * a program that never collects could be charged one.
 *
 * `restore(state)` writes them back just before the program's first line, so
 * the program starts with the collector where `python app.py` would have left it
 * (the state is measured in a fresh interpreter, see gcscope/startup_probe.py), and
 * `gc.get_stats()` shows it python's own figures, not gcscope's start-up
 * collections. `snapshot()` reads them.
 *
 * This reads the interpreter's private `_gc_runtime_state`, whose layout is the
 * same from 3.10 to 3.13 (generations[3].count, long_lived_total,
 * long_lived_pending). Elsewhere (3.14's incremental collector, free-threaded
 * builds) the module loads with `available = False` and gcscope reports that
 * the counters were not restored.
 */
#define PY_SSIZE_T_CLEAN
#define Py_BUILD_CORE_MODULE 1
#include <Python.h>

#if PY_VERSION_HEX >= 0x030A0000 && PY_VERSION_HEX < 0x030E0000 && !defined(Py_GIL_DISABLED)
#define GCSTATE_AVAILABLE 1
#include "internal/pycore_interp.h"
#else
#define GCSTATE_AVAILABLE 0
#endif

/* three generation counts, long_lived_total, long_lived_pending, then per generation
 * the gc.get_stats() figures: collections, collected, uncollectable */
#define STATE_FIELDS 14

static PyObject *
snapshot(PyObject *module, PyObject *Py_UNUSED(ignored))
{
#if GCSTATE_AVAILABLE
    struct _gc_runtime_state *gc = &PyInterpreterState_Get()->gc;
    struct gc_generation_stats *stats = gc->generation_stats;
    return Py_BuildValue(
        "(iiinnnnnnnnnnn)", gc->generations[0].count, gc->generations[1].count,
        gc->generations[2].count, gc->long_lived_total, gc->long_lived_pending,
        stats[0].collections, stats[0].collected, stats[0].uncollectable,
        stats[1].collections, stats[1].collected, stats[1].uncollectable,
        stats[2].collections, stats[2].collected, stats[2].uncollectable);
#else
    Py_RETURN_NONE;
#endif
}

static PyObject *
restore(PyObject *module, PyObject *args)
{
#if GCSTATE_AVAILABLE
    int counts[3];
    Py_ssize_t total, pending, figures[9];
    if (!PyArg_ParseTuple(args, "(iiinnnnnnnnnnn)", &counts[0], &counts[1], &counts[2],
                          &total, &pending, &figures[0], &figures[1], &figures[2],
                          &figures[3], &figures[4], &figures[5], &figures[6], &figures[7],
                          &figures[8])) {
        return NULL;
    }
    struct _gc_runtime_state *gc = &PyInterpreterState_Get()->gc;
    for (int i = 0; i < 3; i++) {
        gc->generations[i].count = counts[i];
        gc->generation_stats[i].collections = figures[3 * i];
        gc->generation_stats[i].collected = figures[3 * i + 1];
        gc->generation_stats[i].uncollectable = figures[3 * i + 2];
    }
    gc->long_lived_total = total;
    gc->long_lived_pending = pending;
    Py_RETURN_TRUE;
#else
    (void)args;
    Py_RETURN_FALSE;
#endif
}

/* -- call_soon: a Python callable run by the main thread at its next chance ---------- */

static int
run_pending(void *callable)
{
    PyObject *result = PyObject_CallNoArgs((PyObject *)callable);
    Py_XDECREF(result);
    if (result == NULL) {
        PyErr_Clear(); /* gcscope's own work: it must never raise into the program */
    }
    Py_DECREF((PyObject *)callable);
    return 0;
}

/* After a fork, gcscope restarts its sampling thread. Python 3.13 counts the
 * process's threads for its "multi-threaded fork" warning after the fork hooks have
 * run, so a thread restarted by the hook itself would be counted; a pending call
 * runs once os.fork() has returned to the program. */
static PyObject *
call_soon(PyObject *module, PyObject *callable)
{
    if (!PyCallable_Check(callable)) {
        PyErr_SetString(PyExc_TypeError, "call_soon() expects a callable");
        return NULL;
    }
    Py_INCREF(callable);
    if (Py_AddPendingCall(run_pending, callable) < 0) {
        Py_DECREF(callable);
        Py_RETURN_FALSE;
    }
    Py_RETURN_TRUE;
}

/* -- compile_source: the program's code, compiled as python compiles a main script -- */

/* Python compiles the main script (and a -c command) in C. The builtin compile()
 * first checks whether its argument is an AST object, and that check creates the
 * AST node types on first use: 700-1,100 container objects that plain python's
 * process never has, which every full collection of the program would walk. */
static PyObject *
compile_source(PyObject *module, PyObject *args)
{
    const char *source;
    Py_ssize_t length;
    PyObject *filename;
    int ignore_cookie;
    if (!PyArg_ParseTuple(args, "y#Up", &source, &length, &filename, &ignore_cookie)) {
        return NULL;
    }
    if ((size_t)length != strlen(source)) { /* the caller handles NUL bytes as python does */
        PyErr_SetString(PyExc_ValueError, "source code string cannot contain null bytes");
        return NULL;
    }
    PyCompilerFlags flags = _PyCompilerFlags_INIT;
    if (ignore_cookie) {
        flags.cf_flags |= PyCF_IGNORE_COOKIE;
    }
    return Py_CompileStringObject(source, filename, Py_file_input, &flags, -1);
}

/* -- set_aside: gcscope's own objects out of every collection's way ------------------ */

/* Every collection of the oldest generation traverses every tracked object; gcscope's
 * own (its modules' functions, classes and dicts, its probes and tables: ~450) would
 * add ~5% to each full collection of a small heap, time the program would be charged
 * for. They are moved to a list of gcscope's, outside every generation, so no
 * collection traverses them; whatever they refer to counts as referenced from outside
 * and stays alive, as it does anyway while gcscope holds it.
 *
 * Not untracked: several types' deallocators unlink an object from its list without
 * checking that it is on one (_PyObject_GC_UNTRACK), so an untracked object would
 * crash when freed. On gcscope's list it is tracked, and its links stay valid until
 * the interpreter frees it and unlinks it, at shutdown. Not gc.freeze()'s permanent
 * generation either: gc.get_freeze_count() would show it to the program. */
#if GCSTATE_AVAILABLE
static PyGC_Head set_aside_list = {0, 0};

static void
move_to_set_aside(PyObject *op)
{
    PyGC_Head *gc = _Py_AS_GC(op);
    PyGC_Head *prev = _PyGCHead_PREV(gc);
    PyGC_Head *next = _PyGCHead_NEXT(gc);
    _PyGCHead_SET_NEXT(prev, next); /* out of its generation, as gc_list_remove does */
    _PyGCHead_SET_PREV(next, prev);
    PyGC_Head *last = (PyGC_Head *)set_aside_list._gc_prev; /* the list head has no flags */
    _PyGCHead_SET_NEXT(last, gc); /* ...and onto gcscope's, as gc_list_append does */
    _PyGCHead_SET_PREV(gc, last);
    _PyGCHead_SET_NEXT(gc, &set_aside_list);
    set_aside_list._gc_prev = (uintptr_t)gc;
}
#endif

static PyObject *
set_aside(PyObject *module, PyObject *objects)
{
#if GCSTATE_AVAILABLE
    PyObject *items = PySequence_Fast(objects, "set_aside() expects a sequence");
    if (items == NULL) {
        return NULL;
    }
    if (set_aside_list._gc_next == 0) { /* an empty circular list: the head, twice */
        set_aside_list._gc_next = (uintptr_t)&set_aside_list;
        set_aside_list._gc_prev = (uintptr_t)&set_aside_list;
    }
    Py_ssize_t moved = 0;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(items); i++) {
        PyObject *op = PySequence_Fast_GET_ITEM(items, i);
        if (PyObject_IS_GC(op) && PyObject_GC_IsTracked(op)) {
            move_to_set_aside(op);
            moved++;
        }
    }
    Py_DECREF(items);
    return PyLong_FromSsize_t(moved);
#else
    (void)objects;
    return PyLong_FromLong(0);
#endif
}

static PyMethodDef gcstate_methods[] = {
    {"set_aside", set_aside, METH_O,
     "set_aside(objects) -> int\n\nMove these tracked objects (gcscope's own) out of every "
     "generation, onto a list no collection traverses; returns how many were moved. Call "
     "it only outside collections."},
    {"compile_source", compile_source, METH_VARARGS,
     "compile_source(source: bytes, filename: str, ignore_cookie: bool) -> code\n\n"
     "Compile a main script as the interpreter does, without builtin compile()'s AST "
     "check."},
    {"call_soon", call_soon, METH_O,
     "call_soon(callable) -> bool\n\nRun callable() in the main thread at its next eval "
     "breaker check (Py_AddPendingCall); False if the queue was full."},
    {"snapshot", snapshot, METH_NOARGS,
     "snapshot() -> tuple | None\n\nThe collector's counters: (count0, count1, count2, "
     "long_lived_total, long_lived_pending), or None where they cannot be read."},
    {"restore", restore, METH_VARARGS,
     "restore(state) -> bool\n\nWrite back counters taken by snapshot(); False where "
     "this interpreter's counters cannot be set."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef gcstate_module = {
    PyModuleDef_HEAD_INIT, "gcscope._gcstate", NULL, -1, gcstate_methods,
};

PyMODINIT_FUNC
PyInit__gcstate(void)
{
    PyObject *module = PyModule_Create(&gcstate_module);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddIntConstant(module, "available", GCSTATE_AVAILABLE) < 0
        || PyModule_AddIntConstant(module, "STATE_FIELDS", STATE_FIELDS) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
