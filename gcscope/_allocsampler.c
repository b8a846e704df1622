/* gcscope._allocsampler: allocation sampling by bytes, for `--allocations=sampled`.
 *
 * tracemalloc records every block: a traceback lookup and a hash-table insert per
 * allocation, 3-12x a program's wall time. This samples instead, the way Go's heap
 * profiler and Datadog's memalloc do: the allocated bytes are a line, sample points
 * fall on it as a Poisson process with a mean of `sample_every` bytes between them,
 * and a block is sampled when a point falls inside it. That happens with probability
 * p = 1 - exp(-size / sample_every), so counting a sampled block as 1/p blocks of
 * size/p bytes is unbiased (Horvitz-Thompson), and its variance size^2 (1-p)/p^2 per
 * sample is known: the report gives every estimate with its interval.
 *
 * The cost of an unsampled allocation is one subtraction and a branch on top of the
 * allocator it wraps; a free is one multiplicative hash and, usually, one load that
 * finds an empty slot of the (small) table of live sampled blocks.
 *
 * Domains. PYMEM_DOMAIN_OBJ and PYMEM_DOMAIN_MEM are wrapped: every Python object,
 * list, dict, bytes and bytearray buffer is there, and CPython only calls them with
 * the GIL held, which is what makes the global countdown and tables below safe
 * without a lock. PYMEM_DOMAIN_RAW is left alone: it may be called without the GIL
 * (from any thread, before a thread state exists), so a raw hook would need its own
 * lock on every allocation and could not read the Python stack anyway (tracemalloc
 * takes the GIL there, which a hook running inside the GIL-release paths of the
 * interpreter must not do). Raw allocations are interpreter internals and buffers of
 * C libraries, not the Python lines a leak hunt looks for.
 *
 * Rules it keeps: the hooks never allocate through Python's allocators, never run
 * Python code, never take a lock and never raise (a sample that cannot be stored
 * is counted as dropped); the stack is read from the interpreter's frames in place
 * (no frame objects are created, unlike PyFrame_GetBack on 3.11+, which would
 * allocate, could start a collection inside an allocation on 3.11, and would bump
 * the collector's counts). Our own tables live in the C heap (malloc), which the
 * hooks do not see. A free-threaded build has no GIL to lean on: the module
 * refuses to load there and gcscope runs the exact mode instead.
 *
 * Removal. stop() restores the allocators it saved, if ours are still the ones
 * installed; blocks allocated through the hooks go back to the same allocators,
 * because the hooks only ever delegated to them. If something wrapped us after
 * start (the program started tracemalloc), we cannot unlink from the middle of a
 * chain: the hooks stay, as pure pass-through, for the rest of the process.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#ifndef _WIN32
#include <pthread.h>
#endif

#if PY_VERSION_HEX >= 0x030B0000
/* the interpreter's frame layout, to walk the stack without creating frame objects
 * (what tracemalloc does in CPython itself); these headers are installed with every
 * CPython 3.11+ and read here only through their static inline accessors */
#define Py_BUILD_CORE
#include <internal/pycore_frame.h>
#undef Py_BUILD_CORE
#else
#include <frameobject.h>
#endif

#define MAX_FRAMES 1000   /* gcscope run --frames accepts at most this */
#define MAX_WALK 4096     /* deeper stacks are taken as the program's (see classify) */
#define NO_SAMPLE INT64_MAX

typedef struct {
    PyObject *filename; /* strong reference, kept until reset() */
    int lineno;
} Frame;

typedef struct {
    size_t first; /* index of its innermost frame in `frames` */
    uint32_t depth;
    uint64_t hash;
} Traceback;

