"""A small batch pipeline with the habits that make the cyclic GC expensive.

Each batch builds records that point back at their batch (a reference cycle),
and a cache keeps a growing share of them alive, so full collections walk an
ever larger heap. Try:

    gcscope run examples/batch_pipeline.py --batches 40
"""

from __future__ import annotations

import argparse


class Batch:
    def __init__(self, number: int) -> None:
        self.number = number
        self.records: list[Record] = []


class Record:
    def __init__(self, batch: Batch, value: int) -> None:
        self.batch = batch  # back-pointer: batch -> records -> record -> batch
        self.value = value
        self.tags = {"value": value, "parity": value % 2}
        batch.records.append(self)


def run_batch(number: int, size: int, cache: dict[int, Record]) -> int:
    batch = Batch(number)
    for value in range(size):
        Record(batch, number * size + value)
    for record in batch.records[:: size // 50 or 1]:
        cache[record.value] = record  # keeps whole batches alive through the cycle
    return sum(record.value % 7 for record in batch.records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--size", type=int, default=20_000)
    options = parser.parse_args()
    cache: dict[int, Record] = {}
    total = 0
    for number in range(options.batches):
        total += run_batch(number, options.size, cache)
        if len(cache) > 400:  # evict the oldest entries: their batches become garbage
            for key in sorted(cache)[:200]:
                del cache[key]
    print(f"processed {options.batches} batches, checksum {total}")


if __name__ == "__main__":
    main()
