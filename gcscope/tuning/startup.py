"""Where the main module's start-up ends, read from its source before any run.

Start-up is the main module's top-level statements that only prepare: imports,
`def`, `class`, assignments of constants (numbers, strings, None, and tuples,
lists, sets, dicts of them, or another name), annotations, a docstring, and `if` /
`try` blocks made of nothing else (`try: import ujson as json except ImportError:
import json`). The first other statement (a call, `if __name__ == "__main__":`,
`app = create_app()`) is where the program starts working: its line is the freeze
line that `gcscope.tuning.child` watches for. A program that knows better marks the
spot with `gcscope.startup_done()`, which tune then uses instead.
"""

from __future__ import annotations

import ast
import importlib.machinery
import os
import sys


class StartupBoundary:
    """The first working statement of the main module: its line and a short text."""

    def __init__(self, path: str, line: int, text: str) -> None:
        self.path = path
        self.line = line
        self.text = text

    def describe(self) -> str:
        return f"{self.path}:{self.line} ({self.text})"


def _constant(node: ast.expr) -> bool:
    if isinstance(node, (ast.Constant, ast.Name)):
        return True
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return all(_constant(item) for item in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is None or _constant(k) for k in node.keys) and all(
            _constant(v) for v in node.values
        )
    if isinstance(node, ast.UnaryOp):
        return _constant(node.operand)
    return False


def preparing(statement: ast.stmt) -> bool:
    """True for a top-level statement that belongs to start-up (see the module docstring)."""
    if isinstance(
        statement,
        (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Pass),
    ):
        return True
    if isinstance(statement, ast.Expr):
        return isinstance(statement.value, ast.Constant)  # a docstring, `...`
    if isinstance(statement, ast.Assign):
        return _constant(statement.value)
    if isinstance(statement, ast.AnnAssign):
        return statement.value is None or _constant(statement.value)
    if isinstance(statement, ast.If):  # `if sys.version_info >= (3, 11): import tomllib`
        return all(preparing(inner) for inner in [*statement.body, *statement.orelse])
    if isinstance(statement, ast.Try):
        blocks = [statement.body, statement.orelse, statement.finalbody]
        blocks += [handler.body for handler in statement.handlers]
        return all(preparing(inner) for block in blocks for inner in block)
    return False


def boundary_in_source(source: str | bytes, path: str) -> StartupBoundary | None:
    """The first working top-level statement, or None if every statement prepares."""
    try:
        tree = ast.parse(source, filename=path)
    except (SyntaxError, ValueError):
        return None
    lines = source.decode("utf-8", "replace") if isinstance(source, bytes) else source
    text_lines = lines.splitlines()
    for statement in tree.body:
        if preparing(statement):
            continue
        number = statement.lineno
        text = text_lines[number - 1].strip() if number <= len(text_lines) else ""
        return StartupBoundary(path, statement.lineno, text[:60])
    return None


def main_source(argv: list[str], cwd: str) -> tuple[str, str | bytes] | None:
    """(path, source) of the code `gcscope run ARGV` executes as `__main__`, found without
    importing anything (a package's `__init__` is never run here)."""
    if not argv:
        return None
    first = argv[0]
    if first == "-c" or (first.startswith("-c") and len(first) > 2):
        code = argv[1] if first == "-c" and len(argv) > 1 else first[2:]
        return "<string>", code
    if first == "-m" or (first.startswith("-m") and len(first) > 2):
        name = argv[1] if first == "-m" and len(argv) > 1 else first[2:]
        path = _module_path(name, cwd)
    else:
        path = os.path.join(cwd, first)
    if path is None:
        return None
    try:
        with open(path, "rb") as handle:
            return path, handle.read()
    except OSError:
        return None


def _module_path(name: str, cwd: str) -> str | None:
    search: list[str] | None = [cwd, *sys.path[1:]]
    spec = None
    parts = name.split(".")
    for depth in range(len(parts)):
        spec = importlib.machinery.PathFinder.find_spec(".".join(parts[: depth + 1]), search)
        if spec is None:
            return None
        search = list(spec.submodule_search_locations or [])
    if spec is None:
        return None
    if spec.submodule_search_locations is not None:  # a package: its __main__
        spec = importlib.machinery.PathFinder.find_spec(
            f"{name}.__main__", list(spec.submodule_search_locations)
        )
        if spec is None:
            return None
    origin = spec.origin
    return origin if origin and origin.endswith(".py") else None


def find_boundary(argv: list[str], cwd: str) -> StartupBoundary | None:
    found = main_source(argv, cwd)
    if found is None:
        return None
    path, source = found
    return boundary_in_source(source, path)
