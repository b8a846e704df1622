"""Removes the folder argv[1] (where the capture was to go), then ends normally."""
import shutil
import sys

shutil.rmtree(sys.argv[1])
print("removed")
