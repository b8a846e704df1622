/* gcscope._gcharvest: the --cycles harvest, in C, inside the collection that found the garbage.
 *
 * With gc.DEBUG_SAVEALL the collector appends what it found unreachable to gc.garbage
 * instead of calling tp_clear on it. This object is a gc callback, first in line. At
 * "start" it notes where gc.garbage ends; at "stop" it takes the batch the collection
 * saved back out of gc.garbage and, before the collection is over:
 *
 *   - counts it exactly by type (names read off the type, never through the program's code);
 *   - finds its strongly connected components (Pearce's variant of Tarjan's algorithm over
 *     tp_traverse, restricted to the batch through a pointer hash table), so each cycle is
 *     counted whole, however large; a component's *signature* is its set of types and of
 *     type-to-type edges (up to multiplicity), so one pattern is one row whatever its size;
 *     objects in the batch that are in no cycle are "held by cycles";
 *   - keeps a few labelled example components per signature (attribute names, dict keys,
 *     indexes, read in C by identity: no __repr__, __eq__ or __getattr__ of the program's);
 *   - with tracemalloc on, finds every object's creation site;
 *   - then does what the collector would have done at that point: tp_clear on every object
 *     (holding a reference across the call), and releases the batch, which frees it.
 *
 * No Python bytecode runs in any of this. That matters: a Python callback lets other threads
 * run while the collector holds its `collecting` flag, and their allocations then never
 * trigger the collections they would have (four threads making pairs: a quarter of plain
 * Python's collections). The analysis time is written to `excluded` (an array('d')), which
 * the gc recorder subtracts from the pause; the freeing stays in it, as it belongs there.
 *
 * Its own tables live on the C heap (malloc, not PyMem): tracemalloc traces PyMem and would
 * charge them to whichever program line triggered the collection. Type names are copied as
 * C strings on first sight in each batch, so no type is kept alive by the harvest.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stddef.h> /* offsetof */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _WIN32
#include <windows.h>
#else
#include <time.h>
#endif

#define MAX_SIGNATURES 2000
#define EXAMPLES_PER_SHAPE 3
#define MAX_EXAMPLE_NODES 40
#define LABELS_PER_EDGE 3
#define MAX_LABEL 40
#define LABEL_CAP 128
#define NAME_CAP 320
#define DICT_LABEL_SCAN 1000000
#define NONE32 UINT32_MAX
#define FIRST_COMPONENT (UINT32_MAX - 1)
#define MAX_BATCH ((size_t)1 << 31)
#define GC_HEAD_SIZE (2 * sizeof(uintptr_t)) /* PyGC_Head, internal since 3.11 */

#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
#define PREHEADER_LOOKUP 1 /* 3.11: get_object_traceback misses managed-dict instances */
#else
#define PREHEADER_LOOKUP 0
#endif
/* Batch membership, 3.10 to 3.13: while the harvest analyses a batch (no Python code runs,
   no collection can start), each member's GC header holds its index, as the collector's
   own gc_refs do during a collection: `_gc_prev` is saved, replaced by the index, a 28-bit
   tag of the address and MEMBER_MARK (bit 2: never set in a real `_gc_prev`, as GC heads
   are 16-byte aligned and only bits 0-1 are flags), and restored before anything can walk
   the collector's lists. Finding whether a referent is a member then reads the cache line
   the referent is on anyway. Elsewhere, a pointer hash table does the same, slower. */
#if PY_VERSION_HEX >= 0x030A0000 && PY_VERSION_HEX < 0x030E0000 && !defined(Py_GIL_DISABLED)
#define HEADER_MARKS 1
#else
#define HEADER_MARKS 0
#endif
#define MEMBER_MARK ((uintptr_t)4)
#define GC_PREV_WORD(op) (((uintptr_t *)(op))[-1]) /* PyGC_Head {_gc_next, _gc_prev} */
#define NOT_MARKED UINTPTR_MAX

#ifndef Py_RELATIVE_OFFSET
#define Py_RELATIVE_OFFSET 8
#endif

/* ---------------------------------------------------------------- small containers */

typedef struct {
    uint32_t *data;
    size_t len, cap;
} Vec32;

typedef struct {
    uint64_t *data;
    size_t len, cap;
} Vec64;

static int
grow_to(void **data, size_t *cap, size_t need, size_t item)
{
    if (need <= *cap) {
        return 0;
    }
    size_t cap2 = *cap ? *cap : 64;
    while (cap2 < need) {
        cap2 *= 2;
    }
    void *grown = realloc(*data, cap2 * item);
    if (grown == NULL) {
        return -1;
    }
    *data = grown;
    *cap = cap2;
    return 0;
}

static inline int
vec32_push(Vec32 *v, uint32_t x)
{
    if (v->len == v->cap && grow_to((void **)&v->data, &v->cap, v->len + 1, sizeof(uint32_t)) < 0) {
        return -1;
    }
    v->data[v->len++] = x;
    return 0;
}

static inline int
vec64_push(Vec64 *v, uint64_t x)
{
    if (v->len == v->cap && grow_to((void **)&v->data, &v->cap, v->len + 1, sizeof(uint64_t)) < 0) {
        return -1;
    }
    v->data[v->len++] = x;
    return 0;
}

static inline uint64_t
mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static int
cmp32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static int
cmp64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* uint64 key -> int64 count, open addressing (key + 1 stored; 0 is empty) */
typedef struct {
    uint64_t *keys;
    int64_t *values;
    size_t cap, used;
} CountMap;

static int
countmap_add(CountMap *m, uint64_t key, int64_t by)
{
    if ((m->used + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        uint64_t *keys = calloc(cap, sizeof(uint64_t));
        int64_t *values = calloc(cap, sizeof(int64_t));
        if (keys == NULL || values == NULL) {
            free(keys);
            free(values);
            return -1;
        }
        for (size_t i = 0; i < m->cap; i++) {
            if (m->keys[i]) {
                size_t at = mix64(m->keys[i]) & (cap - 1);
                while (keys[at]) {
                    at = (at + 1) & (cap - 1);
                }
                keys[at] = m->keys[i];
                values[at] = m->values[i];
            }
        }
        free(m->keys);
        free(m->values);
        m->keys = keys;
        m->values = values;
        m->cap = cap;
    }
    key += 1;
    size_t mask = m->cap - 1, at = mix64(key) & mask;
    while (m->keys[at] && m->keys[at] != key) {
        at = (at + 1) & mask;
    }
    if (!m->keys[at]) {
        m->keys[at] = key;
        m->values[at] = 0;
        m->used++;
    }
    m->values[at] += by;
    return 0;
}

static void
countmap_free(CountMap *m)
{
    free(m->keys);
    free(m->values);
    memset(m, 0, sizeof(*m));
}

static double
now_seconds(void)
{
#ifdef _WIN32
    LARGE_INTEGER frequency, counter;
    QueryPerformanceFrequency(&frequency);
    QueryPerformanceCounter(&counter);
    return (double)counter.QuadPart / (double)frequency.QuadPart;
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
#endif
}

/* ---------------------------------------------------------------- the harvester's state */

typedef struct {
    uint32_t name;
    char *label;
    int64_t size;
} ExNode;

typedef struct {
    uint32_t source, target;
    char *label;
} ExEdge;

typedef struct {
    uint32_t node, count;
} ExCut;

typedef struct {
    uint32_t n_nodes, n_edges, n_cut;
    ExNode *nodes;
    ExEdge *edges;
    ExCut *cut;
    uint32_t component_size;
} Example;

typedef struct {
    uint32_t n_types, n_edges;
    uint32_t *types;  /* sorted name indices */
    uint64_t *edges;  /* sorted (source name << 32 | target name) */
    uint64_t hash;
    int64_t cycles, objects, min_size, max_size;
    int64_t *type_objects; /* aligned with types */
    char **labels;         /* n_edges * LABELS_PER_EDGE, NULL where none */
    uint8_t *labels_more;  /* n_edges: more labels seen than kept */
    Example examples[EXAMPLES_PER_SHAPE];
    uint32_t n_examples;
    uint32_t index; /* position in the harvester's list */
} Signature;

typedef struct {
    char *text;
    size_t len;
    uint64_t hash;
} Name;

typedef struct {
    PyObject *filename; /* strong reference: tracemalloc's interned file name */
    long lineno;
} Site;

typedef struct {
    PyTypeObject *type;
    uint32_t name;
} TypeSlot;

typedef struct {
    uint32_t v;
    uint8_t root, self;
    size_t begin, end, pos;
} Frame;

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall; /* how the collector calls it: no argument tuple */
    PyObject *garbage;      /* gc.garbage */
    PyObject *get_debug;    /* gc.get_debug */
    PyObject *traceback_of; /* _tracemalloc._get_object_traceback, or NULL */
    PyObject *excluded;     /* array('d', [0.0]): analysis seconds the pause must not include */
    int with_shapes, free, active, finishing, preheader, batch_sites;
    unsigned long finishing_thread;
    unsigned long *late_threads; /* the program's threads still running when it ended */
    Py_ssize_t n_late_threads;
    Py_ssize_t start_len, mark;
    /* names, and counts by name */
    Name *names;
    uint32_t n_names, cap_names;
    uint32_t *name_slots;
    size_t name_cap;
    int64_t *by_type, *uncollectable, *parked, *held, *in_cycles_by_type;
    int64_t total, harvests, unsaved, after_end_collections, after_end_objects;
    int64_t collections_seen, final_collections, in_cycles, cycles, analysed, errors;
    int64_t unsaved_objects;
    /* creation sites */
    Site *sites;
    uint32_t n_sites, cap_sites;
    uint32_t *site_slots;
    size_t site_cap;
    CountMap site_type; /* site << 32 | name -> objects */
    CountMap sig_site;  /* signature << 32 | site -> objects */
    int64_t sites_unknown;
    /* signatures */
    Signature **sigs;
    uint32_t n_sigs, cap_sigs;
    uint32_t *sig_slots;
    size_t sig_cap;
    int64_t other_cycles, other_objects, other_min, other_max;
    CountMap other_types;
    /* per-batch scratch */
    PyObject **items;
    size_t n_items, cap_items;
    uint32_t *item_name, *item_site, *rindex, *slots;
    size_t cap_item_arrays, slot_cap;
    uintptr_t *saved_prev; /* HEADER_MARKS: each member's `_gc_prev` while it is marked */
    int marked;
    TypeSlot *tcache;
    size_t tcache_cap, tcache_used;
    PyTypeObject *last_type; /* the type most recently named in this batch */
    uint32_t last_name;
    uint8_t *item_self; /* per member: it refers to itself */
    Signature *last_sig; /* the signature most recently found: cycles come in runs */
    Vec32 succ, stack, members, scratch, chosen;
    Vec64 pairs;
    Frame *frames;
    size_t n_frames, cap_frames;
    uint32_t next_component;
} Harvester;

