"""Where gcscope's own code lives, so its frames and allocations can be told apart."""

import os

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
