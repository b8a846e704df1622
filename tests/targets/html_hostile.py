"""Program-controlled text that would be markup: type names, an attribute name, and
(when the test copies this file under such a name) the script's own path.

Makes cycles of those types (for --cycles), keeps a few alive (for type growth), and
collects once at a known line (a trigger site whose path is hostile).
"""
import gc

Script = type("<script>alert(1)</script>", (), {})
Breakout = type("</script><script>window.pwned=1</script>", (), {})
Image = type('<img src=x onerror="window.pwned=2">', (), {})

for _ in range(20):
    a, b, c = Script(), Breakout(), Image()
    a.peer = b
    setattr(b, "<img src=y onerror=window.pwned=3>", c)
    c.back = a
    del a, b, c
kept = [Script(), Breakout(), Image()]
gc.collect()  # COLLECT
print("hostile names made")
