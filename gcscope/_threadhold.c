/* gcscope._threadhold: hold the program's other threads still while gcscope finishes.
 *
 * When the measured program ends, python would be exiting: its daemon threads still run
 * for a moment (atexit) and then stop for good when finalisation begins. gcscope instead
 * has work to do first (the final cycle harvest, the capture, the report), and every
 * time that work releases the GIL (a file, an import, a Python gc callback's bytecode)
 * the program's busy threads take it for a switch interval or more. Three threads that
 * allocate and collect non-stop made finishing take seconds, and minutes on a loaded
 * machine where a thread that gives the GIL away waits for the OS to schedule it back.
 *
 * `hold(exempt, seconds, callback_codes)` gives every other thread of the interpreter a profile function
 * (the mechanism of `threading.setprofile_all_threads`) that, on the thread's next call
 * or return, waits on a lock gcscope holds, with the GIL released. `release()` opens the
 * lock and gives each thread back the profile function it had. Nothing else changes:
 * a held thread resumes exactly where it was. Threads blocked in C are not disturbed
 * (they hold no GIL); a thread inside a garbage collection is never held (the final
 * collection could not start while it is: `_track_collector`, a gc callback, names it,
 * or for a collection already under way, one of `callback_codes` on its stack), nor is
 * a thread whose ident is in `exempt`
 * (gcscope's own). A thread waits at most until `seconds` after `hold`: should it hold
 * a lock gcscope's finishing needs, finishing is delayed, never stuck.
 *
 * The profile functions are set with `_PyEval_SetProfile` (exported 3.10-3.13), which
 * raises the `sys.setprofile` audit event. Elsewhere the module loads with
 * `available = False` and nothing is held.
 */
#define PY_SSIZE_T_CLEAN
#define Py_BUILD_CORE_MODULE 1
#include <Python.h>
#include <pythread.h>
#include <frameobject.h> /* PyFrame_GetBack (3.10) */

#if PY_VERSION_HEX >= 0x030A0000 && PY_VERSION_HEX < 0x030E0000 && !defined(Py_GIL_DISABLED)
#define HOLD_AVAILABLE 1
#include "internal/pycore_interp.h"
#if PY_VERSION_HEX >= 0x030D0000 /* declared only in an internal header from 3.13 */
PyAPI_FUNC(int) _PyEval_SetProfile(PyThreadState *tstate, Py_tracefunc func, PyObject *arg);
#endif
#else
#define HOLD_AVAILABLE 0
#endif

#ifdef _WIN32
#include <windows.h>
#else
#include <time.h>
#endif

#if HOLD_AVAILABLE

typedef struct {
    PyThreadState *tstate;
    unsigned long ident;
    Py_tracefunc func; /* the profile function the thread had (usually none) */
    PyObject *arg;     /* a reference of ours */
} HeldThread;

static PyThread_type_lock gate;  /* locked by gcscope while threads are held */
static int holding;              /* read and written under the GIL */
static double until;             /* monotonic seconds: no thread waits past it */
static unsigned long collector;  /* the thread inside the collection under way, if known */
static HeldThread *held;
static Py_ssize_t held_count;
static PyObject *callback_codes; /* tuple: code objects of the Python gc callbacks */
#define MAX_WALK 64              /* frames looked at for one */

static double
monotonic_seconds(void)
{
#ifdef _WIN32
    return (double)GetTickCount64() / 1000.0;
#else
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
#endif
}

static int
collection_under_way(void)
{
    return PyInterpreterState_Get()->gc.collecting;
}

/* Whether a gc callback's code is on this thread's stack: only the collecting thread
 * runs one. (A collection under way when the hold began has no known thread: it is
 * told by the callbacks it runs, gcscope's among them with the Python gc callback.) */