/* --- state: touched only with the GIL held (see "Domains" above) --- */
static PyMemAllocatorEx inner_mem, inner_obj; /* the allocators we wrap */
static int installed;     /* our hooks are in the allocator chain */
static int active;        /* sampling; 0 makes the hooks pure pass-through */
static int busy;          /* inside our own work: allocations are not sampled */
static int64_t countdown = NO_SAMPLE; /* bytes until the next sample point */
static double mean_interval = 1.0;    /* sample_every, in bytes */
static uint64_t rng_state = 1;
static uint32_t max_frames = 1;
static PyObject *own_prefix; /* gcscope's package folder: its frames are not the program's */
static PyObject *boundary;   /* the code object that runs the program (Runner.run), or NULL */

/* live sampled blocks: open addressing, linear probing, backward-shift deletion */
typedef struct {
    size_t size;
    uint32_t traceback;
} Live;
static uintptr_t *live_keys; /* 0: empty slot; keys apart from values: a probe is one load */
static Live *live_values;
static size_t live_mask, live_used;
static unsigned live_shift = 64;

/* interned tracebacks: the same stack is stored once and shared by its samples */
static Frame *frames;
static size_t frames_used, frames_capacity;
static Traceback *tracebacks;
static size_t tracebacks_used, tracebacks_capacity;
static uint32_t *intern_slots; /* traceback index + 1; 0: empty */
static size_t intern_mask;

static Frame walk_buffer[MAX_FRAMES];

/* counters, reported by stats() */
static unsigned long long samples_taken, samples_own, samples_dropped, samples_busy;
static unsigned long long samples_elsewhere; /* in subinterpreters, or with no thread state */

/* --- random sample distances --- */

