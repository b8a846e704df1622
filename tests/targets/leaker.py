"""Leaks exactly LEAKS objects of PAYLOAD bytes at LEAK-LINE, among transient churn."""
import sys

LEAKS = 2000
PAYLOAD = 10_000


class Leaky:
    def __init__(self, payload):
        self.payload = payload


cache = []


def churn():
    for i in range(50_000):
        temporary = [str(i)] * 20  # CHURN-LINE: allocated and freed at once, never growth
        del temporary


def leak():
    for _ in range(LEAKS):
        cache.append(Leaky(bytearray(PAYLOAD)))  # LEAK-LINE


churn()
leak()
churn()
print("leaked", len(cache))
