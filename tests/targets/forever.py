"""Allocates cyclic garbage until interrupted: many collections, so Ctrl-C lands near them."""
import sys


class Cycle:
    def __init__(self):
        self.me = self


print("ready", flush=True)
while True:
    for _ in range(1000):
        Cycle()