static PyObject *key_module, *key_sizeof, *key_generation, *key_uncollectable, *key_collected;

/* ---------------------------------------------------------------- names */

static int
append_text(char *buf, size_t cap, size_t *len, const char *text, size_t n)
{
    if (*len + 1 >= cap) {
        return 0;
    }
    if (*len + n >= cap) {
        n = cap - 1 - *len;
    }
    memcpy(buf + *len, text, n);
    *len += n;
    buf[*len] = '\0';
    return 0;
}

/* append a str's UTF-8, truncated to `max_chars` characters; never runs Python code */
static void
append_str(char *buf, size_t cap, size_t *len, PyObject *text, Py_ssize_t max_chars)
{
    if (!PyUnicode_Check(text)) {
        return;
    }
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    int cut = max_chars >= 0 && length > max_chars;
    if (PyUnicode_IS_ASCII(text)) {
        size_t n = (size_t)(cut ? max_chars : length);
        append_text(buf, cap, len, (const char *)PyUnicode_DATA(text), n);
    }
    else {
        PyObject *part = cut ? PyUnicode_Substring(text, 0, max_chars) : Py_NewRef(text);
        PyObject *bytes = part ? PyUnicode_AsEncodedString(part, "utf-8", "replace") : NULL;
        Py_XDECREF(part);
        if (bytes == NULL) {
            PyErr_Clear();
            return;
        }
        size_t n = (size_t)PyBytes_GET_SIZE(bytes);
        if (*len + n >= cap) { /* keep whole UTF-8 sequences */
            n = cap - 1 - *len;
            while (n > 0 && (PyBytes_AS_STRING(bytes)[n] & 0xC0) == 0x80) {
                n--;
            }
        }
        append_text(buf, cap, len, PyBytes_AS_STRING(bytes), n);
        Py_DECREF(bytes);
    }
    if (cut) {
        append_text(buf, cap, len, "...", 3);
    }
}

static uint64_t
text_hash(const char *text, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ (unsigned char)text[i]) * 1099511628211ULL;
    }
    return h;
}

static int
grow_name_counts(Harvester *self, uint32_t cap)
{
    int64_t **arrays[] = {&self->by_type, &self->uncollectable, &self->parked, &self->held,
                          &self->in_cycles_by_type};
    for (size_t k = 0; k < sizeof(arrays) / sizeof(arrays[0]); k++) {
        int64_t *grown = realloc(*arrays[k], cap * sizeof(int64_t));
        if (grown == NULL) {
            return -1;
        }
        memset(grown + self->cap_names, 0, (cap - self->cap_names) * sizeof(int64_t));
        *arrays[k] = grown;
    }
    Name *names = realloc(self->names, cap * sizeof(Name));
    if (names == NULL) {
        return -1;
    }
    self->names = names;
    self->cap_names = cap;
    return 0;
}

static uint32_t
intern_name(Harvester *self, const char *text, size_t len)
{
    uint64_t hash = text_hash(text, len);
    if ((self->n_names + 1) * 2 > self->name_cap) {
        size_t cap = self->name_cap ? self->name_cap * 2 : 256;
        uint32_t *slots = calloc(cap, sizeof(uint32_t));
        if (slots == NULL) {
            return NONE32;
        }
        for (uint32_t i = 0; i < self->n_names; i++) {
            size_t at = self->names[i].hash & (cap - 1);
            while (slots[at]) {
                at = (at + 1) & (cap - 1);
            }
            slots[at] = i + 1;
        }
        free(self->name_slots);
        self->name_slots = slots;
        self->name_cap = cap;
    }
    size_t mask = self->name_cap - 1, at = hash & mask;
    while (self->name_slots[at]) {
        Name *name = &self->names[self->name_slots[at] - 1];
        if (name->hash == hash && name->len == len && memcmp(name->text, text, len) == 0) {
            return self->name_slots[at] - 1;
        }
        at = (at + 1) & mask;
    }
    if (self->n_names == self->cap_names
        && grow_name_counts(self, self->cap_names ? self->cap_names * 2 : 64) < 0) {
        return NONE32;
    }
    char *copy = malloc(len + 1);
    if (copy == NULL) {
        return NONE32;
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    uint32_t index = self->n_names++;
    self->names[index].text = copy;
    self->names[index].len = len;
    self->names[index].hash = hash;
    self->name_slots[at] = index + 1;
    return index;
}

/* `module.QualName`, as gcscope.probes.object_labels.type_name gives it, read in C */
static uint32_t
name_type(Harvester *self, PyTypeObject *type)
{
    char buf[NAME_CAP];
    size_t len = 0;
    buf[0] = '\0';
    if (type->tp_flags & Py_TPFLAGS_HEAPTYPE) {
        PyObject *module = NULL;
        if (type->tp_dict != NULL) {
            module = PyDict_GetItemWithError(type->tp_dict, key_module); /* borrowed */
            if (module == NULL) {
                PyErr_Clear();
            }
        }
        if (module != NULL && PyUnicode_Check(module)) {
            append_str(buf, sizeof(buf), &len, module, 150);
        }
        else {
            append_text(buf, sizeof(buf), &len, "builtins", 8);
        }
        append_text(buf, sizeof(buf), &len, ".", 1);
        PyObject *qualname = ((PyHeapTypeObject *)type)->ht_qualname;
        if (qualname != NULL && PyUnicode_Check(qualname)) {
            append_str(buf, sizeof(buf), &len, qualname, 150);
        }
        else {
            append_text(buf, sizeof(buf), &len, "?", 1);
        }
    }
    else {
        const char *tp_name = type->tp_name ? type->tp_name : "?";
        if (strrchr(tp_name, '.') == NULL) {
            append_text(buf, sizeof(buf), &len, "builtins.", 9);
        }
        append_text(buf, sizeof(buf), &len, tp_name, strlen(tp_name));
    }
    return intern_name(self, buf, len);
}

/* the name of an object's type, through this batch's cache (types are alive for the batch) */
static uint32_t
batch_name(Harvester *self, PyObject *op)
{
    PyTypeObject *type = Py_TYPE(op);
    if (type == self->last_type) {
        return self->last_name; /* garbage mostly comes in runs of one type */
    }
    if ((self->tcache_used + 1) * 2 > self->tcache_cap) {
        size_t cap = self->tcache_cap ? self->tcache_cap * 2 : 64;
        TypeSlot *slots = calloc(cap, sizeof(TypeSlot));
        if (slots == NULL) {
            return NONE32;
        }
        for (size_t i = 0; i < self->tcache_cap; i++) {
            if (self->tcache[i].type) {
                size_t at = mix64((uintptr_t)self->tcache[i].type) & (cap - 1);
                while (slots[at].type) {
                    at = (at + 1) & (cap - 1);
                }
                slots[at] = self->tcache[i];
            }
        }
        free(self->tcache);
        self->tcache = slots;
        self->tcache_cap = cap;
    }
    size_t mask = self->tcache_cap - 1, at = mix64((uintptr_t)type) & mask;
    while (self->tcache[at].type) {
        if (self->tcache[at].type == type) {
            self->last_type = type;
            self->last_name = self->tcache[at].name;
            return self->last_name;
        }
        at = (at + 1) & mask;
    }
    uint32_t name = name_type(self, type);
    if (name == NONE32) {
        return NONE32;
    }
    self->tcache[at].type = type;
    self->tcache[at].name = name;
    self->tcache_used++;
    self->last_type = type;
    self->last_name = name;
    return name;
}

static void
reset_type_cache(Harvester *self)
{
    self->last_type = NULL;
    if (self->tcache_used) {
        memset(self->tcache, 0, self->tcache_cap * sizeof(TypeSlot));
        self->tcache_used = 0;
    }
}

/* count objects by type name into `counts` (grown with the names) */
static int
count_names(Harvester *self, PyObject **objects, size_t n, int64_t **counts)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t name = batch_name(self, objects[i]);
        if (name == NONE32) {
            return -1;
        }
        (*counts)[name]++;
    }
    return 0;
}

/* ---------------------------------------------------------------- creation sites */

static uint32_t
intern_site(Harvester *self, PyObject *filename, long lineno)
{
    uint64_t hash = mix64((uintptr_t)filename ^ ((uint64_t)lineno * 0x9E3779B97F4A7C15ULL));
    if ((self->n_sites + 1) * 2 > self->site_cap) {
        size_t cap = self->site_cap ? self->site_cap * 2 : 256;
        uint32_t *slots = calloc(cap, sizeof(uint32_t));
        if (slots == NULL) {
            return NONE32;
        }
        for (uint32_t i = 0; i < self->n_sites; i++) {
            Site *site = &self->sites[i];
            uint64_t h = mix64((uintptr_t)site->filename
                               ^ ((uint64_t)site->lineno * 0x9E3779B97F4A7C15ULL));
            size_t at = h & (cap - 1);
            while (slots[at]) {
                at = (at + 1) & (cap - 1);
            }
            slots[at] = i + 1;
        }
        free(self->site_slots);
        self->site_slots = slots;
        self->site_cap = cap;
    }
    size_t mask = self->site_cap - 1, at = hash & mask;
    while (self->site_slots[at]) {
        Site *site = &self->sites[self->site_slots[at] - 1];
        if (site->filename == filename && site->lineno == lineno) {
            return self->site_slots[at] - 1;
        }
        at = (at + 1) & mask;
    }
    if (self->n_sites == self->cap_sites) {
        size_t cap = self->cap_sites;
        if (grow_to((void **)&self->sites, &cap, self->n_sites + 1, sizeof(Site)) < 0) {
            return NONE32;
        }
        self->cap_sites = (uint32_t)cap;
    }
    uint32_t index = self->n_sites++;
    self->sites[index].filename = Py_NewRef(filename);
    self->sites[index].lineno = lineno;
    self->site_slots[at] = index + 1;
    return index;
}

/* tracemalloc's frames for `op` (a new reference, or NULL): raw, most recent first */
static PyObject *
traceback_frames(Harvester *self, PyObject *op)
{
    PyObject *frames = PyObject_CallOneArg(self->traceback_of, op);
    if (frames == NULL) {
        PyErr_Clear();
        return NULL;
    }
#if PREHEADER_LOOKUP
    /* 3.11 (CPython gh-101430): the trace of a managed-dict instance is at its real block
       start, two pointers before the GC header that get_object_traceback subtracts */
    if (frames == Py_None && self->preheader
        && (Py_TYPE(op)->tp_flags & Py_TPFLAGS_MANAGED_DICT)) {
        Py_DECREF(frames);
        uintptr_t start = (uintptr_t)op - GC_HEAD_SIZE - 2 * sizeof(PyObject *);
        frames = _PyTraceMalloc_GetTraceback(0, start);
        if (frames == NULL) {
            PyErr_Clear();
            return NULL;
        }
    }
#endif
    return frames;
}

