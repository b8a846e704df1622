/* gcscope._gcrecorder: the gc callback of `gcscope run`, in C.
 *
 * gc.callbacks calls its callbacks twice per collection, inside the collector.
 * A Python callback costs ~20,000 instructions per collection on 3.10 (each
 * array store goes through PyArg_Parse, each call builds a frame); this one does
 * the same work in ~2,000: a walk up the program's stack to the trigger site,
 * two clock reads and one row of six numbers appended to a C buffer. It does what
 * the Python callback of gcscope/probes/gc_events.py does (without the harvest),
 * into the same Python-side tables, so everything after the run is shared. The Python
 * callback remains for --cycles (whose harvest is Python) and for installs
 * without a compiler (GCSCOPE_CALLBACK=python selects it; the tests run both).
 *
 * Rules it keeps, as the Python one does: no locks; never raises (an error is
 * counted; a KeyboardInterrupt raised by the Python it calls on a first sight is
 * handed to `defer_sigint`, because CPython drops exceptions raised in callbacks);
 * the buffer is not a Python object, so the collector never traverses it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>

#define MAX_STACK_WALK 48
#define LINE_SPAN (1LL << 24)
#define EVENT_FIELDS 6
#define KIND_PROGRAM 0
#define KIND_LIBRARY 1
#define KIND_GCSCOPE 2
#define KIND_RUNNER 3

typedef struct {
    long long program_key;
    long long inner_key;
    long long slot; /* -1: empty */
} SiteEntry;

typedef struct {
    PyObject_HEAD
    PyObject *code_index;   /* dict: id(code) -> index */
    PyObject *code_kind;    /* bytearray: index -> KIND_* */
    PyObject *intern;       /* intern(code) -> index, on a code object's first sight */
    PyObject *new_site;     /* new_site(program_key, inner_key) -> slot */
    PyObject *past_cap;     /* past_cap(generation, pause, collected, uncollectable, slot) */
    PyObject *defer_sigint; /* defer_sigint() */
    PyObject *forcing;      /* bytearray(1): nonzero while gcscope forces a collection */
    PyObject *forced;       /* array('q'): gcscope's own collections per generation */
    PyObject *counters;     /* array('q'): [callback errors, interpreter durations] */
    PyObject *perf;         /* time.perf_counter */
    Py_ssize_t cap; /* events kept in the timeline */
    double pending_start;
    long long pending_slot;
    double *events;
    Py_ssize_t n_events;
    Py_ssize_t capacity;
    SiteEntry *sites; /* open addressing, power-of-two size, at most half full */
    Py_ssize_t sites_size;
    Py_ssize_t sites_used;
} Recorder;

static PyObject *key_generation, *key_collected, *key_uncollectable, *key_duration;

/* time.perf_counter(), the clock of the Python callback and of the run's origin */
static double
perf_seconds(Recorder *self)
{
    PyObject *now = PyObject_CallNoArgs(self->perf);
    if (now == NULL) {
        PyErr_Clear();
        return 0.0;
    }
    double seconds = PyFloat_AsDouble(now);
    Py_DECREF(now);
    return seconds;
}

static long long *
int64_item(PyObject *array_object, Py_ssize_t index)
{
    /* an array('q') of fixed length, made by the probe; released at once: it never resizes */
    Py_buffer view;
    long long *item = NULL;
    if (PyObject_GetBuffer(array_object, &view, PyBUF_WRITABLE) == 0) {
        if (view.itemsize == 8 && index < view.len / 8) {
            item = (long long *)view.buf + index;
        }
        PyBuffer_Release(&view);
    }
    return item;
}

static void
count(Recorder *self, Py_ssize_t counter)
{
    long long *item = int64_item(self->counters, counter);
    if (item != NULL) {
        *item += 1;
    }
    else {
        PyErr_Clear();
    }
}

static void
absorb_error(Recorder *self)
{
    if (PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
        PyErr_Clear();
        PyObject *result = PyObject_CallNoArgs(self->defer_sigint);
        Py_XDECREF(result);
        PyErr_Clear();
        return;
    }
    PyErr_Clear();
    count(self, 0);
}

/* the interned index of a code object, or -1 with an exception set */
static Py_ssize_t
code_index_of(Recorder *self, PyCodeObject *code)
{
    PyObject *key = PyLong_FromVoidPtr(code);
    if (key == NULL) {
        return -1;
    }
    PyObject *found = PyDict_GetItemWithError(self->code_index, key); /* borrowed */
    Py_DECREF(key);
    if (found != NULL) {
        return PyLong_AsSsize_t(found);
    }
    if (PyErr_Occurred()) {
        return -1;
    }
    PyObject *index = PyObject_CallOneArg(self->intern, (PyObject *)code);
    if (index == NULL) {
        return -1;
    }
    Py_ssize_t value = PyLong_AsSsize_t(index);
    Py_DECREF(index);
    return value;
}

