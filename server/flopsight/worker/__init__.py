"""flopsight.worker: runs user code in warm, isolated, bounded, cancellable processes.

``WorkerPool`` (pool.py) is the API; host.py is the warm process per interpreter, child.py the
forked child per job, protocol.py their messages, outcome.py the reports for failed jobs.
"""

from flopsight.worker.pool import JobCancelled, WorkerPool, default_max_children

__all__ = ["JobCancelled", "WorkerPool", "default_max_children"]