static inline uint64_t
next_random(void)
{
    /* xorshift64*: quality enough for exponential gaps, and no lock, no allocation */
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static int64_t
next_interval(void)
{
    /* uniform in (0, 1], never 0: log(0) would be infinite */
    double uniform = ((double)(next_random() >> 11) + 1.0) * (1.0 / 9007199254740992.0);
    double gap = -log(uniform) * mean_interval;
    if (gap < 1.0) {
        return 1;
    }
    if (gap > 9.0e18) {
        return NO_SAMPLE;
    }
    return (int64_t)gap;
}

/* --- the live table --- */

static inline size_t
live_home(uintptr_t key)
{
    /* blocks are 16-byte aligned: drop those bits, then Fibonacci hashing */
    return (size_t)((((uint64_t)key >> 4) * 0x9E3779B97F4A7C15ULL) >> live_shift);
}

static int
live_resize(size_t slots)
{
    uintptr_t *keys = calloc(slots, sizeof(uintptr_t));
    Live *values = malloc(slots * sizeof(Live));
    if (keys == NULL || values == NULL) {
        free(keys);
        free(values);
        return -1;
    }
    uintptr_t *old_keys = live_keys;
    Live *old_values = live_values;
    size_t old_slots = live_keys ? live_mask + 1 : 0;
    unsigned bits = 0;
    while (((size_t)1 << bits) < slots) {
        bits++;
    }
    live_keys = keys;
    live_values = values;
    live_mask = slots - 1;
    live_shift = 64 - bits;
    for (size_t i = 0; i < old_slots; i++) {
        if (old_keys[i] != 0) {
            size_t at = live_home(old_keys[i]);
            while (live_keys[at] != 0) {
                at = (at + 1) & live_mask;
            }
            live_keys[at] = old_keys[i];
            live_values[at] = old_values[i];
        }
    }
    free(old_keys);
    free(old_values);
    return 0;
}

static int
live_insert(uintptr_t key, size_t size, uint32_t traceback)
{
    if (live_keys == NULL || (live_used + 1) * 2 > live_mask + 1) {
        if (live_resize(live_keys == NULL ? 1024 : (live_mask + 1) * 2) < 0) {
            return -1;
        }
    }
    size_t at = live_home(key);
    while (live_keys[at] != 0 && live_keys[at] != key) {
        at = (at + 1) & live_mask;
    }
    if (live_keys[at] == 0) {
        live_used++;
    }
    live_keys[at] = key;
    live_values[at].size = size;
    live_values[at].traceback = traceback;
    return 0;
}

/* called on every free and realloc while anything is tracked: keep it short */
static inline void
live_forget(uintptr_t key)
{
    size_t at = live_home(key);
    for (;;) {
        uintptr_t found = live_keys[at];
        if (found == key) {
            break;
        }
        if (found == 0) {
            return; /* the common case: not a sampled block */
        }
        at = (at + 1) & live_mask;
    }
    live_used--;
    /* backward-shift deletion: no tombstones, so lookups stay short forever */
    size_t hole = at;
    size_t next = at;
    for (;;) {
        next = (next + 1) & live_mask;
        uintptr_t moving = live_keys[next];
        if (moving == 0) {
            break;
        }
        size_t home = live_home(moving);
        /* move it into the hole unless its home lies cyclically in (hole, next] */
        int stays = hole <= next ? (hole < home && home <= next)
                                 : (hole < home || home <= next);
        if (!stays) {
            live_keys[hole] = moving;
            live_values[hole] = live_values[next];
            hole = next;
        }
    }
    live_keys[hole] = 0;
}

/* --- tracebacks --- */

static uint64_t
frames_hash(const Frame *walk, uint32_t depth)
{
    uint64_t h = 0xCBF29CE484222325ULL ^ depth;
    for (uint32_t i = 0; i < depth; i++) {
        h = (h ^ (uint64_t)(uintptr_t)walk[i].filename) * 0x100000001B3ULL;
        h = (h ^ (uint64_t)(uint32_t)walk[i].lineno) * 0x100000001B3ULL;
    }
    return h ^ (h >> 31);
}

static int
same_frames(const Frame *stored, const Frame *walk, uint32_t depth)
{
    /* field by field: memcmp would compare the struct's padding too */
    for (uint32_t i = 0; i < depth; i++) {
        if (stored[i].filename != walk[i].filename || stored[i].lineno != walk[i].lineno) {
            return 0;
        }
    }
    return 1;
}

static int
intern_resize(size_t slots)
{
    uint32_t *table = calloc(slots, sizeof(uint32_t));
    if (table == NULL) {
        return -1;
    }
    for (size_t i = 0; i < tracebacks_used; i++) {
        size_t at = (size_t)tracebacks[i].hash & (slots - 1);
        while (table[at] != 0) {
            at = (at + 1) & (slots - 1);
        }
        table[at] = (uint32_t)(i + 1);
    }
    free(intern_slots);
    intern_slots = table;
    intern_mask = slots - 1;
    return 0;
}

static int
grow(void **array, size_t *capacity, size_t needed, size_t item)
{
    if (needed <= *capacity) {
        return 0;
    }
    size_t wanted = *capacity ? *capacity : 256;
    while (wanted < needed) {
        wanted *= 2;
    }
    void *grown = realloc(*array, wanted * item);
    if (grown == NULL) {
        return -1;
    }
    *array = grown;
    *capacity = wanted;
    return 0;
}

/* the index of this stack's traceback, stored on its first sight; -1 when out of memory */
static int64_t
intern_traceback(const Frame *walk, uint32_t depth)
{
    uint64_t hash = frames_hash(walk, depth);
    if (intern_slots != NULL) {
        size_t at = (size_t)hash & intern_mask;
        while (intern_slots[at] != 0) {
            Traceback *known = &tracebacks[intern_slots[at] - 1];
            if (known->hash == hash && known->depth == depth
                && same_frames(&frames[known->first], walk, depth)) {
                return intern_slots[at] - 1;
            }
            at = (at + 1) & intern_mask;
        }
    }
    if (tracebacks_used >= UINT32_MAX - 1) {
        return -1;
    }
    if ((intern_slots == NULL || (tracebacks_used + 1) * 2 > intern_mask + 1)
        && intern_resize(intern_slots == NULL ? 256 : (intern_mask + 1) * 2) < 0) {
        return -1;
    }
    if (grow((void **)&frames, &frames_capacity, frames_used + depth, sizeof(Frame)) < 0
        || grow((void **)&tracebacks, &tracebacks_capacity, tracebacks_used + 1,
                sizeof(Traceback)) < 0) {
        return -1;
    }
    for (uint32_t i = 0; i < depth; i++) {
        Py_INCREF(walk[i].filename); /* a reference count only: no allocation */
        frames[frames_used + i] = walk[i];
    }
    Traceback *added = &tracebacks[tracebacks_used];
    added->first = frames_used;
    added->depth = depth;
    added->hash = hash;
    frames_used += depth;
    size_t at = (size_t)hash & intern_mask;
    while (intern_slots[at] != 0) {
        at = (at + 1) & intern_mask;
    }
    intern_slots[at] = (uint32_t)(tracebacks_used + 1);
    return (int64_t)tracebacks_used++;
}

/* --- reading the stack in place --- */

static inline int
is_own(PyCodeObject *code)
{
    return own_prefix != NULL
        && PyUnicode_Tailmatch(code->co_filename, own_prefix, 0, PY_SSIZE_T_MAX, -1) == 1;
}

/* Record the innermost `max_frames` frames into walk_buffer. Returns their number,
 * or -1 when the allocation is gcscope's own: walking outwards, the first gcscope
 * frame met is not the runner that executes the program (gcscope's snapshot, its
 * sampling threads, its start-up and report). The whole stack is classified, not
 * only the kept frames: a stdlib line called by gcscope is gcscope's allocation. */
static int
walk_stack(PyThreadState *tstate)
{
    uint32_t depth = 0;
    int walked = 0;
#if PY_VERSION_HEX >= 0x030B0000
#if PY_VERSION_HEX >= 0x030D0000
    _PyInterpreterFrame *frame = tstate->current_frame;
#else
    _PyInterpreterFrame *frame = tstate->cframe ? tstate->cframe->current_frame : NULL;
#endif
    for (; frame != NULL && walked < MAX_WALK; frame = frame->previous) {
        if (_PyFrame_IsIncomplete(frame)) { /* shim frames, frames still being set up */
            continue;
        }
#if PY_VERSION_HEX >= 0x030D0000
        if (!PyCode_Check(frame->f_executable)) {
            continue;
        }
        PyCodeObject *code = (PyCodeObject *)frame->f_executable;
#else
        PyCodeObject *code = frame->f_code;
#endif
        walked++;
        if ((PyObject *)code == boundary) {
            break; /* the program's outermost frame was the one before */
        }
        if (is_own(code)) {
            return -1;
        }
        if (depth < max_frames) {
            int lineno = PyCode_Addr2Line(
                code, _PyInterpreterFrame_LASTI(frame) * (int)sizeof(_Py_CODEUNIT));
            walk_buffer[depth].filename = code->co_filename;
            walk_buffer[depth].lineno = lineno < 0 ? 0 : lineno;
            depth++;
        }
    }
#else
    PyFrameObject *frame = tstate->frame;
    for (; frame != NULL && walked < MAX_WALK; frame = frame->f_back) {
        PyCodeObject *code = frame->f_code;
        walked++;
        if ((PyObject *)code == boundary) {
            break;
        }
        if (is_own(code)) {
            return -1;
        }
        if (depth < max_frames) {
            int lineno = PyFrame_GetLineNumber(frame); /* 3.10: no allocation */
            walk_buffer[depth].filename = code->co_filename;
            walk_buffer[depth].lineno = lineno < 0 ? 0 : lineno;
            depth++;
        }
    }
#endif
    return (int)depth;
}

/* --- the hooks --- */

static void
take_sample(void *ptr, size_t size)
{
    if (!active) {
        countdown = NO_SAMPLE;
        return;
    }
    countdown = next_interval(); /* memoryless: the next point lies beyond this block */
    if (busy) {
        samples_busy++;
        return;
    }
#if PY_VERSION_HEX >= 0x030D0000
    PyThreadState *tstate = PyThreadState_GetUnchecked();
#else
    PyThreadState *tstate = _PyThreadState_UncheckedGet();
#endif
    if (tstate == NULL || tstate->interp != PyInterpreterState_Main()) {
        /* a subinterpreter with its own GIL (3.12+) could run this concurrently with the
         * main interpreter: it is never sampled, so its frees only ever read the table
         * (a rare program; docs/allocations.md says what remains) */
        samples_elsewhere++;
        return;
    }
    busy = 1;
    int depth = walk_stack(tstate);
    if (depth < 0) {
        samples_own++;
    }
    else {
        int64_t traceback = intern_traceback(walk_buffer, (uint32_t)depth);
        if (traceback < 0 || live_insert((uintptr_t)ptr, size, (uint32_t)traceback) < 0) {
            samples_dropped++;
        }
        else {
            samples_taken++;
        }
    }
    busy = 0;
}

static inline void
note_allocation(void *ptr, size_t size)
{
    countdown -= (int64_t)size;
    if (countdown <= 0) {
        take_sample(ptr, size);
    }
}

static void *
hook_malloc(void *ctx, size_t size)
{
    PyMemAllocatorEx *inner = (PyMemAllocatorEx *)ctx;
    void *ptr = inner->malloc(inner->ctx, size);
    if (ptr != NULL) {
        note_allocation(ptr, size);
    }
    return ptr;
}

static void *
hook_calloc(void *ctx, size_t nelem, size_t elsize)
{
    PyMemAllocatorEx *inner = (PyMemAllocatorEx *)ctx;
    void *ptr = inner->calloc(inner->ctx, nelem, elsize);
    if (ptr != NULL) {
        note_allocation(ptr, nelem * elsize); /* no overflow: the allocation succeeded */
    }
    return ptr;
}

static void *
hook_realloc(void *ctx, void *ptr, size_t size)
{
    PyMemAllocatorEx *inner = (PyMemAllocatorEx *)ctx;
    void *moved = inner->realloc(inner->ctx, ptr, size);
    if (moved == NULL) {
        return NULL; /* the old block is untouched: it stays tracked if it was */
    }
    /* a resize is a free and a new block (as tracemalloc counts it, at the resizing
     * line): every live block then had its own fair chance of being sampled */
    if (ptr != NULL && live_used != 0) {
        live_forget((uintptr_t)ptr);
    }
    note_allocation(moved, size);
    return moved;
}

static void
hook_free(void *ctx, void *ptr)
{
    PyMemAllocatorEx *inner = (PyMemAllocatorEx *)ctx;
    if (ptr != NULL && live_used != 0) {
        live_forget((uintptr_t)ptr);
    }
    inner->free(inner->ctx, ptr);
}

static PyMemAllocatorEx hook_mem = {&inner_mem, hook_malloc, hook_calloc, hook_realloc,
                                    hook_free};
static PyMemAllocatorEx hook_obj = {&inner_obj, hook_malloc, hook_calloc, hook_realloc,
                                    hook_free};

static int
hooks_on_top(void)
{
    PyMemAllocatorEx mem, obj;
    PyMem_GetAllocator(PYMEM_DOMAIN_MEM, &mem);
    PyMem_GetAllocator(PYMEM_DOMAIN_OBJ, &obj);
    return mem.malloc == hook_malloc && mem.ctx == &inner_mem && obj.malloc == hook_malloc
        && obj.ctx == &inner_obj;
}

/* --- clearing --- */

static void
clear_tables(void)
{
    /* live_used first: a free reached from the decrefs below must not probe a table
     * that is being released */
    live_used = 0;
    free(live_keys);
    free(live_values);
    live_keys = NULL;
    live_values = NULL;
    live_mask = 0;
    live_shift = 64;
    Frame *old_frames = frames;
    size_t old_used = frames_used;
    frames = NULL;
    frames_used = frames_capacity = 0;
    free(tracebacks);
    tracebacks = NULL;
    tracebacks_used = tracebacks_capacity = 0;
    free(intern_slots);
    intern_slots = NULL;
    intern_mask = 0;
    for (size_t i = 0; i < old_used; i++) {
        Py_DECREF(old_frames[i].filename);
    }
    free(old_frames);
    samples_taken = samples_own = samples_dropped = samples_busy = samples_elsewhere = 0;
}

#ifndef _WIN32
static void
after_fork_in_child(void)
{
    /* a forked child is not the process being measured: pass-through from now on
     * (its copy of the tables is left as it is; nothing reads it) */
    active = 0;
    countdown = NO_SAMPLE;
    live_used = 0;
}
#endif

/* --- Python interface --- */

PyDoc_STRVAR(start_doc,
"start(sample_every, frames, seed, own_prefix, boundary=None)\n\n"
"Wrap the mem and object allocators and sample every `sample_every` bytes on average.\n"
"Frames under `own_prefix` are gcscope's; `boundary` is the code object that runs the\n"
"program (its caller's frames are not the program's).");

static PyObject *
sampler_start(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"sample_every", "frames", "seed", "own_prefix", "boundary", NULL};
    unsigned long long sample_every, seed;
    unsigned int frame_limit;
    PyObject *prefix, *runner_code = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "KIKU|O", names, &sample_every,
                                     &frame_limit, &seed, &prefix, &runner_code)) {
        return NULL;
    }
    if (sample_every < 1 || sample_every > (1ULL << 40)) {
        PyErr_SetString(PyExc_ValueError, "sample_every must be between 1 byte and 1 TiB");
        return NULL;
    }
    if (frame_limit < 1 || frame_limit > MAX_FRAMES) {
        PyErr_Format(PyExc_ValueError, "frames must be between 1 and %d", MAX_FRAMES);
        return NULL;
    }
    if (active) {
        PyErr_SetString(PyExc_RuntimeError, "the allocation sampler is already running");
        return NULL;
    }
    if (installed) {
        /* an earlier run's hooks are still wrapped by another hook (see stop): a second
         * pair in the same chain would count every block twice */
        PyErr_SetString(PyExc_RuntimeError,
                        "an earlier sampler is still wrapped by another allocator hook");
        return NULL;
    }
    clear_tables();
    Py_XSETREF(own_prefix, Py_NewRef(prefix));
    Py_XSETREF(boundary, runner_code == Py_None ? NULL : Py_NewRef(runner_code));
    max_frames = frame_limit;
    mean_interval = (double)sample_every;
    rng_state = seed ? seed : 0x9E3779B97F4A7C15ULL;
    countdown = next_interval();
    PyMem_GetAllocator(PYMEM_DOMAIN_MEM, &inner_mem);
    PyMem_GetAllocator(PYMEM_DOMAIN_OBJ, &inner_obj);
    PyMem_SetAllocator(PYMEM_DOMAIN_MEM, &hook_mem);
    PyMem_SetAllocator(PYMEM_DOMAIN_OBJ, &hook_obj);
    installed = 1;
    active = 1;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(stop_doc,
"stop() -> bool\n\n"
"Stop sampling and forget the samples. Restores the wrapped allocators when ours are\n"
"still on top and returns True; otherwise the hooks stay as pass-through (False).");

