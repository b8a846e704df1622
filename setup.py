"""The optional C helpers, and the `.pth` file of `gcscope run --follow`; everything else
is in pyproject.toml.

`gcscope._gcrecorder` is the gc callback of `gcscope run` (a tenth of the Python
callback's cost per collection); `gcscope._gcharvest` is the `--cycles` harvest (counts,
cycles and shapes of each collection's garbage, freed inside that collection, with no
Python code running); `gcscope._gcclear` frees harvested garbage for the Python fallback
harvest; `gcscope._gcstate` gives the program back the
collector's counters as gcscope found them; `gcscope._allocsampler` samples allocations
by bytes for `--allocations=sampled`; `gcscope._threadhold` holds the program's threads
while a run finishes; `gcscope._rsssampler` (Linux) samples the RSS timeline without
taking the GIL. `optional=True`: without a C compiler the
install still succeeds and gcscope falls back to equivalent, slower paths (exact
tracemalloc for `--allocations=sampled`, and says so).

`gcscope-follow.pth` (`PTH_LINE`) goes into site-packages itself, beside the package (a `.pth` is
only read there): in regular wheels through `build_py`, in editable wheels (PEP 660,
`pip install -e .`, which never run `build_py` into the wheel) by adding it, with its
RECORD line, to the wheel setuptools built. Its one line costs an interpreter that
does not have GCSCOPE_FOLLOW set one `in os.environ` test (see gcscope/follow_boot.py).
It is named to sort after setuptools' `__editable__` files, which make gcscope
importable in editable installs.
"""

from __future__ import annotations

import base64
import hashlib
import os
import sys
import zipfile
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

PTH = "gcscope-follow.pth"
# `.pth` lines that start with "import" are executed by `site`; this one imports nothing
# more unless the variable is set
PTH_LINE = "import os; 'GCSCOPE_FOLLOW' in os.environ and __import__('gcscope.follow_boot')\n"


class BuildPyWithPth(build_py):
    """Regular wheels: the .pth at the root of the build, i.e. of site-packages."""

    def run(self) -> None:
        super().run()
        Path(self.build_lib, PTH).write_text(PTH_LINE, encoding="utf-8")


def add_to_wheel(wheel: Path, name: str, data: bytes) -> None:
    """Add one file at the root of a built wheel, with its RECORD line (so pip removes it
    on uninstall)."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    record_line = f"{name},sha256={digest},{len(data)}\n".encode()
    with zipfile.ZipFile(wheel) as source:
        if name in source.namelist():
            return
    rewritten = wheel.with_suffix(".tmp")
    with (
        zipfile.ZipFile(wheel) as source,
        zipfile.ZipFile(rewritten, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for item in source.infolist():
            payload = source.read(item.filename)
            if item.filename.endswith(".dist-info/RECORD"):
                payload = payload + record_line
            target.writestr(item, payload)
        target.writestr(name, data)
    os.replace(rewritten, wheel)


cmdclass: dict[str, type] = {"build_py": BuildPyWithPth}
try:
    from setuptools.command.editable_wheel import editable_wheel
except ImportError:  # setuptools < 64: `pip install -e` runs `develop`, which runs build_py
    pass
else:

    class EditableWheelWithPth(editable_wheel):
        """Editable wheels: the .pth added to the wheel setuptools just built."""

        def run(self) -> None:
            super().run()
            data = PTH_LINE.encode()
            for wheel in Path(self.dist_dir).glob("*.whl"):
                add_to_wheel(wheel, PTH, data)

    cmdclass["editable_wheel"] = EditableWheelWithPth


# log() and expm1() for the sampler's exponential gaps and weights
MATH = [] if sys.platform == "win32" else ["m"]

setup(
    cmdclass=cmdclass,
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
        Extension("gcscope._threadhold", ["gcscope/_threadhold.c"], optional=True),
        Extension("gcscope._rsssampler", ["gcscope/_rsssampler.c"], optional=True),
    ],
)
