"""Objects in cycles that fight back: every method a tool might call misbehaves."""
import time


class RaisingRepr:
    def __repr__(self):
        raise RuntimeError("no repr for you")


class HugeRepr:
    def __repr__(self):
        return "x" * 50_000_000


class SlowRepr:
    def __repr__(self):
        time.sleep(60)
        return "slow"


class Lying:
    def __getattr__(self, name):
        raise RuntimeError("no attributes: " + name)

    def __getattribute__(self, name):
        if name in ("__class__", "__dict__"):
            return object.__getattribute__(self, name)
        raise RuntimeError("no attributes: " + name)

    def __eq__(self, other):
        raise RuntimeError("no eq")

    def __hash__(self):
        raise RuntimeError("no hash")

    def __sizeof__(self):
        raise RuntimeError("no size")


def cycle(kind):
    a, b = kind(), kind()
    object.__setattr__(a, "other", b)
    object.__setattr__(b, "other", a)


for kind in (RaisingRepr, HugeRepr, SlowRepr, Lying):
    for _ in range(50):
        cycle(kind)
huge = list(range(1_000_000))
huge.append(huge)  # a huge container in a cycle
del huge
strange = {}
strange[RaisingRepr()] = strange  # a key whose repr raises
del strange
print("hostile done")
