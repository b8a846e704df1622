"""Only the optional C helpers live here; everything else is in pyproject.toml.

`gcscope._gcrecorder` is the gc callback of `gcscope run` (a tenth of the Python
callback's cost per collection); `gcscope._gcharvest` is the `--cycles` harvest (counts,
cycles and shapes of each collection's garbage, freed inside that collection, with no
Python code running); `gcscope._gcclear` frees harvested garbage for the Python fallback
harvest; `gcscope._gcstate` gives the program back the
collector's counters as gcscope found them; `gcscope._allocsampler` samples allocations
by bytes for `--allocations=sampled`. `optional=True`: without a C compiler the
install still succeeds and gcscope falls back to equivalent, slower paths (exact
tracemalloc for `--allocations=sampled`, and says so).
"""

import sys

from setuptools import Extension, setup

# log() and expm1() for the sampler's exponential gaps and weights
MATH = [] if sys.platform == "win32" else ["m"]

setup(
    ext_modules=[
        Extension("gcscope._gcrecorder", ["gcscope/_gcrecorder.c"], optional=True),
        Extension("gcscope._gcclear", ["gcscope/_gcclear.c"], optional=True),
        Extension(
            "gcscope._allocsampler",
            ["gcscope/_allocsampler.c"],
            libraries=MATH,
            optional=True,
        ),
        Extension("gcscope._gcharvest", ["gcscope/_gcharvest.c"], optional=True),
        Extension("gcscope._gcstate", ["gcscope/_gcstate.c"], optional=True),
    ]
)