static uint32_t
site_of(Harvester *self, PyObject *op)
{
    PyObject *frames = traceback_frames(self, op);
    if (frames == NULL) {
        return NONE32;
    }
    uint32_t site = NONE32;
    if (PyTuple_Check(frames) && PyTuple_GET_SIZE(frames) > 0) {
        PyObject *frame = PyTuple_GET_ITEM(frames, 0);
        if (PyTuple_Check(frame) && PyTuple_GET_SIZE(frame) >= 2
            && PyUnicode_Check(PyTuple_GET_ITEM(frame, 0))) {
            long lineno = PyLong_AsLong(PyTuple_GET_ITEM(frame, 1));
            if (lineno == -1 && PyErr_Occurred()) {
                PyErr_Clear();
            }
            else {
                site = intern_site(self, PyTuple_GET_ITEM(frame, 0), lineno);
            }
        }
    }
    Py_DECREF(frames);
    return site;
}

/* ---------------------------------------------------------------- the batch: membership */

static inline size_t
pointer_hash(const void *p)
{
    return (size_t)mix64((uint64_t)(uintptr_t)p);
}

static inline uintptr_t
member_tag(PyObject *op)
{
    return (uintptr_t)(mix64((uint64_t)(uintptr_t)op) >> 36);
}

static inline int
tracked_gc_object(PyObject *op)
{
    PyTypeObject *type = Py_TYPE(op);
    return PyType_IS_GC(type) && (type->tp_is_gc == NULL || type->tp_is_gc(op))
           && PyObject_GC_IsTracked(op);
}

static inline uint32_t
member_index(Harvester *self, PyObject *op)
{
#if HEADER_MARKS
    PyTypeObject *type = Py_TYPE(op);
    if (!PyType_IS_GC(type) || (type->tp_is_gc != NULL && !type->tp_is_gc(op))) {
        return NONE32; /* only GC objects are ever saved, and only they have a header */
    }
    uintptr_t word = GC_PREV_WORD(op);
    if (!(word & MEMBER_MARK)) {
        return NONE32;
    }
    uint32_t i = (uint32_t)((word >> 4) & 0xFFFFFFFFu);
    return (i < self->n_items && (word >> 36) == member_tag(op)) ? i : NONE32;
#else
    if (!PyType_IS_GC(Py_TYPE(op))) {
        return NONE32; /* only GC objects are ever saved */
    }
    size_t mask = self->slot_cap - 1, at = pointer_hash(op) & mask;
    uint32_t slot;
    while ((slot = self->slots[at]) != 0) {
        if (self->items[slot - 1] == op) {
            return slot - 1;
        }
        at = (at + 1) & mask;
    }
    return NONE32;
#endif
}

/* put back every member's `_gc_prev` (HEADER_MARKS): before anything else may run */
static void
unmark_members(Harvester *self)
{
#if HEADER_MARKS
    if (!self->marked) {
        return;
    }
    for (size_t i = 0; i < self->n_items; i++) {
        if (self->saved_prev[i] != NOT_MARKED) {
            GC_PREV_WORD(self->items[i]) = self->saved_prev[i];
        }
    }
    self->marked = 0;
#else
    (void)self;
#endif
}

static int
build_membership(Harvester *self)
{
#if HEADER_MARKS
    for (size_t i = 0; i < self->n_items; i++) {
        PyObject *op = self->items[i];
        if (!tracked_gc_object(op)) {
            self->saved_prev[i] = NOT_MARKED; /* can be in no cycle: never a member */
            continue;
        }
        uintptr_t word = GC_PREV_WORD(op);
        if (word & MEMBER_MARK) { /* already marked: the same object twice. Give up. */
            for (size_t k = 0; k < i; k++) {
                if (self->saved_prev[k] != NOT_MARKED) {
                    GC_PREV_WORD(self->items[k]) = self->saved_prev[k];
                }
            }
            return -1;
        }
        self->saved_prev[i] = word;
        GC_PREV_WORD(op) = (member_tag(op) << 36) | ((uintptr_t)i << 4) | MEMBER_MARK;
    }
    self->marked = 1;
    return 0;
#else
    size_t cap = 64;
    while (cap < self->n_items * 2) {
        cap *= 2;
    }
    if (cap > self->slot_cap) {
        free(self->slots);
        self->slots = malloc(cap * sizeof(uint32_t));
        if (self->slots == NULL) {
            self->slot_cap = 0;
            return -1;
        }
        self->slot_cap = cap;
    }
    else {
        cap = self->slot_cap;
    }
    memset(self->slots, 0, cap * sizeof(uint32_t));
    for (size_t i = 0; i < self->n_items; i++) {
        size_t at = pointer_hash(self->items[i]) & (cap - 1);
        while (self->slots[at]) {
            at = (at + 1) & (cap - 1);
        }
        self->slots[at] = (uint32_t)i + 1;
    }
    return 0;
#endif
}

typedef struct {
    Harvester *harvester;
    Vec32 *out32;
    Vec64 *out64;
    uint32_t component; /* NONE32: any member of the batch */
    uint32_t source_name;
    int failed;
} Visit;

/* tp_traverse visitor: the batch members an object refers to (optionally: in one component) */
static int
visit_members(PyObject *op, void *arg)
{
    Visit *visit = (Visit *)arg;
    Harvester *self = visit->harvester;
    uint32_t j = member_index(self, op);
    if (j == NONE32 || (visit->component != NONE32 && self->rindex[j] != visit->component)) {
        return 0;
    }
    if (visit->out64 != NULL) {
        uint64_t pair = ((uint64_t)visit->source_name << 32) | self->item_name[j];
        if (vec64_push(visit->out64, pair) < 0) {
            visit->failed = 1;
        }
    }
    else if (vec32_push(visit->out32, j) < 0) {
        visit->failed = 1;
    }
    return 0;
}

static int
traverse_members(Harvester *self, uint32_t v, uint32_t component, Vec32 *out)
{
    PyObject *op = self->items[v];
    traverseproc traverse = Py_TYPE(op)->tp_traverse;
    if (traverse == NULL) {
        return 0;
    }
    Visit visit = {self, out, NULL, component, 0, 0};
    traverse(op, visit_members, &visit);
    return visit.failed ? -1 : 0;
}

/* ---------------------------------------------------------------- labels (examples only) */

static void
set_label(char *buf, const char *text)
{
    size_t len = 0;
    buf[0] = '\0';
    append_text(buf, LABEL_CAP, &len, text, strlen(text));
}

/* a dict key as objgraph labels it: the identifier itself, a bounded builtin repr, or its type */
static void
key_label(PyObject *key, char *buf)
{
    size_t len = 0;
    buf[0] = '\0';
    PyObject *shown = NULL;
    if (PyUnicode_CheckExact(key) && PyUnicode_IsIdentifier(key) == 1) {
        append_str(buf, LABEL_CAP, &len, key, MAX_LABEL);
        return;
    }
    PyErr_Clear();
    if (PyUnicode_CheckExact(key)) {
        PyObject *part = PyUnicode_Substring(key, 0, MAX_LABEL);
        shown = part ? PyObject_Repr(part) : NULL;
        Py_XDECREF(part);
    }
    else if (PyBytes_CheckExact(key)) {
        Py_ssize_t n = PyBytes_GET_SIZE(key) > MAX_LABEL ? MAX_LABEL : PyBytes_GET_SIZE(key);
        PyObject *part = PyBytes_FromStringAndSize(PyBytes_AS_STRING(key), n);
        shown = part ? PyObject_Repr(part) : NULL;
        Py_XDECREF(part);
    }
    else if (PyLong_CheckExact(key) || PyBool_Check(key)) {
        if (_PyLong_NumBits(key) <= 64) {
            shown = PyObject_Repr(key);
        }
    }
    else if (PyFloat_CheckExact(key) || key == Py_None) {
        shown = PyObject_Repr(key);
    }
    if (shown != NULL) {
        append_str(buf, LABEL_CAP, &len, shown, MAX_LABEL + 2);
        Py_DECREF(shown);
        return;
    }
    PyErr_Clear();
    const char *tp_name = Py_TYPE(key)->tp_name;
    const char *dot = strrchr(tp_name, '.');
    append_text(buf, LABEL_CAP, &len, "<", 1);
    dot = dot ? dot + 1 : tp_name;
    append_text(buf, LABEL_CAP, &len, dot, strlen(dot));
    append_text(buf, LABEL_CAP, &len, " key>", 5);
}

static int
dict_label(PyObject *dict, PyObject *target, char *buf)
{
    Py_ssize_t pos = 0, scanned = 0;
    PyObject *key, *value;
    while (scanned++ < DICT_LABEL_SCAN && PyDict_Next(dict, &pos, &key, &value)) {
        if (value == target) {
            key_label(key, buf);
            return 1;
        }
        if (key == target) {
            set_label(buf, "key");
            return 1;
        }
    }
    return 0;
}

/* the name of a member descriptor (__slots__ entry) of `source` that holds `target` */
static int
slot_label(PyObject *source, PyObject *target, char *buf)
{
    PyObject *mro = Py_TYPE(source)->tp_mro;
    if (mro == NULL || !PyTuple_Check(mro)) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(mro); i++) {
        PyTypeObject *base = (PyTypeObject *)PyTuple_GET_ITEM(mro, i);
        if (!PyType_Check(base) || !(base->tp_flags & Py_TPFLAGS_HEAPTYPE) || !base->tp_dict) {
            continue;
        }
        Py_ssize_t pos = 0;
        PyObject *key, *value;
        while (PyDict_Next(base->tp_dict, &pos, &key, &value)) {
            if (!Py_IS_TYPE(value, &PyMemberDescr_Type)) {
                continue;
            }
            PyMemberDef *member = ((PyMemberDescrObject *)value)->d_member;
            if ((member->type != T_OBJECT_EX && member->type != T_OBJECT)
                || (member->flags & Py_RELATIVE_OFFSET) || member->offset <= 0
                || (size_t)member->offset + sizeof(PyObject *) > (size_t)Py_TYPE(source)->tp_basicsize) {
                continue;
            }
            if (*(PyObject **)((char *)source + member->offset) == target) {
                size_t len = 0;
                buf[0] = '\0';
                append_text(buf, LABEL_CAP, &len, member->name,
                            strlen(member->name) > MAX_LABEL ? MAX_LABEL : strlen(member->name));
                return 1;
            }
        }
    }
    return 0;
}

#define FIELD_LABEL(field, text)          \
    if ((PyObject *)(field) == target) {  \
        set_label(buf, text);             \
        return;                           \
    }

/* objgraph's edge label for source -> target ("" when it has none), never calling the
   program's code. On 3.11+ reading an instance's attributes may materialise its __dict__:
   harmless on garbage that is cleared right after (the caller has traversed it already). */
