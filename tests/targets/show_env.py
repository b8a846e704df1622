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
sys.stdout.write("no newline at the end, and bytes: ")
sys.stdout.flush()
sys.stdout.buffer.write(b"\xff\x00\xfe")
