/* gcscope._gcrecorder: the gc callback of `gcscope run`, in C.
 *
 * gc.callbacks calls its callbacks twice per collection, inside the collector.
 * A Python callback costs ~20,000 instructions per collection on 3.10 (each
 * array store goes through PyArg_Parse, each call builds a frame); this one does
 * the same work in ~2,000: a walk up the program's stack to the trigger site,
 * two clock reads and one row of six numbers appended to a C buffer. It does what
 * the Python callback of gcscope/probes/gc_events.py does (without the harvest),
 * into the same Python-side tables, so everything after the run is shared. With --cycles
 * the harvest is a callback of its own (gcscope._gcharvest), just before this one: it
 * reports in `excluded` the seconds it spent analysing, which are not pause (its freeing
 * is). The Python callback remains for installs without a compiler (GCSCOPE_CALLBACK=python
 * selects it; the tests run both).
 *
 * Rules it keeps, as the Python one does: no locks; never raises (an error is
 * counted; a KeyboardInterrupt raised by the Python it calls on a first sight is
 * handed to `defer_sigint`, because CPython drops exceptions raised in callbacks);
 * the buffer is not a Python object, so the collector never traverses it. The buffers
 * come from the C heap (malloc), not from Python's allocators: they grow inside the
 * program's collections, where tracemalloc and the allocation sampler would put them
 * on the program's line (a 20,000-collection run's timeline is ~1 MB).
 *
 * Monitor mode (`enable_monitor`, for `gcscope.monitor()` and `gcscope run
 * --serve-metrics`): a long-running service must not run Python code per collection
 * (other threads would run, and allocate uncounted, while the collector holds its flag),
 * nor grow without bound. So "stop" writes the latest events into a fixed ring and adds
 * each collection to cumulative C tables: per generation (collections, collected,
 * uncollectable, pause sum and max), pause histograms (the exporters' buckets, with
 * per-bucket sums; and the 2%-wide buckets of gc_events.py, for percentiles), and per
 * trigger site (a bounded number of sites; every later new site is the "other" slot).
 * Python is called only on the first sight of a code object or a site (bounded too).
 * Readers (`monitor_state`) copy everything in one C call, under the GIL, before making
 * any object that could start a collection, so a snapshot is always consistent.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>
#include <stddef.h> /* offsetof */
#include <stdlib.h>
#include <stdint.h> /* uintptr_t */
#include <time.h> /* clock_gettime */

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
    PyCodeObject *code; /* NULL: empty; kept alive by the probe's `codes` list */
    Py_ssize_t index;
} CodeEntry;

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall; /* how the collector calls it: no argument tuple (below) */
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
    PyObject *excluded;     /* array('d', [0.0]) or None: the harvest's analysis seconds */
    Py_ssize_t cap; /* events kept in the timeline */
    double pending_start;
    long long pending_slot;
    double *events;
    Py_ssize_t n_events;
    Py_ssize_t capacity;
    SiteEntry *sites; /* open addressing, power-of-two size, at most half full */
    Py_ssize_t sites_size;
    Py_ssize_t sites_used;
    CodeEntry *codes; /* code object -> index, as code_index has it; same layout as sites */
    Py_ssize_t codes_size;
    Py_ssize_t codes_used;
    struct Monitor *monitor; /* NULL unless monitor mode is on */
} Recorder;

/* Monitor mode: fixed-size tables, allocated once by `enable_monitor`.
 *
 * ints:   MONITOR_GENERATIONS x [collections, collected, uncollectable]
 *         | MONITOR_GENERATIONS x (n_bounds + 1) bucket counts (the last: above every bound)
 *         | MONITOR_GENERATIONS x n_fine counts (the 2%-wide buckets)
 *         | (max_sites + 1) x MONITOR_GENERATIONS site collections (slot max_sites: "other")
 * floats: MONITOR_GENERATIONS x [pause sum, pause max]
 *         | MONITOR_GENERATIONS x (n_bounds + 1) bucket pause sums
 *         | (max_sites + 1) x [pause sum, pause max]
 * ring:   ring_size rows of EVENT_FIELDS; event number k (from 0) is row k % ring_size */
#define MONITOR_GENERATIONS 8
#define UNKNOWN_CODE (-2)

typedef struct Monitor {
    Py_ssize_t ring_size;
    long long recorded; /* events since monitoring began (or the last reset) */
    double *ring;
    Py_ssize_t n_bounds, n_fine, max_sites, max_codes;
    double *bounds, *fine_uppers;
    Py_ssize_t n_ints, n_floats;
    long long *ints;
    double *floats;
} Monitor;

