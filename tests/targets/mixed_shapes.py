"""Three kinds of cycles, one after the other, all cyclic garbage (ground truth in argv).

argv[1]: Node pairs (default 20000), argv[2]: Session<->Connection pairs (default 20000),
argv[3]: self-referencing lists (default 3000).
"""
import sys

NODES = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
SESSIONS = int(sys.argv[2]) if len(sys.argv) > 2 else 20_000
LISTS = int(sys.argv[3]) if len(sys.argv) > 3 else 3_000


class Node:
    def __init__(self):
        self.partner = None


class Session:
    def __init__(self):
        self.connection = Connection(self)  # CONNECTION-LINE


class Connection:
    def __init__(self, session):
        self.session = session


for _ in range(NODES):
    first = Node()  # NODE-LINE
    second = Node()
    first.partner, second.partner = second, first
for _ in range(SESSIONS):
    Session()  # SESSION-LINE
for _ in range(LISTS):
    loop = []  # LIST-LINE
    loop.append(loop)
del first, second, loop  # the last ones die too: every count is exactly the argument
print("mixed done", NODES, SESSIONS, LISTS)