static PyObject *
sampler_stop(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    int removed = 0;
    active = 0;
    countdown = NO_SAMPLE;
    if (installed && hooks_on_top()) {
        PyMem_SetAllocator(PYMEM_DOMAIN_MEM, &inner_mem);
        PyMem_SetAllocator(PYMEM_DOMAIN_OBJ, &inner_obj);
        installed = 0;
        removed = 1;
    }
    clear_tables();
    Py_CLEAR(own_prefix);
    Py_CLEAR(boundary);
    return PyBool_FromLong(removed);
}

typedef struct {
    double size, count, variance;
    unsigned long long samples;
} Sum;

PyDoc_STRVAR(snapshot_doc,
"snapshot() -> list[tuple[tuple[tuple[str, int], ...], float, float, float, int]]\n\n"
"The live sampled blocks summed per traceback: (frames, estimated bytes, estimated\n"
"blocks, variance of the bytes estimate, samples). Frames are innermost first.");

static PyObject *
sampler_snapshot(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    /* sum first, into C memory, then build Python objects: building allocates, and a
     * collection it started could free tracked blocks, which edits the live table */
    size_t count = tracebacks_used;
    Sum *sums = calloc(count ? count : 1, sizeof(Sum));
    if (sums == NULL) {
        return PyErr_NoMemory();
    }
    busy++;
    for (size_t i = 0; live_keys != NULL && i <= live_mask; i++) {
        if (live_keys[i] == 0) {
            continue;
        }
        double size = (double)live_values[i].size;
        double p = -expm1(-size / mean_interval); /* chance this block had of a sample */
        Sum *sum = &sums[live_values[i].traceback];
        if (p <= 0.0) {
            continue; /* zero-byte blocks carry no sample points */
        }
        sum->size += size / p;
        sum->count += 1.0 / p;
        sum->variance += size * size * (1.0 - p) / (p * p);
        sum->samples++;
    }
    PyObject *result = PyList_New(0);
    for (size_t t = 0; result != NULL && t < count; t++) {
        if (sums[t].samples == 0) {
            continue;
        }
        Traceback *traceback = &tracebacks[t];
        PyObject *stack = PyTuple_New(traceback->depth);
        PyObject *row = NULL;
        if (stack != NULL) {
            for (uint32_t i = 0; i < traceback->depth; i++) {
                Frame *frame = &frames[traceback->first + i];
                PyObject *item = Py_BuildValue("(Oi)", frame->filename, frame->lineno);
                if (item == NULL) {
                    Py_CLEAR(stack);
                    break;
                }
                PyTuple_SET_ITEM(stack, i, item);
            }
        }
        if (stack != NULL) {
            row = Py_BuildValue("(NdddK)", stack, sums[t].size, sums[t].count,
                                sums[t].variance, sums[t].samples);
        }
        if (row == NULL || PyList_Append(result, row) < 0) {
            Py_XDECREF(row);
            Py_CLEAR(result);
            break;
        }
        Py_DECREF(row);
    }
    busy--;
    free(sums);
    return result;
}

