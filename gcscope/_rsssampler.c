/* gcscope._rsssampler: the RSS timeline, sampled without ever taking the GIL.
 *
 * Why: a sampling thread written in Python takes the GIL at every tick. The program's
 * main thread then gives it up on request (after a switch interval of the sampler's
 * waiting) and waits to get it back, twice per tick (the tick's `read` releases it
 * too), and each hand-over puts both threads through the OS scheduler. On a
 * collection-dense program that was 1.5-2.7% of its collections' own time (3.11,
 * bm_gc_collect, sampled every 100 ms) where the tick's instructions are nothing.
 *
 * `Sampler.wait(interval, watch_fd, watch_offset, every_tick, generation)` is called by
 * gcscope's sampling thread (gcscope.periodic) and releases the GIL for as long as it
 * runs: every `interval` seconds it reads /proc/self/statm (opened per sample: the
 * program may close descriptors it does not know about) and stores (CLOCK_MONOTONIC
 * seconds, which is `time.perf_counter()` on Linux; resident bytes) in C arrays. It
 * returns to Python only when Python has work: True after a tick when `every_tick`, or
 * once the file `watch_fd` (gcscope's signal wakeup file) has grown past
 * `watch_offset`; False as soon as `wake(generation)` is called for its start
 * (`arm()` gives each start its generation; the thread then ends). With at most
 * `max_samples` kept, the timeline halves its resolution when full, as the Python
 * sampler does.
 *
 * Linux only (statm); elsewhere the module is not built and the Python sampler runs.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#ifdef __linux__
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h> /* offsetof */
#include <time.h>
#include <unistd.h>

typedef struct {
    PyObject_HEAD
    pthread_mutex_t lock;   /* the arrays and the generations */
    pthread_cond_t cond;    /* signalled by wake() */
    long long armed;        /* the newest start's generation (arm()) */
    long long stopped;      /* wait(generation) returns False once this reaches it */
    double *times;          /* CLOCK_MONOTONIC seconds */
    long long *rss;         /* bytes */
    Py_ssize_t used, max_samples;
    long long stride, ticks;
    long page_size;
} Sampler;

static double
monotonic_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)((long long)now.tv_sec * 1000000000LL + now.tv_nsec) / 1e9;
}

/* resident pages from /proc/self/statm (its second field), or -1 */
static long long
resident_pages(void)
{
    char buffer[128];
    int descriptor = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (descriptor < 0) {
        return -1;
    }
    ssize_t length = read(descriptor, buffer, sizeof(buffer) - 1);
    close(descriptor);
    if (length <= 0) {
        return -1;
    }
    long long pages = 0;
    int field = 0;
    for (ssize_t i = 0; i < length; i++) {
        char c = buffer[i];
        if (c == ' ') {
            if (++field == 2) {
                return pages;
            }
        }
        else if (field == 1) {
            if (c < '0' || c > '9') {
                return -1;
            }
            pages = pages * 10 + (c - '0');
        }
    }
    return -1;
}

/* one tick, with `lock` held: every `stride`-th tick is kept; a full timeline keeps
 * every other sample and doubles the stride */
static void
record_tick(Sampler *self)
{
    self->ticks++;
    if (self->ticks % self->stride) {
        return;
    }
    long long pages = resident_pages();
    if (pages < 0) {
        return;
    }
    self->times[self->used] = monotonic_seconds();
    self->rss[self->used] = pages * self->page_size;
    self->used++;
    if (self->used >= self->max_samples) {
        Py_ssize_t kept = 0; /* ticks 2, 4, ...: every kept tick a multiple of the stride */
        for (Py_ssize_t i = 1; i < self->used; i += 2, kept++) {
            self->times[kept] = self->times[i];
            self->rss[kept] = self->rss[i];
        }
        self->used = kept;
        self->stride *= 2;
    }
}

static int
file_grew(int descriptor, long long offset)
{
    if (descriptor < 0) {
        return 0;
    }
    off_t size = lseek(descriptor, 0, SEEK_CUR);
    return size != (off_t)-1 && (long long)size > offset;
}

static PyObject *
sampler_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"max_samples", NULL};
    Py_ssize_t max_samples = 5000;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|n", names, &max_samples)) {
        return NULL;
    }
    if (max_samples < 2) {
        PyErr_SetString(PyExc_ValueError, "max_samples must be at least 2");
        return NULL;
    }
    Sampler *self = (Sampler *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->times = PyMem_RawMalloc(sizeof(double) * (size_t)max_samples);
    self->rss = PyMem_RawMalloc(sizeof(long long) * (size_t)max_samples);
    pthread_condattr_t attributes;
    int failed = self->times == NULL || self->rss == NULL;
    if (!failed) {
        failed = pthread_condattr_init(&attributes) != 0;
        if (!failed) {
            failed = pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC) != 0
                     || pthread_cond_init(&self->cond, &attributes) != 0;
            pthread_condattr_destroy(&attributes);
        }
        if (!failed && pthread_mutex_init(&self->lock, NULL) != 0) {
            pthread_cond_destroy(&self->cond);
            failed = 1;
        }
    }
    if (failed) {
        PyMem_RawFree(self->times);
        PyMem_RawFree(self->rss);
        self->times = NULL;
        self->rss = NULL;
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    self->max_samples = max_samples;
    self->stride = 1;
    self->page_size = sysconf(_SC_PAGESIZE);
    return (PyObject *)self;
}

