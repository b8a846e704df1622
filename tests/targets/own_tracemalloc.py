"""A program that uses tracemalloc itself."""
import tracemalloc

tracemalloc.start(5)
data = [bytearray(100) for _ in range(1000)]
snapshot = tracemalloc.take_snapshot()
stats = snapshot.statistics("lineno")
print("own stats", len(stats) > 0, tracemalloc.is_tracing())