static void
edge_label(PyObject *source, PyObject *target, char *buf)
{
    buf[0] = '\0';
    if (PyDict_Check(source)) {
        dict_label(source, target, buf);
        return;
    }
    if (PyList_Check(source) || PyTuple_Check(source)) {
        Py_ssize_t n = PyList_Check(source) ? PyList_GET_SIZE(source) : PyTuple_GET_SIZE(source);
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *item = PyList_Check(source) ? PyList_GET_ITEM(source, i)
                                                  : PyTuple_GET_ITEM(source, i);
            if (item == target) {
                snprintf(buf, LABEL_CAP, "[%zd]", i);
                return;
            }
        }
        return;
    }
    if (PyAnySet_Check(source)) {
        set_label(buf, "member");
        return;
    }
    if (PyType_Check(source)) {
        PyTypeObject *type = (PyTypeObject *)source;
        FIELD_LABEL(type->tp_dict, "__dict__");
        FIELD_LABEL(type->tp_mro, "__mro__");
        FIELD_LABEL(type->tp_bases, "__bases__");
        FIELD_LABEL(type->tp_base, "__base__");
        return;
    }
    if (PyMethod_Check(source)) {
        FIELD_LABEL(PyMethod_GET_SELF(source), "__self__");
        FIELD_LABEL(PyMethod_GET_FUNCTION(source), "__func__");
        return;
    }
    if (PyCell_Check(source)) {
        FIELD_LABEL(PyCell_GET(source), "cell_contents");
        return;
    }
    if (PyFunction_Check(source)) {
        PyFunctionObject *function = (PyFunctionObject *)source;
        FIELD_LABEL(function->func_globals, "__globals__");
        FIELD_LABEL(function->func_closure, "__closure__");
        FIELD_LABEL(function->func_defaults, "__defaults__");
        FIELD_LABEL(function->func_kwdefaults, "__kwdefaults__");
        FIELD_LABEL(function->func_dict, "__dict__");
        FIELD_LABEL(function->func_annotations, "__annotations__");
        FIELD_LABEL(function->func_module, "__module__");
        FIELD_LABEL(function->func_code, "__code__");
        return;
    }
    if (PyCFunction_Check(source)) {
        FIELD_LABEL(PyCFunction_GET_SELF(source), "__self__");
        return;
    }
    if (slot_label(source, target, buf)) {
        return;
    }
    PyTypeObject *type = Py_TYPE(source);
    int has_dict = type->tp_dictoffset != 0;
#if PY_VERSION_HEX >= 0x030B0000
    has_dict = has_dict || (type->tp_flags & Py_TPFLAGS_MANAGED_DICT);
#endif
    if (has_dict) {
        PyObject **dict_pointer = _PyObject_GetDictPtr(source);
        if (dict_pointer == NULL) {
            PyErr_Clear();
            return;
        }
        PyObject *dict = *dict_pointer;
        if (dict != NULL && dict == target) {
            set_label(buf, "__dict__");
            return;
        }
        if (dict != NULL && PyDict_Check(dict)) {
            Py_INCREF(dict);
            Py_ssize_t pos = 0, scanned = 0;
            PyObject *key, *value;
            while (scanned++ < DICT_LABEL_SCAN && PyDict_Next(dict, &pos, &key, &value)) {
                if (value == target && PyUnicode_Check(key)) {
                    size_t len = 0;
                    append_str(buf, LABEL_CAP, &len, key, MAX_LABEL);
                    break;
                }
            }
            Py_DECREF(dict);
        }
    }
}

static void
node_label(Harvester *self, PyObject *op, uint32_t name, char *buf)
{
    const char *text = self->names[name].text;
    const char *dot = strrchr(text, '.');
    size_t len = 0;
    dot = dot ? dot + 1 : text;
    buf[0] = '\0';
    append_text(buf, LABEL_CAP, &len, dot, strlen(dot) > 60 ? 60 : strlen(dot));
    Py_ssize_t n = -1;
    if (PyList_CheckExact(op)) {
        n = PyList_GET_SIZE(op);
    }
    else if (PyTuple_CheckExact(op)) {
        n = PyTuple_GET_SIZE(op);
    }
    else if (PyDict_CheckExact(op)) {
        n = PyDict_GET_SIZE(op);
    }
    else if (PyAnySet_CheckExact(op)) {
        n = PySet_GET_SIZE(op);
    }
    if (n >= 0) {
        char more[32];
        int written = snprintf(more, sizeof(more), " len=%zd", n);
        append_text(buf, LABEL_CAP, &len, more, (size_t)written);
    }
}

/* shallow size as sys.getsizeof gives it, but only through a C-level __sizeof__ */
static int64_t
node_size(PyObject *op)
{
    PyTypeObject *type = Py_TYPE(op);
    int64_t size = (int64_t)type->tp_basicsize;
    if (type->tp_itemsize) {
        Py_ssize_t n = Py_SIZE(op);
        size += (int64_t)(n < 0 ? -n : n) * (int64_t)type->tp_itemsize;
    }
    PyObject *method = _PyType_Lookup(type, key_sizeof); /* borrowed; no code runs */
    if (method != NULL && Py_IS_TYPE(method, &PyMethodDescr_Type)) {
        PyObject *result = PyObject_CallOneArg(method, op);
        if (result != NULL && PyLong_Check(result)) {
            long long value = PyLong_AsLongLong(result);
            if (value >= 0) {
                size = value;
            }
        }
        Py_XDECREF(result);
        PyErr_Clear();
    }
    if (PyType_IS_GC(type)) {
        size += GC_HEAD_SIZE;
    }
#if PY_VERSION_HEX >= 0x030B0000
    if (type->tp_flags & Py_TPFLAGS_MANAGED_DICT) {
        size += 2 * sizeof(PyObject *);
    }
#endif
    return size;
}

static char *
copy_label(const char *text)
{
    size_t n = strlen(text);
    char *copy = malloc(n + 1);
    if (copy != NULL) {
        memcpy(copy, text, n + 1);
    }
    return copy;
}

static void
example_free(Example *example)
{
    for (uint32_t i = 0; i < example->n_nodes; i++) {
        free(example->nodes[i].label);
    }
    for (uint32_t i = 0; i < example->n_edges; i++) {
        free(example->edges[i].label);
    }
    free(example->nodes);
    free(example->edges);
    free(example->cut);
    memset(example, 0, sizeof(*example));
}

static uint32_t
chosen_position(Vec32 *chosen, uint32_t v)
{
    for (size_t i = 0; i < chosen->len; i++) {
        if (chosen->data[i] == v) {
            return (uint32_t)i;
        }
    }
    return NONE32;
}

static int
signature_edge(Signature *sig, uint64_t pair)
{
    uint32_t lo = 0, hi = sig->n_edges;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (sig->edges[mid] < pair) {
            lo = mid + 1;
        }
        else {
            hi = mid;
        }
    }
    return (lo < sig->n_edges && sig->edges[lo] == pair) ? (int)lo : -1;
}

static void
remember_label(Signature *sig, uint64_t pair, const char *label)
{
    int edge = signature_edge(sig, pair);
    if (edge < 0 || label[0] == '\0') {
        return;
    }
    char **labels = sig->labels + (size_t)edge * LABELS_PER_EDGE;
    for (int k = 0; k < LABELS_PER_EDGE; k++) {
        if (labels[k] == NULL) {
            labels[k] = copy_label(label);
            return;
        }
        if (strcmp(labels[k], label) == 0) {
            return;
        }
    }
    sig->labels_more[edge] = 1;
}