static int
kind_of(Recorder *self, Py_ssize_t index)
{
    if (index < 0 || index >= PyByteArray_GET_SIZE(self->code_kind)) {
        return KIND_GCSCOPE;
    }
    return (unsigned char)PyByteArray_AS_STRING(self->code_kind)[index];
}

static size_t
site_hash(long long program_key, long long inner_key)
{
    unsigned long long h = (unsigned long long)program_key * 0x9E3779B97F4A7C15ULL;
    h ^= (unsigned long long)inner_key + 0x7F4A7C159E3779B9ULL + (h << 6) + (h >> 2);
    return (size_t)(h ^ (h >> 29));
}

static int
sites_grow(Recorder *self)
{
    Py_ssize_t size = self->sites_size ? self->sites_size * 2 : 64;
    SiteEntry *table = PyMem_Malloc(sizeof(SiteEntry) * (size_t)size);
    if (table == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < size; i++) {
        table[i].slot = -1;
    }
    for (Py_ssize_t i = 0; i < self->sites_size; i++) {
        SiteEntry *old = &self->sites[i];
        if (old->slot < 0) {
            continue;
        }
        size_t at = site_hash(old->program_key, old->inner_key) & (size_t)(size - 1);
        while (table[at].slot >= 0) {
            at = (at + 1) & (size_t)(size - 1);
        }
        table[at] = *old;
    }
    PyMem_Free(self->sites);
    self->sites = table;
    self->sites_size = size;
    return 0;
}

/* the slot of a (program frame, innermost frame) site, or -1 with an exception set */
static long long
site_slot(Recorder *self, long long program_key, long long inner_key)
{
    if ((self->sites_used + 1) * 2 > self->sites_size && sites_grow(self) < 0) {
        return -1;
    }
    size_t mask = (size_t)(self->sites_size - 1);
    size_t at = site_hash(program_key, inner_key) & mask;
    while (self->sites[at].slot >= 0) {
        SiteEntry *entry = &self->sites[at];
        if (entry->program_key == program_key && entry->inner_key == inner_key) {
            return entry->slot;
        }
        at = (at + 1) & mask;
    }
    PyObject *slot_object = PyObject_CallFunction(
        self->new_site, "LL", program_key, inner_key);
    if (slot_object == NULL) {
        return -1;
    }
    long long slot = PyLong_AsLongLong(slot_object);
    Py_DECREF(slot_object);
    if (slot < 0) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError, "negative site slot");
        }
        return -1;
    }
    self->sites[at].program_key = program_key;
    self->sites[at].inner_key = inner_key;
    self->sites[at].slot = slot;
    self->sites_used++;
    return slot;
}

static int
forcing(Recorder *self)
{
    return PyByteArray_GET_SIZE(self->forcing) > 0 && PyByteArray_AS_STRING(self->forcing)[0];
}

/* "start": find the trigger site, then read the clock (last, so our work is not pause) */
static int
on_start(Recorder *self)
{
    if (forcing(self)) {
        return 0;
    }
    long long inner = -1, program = -1;
    long long inner_line = 0, program_line = 0;
    PyFrameObject *frame = PyThreadState_GetFrame(PyThreadState_Get()); /* new reference */
    int depth = 0;
    int status = 0;
    while (frame != NULL && depth < MAX_STACK_WALK) {
        PyCodeObject *code = PyFrame_GetCode(frame);
        Py_ssize_t index = code_index_of(self, code);
        Py_DECREF(code);
        if (index < 0) {
            status = -1;
            break;
        }
        int kind = kind_of(self, index);
        if (kind == KIND_PROGRAM) {
            program = index;
            program_line = PyFrame_GetLineNumber(frame);
            if (inner < 0) {
                inner = program;
                inner_line = program_line;
            }
            break;
        }
        if (kind == KIND_LIBRARY) {
            if (inner < 0) {
                inner = index;
                inner_line = PyFrame_GetLineNumber(frame);
            }
        }
        else if (kind == KIND_RUNNER) {
            break; /* the program's stack ends here */
        }
        else { /* gcscope's own work, or library code it called */
            inner = -1;
            inner_line = 0;
            break;
        }
        PyFrameObject *back = PyFrame_GetBack(frame);
        Py_DECREF(frame);
        frame = back;
        depth++;
    }
    Py_XDECREF(frame);
    if (status < 0) {
        return -1;
    }
    /* program frame (none when only library code ran) and innermost frame, each packed
     * into one int, as in Python */
    long long slot = site_slot(
        self, (program + 1) * LINE_SPAN + program_line, (inner + 1) * LINE_SPAN + inner_line);
    if (slot < 0) {
        return -1;
    }
    self->pending_slot = slot;
    self->pending_start = perf_seconds(self);
    return 0;
}

