/* Token ids of Python token lists in one C loop, for `compiler/codec.py`'s InputCodec.

   Reading a Python list of tokens is the floor of a compiled program's end-to-end cost: the
   cheapest pure-Python way (str.join with separators, then one array lookup) costs about
   10 ns a token, as much as a small model's whole forward (hist@64: about 28 ns a token).
   This loop reads each token once, about 3 ns. It handles the common case only (lists or
   tuples of one-character strings, or of plain ints, over a lookup table) and says False
   for anything else: the caller's Python path then encodes the batch or names the token that
   is not in the vocabulary. Optional: without a C compiler raspc runs the Python path. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#if PY_VERSION_HEX < 0x030C0000  /* strings made by the legacy API may not be ready yet */
#define READY(x) PyUnicode_IS_READY(x)
#else
#define READY(x) 1
#endif

/* One token's key into the table (its code point, or its value less `offset`), or -1 when
   it is not a one-character string (chars) or a plain int in range (ints). */
static Py_ssize_t
token_key(PyObject *x, int chars, long long offset, Py_ssize_t entries)
{
    if (chars) {
        if (!PyUnicode_CheckExact(x) || !READY(x) || PyUnicode_GET_LENGTH(x) != 1)
            return -1;
        Py_UCS4 c = PyUnicode_READ_CHAR(x, 0);
        return (Py_ssize_t)c < entries ? (Py_ssize_t)c : -1;
    }
    if (!PyLong_CheckExact(x))  /* bool, float and int subclasses go the Python way */
        return -1;
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(x, &overflow);
    if (overflow || v < offset)
        return -1;
    unsigned long long k = (unsigned long long)v - (unsigned long long)offset;
    return k < (unsigned long long)entries ? (Py_ssize_t)k : -1;
}

/* fill(seqs, chars, table, offset, out, width) -> bool

   seqs: a list of lists or tuples of tokens. table: int64 ids by key, -1 where no token.
   out: an int64 array [at least len(seqs), width + 1], C-contiguous; row b's tokens are
   written to out[b, 1 : 1 + len(seqs[b])], nothing else is touched. True when every token
   was found; False (out partly written) when anything is outside this path. */
static PyObject *
fill(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *seqs;
    int chars;
    Py_buffer table, out;
    long long offset;
    Py_ssize_t width;
    if (!PyArg_ParseTuple(args, "Opy*Lw*n", &seqs, &chars, &table, &offset, &out, &width))
        return NULL;
    int ok = 0;
    PyObject *outer = NULL;
    if (width < 0 || table.len % (Py_ssize_t)sizeof(int64_t) ||
        out.len % (Py_ssize_t)sizeof(int64_t)) {
        PyErr_SetString(PyExc_ValueError, "fill: table and out must be int64, width >= 0");
        goto done;
    }
    outer = PySequence_Fast(seqs, "fill: seqs must be a sequence");
    if (outer == NULL)
        goto done;
    const int64_t *tab = (const int64_t *)table.buf;
    Py_ssize_t entries = table.len / (Py_ssize_t)sizeof(int64_t);
    Py_ssize_t stride = width + 1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(outer);
    ok = n <= out.len / (Py_ssize_t)sizeof(int64_t) / stride;
    for (Py_ssize_t b = 0; ok && b < n; b++) {
        PyObject *row = PySequence_Fast_GET_ITEM(outer, b);
        if (!PyList_CheckExact(row) && !PyTuple_CheckExact(row)) {
            ok = 0;
            break;
        }
        Py_ssize_t len = PySequence_Fast_GET_SIZE(row);
        PyObject **items = PySequence_Fast_ITEMS(row);
        int64_t *dst = (int64_t *)out.buf + b * stride + 1;
        ok = len <= width;
        for (Py_ssize_t t = 0; ok && t < len; t++) {
            Py_ssize_t key = token_key(items[t], chars, offset, entries);
            ok = key >= 0 && tab[key] >= 0;
            if (ok)
                dst[t] = tab[key];
        }
    }
done:
    Py_XDECREF(outer);
    PyBuffer_Release(&table);
    PyBuffer_Release(&out);
    if (PyErr_Occurred())
        return NULL;
    return PyBool_FromLong(ok);
}

static PyMethodDef methods[] = {
    {"fill", fill, METH_VARARGS, "Token ids of token lists into an int64 array (see the file)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_token_ids", "Token ids of Python token lists in one C loop.", 0,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__token_ids(void)
{
    return PyModule_Create(&module);
}