/* a labelled picture of one component: whole when small, else a connected cut of it */
static int
build_example(Harvester *self, Signature *sig, Example *example, uint32_t *members,
              uint32_t size, uint32_t component)
{
    Vec32 *chosen = &self->chosen;
    Vec32 *targets = &self->scratch;
    chosen->len = 0;
    if (size <= MAX_EXAMPLE_NODES) {
        for (uint32_t i = 0; i < size; i++) {
            if (vec32_push(chosen, members[i]) < 0) {
                return -1;
            }
        }
    }
    else { /* breadth first from the component's root: a connected part */
        if (vec32_push(chosen, members[size - 1]) < 0) {
            return -1;
        }
        for (size_t head = 0; head < chosen->len && chosen->len < MAX_EXAMPLE_NODES; head++) {
            targets->len = 0;
            if (traverse_members(self, chosen->data[head], component, targets) < 0) {
                return -1;
            }
            for (size_t k = 0; k < targets->len && chosen->len < MAX_EXAMPLE_NODES; k++) {
                if (chosen_position(chosen, targets->data[k]) == NONE32
                    && vec32_push(chosen, targets->data[k]) < 0) {
                    return -1;
                }
            }
        }
    }
    memset(example, 0, sizeof(*example));
    example->component_size = size;
    example->nodes = calloc(chosen->len, sizeof(ExNode));
    example->cut = calloc(chosen->len, sizeof(ExCut));
    if (example->nodes == NULL || example->cut == NULL) {
        example_free(example);
        return -1;
    }
    char label[LABEL_CAP];
    size_t edge_cap = 0;
    for (size_t i = 0; i < chosen->len; i++) {
        uint32_t v = chosen->data[i];
        PyObject *source = self->items[v];
        ExNode *node = &example->nodes[example->n_nodes++];
        node->name = self->item_name[v];
        node_label(self, source, node->name, label);
        node->label = copy_label(label);
        node->size = node_size(source);
        targets->len = 0; /* referents first: labelling may materialise a __dict__ */
        if (traverse_members(self, v, component, targets) < 0) {
            example_free(example);
            return -1;
        }
        uint32_t outside = 0;
        for (size_t k = 0; k < targets->len; k++) {
            uint32_t t = targets->data[k];
            uint32_t position = chosen_position(chosen, t);
            if (position == NONE32) {
                outside++;
                continue;
            }
            edge_label(source, self->items[t], label);
            PyErr_Clear();
            int duplicate = 0;
            for (uint32_t e = 0; e < example->n_edges; e++) {
                ExEdge *seen = &example->edges[e];
                if (seen->source == i && seen->target == position
                    && strcmp(seen->label ? seen->label : "", label) == 0) {
                    duplicate = 1;
                    break;
                }
            }
            if (duplicate) {
                continue;
            }
            if (grow_to((void **)&example->edges, &edge_cap, example->n_edges + 1,
                        sizeof(ExEdge)) < 0) {
                example_free(example);
                return -1;
            }
            ExEdge *edge = &example->edges[example->n_edges++];
            edge->source = (uint32_t)i;
            edge->target = position;
            edge->label = copy_label(label);
            remember_label(sig, ((uint64_t)node->name << 32) | self->item_name[t], label);
        }
        if (outside) {
            example->cut[example->n_cut].node = (uint32_t)i;
            example->cut[example->n_cut].count = outside;
            example->n_cut++;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- signatures */

static void
signature_free(Signature *sig)
{
    if (sig == NULL) {
        return;
    }
    for (uint32_t i = 0; i < sig->n_examples; i++) {
        example_free(&sig->examples[i]);
    }
    if (sig->labels != NULL) {
        for (size_t i = 0; i < (size_t)sig->n_edges * LABELS_PER_EDGE; i++) {
            free(sig->labels[i]);
        }
    }
    free(sig->labels);
    free(sig->labels_more);
    free(sig->types);
    free(sig->edges);
    free(sig->type_objects);
    free(sig);
}

static uint64_t
signature_hash(uint32_t *types, uint32_t n_types, uint64_t *edges, uint32_t n_edges)
{
    uint64_t h = mix64(n_types * 31ULL + n_edges);
    for (uint32_t i = 0; i < n_types; i++) {
        h = mix64(h ^ types[i]);
    }
    for (uint32_t i = 0; i < n_edges; i++) {
        h = mix64(h ^ edges[i]);
    }
    return h;
}

static Signature *
find_signature(Harvester *self, uint32_t *types, uint32_t n_types, uint64_t *edges,
               uint32_t n_edges, int *full)
{
    Signature *last = self->last_sig;
    *full = 0;
    if (last != NULL && last->n_types == n_types && last->n_edges == n_edges
        && memcmp(last->types, types, n_types * sizeof(uint32_t)) == 0
        && memcmp(last->edges, edges, n_edges * sizeof(uint64_t)) == 0) {
        return last;
    }
    uint64_t hash = signature_hash(types, n_types, edges, n_edges);
    if ((self->n_sigs + 1) * 2 > self->sig_cap) {
        size_t cap = self->sig_cap ? self->sig_cap * 2 : 64;
        uint32_t *slots = calloc(cap, sizeof(uint32_t));
        if (slots == NULL) {
            return NULL;
        }
        for (uint32_t i = 0; i < self->n_sigs; i++) {
            size_t at = self->sigs[i]->hash & (cap - 1);
            while (slots[at]) {
                at = (at + 1) & (cap - 1);
            }
            slots[at] = i + 1;
        }
        free(self->sig_slots);
        self->sig_slots = slots;
        self->sig_cap = cap;
    }
    size_t mask = self->sig_cap - 1, at = hash & mask;
    while (self->sig_slots[at]) {
        Signature *sig = self->sigs[self->sig_slots[at] - 1];
        if (sig->hash == hash && sig->n_types == n_types && sig->n_edges == n_edges
            && memcmp(sig->types, types, n_types * sizeof(uint32_t)) == 0
            && memcmp(sig->edges, edges, n_edges * sizeof(uint64_t)) == 0) {
            self->last_sig = sig;
            return sig;
        }
        at = (at + 1) & mask;
    }
    if (self->n_sigs >= MAX_SIGNATURES) {
        *full = 1;
        return NULL;
    }
    if (self->n_sigs == self->cap_sigs) {
        size_t cap = self->cap_sigs;
        if (grow_to((void **)&self->sigs, &cap, self->n_sigs + 1, sizeof(Signature *)) < 0) {
            return NULL;
        }
        self->cap_sigs = (uint32_t)cap;
    }
    Signature *sig = calloc(1, sizeof(Signature));
    if (sig == NULL) {
        return NULL;
    }
    sig->n_types = n_types;
    sig->n_edges = n_edges;
    sig->hash = hash;
    sig->types = malloc((n_types ? n_types : 1) * sizeof(uint32_t));
    sig->edges = malloc((n_edges ? n_edges : 1) * sizeof(uint64_t));
    sig->type_objects = calloc(n_types ? n_types : 1, sizeof(int64_t));
    sig->labels = calloc((size_t)(n_edges ? n_edges : 1) * LABELS_PER_EDGE, sizeof(char *));
    sig->labels_more = calloc(n_edges ? n_edges : 1, 1);
    if (!sig->types || !sig->edges || !sig->type_objects || !sig->labels || !sig->labels_more) {
        signature_free(sig);
        return NULL;
    }
    memcpy(sig->types, types, n_types * sizeof(uint32_t));
    memcpy(sig->edges, edges, n_edges * sizeof(uint64_t));
    sig->min_size = INT64_MAX;
    sig->index = self->n_sigs;
    self->sigs[self->n_sigs] = sig;
    self->sig_slots[at] = ++self->n_sigs;
    self->last_sig = sig;
    return sig;
}

/* one strongly connected component of the batch: a cycle, or an object held by cycles */
static int
record_component(Harvester *self, uint32_t *members, uint32_t size, uint32_t component,
                 int self_loop)
{
    if (size == 1 && !self_loop) {
        self->held[self->item_name[members[0]]]++;
        return 0;
    }
    self->cycles++;
    self->in_cycles += size;
    /* its types, sorted, with how many members each */
    Vec32 *types = &self->scratch;
    types->len = 0;
    for (uint32_t i = 0; i < size; i++) {
        self->in_cycles_by_type[self->item_name[members[i]]]++;
        if (vec32_push(types, self->item_name[members[i]]) < 0) {
            return -1;
        }
    }
    if (size == 2 && types->data[0] > types->data[1]) {
        uint32_t first = types->data[0];
        types->data[0] = types->data[1];
        types->data[1] = first;
    }
    else if (size > 2) {
        qsort(types->data, types->len, sizeof(uint32_t), cmp32);
    }
    /* its type-to-type edges, sorted, without repeats */
    Vec64 *pairs = &self->pairs;
    pairs->len = 0;
    if (size <= 2) { /* known without looking: a pair refers both ways, and maybe to itself */
        uint32_t a = self->item_name[members[0]];
        uint32_t b = self->item_name[members[size - 1]];
        uint64_t edges[4];
        size_t n = 0;
        if (size == 1 || self->item_self[members[0]]) {
            edges[n++] = ((uint64_t)a << 32) | a;
        }
        if (size == 2) {
            edges[n++] = ((uint64_t)a << 32) | b;
            edges[n++] = ((uint64_t)b << 32) | a;
            if (self->item_self[members[1]]) {
                edges[n++] = ((uint64_t)b << 32) | b;
            }
        }
        for (size_t i = 1; i < n; i++) { /* insertion sort of at most four */
            for (size_t j = i; j > 0 && edges[j - 1] > edges[j]; j--) {
                uint64_t swap = edges[j];
                edges[j] = edges[j - 1];
                edges[j - 1] = swap;
            }
        }
        for (size_t i = 0; i < n; i++) {
            if (vec64_push(pairs, edges[i]) < 0) {
                return -1;
            }
        }
    }
    else {
        for (uint32_t i = 0; i < size; i++) {
            PyObject *op = self->items[members[i]];
            traverseproc traverse = Py_TYPE(op)->tp_traverse;
            if (traverse == NULL) {
                continue;
            }
            Visit visit = {self, NULL, pairs, component, self->item_name[members[i]], 0};
            traverse(op, visit_members, &visit);
            if (visit.failed) {
                return -1;
            }
        }
        qsort(pairs->data, pairs->len, sizeof(uint64_t), cmp64);
    }
    size_t n_edges = 0;
    for (size_t i = 0; i < pairs->len; i++) {
        if (n_edges == 0 || pairs->data[n_edges - 1] != pairs->data[i]) {
            pairs->data[n_edges++] = pairs->data[i];
        }
    }
    /* distinct types, counts kept apart in place: types->data[0..n_types), then counts */
    size_t n_types = 0;
    uint32_t counts_small[64];
    uint32_t *counts = types->len <= 64 ? counts_small : malloc(types->len * sizeof(uint32_t));
    if (counts == NULL) {
        return -1;
    }
    for (size_t i = 0; i < types->len; i++) {
        if (n_types == 0 || types->data[n_types - 1] != types->data[i]) {
            types->data[n_types] = types->data[i];
            counts[n_types++] = 1;
        }
        else {
            counts[n_types - 1]++;
        }
    }
    int full = 0;
    Signature *sig = find_signature(self, types->data, (uint32_t)n_types, pairs->data,
                                    (uint32_t)n_edges, &full);
    if (sig == NULL) {
        if (!full) {
            if (counts != counts_small) {
                free(counts);
            }
            return -1;
        }
        self->other_cycles++;
        self->other_objects += size;
        if (self->other_min == 0 || size < self->other_min) {
            self->other_min = size;
        }
        if (size > self->other_max) {
            self->other_max = size;
        }
        for (size_t i = 0; i < n_types; i++) {
            countmap_add(&self->other_types, types->data[i], counts[i]);
        }
        if (counts != counts_small) {
            free(counts);
        }
        return 0;
    }
    sig->cycles++;
    sig->objects += size;
    if (size < sig->min_size) {
        sig->min_size = size;
    }
    if (size > sig->max_size) {
        sig->max_size = size;
    }
    for (size_t i = 0; i < n_types; i++) {
        sig->type_objects[i] += counts[i];
    }
    if (counts != counts_small) {
        free(counts);
    }
    if (self->batch_sites) {
        for (uint32_t i = 0; i < size; i++) {
            uint32_t site = self->item_site[members[i]];
            if (site != NONE32) {
                countmap_add(&self->sig_site, ((uint64_t)sig->index << 32) | site, 1);
            }
        }
    }
    /* examples: the first few, then smaller ones in place of the largest kept */
    int slot = -1;
    if (sig->n_examples < EXAMPLES_PER_SHAPE) {
        slot = (int)sig->n_examples;
    }
    else {
        uint32_t largest = 0;
        for (uint32_t i = 1; i < sig->n_examples; i++) {
            if (sig->examples[i].component_size > sig->examples[largest].component_size) {
                largest = i;
            }
        }
        if (size < sig->examples[largest].component_size) {
            slot = (int)largest;
        }
    }
    if (slot >= 0) {
        Example example;
        if (build_example(self, sig, &example, members, size, component) == 0) {
            if ((uint32_t)slot < sig->n_examples) {
                example_free(&sig->examples[slot]);
            }
            else {
                sig->n_examples++;
            }
            sig->examples[slot] = example;
        }
        else {
            self->errors++;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- strongly connected components */

/* count a member by type (and creation site), once: when the search first reaches it */
static int
name_member(Harvester *self, uint32_t v)
{
    uint32_t name = batch_name(self, self->items[v]);
    if (name == NONE32) {
        return -1;
    }
    self->item_name[v] = name;
    self->by_type[name]++;
    if (self->batch_sites) {
        uint32_t site = site_of(self, self->items[v]);
        self->item_site[v] = site;
        if (site == NONE32) {
            self->sites_unknown++;
        }
        else {
            countmap_add(&self->site_type, ((uint64_t)site << 32) | name, 1);
        }
    }
    return 0;
}

static int
push_frame(Harvester *self, uint32_t v, uint32_t *index)
{
    if (self->n_frames == self->cap_frames
        && grow_to((void **)&self->frames, &self->cap_frames, self->n_frames + 1, sizeof(Frame))
               < 0) {
        return -1;
    }
    if (name_member(self, v) < 0) {
        return -1;
    }
    self->rindex[v] = (*index)++;
    self->item_self[v] = 0;
    Frame *frame = &self->frames[self->n_frames++];
    frame->v = v;
    frame->root = 1;
    frame->self = 0;
    frame->begin = self->succ.len;
    if (traverse_members(self, v, NONE32, &self->succ) < 0) {
        return -1;
    }
    frame = &self->frames[self->n_frames - 1];
    frame->pos = frame->begin;
    frame->end = self->succ.len;
    return 0;
}

/* Pearce's space-efficient variant of Tarjan's algorithm, iterative: rindex[v] is the
   visit order while v is open, then its component's number (counting down from the top of
   the uint32 range, always above any visit order, so finished components never lower one) */
static int
find_components(Harvester *self)
{
    size_t n = self->n_items;
    uint32_t index = 1;
    uint32_t component = FIRST_COMPONENT;
    memset(self->rindex, 0, n * sizeof(uint32_t));
    self->succ.len = self->stack.len = self->n_frames = 0;
    for (size_t start = 0; start < n; start++) {
        if (self->rindex[start]) {
            continue;
        }
        if (push_frame(self, (uint32_t)start, &index) < 0) {
            return -1;
        }
        while (self->n_frames) {
            Frame *frame = &self->frames[self->n_frames - 1];
            if (frame->pos < frame->end) {
                uint32_t w = self->succ.data[frame->pos++];
                if (w == frame->v) {
                    frame->self = 1;
                    self->item_self[w] = 1;
                }
                else if (self->rindex[w] == 0) {
                    if (push_frame(self, w, &index) < 0) {
                        return -1;
                    }
                }
                else if (self->rindex[w] < self->rindex[frame->v]) {
                    self->rindex[frame->v] = self->rindex[w];
                    frame->root = 0;
                }
                continue;
            }
            uint32_t v = frame->v;
            int root = frame->root, self_loop = frame->self;
            self->succ.len = frame->begin;
            self->n_frames--;
            if (root) {
                size_t top = self->stack.len;
                while (self->stack.len
                       && self->rindex[v] <= self->rindex[self->stack.data[self->stack.len - 1]]) {
                    self->rindex[self->stack.data[--self->stack.len]] = component;
                }
                self->rindex[v] = component;
                /* the members: the popped part of the stack, then v itself just above it */
                if (grow_to((void **)&self->stack.data, &self->stack.cap, top + 1,
                            sizeof(uint32_t)) < 0) {
                    return -1;
                }
                self->stack.data[top] = v;
                uint32_t *members = self->stack.data + self->stack.len;
                uint32_t size = (uint32_t)(top - self->stack.len + 1);
                /* record_component may grow scratch vectors, never the stack */
                if (record_component(self, members, size, component, self_loop) < 0) {
                    return -1;
                }
                component--;
            }
            else if (vec32_push(&self->stack, v) < 0) {
                return -1;
            }
            if (self->n_frames) {
                Frame *parent = &self->frames[self->n_frames - 1];
                if (self->rindex[v] < self->rindex[parent->v]) {
                    self->rindex[parent->v] = self->rindex[v];
                    parent->root = 0;
                }
            }
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- the batch */

static int
reserve_items(Harvester *self, size_t n)
{
    if (grow_to((void **)&self->items, &self->cap_items, n, sizeof(PyObject *)) < 0) {
        return -1;
    }
    if (n > self->cap_item_arrays) {
        size_t cap = n < 1024 ? 1024 : n;
        uint32_t **arrays[] = {&self->item_name, &self->item_site, &self->rindex};
        for (size_t k = 0; k < 3; k++) {
            free(*arrays[k]);
            *arrays[k] = malloc(cap * sizeof(uint32_t));
            if (*arrays[k] == NULL) {
                self->cap_item_arrays = 0;
                return -1;
            }
        }
        free(self->item_self);
        self->item_self = malloc(cap);
        free(self->saved_prev);
        self->saved_prev = HEADER_MARKS ? malloc(cap * sizeof(uintptr_t)) : NULL;
        if (self->item_self == NULL || (HEADER_MARKS && self->saved_prev == NULL)) {
            self->cap_item_arrays = 0;
            return -1;
        }
        self->cap_item_arrays = cap;
    }
    return 0;
}

/* give back what a very large batch made us allocate */
static void
shrink_scratch(Harvester *self)
{
    if (self->cap_items <= 65536) {
        return;
    }
    free(self->items);
    free(self->item_name);
    free(self->item_site);
    free(self->rindex);
    free(self->item_self);
    free(self->saved_prev);
    free(self->slots);
    free(self->succ.data);
    free(self->stack.data);
    free(self->frames);
    self->item_self = NULL;
    self->saved_prev = NULL;
    self->items = NULL;
    self->item_name = self->item_site = self->rindex = self->slots = NULL;
    self->succ.data = self->stack.data = NULL;
    self->frames = NULL;
    self->cap_items = self->cap_item_arrays = self->slot_cap = 0;
    self->succ.cap = self->stack.cap = self->cap_frames = 0;
    self->succ.len = self->stack.len = self->n_frames = 0;
}

/* drop our reference to each object; with `clear`, first what plain Python would have done
   at that point (Modules/gcmodule.c, delete_garbage): tp_clear, holding a reference across */
static void
release_items(Harvester *self, int clear)
{
    for (size_t i = 0; i < self->n_items; i++) {
        PyObject *op = self->items[i];
        inquiry tp_clear = clear ? Py_TYPE(op)->tp_clear : NULL;
        if (tp_clear != NULL) {
            (void)tp_clear(op);
            if (PyErr_Occurred()) {
                PyErr_WriteUnraisable(op);
            }
        }
        Py_DECREF(op);
    }
    self->n_items = 0;
}

/* counts, sites and shapes of the batch in self->items; returns -1 on lack of memory */
static int
analyse(Harvester *self, int counted)
{
    size_t n = self->n_items;
    if (!counted) {
        return 0;
    }
    self->total += (int64_t)n;
    self->batch_sites = self->traceback_of != NULL;
    int status = 0;
    if (self->with_shapes) { /* the search counts each member as it first reaches it */
        status = build_membership(self);
        if (status < 0) {
            memset(self->rindex, 0, n * sizeof(uint32_t));
        }
        else {
            status = find_components(self);
            unmark_members(self); /* before anything else runs: the headers are the GC's */
            if (status == 0) {
                self->analysed += (int64_t)n;
                return 0;
            }
        }
    }
    for (size_t i = 0; i < n; i++) { /* counts only, or what a failed search never reached */
        if ((!self->with_shapes || !self->rindex[i]) && name_member(self, (uint32_t)i) < 0) {
            return -1;
        }
    }
    return status;
}

static void
write_excluded(Harvester *self, double seconds)
{
    if (self->excluded == NULL) {
        return;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(self->excluded, &view, PyBUF_WRITABLE) == 0) {
        if (view.itemsize == 8 && view.len >= 8) {
            ((double *)view.buf)[0] += seconds;
        }
        PyBuffer_Release(&view);
    }
    else {
        PyErr_Clear();
    }
}

static long long
info_count(PyObject *info, PyObject *key)
{
    PyObject *value = PyDict_GetItemWithError(info, key); /* borrowed */
    if (value == NULL) {
        PyErr_Clear();
        return -1;
    }
    long long n = PyLong_AsLongLong(value);
    if (n == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return -1;
    }
    return n;
}

static int
saving_all(Harvester *self)
{
    PyObject *flags = PyObject_CallNoArgs(self->get_debug);
    if (flags == NULL) {
        PyErr_Clear();
        return 1;
    }
    long value = PyLong_AsLong(flags);
    Py_DECREF(flags);
    if (value == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 1;
    }
    return (value & 32) != 0; /* gc.DEBUG_SAVEALL */
}

static void
on_stop(Harvester *self, PyObject *info)
{
    PyObject *garbage = self->garbage;
    Py_ssize_t length = PyList_GET_SIZE(garbage);
    Py_ssize_t start = self->start_len > length ? length : self->start_len;
    Py_ssize_t mark = self->mark > start ? start : self->mark;
    long long uncollectable = info_count(info, key_uncollectable);
    long long collected = info_count(info, key_collected);
    int counted = 1;
    if (self->finishing) {
        unsigned long thread = PyThread_get_thread_ident();
        for (Py_ssize_t i = 0; i < self->n_late_threads; i++) {
            if (self->late_threads[i] == thread) {
                counted = 0; /* the program's own thread, after it ended: freed, not counted */
                self->after_end_collections++;
                break;
            }
        }
        if (thread == self->finishing_thread && info_count(info, key_generation) >= 2) {
            self->final_collections++; /* the full collection gcscope forces at the end */
        }
    }
    self->collections_seen++;
    reset_type_cache(self);
    if (counted && start > mark
        && count_names(self, PySequence_Fast_ITEMS(garbage) + mark, (size_t)(start - mark),
                       &self->parked) < 0) {
        self->errors++;
    }
    if (!saving_all(self)) {
        if (!self->finishing) {
            self->unsaved++; /* the program turned DEBUG_SAVEALL off: freed uncounted */
        }
        self->mark = length;
        return;
    }
    if (uncollectable < 0 || uncollectable > length - start) {
        uncollectable = 0;
    }
    Py_ssize_t end = length - (Py_ssize_t)uncollectable;
    /* the collector appends the saved objects last: anything a finalizer or weakref callback
       put into gc.garbage during the collection comes before them and stays, as parked */
    Py_ssize_t begin = start;
    if (collected >= 0 && end - begin > collected) {
        begin = end - (Py_ssize_t)collected;
        if (counted
            && count_names(self, PySequence_Fast_ITEMS(garbage) + start, (size_t)(begin - start),
                           &self->parked) < 0) {
            self->errors++;
        }
    }
    if (counted && uncollectable
        && count_names(self, PySequence_Fast_ITEMS(garbage) + end, (size_t)uncollectable,
                       &self->uncollectable) < 0) {
        self->errors++;
    }
    size_t n = (size_t)(end - begin);
    if (n == 0) {
        self->mark = length;
        return;
    }
    if (n >= MAX_BATCH || reserve_items(self, n) < 0) {
        self->errors++; /* no memory to analyse: the garbage stays where the program can see it */
        self->mark = length;
        return;
    }
    PyObject **source = PySequence_Fast_ITEMS(garbage) + begin;
    memcpy(self->items, source, n * sizeof(PyObject *));
    self->n_items = n;
    if (self->free) {
        /* gc.garbage's references become ours (no refcount traffic over the whole batch):
           None stands in for each until the slice is removed, which shrinks the list */
        for (size_t i = 0; i < n; i++) {
            source[i] = Py_NewRef(Py_None);
        }
        if (PyList_SetSlice(garbage, begin, end, NULL) < 0) {
            PyErr_Clear(); /* the Nones stay: the objects are still freed below */
            self->errors++;
        }
        self->mark = PyList_GET_SIZE(garbage);
    }
    else { /* the program set DEBUG_SAVEALL itself: gc.garbage keeps them, we look */
        for (size_t i = 0; i < n; i++) {
            Py_INCREF(self->items[i]);
        }
        self->mark = length;
    }
    if (!counted) {
        self->after_end_objects += (int64_t)n;
    }
    else {
        self->harvests++;
    }
    double began = now_seconds();
    if (analyse(self, counted) < 0) {
        PyErr_Clear();
        self->errors++;
    }
    write_excluded(self, now_seconds() - began);
    release_items(self, self->free); /* the last references: everything is freed here */
    shrink_scratch(self);
}

/* Through vectorcall, as gcscope._gcrecorder's callback: an argument tuple built at
 * each phase would move the program's gen-0 count after every full collection (3.11,
 * 3.12: one gen-0 collection more per explicit gc.collect() in bm_gc_collect). */
static PyObject *
harvester_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Harvester *self = (Harvester *)callable;
    PyObject *phase, *info;
    if (kwnames != NULL || PyVectorcall_NARGS(nargsf) != 2) {
        self->errors++;
        Py_RETURN_NONE;
    }
    phase = args[0];
    info = args[1];
    if (!self->active || !PyUnicode_Check(phase) || !PyDict_Check(info)
        || !PyList_Check(self->garbage)) {
        Py_RETURN_NONE;
    }
    if (PyUnicode_CompareWithASCIIString(phase, "start") == 0) {
        self->start_len = PyList_GET_SIZE(self->garbage);
    }
    else {
        on_stop(self, info);
    }
    if (PyErr_Occurred()) {
        PyErr_Clear();
        self->errors++;
    }
    Py_RETURN_NONE;
}

/* ---------------------------------------------------------------- Python-facing methods */

static PyObject *
harvester_begin(Harvester *self, PyObject *mark)
{
    Py_ssize_t value = PyLong_AsSsize_t(mark);
    if (value == -1 && PyErr_Occurred()) {
        return NULL;
    }
    self->mark = self->start_len = value;
    self->active = 1;
    self->finishing = 0;
    Py_RETURN_NONE;
}

static PyObject *
harvester_finish(Harvester *self, PyObject *threads)
{
    PyObject *items = PySequence_Fast(threads, "finish() expects a sequence of thread idents");
    if (items == NULL) {
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(items);
    unsigned long *idents = n ? malloc((size_t)n * sizeof(unsigned long)) : NULL;
    if (n && idents == NULL) {
        Py_DECREF(items);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        idents[i] = PyLong_AsUnsignedLong(PySequence_Fast_GET_ITEM(items, i));
        if (PyErr_Occurred()) {
            free(idents);
            Py_DECREF(items);
            return NULL;
        }
    }
    Py_DECREF(items);
    free(self->late_threads);
    self->late_threads = idents;
    self->n_late_threads = n;
    self->finishing = 1;
    self->finishing_thread = PyThread_get_thread_ident();
    Py_RETURN_NONE;
}

static PyObject *
harvester_end(Harvester *self, PyObject *Py_UNUSED(ignored))
{
    self->active = 0;
    Py_RETURN_NONE;
}

static PyObject *
harvester_stop_sites(Harvester *self, PyObject *Py_UNUSED(ignored))
{
    Py_CLEAR(self->traceback_of);
    Py_RETURN_NONE;
}

static PyObject *
harvester_site(Harvester *self, PyObject *op)
{
    if (self->traceback_of == NULL) {
        Py_RETURN_NONE;
    }
    uint32_t site = site_of(self, op);
    if (site == NONE32) {
        Py_RETURN_NONE;
    }
    return Py_BuildValue("(Ol)", self->sites[site].filename, self->sites[site].lineno);
}

/* ---------------------------------------------------------------- results, as Python data */

static PyObject *
counts_list(Harvester *self, int64_t *counts)
{
    PyObject *list = PyList_New(self->n_names);
    for (uint32_t i = 0; list != NULL && i < self->n_names; i++) {
        PyObject *value = PyLong_FromLongLong(counts[i]);
        if (value == NULL) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, i, value);
    }
    return list;
}

static int
set_item(PyObject *dict, const char *key, PyObject *value)
{
    if (value == NULL) {
        return -1;
    }
    int status = PyDict_SetItemString(dict, key, value);
    Py_DECREF(value);
    return status;
}

static PyObject *
text_or_none(const char *text)
{
    if (text == NULL) {
        Py_RETURN_NONE;
    }
    return PyUnicode_DecodeUTF8(text, (Py_ssize_t)strlen(text), "replace");
}

static PyObject *
example_data(Example *example)
{
    PyObject *nodes = PyList_New(example->n_nodes);
    PyObject *edges = PyList_New(example->n_edges);
    PyObject *cut = PyList_New(example->n_cut);
    if (nodes == NULL || edges == NULL || cut == NULL) {
        goto error;
    }
    for (uint32_t i = 0; i < example->n_nodes; i++) {
        ExNode *node = &example->nodes[i];
        PyObject *row = Py_BuildValue("(INL)", node->name, text_or_none(node->label),
                                      (long long)node->size);
        if (row == NULL) {
            goto error;
        }
        PyList_SET_ITEM(nodes, i, row);
    }
    for (uint32_t i = 0; i < example->n_edges; i++) {
        ExEdge *edge = &example->edges[i];
        PyObject *row = Py_BuildValue("(IIN)", edge->source, edge->target,
                                      text_or_none(edge->label ? edge->label : ""));
        if (row == NULL) {
            goto error;
        }
        PyList_SET_ITEM(edges, i, row);
    }
    for (uint32_t i = 0; i < example->n_cut; i++) {
        PyObject *row = Py_BuildValue("(II)", example->cut[i].node, example->cut[i].count);
        if (row == NULL) {
            goto error;
        }
        PyList_SET_ITEM(cut, i, row);
    }
    return Py_BuildValue("{sNsNsNsI}", "nodes", nodes, "edges", edges, "cut", cut, "size",
                         example->component_size);
error:
    Py_XDECREF(nodes);
    Py_XDECREF(edges);
    Py_XDECREF(cut);
    return NULL;
}

static PyObject *
signature_data(Harvester *self, Signature *sig)
{
    PyObject *types = PyList_New(sig->n_types);
    PyObject *edges = PyList_New(sig->n_edges);
    PyObject *examples = PyList_New(sig->n_examples);
    PyObject *sites = PyList_New(0);
    if (types == NULL || edges == NULL || examples == NULL || sites == NULL) {
        goto error;
    }
    for (uint32_t i = 0; i < sig->n_types; i++) {
        PyObject *row = Py_BuildValue("(IL)", sig->types[i], (long long)sig->type_objects[i]);
        if (row == NULL) {
            goto error;
        }
        PyList_SET_ITEM(types, i, row);
    }
    for (uint32_t i = 0; i < sig->n_edges; i++) {
        PyObject *labels = PyList_New(0);
        if (labels == NULL) {
            goto error;
        }
        for (int k = 0; k < LABELS_PER_EDGE; k++) {
            char *label = sig->labels[(size_t)i * LABELS_PER_EDGE + k];
            if (label == NULL) {
                continue;
            }
            PyObject *text = text_or_none(label);
            if (text == NULL || PyList_Append(labels, text) < 0) {
                Py_XDECREF(text);
                Py_DECREF(labels);
                goto error;
            }
            Py_DECREF(text);
        }
        PyObject *row = Py_BuildValue("(IINO)", (unsigned int)(sig->edges[i] >> 32),
                                      (unsigned int)(sig->edges[i] & 0xFFFFFFFFu), labels,
                                      sig->labels_more[i] ? Py_True : Py_False);
        if (row == NULL) {
            goto error;
        }
        PyList_SET_ITEM(edges, i, row);
    }
    for (uint32_t i = 0; i < sig->n_examples; i++) {
        PyObject *example = example_data(&sig->examples[i]);
        if (example == NULL) {
            goto error;
        }
        PyList_SET_ITEM(examples, i, example);
    }
    for (size_t i = 0; i < self->sig_site.cap; i++) {
        uint64_t key = self->sig_site.keys[i];
        if (key && ((key - 1) >> 32) == sig->index) {
            PyObject *row = Py_BuildValue("(IL)", (unsigned int)((key - 1) & 0xFFFFFFFFu),
                                          (long long)self->sig_site.values[i]);
            if (row == NULL || PyList_Append(sites, row) < 0) {
                Py_XDECREF(row);
                goto error;
            }
            Py_DECREF(row);
        }
    }
    return Py_BuildValue("{sNsNsLsLsLsLsNsN}", "types", types, "edges", edges, "cycles",
                         (long long)sig->cycles, "objects", (long long)sig->objects,
                         "min_size", (long long)sig->min_size, "max_size",
                         (long long)sig->max_size, "examples", examples, "sites", sites);
error:
    Py_XDECREF(types);
    Py_XDECREF(edges);
    Py_XDECREF(examples);
    Py_XDECREF(sites);
    return NULL;
}

static PyObject *
countmap_rows(CountMap *map, int split)
{
    PyObject *rows = PyList_New(0);
    for (size_t i = 0; rows != NULL && i < map->cap; i++) {
        uint64_t key = map->keys[i];
        if (!key) {
            continue;
        }
        key -= 1;
        PyObject *row = split ? Py_BuildValue("(IIL)", (unsigned int)(key >> 32),
                                              (unsigned int)(key & 0xFFFFFFFFu),
                                              (long long)map->values[i])
                              : Py_BuildValue("(KL)", (unsigned long long)key,
                                              (long long)map->values[i]);
        if (row == NULL || PyList_Append(rows, row) < 0) {
            Py_XDECREF(row);
            Py_CLEAR(rows);
            break;
        }
        Py_DECREF(row);
    }
    return rows;
}

/* everything harvested so far, as plain Python data (call after the run, never inside it) */
static PyObject *
harvester_results(Harvester *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *result = PyDict_New();
    if (result == NULL) {
        return NULL;
    }
    PyObject *names = PyList_New(self->n_names);
    if (names == NULL) {
        goto error;
    }
    for (uint32_t i = 0; i < self->n_names; i++) {
        PyObject *name = PyUnicode_DecodeUTF8(self->names[i].text, (Py_ssize_t)self->names[i].len,
                                              "replace");
        if (name == NULL) {
            Py_DECREF(names);
            goto error;
        }
        PyList_SET_ITEM(names, i, name);
    }
    if (set_item(result, "names", names) < 0
        || set_item(result, "by_type", counts_list(self, self->by_type)) < 0
        || set_item(result, "uncollectable", counts_list(self, self->uncollectable)) < 0
        || set_item(result, "parked", counts_list(self, self->parked)) < 0
        || set_item(result, "held", counts_list(self, self->held)) < 0
        || set_item(result, "in_cycles_by_type", counts_list(self, self->in_cycles_by_type)) < 0) {
        goto error;
    }
    PyObject *sites = PyList_New(self->n_sites);
    if (sites == NULL) {
        goto error;
    }
    for (uint32_t i = 0; i < self->n_sites; i++) {
        PyObject *row = Py_BuildValue("(Ol)", self->sites[i].filename, self->sites[i].lineno);
        if (row == NULL) {
            Py_DECREF(sites);
            goto error;
        }
        PyList_SET_ITEM(sites, i, row);
    }
    if (set_item(result, "sites", sites) < 0
        || set_item(result, "site_types", countmap_rows(&self->site_type, 1)) < 0) {
        goto error;
    }
    PyObject *signatures = PyList_New(self->n_sigs);
    if (signatures == NULL) {
        goto error;
    }
    for (uint32_t i = 0; i < self->n_sigs; i++) {
        PyObject *sig = signature_data(self, self->sigs[i]);
        if (sig == NULL) {
            Py_DECREF(signatures);
            goto error;
        }
        PyList_SET_ITEM(signatures, i, sig);
    }
    if (set_item(result, "signatures", signatures) < 0) {
        goto error;
    }
    PyObject *other = Py_BuildValue("{sLsLsLsLsN}", "cycles", (long long)self->other_cycles,
                                    "objects", (long long)self->other_objects, "min_size",
                                    (long long)self->other_min, "max_size",
                                    (long long)self->other_max, "types",
                                    countmap_rows(&self->other_types, 0));
    if (set_item(result, "other", other) < 0) {
        goto error;
    }
    struct {
        const char *key;
        int64_t value;
    } counters[] = {
        {"total_objects", self->total},
        {"harvests", self->harvests},
        {"unsaved_collections", self->unsaved},
        {"after_end_collections", self->after_end_collections},
        {"after_end_objects", self->after_end_objects},
        {"collections_seen", self->collections_seen},
        {"final_collections", self->final_collections},
        {"in_cycles", self->in_cycles},
        {"cycles", self->cycles},
        {"analysed_objects", self->analysed},
        {"errors", self->errors},
        {"sites_unknown", self->sites_unknown},
    };
    for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
        if (set_item(result, counters[i].key, PyLong_FromLongLong(counters[i].value)) < 0) {
            goto error;
        }
    }
    return result;
error:
    Py_DECREF(result);
    return NULL;
}

/* counts by type name only (the pytest plugin's per-test figure), cheap */
static PyObject *
harvester_by_type(Harvester *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *result = PyDict_New();
    for (uint32_t i = 0; result != NULL && i < self->n_names; i++) {
        if (self->by_type[i] == 0) {
            continue;
        }
        PyObject *name = PyUnicode_DecodeUTF8(self->names[i].text, (Py_ssize_t)self->names[i].len,
                                              "replace");
        PyObject *value = PyLong_FromLongLong(self->by_type[i]);
        if (name == NULL || value == NULL || PyDict_SetItem(result, name, value) < 0) {
            Py_CLEAR(result);
        }
        Py_XDECREF(name);
        Py_XDECREF(value);
    }
    return result;
}

static PyObject *
harvester_get_counter(Harvester *self, void *closure)
{
    return PyLong_FromLongLong(*(int64_t *)((char *)self + (Py_ssize_t)closure));
}

/* ---------------------------------------------------------------- the type */

static int
harvester_init(Harvester *self, PyObject *args, PyObject *kwargs)
{
    self->vectorcall = harvester_vectorcall;
    static char *names[] = {"garbage", "get_debug", "traceback_of", "excluded", "with_shapes",
                            "free", "preheader", NULL};
    PyObject *garbage, *get_debug, *traceback_of = Py_None, *excluded = Py_None;
    int with_shapes = 1, free_batches = 1, preheader = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!O|$OOppp", names, &PyList_Type, &garbage,
                                     &get_debug, &traceback_of, &excluded, &with_shapes,
                                     &free_batches, &preheader)) {
        return -1;
    }
    Py_XSETREF(self->garbage, Py_NewRef(garbage));
    Py_XSETREF(self->get_debug, Py_NewRef(get_debug));
    Py_CLEAR(self->traceback_of);
    if (traceback_of != Py_None) {
        self->traceback_of = Py_NewRef(traceback_of);
    }
    Py_CLEAR(self->excluded);
    if (excluded != Py_None) {
        self->excluded = Py_NewRef(excluded);
    }
    self->with_shapes = with_shapes;
    self->free = free_batches;
    self->preheader = preheader;
    if (self->cap_names == 0 && grow_name_counts(self, 64) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static int
harvester_traverse(Harvester *self, visitproc visit, void *arg)
{
    Py_VISIT(self->garbage);
    Py_VISIT(self->get_debug);
    Py_VISIT(self->traceback_of);
    Py_VISIT(self->excluded);
    return 0;
}

static int
harvester_clear(Harvester *self)
{
    Py_CLEAR(self->garbage);
    Py_CLEAR(self->get_debug);
    Py_CLEAR(self->traceback_of);
    Py_CLEAR(self->excluded);
    return 0;
}

static void
harvester_dealloc(Harvester *self)
{
    PyObject_GC_UnTrack(self);
    harvester_clear(self);
    for (uint32_t i = 0; i < self->n_names; i++) {
        free(self->names[i].text);
    }
    for (uint32_t i = 0; i < self->n_sites; i++) {
        Py_DECREF(self->sites[i].filename);
    }
    for (uint32_t i = 0; i < self->n_sigs; i++) {
        signature_free(self->sigs[i]);
    }
    free(self->late_threads);
    free(self->item_self);
    free(self->saved_prev);
    free(self->names);
    free(self->name_slots);
    free(self->by_type);
    free(self->uncollectable);
    free(self->parked);
    free(self->held);
    free(self->in_cycles_by_type);
    free(self->sites);
    free(self->site_slots);
    free(self->sigs);
    free(self->sig_slots);
    countmap_free(&self->site_type);
    countmap_free(&self->sig_site);
    countmap_free(&self->other_types);
    free(self->items);
    free(self->item_name);
    free(self->item_site);
    free(self->rindex);
    free(self->slots);
    free(self->tcache);
    free(self->succ.data);
    free(self->stack.data);
    free(self->members.data);
    free(self->scratch.data);
    free(self->chosen.data);
    free(self->pairs.data);
    free(self->frames);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef harvester_methods[] = {
    {"begin", (PyCFunction)harvester_begin, METH_O,
     "begin(mark) -> None\n\nStart harvesting; gc.garbage[:mark] is not the program's."},
    {"finish", (PyCFunction)harvester_finish, METH_O,
     "finish(threads) -> None\n\nThe program has ended: from now on the collections of its "
     "threads still running (idents) are freed and counted apart, not as its garbage."},
    {"end", (PyCFunction)harvester_end, METH_NOARGS, "end() -> None\n\nStop harvesting."},
    {"stop_sites", (PyCFunction)harvester_stop_sites, METH_NOARGS,
     "stop_sites() -> None\n\nLook up no more creation sites (the self-test failed)."},
    {"site", (PyCFunction)harvester_site, METH_O,
     "site(obj) -> (filename, lineno) | None\n\nWhere tracemalloc says obj was allocated."},
    {"results", (PyCFunction)harvester_results, METH_NOARGS,
     "results() -> dict\n\nEverything harvested, as plain data (names by index)."},
    {"by_type", (PyCFunction)harvester_by_type, METH_NOARGS,
     "by_type() -> dict\n\nObjects harvested, by type name."},
    {NULL, NULL, 0, NULL},
};

static PyObject *
harvester_get_free(Harvester *self, void *closure)
{
    return PyBool_FromLong(self->free);
}

static int
harvester_set_free(Harvester *self, PyObject *value, void *closure)
{
    int truth = value == NULL ? 0 : PyObject_IsTrue(value);
    if (truth < 0) {
        return -1;
    }
    self->free = truth;
    return 0;
}

static PyObject *
harvester_get_excluded(Harvester *self, void *closure)
{
    return Py_NewRef(self->excluded ? self->excluded : Py_None);
}

static PyGetSetDef harvester_getset[] = {
    {"excluded", (getter)harvester_get_excluded, NULL,
     "the array('d') the analysis seconds of the current collection are added to", NULL},
    {"free", (getter)harvester_get_free, (setter)harvester_set_free,
     "free each batch (False: the program set DEBUG_SAVEALL itself and keeps gc.garbage)", NULL},
    {"collections_seen", (getter)harvester_get_counter, NULL, "collections seen while active",
     (void *)offsetof(Harvester, collections_seen)},
    {"final_collections", (getter)harvester_get_counter, NULL,
     "this thread's collections since finish()", (void *)offsetof(Harvester, final_collections)},
    {"total_objects", (getter)harvester_get_counter, NULL, "objects counted",
     (void *)offsetof(Harvester, total)},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject HarvesterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gcscope._gcharvest.Harvester",
    .tp_doc = "The --cycles harvest: a gc callback that counts, analyses and frees saved garbage.",
    .tp_basicsize = sizeof(Harvester),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_vectorcall_offset = offsetof(Harvester, vectorcall),
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)harvester_init,
    .tp_dealloc = (destructor)harvester_dealloc,
    .tp_traverse = (traverseproc)harvester_traverse,
    .tp_clear = (inquiry)harvester_clear,
    .tp_call = PyVectorcall_Call,
    .tp_methods = harvester_methods,
    .tp_getset = harvester_getset,
};

static struct PyModuleDef harvest_module = {
    PyModuleDef_HEAD_INIT, "gcscope._gcharvest", NULL, -1, NULL,
};

PyMODINIT_FUNC
PyInit__gcharvest(void)
{
    if (PyType_Ready(&HarvesterType) < 0) {
        return NULL;
    }
    key_module = PyUnicode_InternFromString("__module__");
    key_sizeof = PyUnicode_InternFromString("__sizeof__");
    key_generation = PyUnicode_InternFromString("generation");
    key_uncollectable = PyUnicode_InternFromString("uncollectable");
    key_collected = PyUnicode_InternFromString("collected");
    if (!key_module || !key_sizeof || !key_generation || !key_uncollectable || !key_collected) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&harvest_module);
    if (module == NULL) {
        return NULL;
    }
    Py_INCREF(&HarvesterType);
    if (PyModule_AddObject(module, "Harvester", (PyObject *)&HarvesterType) < 0) {
        Py_DECREF(&HarvesterType);
        Py_DECREF(module);
        return NULL;
    }
    PyModule_AddIntConstant(module, "MAX_EXAMPLE_NODES", MAX_EXAMPLE_NODES);
    PyModule_AddIntConstant(module, "MAX_SIGNATURES", MAX_SIGNATURES);
    return module;
}
