"""Allocates plenty, but nothing in a reference cycle."""
import json

total = 0
for i in range(20_000):
    record = {"id": i, "tags": [str(i), "x"], "nested": {"v": i}}
    total += len(json.dumps(record))
print("total", total)
