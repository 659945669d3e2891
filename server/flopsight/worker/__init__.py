"""flopsight.worker: runs user code in warm, isolated, bounded, cancellable processes.

``WorkerPool`` (pool.py) is the API. host.py is the warm process per interpreter that forks a
child per job (child.py); spawnhost.py and spawned.py are the path without fork() (Windows),
a fresh interpreter per job; protocol.py holds their messages and outcome.py turns a job that
ended without a report into one (timeout, memory, crash, unavailable).
"""

from flopsight.worker.pool import JobCancelled, WorkerPool, default_max_children

__all__ = ["JobCancelled", "WorkerPool", "default_max_children"]
