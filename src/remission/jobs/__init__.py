"""Jobs out of the serving process: imports, rescoring and report builds run by ``remission worker``.

The web application and the API only enqueue (:meth:`JobQueue.enqueue`) and read a job's record
(:meth:`JobQueue.get`: state ``queued | running | succeeded | failed``, progress, result, errors);
a worker (:class:`Worker`) runs it. The queue is huey's: a SQLite file beside the registry by
default (no server), Redis when ``$REMISSION_REDIS_URL`` is set (several workers, several
machines). See docs/workers.md and docs/decisions/job-queue.md.
"""

from remission.jobs.queue import KINDS, STATES, Job, JobQueue, open_queue
from remission.jobs.worker import Worker

__all__ = ["KINDS", "STATES", "Job", "JobQueue", "Worker", "open_queue"]