static int
in_gc_callback(PyFrameObject *frame)
{
    if (callback_codes == NULL || frame == NULL) {
        return 0;
    }
    int found = 0;
    Py_INCREF(frame);
    for (int depth = 0; frame != NULL && depth < MAX_WALK && !found; depth++) {
        PyCodeObject *code = PyFrame_GetCode(frame);
        Py_ssize_t count = PyTuple_GET_SIZE(callback_codes);
        for (Py_ssize_t i = 0; i < count; i++) {
            if (PyTuple_GET_ITEM(callback_codes, i) == (PyObject *)code) {
                found = 1;
                break;
            }
        }
        Py_DECREF(code);
        PyFrameObject *back = PyFrame_GetBack(frame);
        Py_DECREF(frame);
        frame = back;
    }
    Py_XDECREF(frame);
    return found;
}

/* The profile function of a held thread: wait at the gate, GIL released. */
static int
wait_at_gate(PyObject *Py_UNUSED(obj), PyFrameObject *frame, int Py_UNUSED(what),
             PyObject *Py_UNUSED(arg))
{
    if (!holding) {
        return 0;
    }
    unsigned long me = PyThread_get_thread_ident();
    if (collection_under_way()) {
        if (collector == me) {
            return 0; /* the collecting thread goes on */
        }
        if (collector == 0 && in_gc_callback(frame)) {
            collector = me; /* a collection that began before the hold: this is its thread */
            return 0;
        }
    }
    double left = until - monotonic_seconds();
    if (left <= 0) {
        return 0;
    }
    PY_TIMEOUT_T microseconds = (PY_TIMEOUT_T)(left * 1e6);
    PyLockStatus status;
    Py_BEGIN_ALLOW_THREADS
    status = PyThread_acquire_lock_timed(gate, microseconds, 0);
    if (status == PY_LOCK_ACQUIRED) {
        PyThread_release_lock(gate); /* let the next held thread through */
    }
    Py_END_ALLOW_THREADS
    return 0;
}

/* gc callback, appended to gc.callbacks by gcscope/holding.py while holding (not
 * inserted: a collection under way in another thread walks the list by index, and an
 * insertion would make it call a callback twice): which thread is collecting. */
static PyObject *
track_collector(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *phase, *info;
    if (!PyArg_ParseTuple(args, "OO", &phase, &info)) {
        return NULL;
    }
    int starting = PyUnicode_Check(phase) && PyUnicode_CompareWithASCIIString(phase, "start") == 0;
    collector = starting ? PyThread_get_thread_ident() : 0;
    Py_RETURN_NONE;
}

static int
is_exempt(unsigned long ident, PyObject *exempt)
{
    PyObject *key = PyLong_FromUnsignedLong(ident);
    if (key == NULL) {
        return -1;
    }
    int found = PySequence_Contains(exempt, key);
    Py_DECREF(key);
    return found;
}

static void
forget_held(void)
{
    PyMem_Free(held);
    held = NULL;
    held_count = 0;
}

static int
still_alive(PyThreadState *me, HeldThread *thread)
{
    for (PyThreadState *ts = PyInterpreterState_ThreadHead(me->interp); ts; ts = PyThreadState_Next(ts)) {
        if (ts == thread->tstate && ts->thread_id == thread->ident) {
            return 1;
        }
    }
    return 0;
}

