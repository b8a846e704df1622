"""Parks objects in gc.garbage itself, and makes some cyclic garbage."""
import gc


class Parked:
    pass


class Loop:
    def __init__(self):
        self.me = self


gc.garbage.extend(Parked() for _ in range(7))
for _ in range(40):
    Loop()
gc.collect()
print("parked", sum(type(o) is Parked for o in gc.garbage))
