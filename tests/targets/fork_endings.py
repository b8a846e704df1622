"""os.fork children that end in every way a process can, each recording its own
collections (ground truth, as in tree_truth.py) first.

argv: TRUTH. The parent makes 3 full collections, then forks one child per ending:
exit (sys.exit(3)), os_exit (os._exit(4)), return (leaves the program's code
normally: status 0), exception (an uncaught ValueError: status 1), sigterm (killed
by the parent with SIGTERM while it sleeps), each after N full collections of its
own (N = 1..5). The parent waits for all of them and prints their statuses.
"""
import gc
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tree_truth  # noqa: E402  (its window() and TRUTH, from argv)

ENDINGS = ["exit", "os_exit", "return", "exception", "sigterm"]


def child(ending, collections):
    tree_truth.window(collections)
    if ending == "exit":
        sys.exit(3)
    if ending == "os_exit":
        os._exit(4)
    if ending == "exception":
        raise ValueError("the child's own error")
    if ending == "sigterm":
        print("waiting", flush=True)
        time.sleep(60)
    return "returned"


def main():
    for _ in range(3):
        gc.collect()
    children = {}
    for number, ending in enumerate(ENDINGS, start=1):
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            os.write(write_fd, b"x")  # forked and running
            os.close(write_fd)
            return child(ending, number)
        os.close(write_fd)
        os.read(read_fd, 1)
        os.close(read_fd)
        children[pid] = ending
    time.sleep(0.5)
    for pid, ending in children.items():
        if ending == "sigterm":
            os.kill(pid, signal.SIGTERM)
    for pid, ending in children.items():
        _, status = os.waitpid(pid, 0)
        print(ending, os.waitstatus_to_exitcode(status), flush=True)
    return "parent"


if __name__ == "__main__":
    tree_truth.TRUTH = sys.argv[1]
    main()
