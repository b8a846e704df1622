"""A program whose output differs from run to run."""

import os

rows = [[i] for i in range(20_000)]
print(len(rows), os.urandom(4).hex())
