"""Workload (d): a known leak among heavy churn, for sampled-allocation accuracy.

Leaks exactly LEAKS bytearrays of PAYLOAD bytes (2000 x 10 kB = 20 MB) at the line
marked LEAK-LINE, while churning about 10x as many bytes that are freed at once: small
lists and strings, and 10 kB buffers of the same size as the leaked ones (CHURN-LINE),
so only what stays (not what is allocated) can point at the leak.
"""
import os

LEAKS = int(os.environ.get("LEAK_COUNT", "2000"))
PAYLOAD = 10_000
CHURN = int(os.environ.get("LEAK_CHURN", "20"))  # churn rounds per leaked block

cache = []


def churn(i):
    for j in range(CHURN):
        temporary = [str(i * j)] * 20  # CHURN-LINE (small blocks)
        buffer = bytearray(PAYLOAD)  # CHURN-LINE (same size as the leak)
        del temporary, buffer


def main():
    for i in range(LEAKS):
        churn(i)
        cache.append(bytearray(PAYLOAD))  # LEAK-LINE
    print("leaked", len(cache))


if __name__ == "__main__":
    main()
