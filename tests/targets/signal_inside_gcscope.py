"""Its SIGALRM handler exits (status 3) once it runs inside gcscope's own Python code,
which gcscope's gc callback calls on a trigger site's first sight: many new sites, a
fast timer. Under python there is no such code: it prints "done"."""
import gc
import signal
import sys


def handler(signum, frame):
    if frame.f_globals.get("__name__", "").startswith("gcscope."):  # its module, not a path
        signal.setitimer(signal.ITIMER_REAL, 0)
        sys.exit(3)


signal.signal(signal.SIGALRM, handler)
source = "".join("gc.collect(0)\n" for _ in range(int(sys.argv[1])))
code = compile(source, "<sites>", "exec")
signal.setitimer(signal.ITIMER_REAL, 0.00005, 0.00005)
exec(code)
signal.setitimer(signal.ITIMER_REAL, 0)
print("done")
