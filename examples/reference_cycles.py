"""Three classic ways library code makes reference cycles, each dying as cyclic garbage.

gcscope run --cycles --allocations examples/reference_cycles.py
gcscope cycles gcscope-reference_cycles-*.json --graph cycles.png
"""

from __future__ import annotations


class TreeNode:
    """Children point back at their parent: the whole tree is one cycle."""

    def __init__(self, parent: TreeNode | None = None) -> None:
        self.parent = parent
        self.children: list[TreeNode] = []
        if parent is not None:
            parent.children.append(self)


class Button:
    """A callback that is a bound method of the object holding it."""

    def __init__(self) -> None:
        self.on_click = self.clicked

    def clicked(self) -> None:
        pass


class Session:
    """Two objects that each keep the other: a connection and its owner."""

    def __init__(self) -> None:
        self.connection = Connection(self)


class Connection:
    def __init__(self, session: Session) -> None:
        self.session = session


def main() -> None:
    for _ in range(300):
        root = TreeNode()
        TreeNode(TreeNode(root))
    for _ in range(200):
        Button()
    for _ in range(500):
        Session()
    print("done")


if __name__ == "__main__":
    main()
