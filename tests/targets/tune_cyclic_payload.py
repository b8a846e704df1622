"""Known answer for `gcscope tune --max-rss`: cyclic garbage holding payloads.

Every item is a list that contains itself and a 2 KiB payload: refcounting never
frees it, only a collection does. Up to threshold0 items wait for the next young
collection, so peak RSS grows with threshold0: x50 holds 35,000 (3.10-3.12) or
100,000 (3.13) items, 70-200 MiB of payloads, against 1.4-4 MiB by default.
"""

import sys

ITEMS = int(sys.argv[1]) if len(sys.argv) > 1 else 300_000

made = 0
for i in range(ITEMS):
    item = [bytes(2048)]
    item.append(item)
    made += 1
del item
print(made)
