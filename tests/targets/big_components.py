"""TREES trees of about SIZE objects each; children point back at their parent, so each
tree (its nodes and their child lists) is one strongly connected component: one cycle.

argv[1]: trees (default 6), argv[2]: nodes per tree (default 46400: with each node's
children list, about 58,000 objects per tree).
"""
import sys

TREES = int(sys.argv[1]) if len(sys.argv) > 1 else 6
NODES = int(sys.argv[2]) if len(sys.argv) > 2 else 46_400


class Element:
    __slots__ = ("parent", "children")

    def __init__(self, parent=None):
        self.parent = parent
        self.children = []
        if parent is not None:
            parent.children.append(self)


def tree(n):
    root = Element()
    level = [root]
    made = 1
    while made < n:
        nxt = []
        for parent in level:
            for _ in range(4):
                if made >= n:
                    break
                nxt.append(Element(parent))
                made += 1
        level = nxt
    return root


for _ in range(TREES):
    tree(NODES)
print("trees done", TREES, NODES)