static PyObject *key_generation, *key_collected, *key_uncollectable, *key_duration;

/* the first index whose upper bound holds `pause` (n: above all), as gc_events.hist_bucket */
static Py_ssize_t
bucket_of(const double *uppers, Py_ssize_t n, double pause)
{
    Py_ssize_t low = 0, high = n;
    while (low < high) {
        Py_ssize_t middle = (low + high) / 2;
        if (pause <= uppers[middle]) {
            high = middle;
        }
        else {
            low = middle + 1;
        }
    }
    return low;
}

/* monitor mode's "stop": one ring row and the cumulative tables; no Python, no allocation */
static int
monitor_record(
    Monitor *m, double start, long long generation, double pause, long long collected,
    long long uncollectable, long long slot)
{
    if (generation < 0 || generation >= MONITOR_GENERATIONS || slot < 0 || slot > m->max_sites) {
        PyErr_SetString(PyExc_ValueError, "generation or site out of range");
        return -1;
    }
    double *row = m->ring + EVENT_FIELDS * (m->recorded % m->ring_size);
    row[0] = start;
    row[1] = (double)generation;
    row[2] = pause;
    row[3] = (double)collected;
    row[4] = (double)uncollectable;
    row[5] = (double)slot;
    m->recorded++;
    long long *ints = m->ints;
    double *floats = m->floats;
    Py_ssize_t g = (Py_ssize_t)generation, buckets = m->n_bounds + 1;
    ints[g * 3] += 1;
    ints[g * 3 + 1] += collected;
    ints[g * 3 + 2] += uncollectable;
    floats[g * 2] += pause;
    if (pause > floats[g * 2 + 1]) {
        floats[g * 2 + 1] = pause;
    }
    Py_ssize_t bucket = bucket_of(m->bounds, m->n_bounds, pause);
    ints += MONITOR_GENERATIONS * 3;
    floats += MONITOR_GENERATIONS * 2;
    ints[g * buckets + bucket] += 1;
    floats[g * buckets + bucket] += pause;
    ints += MONITOR_GENERATIONS * buckets;
    floats += MONITOR_GENERATIONS * buckets;
    Py_ssize_t fine = bucket_of(m->fine_uppers, m->n_fine - 1, pause);
    ints[g * m->n_fine + fine] += 1;
    ints += MONITOR_GENERATIONS * m->n_fine;
    ints[slot * MONITOR_GENERATIONS + g] += 1;
    floats[slot * 2] += pause;
    if (pause > floats[slot * 2 + 1]) {
        floats[slot * 2 + 1] = pause;
    }
    return 0;
}

/* time.perf_counter(), the clock of the Python callback and of the run's origin; on
 * Linux that is CLOCK_MONOTONIC, read here directly (no call, no float object) */
