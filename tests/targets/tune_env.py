"""Prints whether gcscope tune's candidate variable reached the program (it must not)."""

import os
import subprocess
import sys

rows = [[i] for i in range(20_000)]
print("GCSCOPE_TUNE_CANDIDATE" in os.environ)
child = "import os; print('GCSCOPE_TUNE_CANDIDATE' in os.environ)"
print(subprocess.run([sys.executable, "-c", child], capture_output=True, text=True).stdout.strip())
