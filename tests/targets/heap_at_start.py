"""What the program's heap holds at its first line: whether the `ast` module's node types
exist (python's start-up never makes them; the first builtin compile() in a process
does), and how many GC-tracked objects there are."""
import gc

ast_types = any(t.__name__ == "AST" and t.__module__ == "ast" for t in object.__subclasses__())
print("ast node types:", ast_types)
print("tracked objects:", len(gc.get_objects()))