static double
perf_seconds(Recorder *self)
{
#ifdef __linux__
    struct timespec clock_now;
    if (clock_gettime(CLOCK_MONOTONIC, &clock_now) == 0) {
        return (double)((long long)clock_now.tv_sec * 1000000000LL + clock_now.tv_nsec) / 1e9;
    }
#endif
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

/* An exception the program raised inside the callback: its signal handler ran while the
 * callback's Python helpers (`intern`, `new_site`) ran bytecode in the main thread, and
 * raised, say, SystemExit from `sys.exit()` in a SIGTERM handler. The collector would
 * print and drop it; python would have raised it in the program's own code. It is kept
 * here and raised again by a pending call, in the main thread, at the program's next
 * bytecode. The pending call is made as the callback returns (`schedule_deferred`),
 * not at once: the helper called again next would run it, inside gcscope's code. */
static PyObject *deferred_type, *deferred_value, *deferred_traceback;
static int deferred_scheduled;

static int
raise_deferred(void *Py_UNUSED(arg))
{
    if (deferred_type == NULL) {
        return 0;
    }
    PyErr_Restore(deferred_type, deferred_value, deferred_traceback); /* steals them */
    deferred_type = deferred_value = deferred_traceback = NULL;
    deferred_scheduled = 0;
    return -1;
}

static void
schedule_deferred(void)
{
    if (deferred_type == NULL || deferred_scheduled) {
        return;
    }
    if (Py_AddPendingCall(raise_deferred, NULL) < 0) {
        Py_CLEAR(deferred_type);
        Py_CLEAR(deferred_value);
        Py_CLEAR(deferred_traceback);
        return;
    }
    deferred_scheduled = 1;
}

/* `counted`: whether a failure of gcscope's own counts as a callback error here; a
 * start's does not, its stop counts the collection it could not record, once */
static void
absorb_error(Recorder *self, int counted)
{
    if (PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
        PyErr_Clear();
        PyObject *result = PyObject_CallNoArgs(self->defer_sigint);
        Py_XDECREF(result);
        PyErr_Clear();
        return;
    }
    if (!PyErr_ExceptionMatches(PyExc_Exception) && deferred_type == NULL) {
        /* SystemExit and its kind are never gcscope's own errors */
        PyErr_Fetch(&deferred_type, &deferred_value, &deferred_traceback);
        return; /* raised again once the callback returns: schedule_deferred */
    }
    PyErr_Clear();
    if (counted) {
        count(self, 0);
    }
}

/* Calls one of the Python helpers (`intern`, `new_site`). If the program's signal
 * handler ran inside it and raised (not an Exception: SystemExit, KeyboardInterrupt),
 * that exception is the program's and is kept for it (absorb_error), and the helper,
 * which an interruption leaves consistent (gcscope/probes/gc_events.py), is called
 * again: the collection keeps its site. */
static PyObject *
call_helper(Recorder *self, PyObject *helper, PyObject *const *args, size_t nargs)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        PyObject *result = PyObject_Vectorcall(helper, args, nargs, NULL);
        if (result != NULL || PyErr_ExceptionMatches(PyExc_Exception)) {
            return result;
        }
        absorb_error(self, 0);
    }
    return PyObject_Vectorcall(helper, args, nargs, NULL);
}

/* the interned index of a code object, or -1 with an exception set */
static Py_ssize_t
code_index_lookup(Recorder *self, PyCodeObject *code)
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
    if (self->monitor != NULL && PyDict_GET_SIZE(self->code_index) >= self->monitor->max_codes) {
        return UNKNOWN_CODE; /* the table is full: no more Python, no more kept code */
    }
    PyObject *code_arg = (PyObject *)code;
    PyObject *index = call_helper(self, self->intern, &code_arg, 1);
    if (index == NULL) {
        return -1;
    }
    Py_ssize_t value = PyLong_AsSsize_t(index);
    Py_DECREF(index);
    return value;
}

/* A C table in front of the probe's `code_index` dict: the lookup at every frame of
 * every walk makes no int object and no dict lookup (an index never changes, and the
 * probe's `codes` list keeps each code object, so its address, alive) */
static size_t
code_hash(PyCodeObject *code)
{
    unsigned long long h = (unsigned long long)(uintptr_t)code * 0x9E3779B97F4A7C15ULL;
    return (size_t)(h ^ (h >> 32));
}

static Py_ssize_t
code_cached(Recorder *self, PyCodeObject *code)
{
    if (self->codes_size == 0) {
        return -1;
    }
    size_t mask = (size_t)(self->codes_size - 1);
    for (size_t at = code_hash(code) & mask; self->codes[at].code != NULL; at = (at + 1) & mask) {
        if (self->codes[at].code == code) {
            return self->codes[at].index;
        }
    }
    return -1;
}

/* puts an entry into the first free slot of its probe sequence */
static void
code_place(CodeEntry *table, Py_ssize_t size, CodeEntry entry)
{
    size_t mask = (size_t)(size - 1);
    size_t at = code_hash(entry.code) & mask;
    while (table[at].code != NULL) {
        at = (at + 1) & mask;
    }
    table[at] = entry;
}

static void
code_remember(Recorder *self, PyCodeObject *code, Py_ssize_t index)
{
    if ((self->codes_used + 1) * 2 > self->codes_size) {
        Py_ssize_t size = self->codes_size ? self->codes_size * 2 : 256;
        CodeEntry *table = calloc((size_t)size, sizeof(CodeEntry));
        if (table == NULL) {
            return; /* only a cache: the dict still answers */
        }
        for (Py_ssize_t i = 0; i < self->codes_size; i++) {
            if (self->codes[i].code != NULL) {
                code_place(table, size, self->codes[i]);
            }
        }
        free(self->codes);
        self->codes = table;
        self->codes_size = size;
    }
    code_place(self->codes, self->codes_size, (CodeEntry){code, index});
    self->codes_used++;
}