static int
get_count(PyObject *info, PyObject *key, long long *value)
{
    PyObject *item = PyDict_GetItemWithError(info, key); /* borrowed */
    if (item == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetObject(PyExc_KeyError, key);
        }
        return -1;
    }
    *value = PyLong_AsLongLong(item);
    return (*value == -1 && PyErr_Occurred()) ? -1 : 0;
}

/* "stop": read the clock first, then store one row of the timeline */
static int
on_stop(Recorder *self, PyObject *info)
{
    double end = perf_seconds(self);
    long long generation, collected, uncollectable;
    if (get_count(info, key_generation, &generation) < 0) {
        return -1;
    }
    if (forcing(self)) {
        long long *item = int64_item(self->forced, (Py_ssize_t)generation);
        if (item == NULL) {
            return PyErr_Occurred() ? -1 : 0;
        }
        *item += 1;
        return 0;
    }
    double pause = end - self->pending_start;
    PyObject *duration = PyDict_GetItemWithError(info, key_duration); /* 3.15+ */
    if (duration != NULL) {
        pause = PyFloat_AsDouble(duration);
        if (pause == -1.0 && PyErr_Occurred()) {
            return -1;
        }
        count(self, 1);
    }
    else if (PyErr_Occurred()) {
        return -1;
    }
    if (get_count(info, key_collected, &collected) < 0
        || get_count(info, key_uncollectable, &uncollectable) < 0) {
        return -1;
    }
    if (self->n_events >= self->cap) {
        PyObject *result = PyObject_CallFunction(
            self->past_cap, "LdLLL", generation, pause, collected, uncollectable,
            self->pending_slot);
        Py_XDECREF(result);
        return result == NULL ? -1 : 0;
    }
    if (self->n_events == self->capacity) {
        Py_ssize_t capacity = self->capacity ? self->capacity * 2 : 1024;
        if (capacity > self->cap) {
            capacity = self->cap;
        }
        double *grown = PyMem_Realloc(
            self->events, sizeof(double) * EVENT_FIELDS * (size_t)capacity);
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        self->events = grown;
        self->capacity = capacity;
    }
    double *row = self->events + EVENT_FIELDS * self->n_events;
    row[0] = self->pending_start; /* on the perf clock; the run's origin is taken off later */
    row[1] = (double)generation;
    row[2] = pause;
    row[3] = (double)collected;
    row[4] = (double)uncollectable;
    row[5] = (double)self->pending_slot;
    self->n_events++;
    return 0;
}

static PyObject *
recorder_call(Recorder *self, PyObject *args, PyObject *kwargs)
{
    PyObject *phase, *info;
    if (kwargs != NULL || PyTuple_GET_SIZE(args) != 2) {
        count(self, 0);
        Py_RETURN_NONE;
    }
    phase = PyTuple_GET_ITEM(args, 0);
    info = PyTuple_GET_ITEM(args, 1);
    if (!PyUnicode_Check(phase) || !PyDict_Check(info)) {
        count(self, 0);
        Py_RETURN_NONE;
    }
    int status; /* the collector calls its callbacks with no exception set */
    if (PyUnicode_CompareWithASCIIString(phase, "start") == 0) {
        status = on_start(self);
    }
    else {
        status = on_stop(self, info);
    }
    if (status < 0) {
        absorb_error(self);
    }
    Py_RETURN_NONE;
}

/* the stored rows, as the bytes of an array('d') (EVENT_FIELDS per collection) */
static PyObject *
recorder_events(Recorder *self, PyObject *Py_UNUSED(ignored))
{
    return PyBytes_FromStringAndSize(
        (const char *)self->events, sizeof(double) * EVENT_FIELDS * self->n_events);
}

/* a forked child that is followed starts its own timeline: the parent's rows go */
static PyObject *
recorder_reset(Recorder *self, PyObject *Py_UNUSED(ignored))
{
    self->n_events = 0;
    Py_RETURN_NONE;
}

