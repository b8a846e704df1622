"""Facts about the running interpreter's build, read without `sysconfig`.

`sysconfig` would load the interpreter's whole build configuration into the
program's process; these few facts come from `sys` and `os` directly.
"""

from __future__ import annotations

import os
import sys


def free_threaded() -> bool:
    """A free-threaded (no-GIL) build: its collector is not generational."""
    if "t" in getattr(sys, "abiflags", ""):
        return True
    if os.name == "nt":  # no abiflags there
        import sysconfig

        return bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    return False


def library_folders() -> tuple[str, ...]:
    """Folders whose code is the standard library's or an installed package's.

    The standard library is where `os` lives (extension modules sit below it, in
    lib-dynload); installed packages are the site-packages folders `site` knows
    and the `sys.path` entries named like them.
    """
    folders = {os.path.dirname(os.__file__)}
    site = sys.modules.get("site")
    for getter in ("getsitepackages", "getusersitepackages"):
        try:
            found = getattr(site, getter)()
        except Exception:
            continue
        folders.update([found] if isinstance(found, str) else found)
    folders.update(p for p in sys.path if p.endswith(("site-packages", "dist-packages")))
    return tuple(os.path.join(os.path.realpath(p), "") for p in folders if p) + tuple(
        os.path.join(p, "") for p in folders if p and os.path.realpath(p) != p
    )
