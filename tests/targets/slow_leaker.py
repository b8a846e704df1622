"""Grows one list steadily for about 1.2 s (STEADY-LINE); allocates a one-off spike once."""
import time

kept = []
spike = None
for step in range(12):
    kept.append(bytearray(50_000))  # STEADY-LINE
    if step == 2:
        spike = [bytearray(1000) for _ in range(100)]  # SPIKE-LINE
    if step == 4:
        spike = None
    time.sleep(0.1)
print("done", len(kept))
