"""Only the optional C helper lives here; everything else is in pyproject.toml.

`gcscope._gcclear` lets `--cycles` free harvested garbage at the collector's own
speed. `optional=True`: without a C compiler the install still succeeds and
gcscope falls back to an equivalent, slower ctypes path.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("gcscope._gcclear", ["gcscope/_gcclear.c"], optional=True)])