PyDoc_STRVAR(stats_doc,
"stats() -> dict\n\n"
"Counters: samples kept, discarded as gcscope's own, skipped during gcscope's own\n"
"work, dropped for want of memory; live sampled blocks; distinct tracebacks; whether\n"
"the hooks are still the installed allocators.");

static PyObject *
sampler_stats(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    return Py_BuildValue(
        "{sKsKsKsKsKsnsnsisi}", "samples", samples_taken, "own", samples_own, "busy",
        samples_busy, "dropped", samples_dropped, "elsewhere", samples_elsewhere,
        "live", (Py_ssize_t)live_used,
        "tracebacks", (Py_ssize_t)tracebacks_used, "installed", installed,
        "on_top", installed && hooks_on_top());
}

static PyMethodDef sampler_methods[] = {
    {"start", (PyCFunction)(void (*)(void))sampler_start, METH_VARARGS | METH_KEYWORDS,
     start_doc},
    {"stop", sampler_stop, METH_NOARGS, stop_doc},
    {"snapshot", sampler_snapshot, METH_NOARGS, snapshot_doc},
    {"stats", sampler_stats, METH_NOARGS, stats_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef sampler_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "gcscope._allocsampler",
    .m_doc = "Allocation sampling by bytes (gcscope run --allocations=sampled).",
    .m_size = -1,
    .m_methods = sampler_methods,
};

PyMODINIT_FUNC
PyInit__allocsampler(void)
{
#ifdef Py_GIL_DISABLED
    /* the hooks rely on the GIL for their countdown and tables (see the top) */
    PyErr_SetString(PyExc_ImportError,
                    "gcscope._allocsampler needs the GIL; not available on free-threaded "
                    "builds");
    return NULL;
#else
#ifndef _WIN32
    static int fork_handler;
    if (!fork_handler && pthread_atfork(NULL, NULL, after_fork_in_child) == 0) {
        fork_handler = 1;
    }
#endif
    return PyModule_Create(&sampler_module);
#endif
}
