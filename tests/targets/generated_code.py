"""Collections inside code generated from a string: charged to the caller (CALL-LINE)."""
namespace = {}
exec("def make():\n    import gc\n    gc.collect(0)\n    return [[] for _ in range(10)]\n", namespace)
make = namespace["make"]
for _ in range(25):
    make()  # CALL-LINE
