/* gcscope._gcclear: break harvested reference cycles the way the collector does.
 *
 * Under gc.DEBUG_SAVEALL the collector appends what it found unreachable to
 * gc.garbage instead of calling each object's tp_clear. gcscope counts that
 * batch in the gc callback and then hands it here, which does what the collector
 * would have done at that very point (Modules/gcmodule.c, delete_garbage): call
 * tp_clear on every object, holding a reference across the call. When the
 * caller drops the batch, the objects are freed. Weakref callbacks and
 * finalizers already ran when the collector found them.
 *
 * A pure-Python fallback (ctypes) exists for when this cannot be compiled; it is
 * the same operation, about 20x slower per object.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *
clear_all(PyObject *module, PyObject *batch)
{
    Py_ssize_t i;
    if (!PyList_CheckExact(batch)) {
        PyErr_SetString(PyExc_TypeError, "clear_all() expects a list");
        return NULL;
    }
    /* re-read the size every time: a finalizer run by a dealloc could touch the list */
    for (i = 0; i < PyList_GET_SIZE(batch); i++) {
        PyObject *op = PyList_GET_ITEM(batch, i);
        inquiry clear = Py_TYPE(op)->tp_clear;
        if (clear == NULL) {
            continue;
        }
        Py_INCREF(op);
        (void)clear(op);
        if (PyErr_Occurred()) {
            PyErr_WriteUnraisable(op);
        }
        Py_DECREF(op);
    }
    Py_RETURN_NONE;
}

static PyMethodDef gcclear_methods[] = {
    {"clear_all", clear_all, METH_O,
     "clear_all(batch: list) -> None\n\nCall tp_clear on every object in batch, "
     "as the cyclic collector does on unreachable objects."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef gcclear_module = {
    PyModuleDef_HEAD_INIT, "gcscope._gcclear", NULL, -1, gcclear_methods,
};

PyMODINIT_FUNC
PyInit__gcclear(void)
{
    return PyModule_Create(&gcclear_module);
}
