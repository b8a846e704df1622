"""Prints what a program sees of how it was started; must be identical under gcscope."""
import os
import sys

import sibling

print("argv", sys.argv)
print("name", __name__)
print("file", globals().get("__file__"))
print("path0", sys.path[0])
print("spec", __spec__)
print("package", __package__)
print("sibling", sibling.VALUE)
print("main-is-module", sys.modules["__main__"].__dict__ is globals())
# a plain `python` start imports none of these; gcscope must not leave them loaded
print("loaded", [name for name in ("click", "typing", "inspect", "tabulate") if name in sys.modules])
import click  # noqa: E402  (a click program: no context is active before its own)

print("click-context", click.get_current_context(silent=True))
sys.stdout.write("no newline at the end, and bytes: ")
sys.stdout.flush()
sys.stdout.buffer.write(b"\xff\x00\xfe")
