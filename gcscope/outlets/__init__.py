"""Where a monitored process's GC figures go: Prometheus, OpenTelemetry (and dumps, in
gcscope.monitor). Each outlet reads the recorder's tables when asked, never per collection.

An outlet has `flush()` (push figures now, where it pushes), `before_fork()`,
`after_fork_parent()` (its threads step aside around a fork), `after_fork_in_child()`
(its figures start from zero) and `close()`.
"""


class Outlet:
    """What every outlet does by default: nothing to push, no thread, nothing to reset."""

    def flush(self) -> None:
        """Push the figures now (outlets that are pulled have nothing to push)."""

    def before_fork(self) -> None:
        """Step aside while the process forks."""

    def after_fork_parent(self) -> None:
        """Come back once the fork is over."""

    def after_fork_in_child(self) -> None:
        """In a forked child: start the child's own figures."""

    def close(self) -> None:
        """Detach from wherever the outlet reports."""