static Py_ssize_t
code_index_of(Recorder *self, PyCodeObject *code)
{
    Py_ssize_t cached = code_cached(self, code);
    if (cached >= 0) {
        return cached;
    }
    Py_ssize_t index = code_index_lookup(self, code);
    if (index >= 0) {
        code_remember(self, code, index);
    }
    return index;
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
    SiteEntry *table = malloc(sizeof(SiteEntry) * (size_t)size);
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
    free(self->sites);
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
    if (self->monitor != NULL && self->sites_used >= self->monitor->max_sites) {
        return self->monitor->max_sites; /* "other": every site past the bound */
    }
    PyObject *keys[2] = {PyLong_FromLongLong(program_key), PyLong_FromLongLong(inner_key)};
    PyObject *slot_object = NULL;
    if (keys[0] != NULL && keys[1] != NULL) {
        slot_object = call_helper(self, self->new_site, keys, 2);
    }
    Py_XDECREF(keys[0]);
    Py_XDECREF(keys[1]);
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
    self->pending_slot = -1; /* until this start is recorded whole */
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
        if (index == UNKNOWN_CODE) {
            status = 1; /* monitor mode, code table full: the site is "other" */
            break;
        }
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
    if (status > 0) {
        self->pending_slot = self->monitor->max_sites;
        self->pending_start = perf_seconds(self);
        return 0;
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

/* the seconds the harvest (called just before us) spent analysing: not pause; reset to 0 */
static double
take_excluded(Recorder *self)
{
    double seconds = 0.0;
    if (self->excluded == NULL || self->excluded == Py_None) {
        return 0.0;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(self->excluded, &view, PyBUF_WRITABLE) == 0) {
        if (view.itemsize == 8 && view.len >= 8) {
            seconds = ((double *)view.buf)[0];
            ((double *)view.buf)[0] = 0.0;
        }
        PyBuffer_Release(&view);
    }
    else {
        PyErr_Clear();
    }
    return seconds;
}

/* "stop": read the clock first, then store one row of the timeline */
static int
on_stop(Recorder *self, PyObject *info)
{
    double end = perf_seconds(self);
    double excluded = take_excluded(self);
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
    if (self->pending_slot < 0) {
        /* no start recorded for this collection (the callback failed there, or was
         * installed between them): no row with a made-up pause; one callback error */
        count(self, 0);
        return 0;
    }
    double pause = end - self->pending_start - excluded;
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
    if (self->monitor != NULL) {
        return monitor_record(
            self->monitor, self->pending_start, generation, pause, collected, uncollectable,
            self->pending_slot);
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
        double *grown = realloc(
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

/* Called through vectorcall: a call through tp_call would build an argument tuple at
 * each phase, and right after a full collection (which empties the tuple free list,
 * 3.12) that tuple is a new GC allocation whose release to the free list never gives
 * the count back: the program's gen-0 count would start each period one higher than
 * under python, and bm_gc_collect made one gen-0 collection more per loop (162 against
 * 112 in 50 loops, 3.12). A bare function callback builds no tuple either. */
static PyObject *
recorder_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Recorder *self = (Recorder *)callable;
    PyObject *phase, *info;
    if (kwnames != NULL || PyVectorcall_NARGS(nargsf) != 2) {
        count(self, 0);
        Py_RETURN_NONE;
    }
    phase = args[0];
    info = args[1];
    if (!PyUnicode_Check(phase) || !PyDict_Check(info)) {
        count(self, 0);
        Py_RETURN_NONE;
    }
    int status; /* the collector calls its callbacks with no exception set */
    int stop = PyUnicode_CompareWithASCIIString(phase, "start") != 0;
    if (!stop) {
        status = on_start(self);
    }
    else {
        status = on_stop(self, info);
        self->pending_slot = -1; /* a stop is for one start */
    }
    if (status < 0) {
        absorb_error(self, stop);
    }
    schedule_deferred();
    Py_RETURN_NONE;
}

/* the stored rows, as the bytes of an array('d') (EVENT_FIELDS per collection) */
static PyObject *
recorder_events(Recorder *self, PyObject *Py_UNUSED(ignored))
{
    return PyBytes_FromStringAndSize(
        (const char *)self->events, sizeof(double) * EVENT_FIELDS * self->n_events);
}

static void
monitor_free(Monitor *m)
{
    if (m != NULL) {
        PyMem_Free(m->ring);
        PyMem_Free(m->bounds);
        PyMem_Free(m->fine_uppers);
        PyMem_Free(m->ints);
        PyMem_Free(m->floats);
        PyMem_Free(m);
    }
}

/* a sequence of floats, increasing, into a new C array; -1 with an exception set */
static Py_ssize_t
copy_bounds(PyObject *source, double **target)
{
    PyObject *items = PySequence_Fast(source, "bounds must be a sequence of floats");
    if (items == NULL) {
        return -1;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(items);
    *target = n > 0 ? PyMem_Calloc((size_t)n, sizeof(double)) : NULL;
    if (n == 0 || *target == NULL) {
        Py_DECREF(items);
        PyErr_SetString(n == 0 ? PyExc_ValueError : PyExc_MemoryError, "no bounds");
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        double value = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(items, i));
        if ((value == -1.0 && PyErr_Occurred()) || (i > 0 && value <= (*target)[i - 1])) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_ValueError, "bounds must increase");
            }
            Py_DECREF(items);
            return -1;
        }
        (*target)[i] = value;
    }
    Py_DECREF(items);
    return n;
}

static PyObject *
recorder_enable_monitor(Recorder *self, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"ring", "bounds", "fine_uppers", "max_sites", "max_codes", NULL};
    Py_ssize_t ring, max_sites, max_codes;
    PyObject *bounds, *fine_uppers;
    if (!PyArg_ParseTupleAndKeywords(
            args, kwargs, "$nOOnn", names, &ring, &bounds, &fine_uppers, &max_sites,
            &max_codes)) {
        return NULL;
    }
    if (self->monitor != NULL || self->n_events > 0) {
        PyErr_SetString(PyExc_RuntimeError, "monitor mode is set once, before recording");
        return NULL;
    }
    if (ring < 1 || max_sites < 0 || max_codes < 0) {
        PyErr_SetString(PyExc_ValueError, "ring must be positive, bounds non-negative");
        return NULL;
    }
    Monitor *m = PyMem_Calloc(1, sizeof(Monitor));
    if (m == NULL) {
        return PyErr_NoMemory();
    }
    m->ring_size = ring;
    m->max_sites = max_sites;
    m->max_codes = max_codes;
    if ((m->n_bounds = copy_bounds(bounds, &m->bounds)) < 0
        || (m->n_fine = copy_bounds(fine_uppers, &m->fine_uppers)) < 0) {
        monitor_free(m);
        return NULL;
    }
    Py_ssize_t buckets = m->n_bounds + 1;
    m->n_ints = MONITOR_GENERATIONS * (3 + buckets + m->n_fine)
                + (max_sites + 1) * MONITOR_GENERATIONS;
    m->n_floats = MONITOR_GENERATIONS * (2 + buckets) + (max_sites + 1) * 2;
    m->ring = PyMem_Calloc((size_t)ring * EVENT_FIELDS, sizeof(double));
    m->ints = PyMem_Calloc((size_t)m->n_ints, sizeof(long long));
    m->floats = PyMem_Calloc((size_t)m->n_floats, sizeof(double));
    if (m->ring == NULL || m->ints == NULL || m->floats == NULL) {
        monitor_free(m);
        return PyErr_NoMemory();
    }
    self->monitor = m;
    Py_RETURN_NONE;
}

