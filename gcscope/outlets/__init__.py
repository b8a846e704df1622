"""Where a monitored process's GC figures go: Prometheus, OpenTelemetry (and dumps, in
gcscope.monitor). Each outlet reads the recorder's tables when asked, never per collection.

An outlet has `flush()` (push figures now, where it pushes), `after_fork_in_child()`
and `close()`.
"""