static int
recorder_init(Recorder *self, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {
        "code_index", "code_kind", "intern", "new_site", "past_cap", "defer_sigint",
        "forcing", "forced", "counters", "perf", "cap", NULL,
    };
    PyObject *code_index, *code_kind, *intern, *new_site, *past_cap, *defer_sigint;
    PyObject *forcing_flag, *forced, *counters, *perf;
    Py_ssize_t cap;
    if (!PyArg_ParseTupleAndKeywords(
            args, kwargs, "$O!O!OOOOO!OOOn", names, &PyDict_Type, &code_index,
            &PyByteArray_Type, &code_kind, &intern, &new_site, &past_cap, &defer_sigint,
            &PyByteArray_Type, &forcing_flag, &forced, &counters, &perf, &cap)) {
        return -1;
    }
    Py_XSETREF(self->code_index, Py_NewRef(code_index));
    Py_XSETREF(self->code_kind, Py_NewRef(code_kind));
    Py_XSETREF(self->intern, Py_NewRef(intern));
    Py_XSETREF(self->new_site, Py_NewRef(new_site));
    Py_XSETREF(self->past_cap, Py_NewRef(past_cap));
    Py_XSETREF(self->defer_sigint, Py_NewRef(defer_sigint));
    Py_XSETREF(self->forcing, Py_NewRef(forcing_flag));
    Py_XSETREF(self->forced, Py_NewRef(forced));
    Py_XSETREF(self->counters, Py_NewRef(counters));
    Py_XSETREF(self->perf, Py_NewRef(perf));
    self->cap = cap < 0 ? 0 : cap;
    return 0;
}

static int
recorder_traverse(Recorder *self, visitproc visit, void *arg)
{
    Py_VISIT(self->code_index);
    Py_VISIT(self->code_kind);
    Py_VISIT(self->intern);
    Py_VISIT(self->new_site);
    Py_VISIT(self->past_cap);
    Py_VISIT(self->defer_sigint);
    Py_VISIT(self->forcing);
    Py_VISIT(self->forced);
    Py_VISIT(self->counters);
    Py_VISIT(self->perf);
    return 0;
}

static int
recorder_clear(Recorder *self)
{
    Py_CLEAR(self->code_index);
    Py_CLEAR(self->code_kind);
    Py_CLEAR(self->intern);
    Py_CLEAR(self->new_site);
    Py_CLEAR(self->past_cap);
    Py_CLEAR(self->defer_sigint);
    Py_CLEAR(self->forcing);
    Py_CLEAR(self->forced);
    Py_CLEAR(self->counters);
    Py_CLEAR(self->perf);
    return 0;
}

static void
recorder_dealloc(Recorder *self)
{
    PyObject_GC_UnTrack(self);
    recorder_clear(self);
    PyMem_Free(self->events);
    PyMem_Free(self->sites);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef recorder_methods[] = {
    {"events", (PyCFunction)recorder_events, METH_NOARGS,
     "events() -> bytes\n\nThe stored timeline rows, as the bytes of an array('d')."},
    {"reset", (PyCFunction)recorder_reset, METH_NOARGS,
     "reset()\n\nForget the stored rows (a followed forked child starts its own timeline)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject RecorderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gcscope._gcrecorder.Recorder",
    .tp_doc = "The gc callback of `gcscope run`, recording into C buffers.",
    .tp_basicsize = sizeof(Recorder),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)recorder_init,
    .tp_dealloc = (destructor)recorder_dealloc,
    .tp_traverse = (traverseproc)recorder_traverse,
    .tp_clear = (inquiry)recorder_clear,
    .tp_call = (ternaryfunc)recorder_call,
    .tp_methods = recorder_methods,
};

static struct PyModuleDef recorder_module = {
    PyModuleDef_HEAD_INIT, "gcscope._gcrecorder", NULL, -1, NULL,
};

PyMODINIT_FUNC
PyInit__gcrecorder(void)
{
    if (PyType_Ready(&RecorderType) < 0) {
        return NULL;
    }
    key_generation = PyUnicode_InternFromString("generation");
    key_collected = PyUnicode_InternFromString("collected");
    key_uncollectable = PyUnicode_InternFromString("uncollectable");
    key_duration = PyUnicode_InternFromString("duration");
    if (!key_generation || !key_collected || !key_uncollectable || !key_duration) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&recorder_module);
    if (module == NULL) {
        return NULL;
    }
    Py_INCREF(&RecorderType);
    if (PyModule_AddObject(module, "Recorder", (PyObject *)&RecorderType) < 0) {
        Py_DECREF(&RecorderType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
