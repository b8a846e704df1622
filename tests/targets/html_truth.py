"""Ground truth for the HTML report and the trace: exactly the collections in PLAN, no others.

Automatic collection is off, so the only collections are the explicit ones below, made
30 ms apart (far apart on any timeline) at one known line. Prints its own plan, and
whether Jinja2 was loaded into its process while it ran (it must not be).
"""
import gc
import json
import sys
import time

PLAN = [0, 1, 0, 2, 0, 1, 0, 2, 0, 1]  # 5 of gen 0, 3 of gen 1, 2 of gen 2
gc.disable()
keep = []
for generation in PLAN:
    keep.append([[] for _ in range(200)])  # something for the collections to walk
    time.sleep(0.03)
    gc.collect(generation)  # COLLECT
time.sleep(0.03)
print(json.dumps({"plan": PLAN, "jinja2_loaded": "jinja2" in sys.modules}))
