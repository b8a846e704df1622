"""Ends in the way argv[1] asks, to compare exit behaviour with plain python."""
import sys


def fail():
    try:
        {}["missing"]
    except KeyError as exc:
        raise ValueError("target failed") from exc


mode = sys.argv[1]
print("before", mode)
if mode == "code":
    sys.exit(int(sys.argv[2]))
elif mode == "message":
    sys.exit("a message for stderr")
elif mode == "raise":
    fail()
elif mode == "none":
    sys.exit()
print("after", mode)