static void
sampler_dealloc(Sampler *self)
{
    if (self->times != NULL) {
        pthread_mutex_destroy(&self->lock);
        pthread_cond_destroy(&self->cond);
    }
    PyMem_RawFree(self->times);
    PyMem_RawFree(self->rss);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
sampler_wait(Sampler *self, PyObject *args)
{
    double interval;
    int watch_fd, every_tick;
    long long watch_offset, generation;
    if (!PyArg_ParseTuple(
            args, "diLpL", &interval, &watch_fd, &watch_offset, &every_tick, &generation)) {
        return NULL;
    }
    if (!(interval > 0.0)) {
        PyErr_SetString(PyExc_ValueError, "interval must be positive");
        return NULL;
    }
    int tick_for_python = 0;
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&self->lock);
    while (self->stopped < generation) {
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        double whole = (double)(long long)interval;
        deadline.tv_sec += (time_t)whole;
        deadline.tv_nsec += (long)((interval - whole) * 1e9);
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec += 1;
            deadline.tv_nsec -= 1000000000L;
        }
        int status = 0;
        while (self->stopped < generation && status != ETIMEDOUT) {
            status = pthread_cond_timedwait(&self->cond, &self->lock, &deadline);
        }
        if (self->stopped >= generation) {
            break;
        }
        record_tick(self);
        if (every_tick || file_grew(watch_fd, watch_offset)) {
            tick_for_python = 1;
            break;
        }
    }
    pthread_mutex_unlock(&self->lock);
    Py_END_ALLOW_THREADS
    return PyBool_FromLong(tick_for_python);
}

/* A start's generation, taken by the starter before it makes the thread visible: a
 * wake() is for one generation, so a stop meant for an earlier start can neither be
 * undone by a later arm() nor stop a later thread (a fork in another thread can stop
 * and restart the sampler while it is being started) */
static PyObject *
sampler_arm(Sampler *self, PyObject *Py_UNUSED(ignored))
{
    pthread_mutex_lock(&self->lock);
    long long generation = ++self->armed;
    pthread_mutex_unlock(&self->lock);
    return PyLong_FromLongLong(generation);
}

static PyObject *
sampler_wake(Sampler *self, PyObject *argument)
{
    long long generation = PyLong_AsLongLong(argument);
    if (generation == -1 && PyErr_Occurred()) {
        return NULL;
    }
    pthread_mutex_lock(&self->lock);
    if (generation > self->stopped) {
        self->stopped = generation;
    }
    pthread_cond_broadcast(&self->cond);
    pthread_mutex_unlock(&self->lock);
    Py_RETURN_NONE;
}

/* (bytes of an array('d') of times, bytes of an array('q') of RSS, stride) */
static PyObject *
sampler_samples(Sampler *self, PyObject *Py_UNUSED(ignored))
{
    pthread_mutex_lock(&self->lock);
    Py_ssize_t used = self->used;
    long long stride = self->stride;
    PyObject *times = PyBytes_FromStringAndSize((const char *)self->times,
                                                (Py_ssize_t)sizeof(double) * used);
    PyObject *rss = PyBytes_FromStringAndSize((const char *)self->rss,
                                              (Py_ssize_t)sizeof(long long) * used);
    pthread_mutex_unlock(&self->lock);
    if (times == NULL || rss == NULL) {
        Py_XDECREF(times);
        Py_XDECREF(rss);
        return NULL;
    }
    return Py_BuildValue("(NNL)", times, rss, stride);
}

static PyMethodDef sampler_methods[] = {
    {"wait", (PyCFunction)sampler_wait, METH_VARARGS,
     "wait(interval, watch_fd, watch_offset, every_tick, generation) -> bool: sample until "
     "Python has work (True) or wake(generation) (False), with the GIL released"},
    {"arm", (PyCFunction)sampler_arm, METH_NOARGS, "a new start's generation"},
    {"wake", (PyCFunction)sampler_wake, METH_O,
     "wake(generation): wait() of that generation (or older) returns False at once"},
    {"samples", (PyCFunction)sampler_samples, METH_NOARGS,
     "(times bytes, rss bytes, stride) of the samples kept so far"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject SamplerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gcscope._rsssampler.Sampler",
    .tp_basicsize = sizeof(Sampler),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "RSS samples taken by a thread that never holds the GIL while it waits",
    .tp_new = sampler_new,
    .tp_dealloc = (destructor)sampler_dealloc,
    .tp_methods = sampler_methods,
};
#endif /* __linux__ */

static struct PyModuleDef sampler_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "gcscope._rsssampler",
    .m_doc = "RSS samples without the GIL (see the source's header)",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__rsssampler(void)
{
#ifndef __linux__
    PyErr_SetString(PyExc_ImportError, "gcscope._rsssampler: Linux only");
    return NULL;
#else
    if (PyType_Ready(&SamplerType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&sampler_module);
    if (module == NULL) {
        return NULL;
    }
    Py_INCREF(&SamplerType);
    if (PyModule_AddObject(module, "Sampler", (PyObject *)&SamplerType) < 0) {
        Py_DECREF(&SamplerType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
#endif
}
