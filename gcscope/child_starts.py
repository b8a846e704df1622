"""Child processes the program starts by fork-and-exec: counted, and with `--follow` told
to follow.

`os.fork` children are seen by the fork hooks (`gcscope.endings`). The other way a
Python program starts a process is fork-and-exec in C: `subprocess` (through
`_posixsubprocess.fork_exec`, or `os.posix_spawn`), and multiprocessing's `spawn`
and `forkserver` start methods and its resource tracker (`fork_exec`). gcscope wraps
those three functions in the measured process:

* without `--follow`, to count the children started (the report says how many
  processes ran unmeasured);
* with `--follow`, also to hand `GCSCOPE_FOLLOW` to a child whose environment the
  program gave explicitly (`subprocess.run(..., env={...})`), which would otherwise
  drop it. Children that inherit the environment have it already.

`_posixsubprocess` is not imported by gcscope (a module the program did not ask for
would show up in its process): it is wrapped when the program first imports it,
by a finder placed first in `sys.meta_path` that answers for that one name only,
and then removes itself. `os.system` and forks made by C extensions go unseen.
"""

from __future__ import annotations

import os
import sys

from gcscope.follow import ENV_VAR

TYPE_CHECKING = False  # importing typing would leave it resident in the program's process
if TYPE_CHECKING:
    from typing import Any

    from gcscope.endings import RunEndings

FORK_EXEC_ENV = 5  # the position of env_list in _posixsubprocess.fork_exec (3.10-3.13)


class ChildStarts:
    """Counts fork-and-exec children of the measured process; passes the follow setting."""

    def __init__(self, endings: RunEndings, follow_value: str | None) -> None:
        self.endings = endings
        self.follow_value = follow_value  # GCSCOPE_FOLLOW's value, with --follow
        self.started = 0
        self.wrappers: tuple[Any, ...] = ()
        self.finder: _WrapOnImport | None = None

    def install(self) -> None:
        wrappers = []
        for name in ("posix_spawn", "posix_spawnp"):
            real = getattr(os, name, None)
            if real is not None:
                wrapper = self._wrap_posix_spawn(real)
                setattr(os, name, wrapper)
                wrappers.append(wrapper)
        module = sys.modules.get("_posixsubprocess")
        if module is not None:
            self._wrap_module(module)
        elif os.name == "posix":
            self.finder = _WrapOnImport("_posixsubprocess", self._wrap_module)
            sys.meta_path.insert(0, self.finder)
        self.wrappers = tuple(wrappers)

    def restart_in_child(self) -> None:
        """A followed forked child counts its own children."""
        self.started = 0

    def section(self) -> dict[str, int]:
        return {"forked": self.endings.forks, "started": self.started}

    def _count(self) -> None:
        if self.endings.running():
            self.started += 1

    def _environment(self, env: Any) -> Any:
        """`env` with GCSCOPE_FOLLOW added (a copy), when following and it lacks it."""
        value = self.follow_value
        if value is None or env is None:
            return env
        if ENV_VAR in env or ENV_VAR.encode() in env:
            return env
        return {**env, ENV_VAR: value}

    def _wrap_posix_spawn(self, real: Any) -> Any:
        starts = self

        def posix_spawn(path: Any, argv: Any, env: Any, *args: Any, **kwargs: Any) -> Any:
            pid = real(path, argv, starts._environment(env), *args, **kwargs)
            starts._count()
            return pid

        posix_spawn.__doc__ = real.__doc__
        posix_spawn.__name__ = posix_spawn.__qualname__ = real.__name__
        return posix_spawn

    def _wrap_module(self, module: Any) -> None:
        real = getattr(module, "fork_exec", None)
        if real is None:
            return
        starts, endings = self, self.endings

        def fork_exec(*args: Any) -> Any:
            value = starts.follow_value
            if value is not None and len(args) > FORK_EXEC_ENV and args[FORK_EXEC_ENV] is not None:
                prefix = os.fsencode(ENV_VAR) + b"="
                entry = prefix + os.fsencode(value)
                env_list = list(args[FORK_EXEC_ENV])
                if not any(os.fsencode(item).startswith(prefix) for item in env_list):
                    env_list.append(entry)
                    args = (*args[:FORK_EXEC_ENV], env_list, *args[FORK_EXEC_ENV + 1 :])
            endings.spawning = True  # a fork the fork hooks see here is only a step to exec
            try:
                pid = real(*args)
            finally:
                endings.spawning = False
            starts._count()
            return pid

        fork_exec.__doc__ = real.__doc__
        fork_exec.__qualname__ = fork_exec.__name__
        module.fork_exec = fork_exec
        self.wrappers = (*self.wrappers, fork_exec)


class _WrapOnImport:
    """A `sys.meta_path` finder for one module name: lets the real finders load it, then
    hands the module to `wrap`, and leaves `sys.meta_path` as it found it."""

    def __init__(self, name: str, wrap: Any) -> None:
        self.name = name
        self.wrap = wrap

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != self.name:
            return None
        self.remove()
        from importlib.util import find_spec

        spec = find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _WrappingLoader(spec.loader, self.wrap)
        return spec

    def remove(self) -> None:
        try:
            sys.meta_path.remove(self)
        except ValueError:
            pass


class _WrappingLoader:
    """Loads with the real loader, then calls `wrap(module)`; the module keeps the real one."""

    def __init__(self, loader: Any, wrap: Any) -> None:
        self.loader = loader
        self.wrap = wrap

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self.loader.exec_module(module)
        module.__loader__ = self.loader
        spec = getattr(module, "__spec__", None)
        if spec is not None:
            spec.loader = self.loader
        try:
            self.wrap(module)
        except Exception:  # counting children must never break the program's import
            pass