/* (recorded, first, ints, floats, ring): the tables as bytes of array('q')/array('d'), and
 * the ring's events numbered from `first` (the oldest kept, or `since` if later) on */
static PyObject *
recorder_monitor_state(Recorder *self, PyObject *args)
{
    long long since = 0;
    if (!PyArg_ParseTuple(args, "|L", &since)) {
        return NULL;
    }
    Monitor *m = self->monitor;
    if (m == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "monitor mode is off");
        return NULL;
    }
    /* bytes objects are not tracked by the collector: making them cannot start a
     * collection, so nothing changes the tables between here and the copies */
    long long recorded = m->recorded;
    long long first = recorded - m->ring_size;
    if (first < since) {
        first = since;
    }
    if (first < 0) {
        first = 0;
    }
    if (first > recorded) {
        first = recorded;
    }
    Py_ssize_t rows = (Py_ssize_t)(recorded - first);
    PyObject *ints = PyBytes_FromStringAndSize(NULL, m->n_ints * (Py_ssize_t)sizeof(long long));
    PyObject *floats = PyBytes_FromStringAndSize(NULL, m->n_floats * (Py_ssize_t)sizeof(double));
    PyObject *ring = PyBytes_FromStringAndSize(
        NULL, rows * EVENT_FIELDS * (Py_ssize_t)sizeof(double));
    if (ints == NULL || floats == NULL || ring == NULL) {
        Py_XDECREF(ints);
        Py_XDECREF(floats);
        Py_XDECREF(ring);
        return NULL;
    }
    memcpy(PyBytes_AS_STRING(ints), m->ints, sizeof(long long) * (size_t)m->n_ints);
    memcpy(PyBytes_AS_STRING(floats), m->floats, sizeof(double) * (size_t)m->n_floats);
    double *out = (double *)PyBytes_AS_STRING(ring);
    for (long long k = first; k < recorded; k++) {
        memcpy(out, m->ring + EVENT_FIELDS * (k % m->ring_size), sizeof(double) * EVENT_FIELDS);
        out += EVENT_FIELDS;
    }
    return Py_BuildValue("LLNNN", recorded, first, ints, floats, ring);
}

