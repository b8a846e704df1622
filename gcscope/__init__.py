"""gcscope: see what Python's cyclic garbage collector costs a real program.

The package import is kept cheap on purpose: the CLI imports only what each
command needs, so that `gcscope run` adds as little start-up time as possible.
"""

__version__ = "0.1.0"
