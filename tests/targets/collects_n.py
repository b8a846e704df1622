"""Runs exactly argv[1] explicit collections (for telling concurrent runs apart)."""
import gc
import sys
import time

for _ in range(int(sys.argv[1])):
    gc.collect()
time.sleep(0.05)