/* zero the tables and the ring (a forked worker starts its own figures) */
static PyObject *
recorder_monitor_reset(Recorder *self, PyObject *Py_UNUSED(ignored))
{
    Monitor *m = self->monitor;
    if (m != NULL) {
        m->recorded = 0;
        memset(m->ints, 0, sizeof(long long) * (size_t)m->n_ints);
        memset(m->floats, 0, sizeof(double) * (size_t)m->n_floats);
    }
    Py_RETURN_NONE;
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
    self->vectorcall = recorder_vectorcall;
    self->pending_slot = -1;
    static char *names[] = {
        "code_index", "code_kind", "intern", "new_site", "past_cap", "defer_sigint",
        "forcing", "forced", "counters", "perf", "cap", "excluded", NULL,
    };
    PyObject *code_index, *code_kind, *intern, *new_site, *past_cap, *defer_sigint;
    PyObject *forcing_flag, *forced, *counters, *perf, *excluded = Py_None;
    Py_ssize_t cap;
    if (!PyArg_ParseTupleAndKeywords(
            args, kwargs, "$O!O!OOOOO!OOOnO", names, &PyDict_Type, &code_index,
            &PyByteArray_Type, &code_kind, &intern, &new_site, &past_cap, &defer_sigint,
            &PyByteArray_Type, &forcing_flag, &forced, &counters, &perf, &cap, &excluded)) {
        return -1;
    }
    Py_XSETREF(self->excluded, Py_NewRef(excluded));
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
    Py_VISIT(self->excluded);
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
    Py_CLEAR(self->excluded);
    return 0;
}

static void
recorder_dealloc(Recorder *self)
{
    PyObject_GC_UnTrack(self);
    recorder_clear(self);
    free(self->events);
    free(self->sites);
    free(self->codes);
    monitor_free(self->monitor);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef recorder_methods[] = {
    {"events", (PyCFunction)recorder_events, METH_NOARGS,
     "events() -> bytes\n\nThe stored timeline rows, as the bytes of an array('d')."},
    {"enable_monitor", (PyCFunction)(void (*)(void))recorder_enable_monitor,
     METH_VARARGS | METH_KEYWORDS,
     "enable_monitor(*, ring, bounds, fine_uppers, max_sites, max_codes)\n\n"
     "Monitor mode: a ring of the latest events and cumulative tables, all in C."},
    {"monitor_state", (PyCFunction)recorder_monitor_state, METH_VARARGS,
     "monitor_state(since=0) -> (recorded, first, ints, floats, ring)\n\n"
     "A consistent copy of monitor mode's tables, and the ring's events from `first`."},
    {"monitor_reset", (PyCFunction)recorder_monitor_reset, METH_NOARGS,
     "monitor_reset()\n\nZero monitor mode's tables and ring."},
    {"reset", (PyCFunction)recorder_reset, METH_NOARGS,
     "reset()\n\nForget the stored rows (a followed forked child starts its own timeline)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject RecorderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gcscope._gcrecorder.Recorder",
    .tp_doc = "The gc callback of `gcscope run`, recording into C buffers.",
    .tp_basicsize = sizeof(Recorder),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_vectorcall_offset = offsetof(Recorder, vectorcall),
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)recorder_init,
    .tp_dealloc = (destructor)recorder_dealloc,
    .tp_traverse = (traverseproc)recorder_traverse,
    .tp_clear = (inquiry)recorder_clear,
    .tp_call = PyVectorcall_Call,
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
