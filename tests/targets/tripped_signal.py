"""A SIGTERM that CPython records but whose handler never gets to run: another thread
trips it (`_thread.interrupt_main`, what the C signal handler does) while the main thread
waits on a lock, as a pool worker's main thread sits in sem_wait when Pool.terminate()'s
signal lands just before it blocks. Under plain python (default disposition) the trip
does nothing and this waits forever; a Python-level handler would wait forever too."""
import _thread
import signal
import time

lock = _thread.allocate_lock()
lock.acquire()


def trip():
    time.sleep(0.3)
    _thread.interrupt_main(signal.SIGTERM)


_thread.start_new_thread(trip, ())
lock.acquire()
