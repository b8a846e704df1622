"""A function for gcscope.tune: the same batches as tune_young.py, as a call."""


def work(batches, size=30_000):
    total = 0
    for _ in range(batches):
        rows = [[i, [i]] for i in range(size)]
        total += sum(len(row) for row in rows)
    print(total)
    return total