static PyObject *
hold(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *exempt, *codes;
    double seconds;
    if (!PyArg_ParseTuple(args, "OdO!", &exempt, &seconds, &PyTuple_Type, &codes)) {
        return NULL;
    }
    if (holding) {
        Py_RETURN_FALSE;
    }
    PyThreadState *me = PyThreadState_Get();
    Py_ssize_t capacity = 0;
    for (PyThreadState *ts = PyInterpreterState_ThreadHead(me->interp); ts; ts = PyThreadState_Next(ts)) {
        capacity++;
    }
    held = PyMem_Calloc(capacity ? capacity : 1, sizeof(HeldThread));
    if (held == NULL) {
        return PyErr_NoMemory();
    }
    held_count = 0;
    /* Thread states of threads to hold are listed first: setting a profile function
     * runs an audit hook, which may run Python code that starts or ends threads. */
    for (PyThreadState *ts = PyInterpreterState_ThreadHead(me->interp); ts && held_count < capacity;
         ts = PyThreadState_Next(ts)) {
        if (ts == me || ts->thread_id == 0 || ts->thread_id == me->thread_id) {
            /* (no ident of its own yet: a thread started a moment ago that has not begun
             * to run, such as gcscope's sampling thread restarted after a fork; its state
             * has 0 (3.12+) or its creator's ident (3.10-3.11) until it runs. Python would
             * let it start too, and exempting it by ident is impossible until it has one) */
            continue;
        }
        int skip = is_exempt(ts->thread_id, exempt);
        if (skip < 0) {
            forget_held();
            return NULL;
        }
        if (!skip) {
            held[held_count].tstate = ts;
            held[held_count].ident = ts->thread_id;
            held_count++;
        }
    }
    if (held_count == 0) {
        forget_held();
        Py_RETURN_FALSE;
    }
    Py_XSETREF(callback_codes, Py_NewRef(codes));
    PyThread_acquire_lock(gate, WAIT_LOCK);
    until = monotonic_seconds() + seconds;
    collector = 0; /* a collection already under way: its thread is not known, none held */
    holding = 1;
    for (Py_ssize_t i = 0; i < held_count; i++) {
        PyThreadState *ts = held[i].tstate;
        if (!still_alive(me, &held[i])) { /* ended while an audit hook ran */
            held[i].func = wait_at_gate;
            continue;
        }
        held[i].func = ts->c_profilefunc;
        held[i].arg = Py_XNewRef(ts->c_profileobj);
        if (_PyEval_SetProfile(ts, wait_at_gate, NULL) < 0) {
            PyErr_Clear(); /* an audit hook said no: that thread is not held */
            held[i].func = wait_at_gate; /* nothing to give back */
            Py_CLEAR(held[i].arg);
        }
    }
    Py_RETURN_TRUE;
}

static PyObject *
release(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    if (!holding) {
        Py_RETURN_NONE;
    }
    holding = 0;
    PyThread_release_lock(gate);
    PyThreadState *me = PyThreadState_Get();
    for (Py_ssize_t i = 0; i < held_count; i++) {
        HeldThread *thread = &held[i];
        if (thread->func != wait_at_gate && still_alive(me, thread) &&
            thread->tstate->c_profilefunc == wait_at_gate) {
            if (_PyEval_SetProfile(thread->tstate, thread->func, thread->arg) < 0) {
                PyErr_Clear(); /* left with ours: it does nothing once released */
            }
        }
        Py_CLEAR(thread->arg);
    }
    forget_held();
    Py_CLEAR(callback_codes);
    Py_RETURN_NONE;
}

#else /* not available: nothing is held */

static PyObject *
hold(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(args))
{
    Py_RETURN_FALSE;
}

static PyObject *
release(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    Py_RETURN_NONE;
}

static PyObject *
track_collector(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(args))
{
    Py_RETURN_NONE;
}

#endif

static PyMethodDef methods[] = {
    {"hold", hold, METH_VARARGS,
     "hold(exempt, seconds, callback_codes) -> bool: hold every other thread but those in "
     "exempt at its next call, for at most seconds (never the thread of a collection under "
     "way: one running any of callback_codes); False if there was none to hold."},
    {"release", release, METH_NOARGS,
     "release(): let the held threads go on, with the profile functions they had."},
    {"_track_collector", track_collector, METH_VARARGS,
     "gc callback while holding: notes which thread is collecting."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "gcscope._threadhold",
    "Hold the program's other threads still while gcscope finishes the run.", -1, methods,
};

PyMODINIT_FUNC
PyInit__threadhold(void)
{
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL) {
        return NULL;
    }
#if HOLD_AVAILABLE
    if (gate == NULL) {
        gate = PyThread_allocate_lock();
        if (gate == NULL) {
            Py_DECREF(module);
            return PyErr_NoMemory();
        }
    }
#endif
    if (PyModule_AddIntConstant(module, "available", HOLD_AVAILABLE) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
