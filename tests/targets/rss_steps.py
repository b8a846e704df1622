"""Resident memory in three known steps: a baseline, 64 MiB more (written, so resident),
and the baseline again once they are freed (a block that size is its own mapping)."""

import time

MIB = 1024 * 1024

time.sleep(0.3)
block = b"x" * (64 * MIB)  # step up
time.sleep(0.3)
del block  # step down
time.sleep(0.3)
print("done")
