"""``remission worker``: takes jobs off the registry's queue and runs them, one at a time.

While a job runs, a heartbeat thread renews the worker's lease on the job's record; when idle the
worker sweeps the queue for jobs whose lease ran out (their worker died): each is queued again,
up to :func:`~remission.jobs.queue.max_attempts` runs, then failed. Invalid input fails the job
with the same problems as the CLI; any other exception fails it with its type only (values may
be patient data: they stay out of the record and the log).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import threading
import time
from dataclasses import replace
from typing import Any

from sqlalchemy import Engine

from remission.errors import InvalidInputError, Problem
from remission.jobs.kinds import RUNNERS, problem_dict
from remission.jobs.queue import KEEP_DAYS, Job, JobQueue, lease_seconds, max_attempts

log = logging.getLogger("remission.jobs")
#: Progress is written to the record at most this often (a heartbeat writes it anyway).
PROGRESS_EVERY_S = 0.2
LOST = "the worker stopped mid-job (killed or its machine failed); nothing was written"


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Worker:
    """Runs the jobs of ``queue`` against the registry ``engine``."""

    def __init__(self, queue: JobQueue, engine: Engine, name: str | None = None) -> None:
        self.queue = queue
        self.engine = engine
        self.name = name or worker_name()
        self._lock = threading.Lock()
        self._job: Job | None = None
        self._written = 0.0

    # -- one job ---------------------------------------------------------------------------

    def _write(self, **changes: Any) -> None:
        """Update the running job's record (under the lock shared with the heartbeat)."""
        with self._lock:
            if self._job is None:
                return
            self._job = replace(self._job, **changes)
            self.queue.save(self._job)
            self._written = time.monotonic()

    def _progress(self, step: str, done: int, total: int) -> None:
        with self._lock:
            job = self._job
            if job is not None and step == job.step and time.monotonic() - self._written < PROGRESS_EVERY_S:
                self._job = replace(job, done=done, total=total)  # written by the next write
                return
        self._write(step=step, done=done, total=total)

    def _heartbeat(self, stop: threading.Event) -> None:
        every = lease_seconds() / 5
        while not stop.wait(every):
            self._write(lease_until=time.time() + lease_seconds())

    def _finish(self, **changes: Any) -> Job | None:
        """Write the outcome unless the job was taken over (our lease ran out and it was retried)."""
        with self._lock:
            job, self._job = self._job, None
        if job is None:
            return None
        stored = self.queue.get(job.id)
        if stored is not None and (stored.worker, stored.attempts) != (self.name, job.attempts):
            log.warning("job %s was taken over while it ran here; its outcome is not recorded", job.id)
            return None
        done = replace(job, finished=time.time(), lease_until=0.0, **changes)
        self.queue.save(done)
        self.queue.release_claims(done)
        return done

    def run_job(self, job_id: str) -> Job | None:
        """Claim and run one job; its record ends ``succeeded`` or ``failed``. None if not claimed."""
        job = self.queue.claim(job_id, self.name)
        if job is None:
            return None
        self._job, self._written = job, time.monotonic()
        folder = self.queue.folder(job.id)
        stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(stop,), name=f"lease-{job.id}", daemon=True)
        beat.start()
        log.info("job %s (%s) started, attempt %d", job.id, job.kind, job.attempts)
        outcome: dict[str, Any]
        try:
            result = RUNNERS[job.kind](self.engine, job.params, self._progress, folder)
            outcome = {"state": "succeeded", "step": "done", "result": result, "message": "done"}
        except InvalidInputError as err:
            outcome = {
                "state": "failed",
                "step": "failed",
                "errors": [problem_dict(p) for p in err.problems],
                "message": "nothing was written: the input has the problems listed",
            }
        except Exception as err:  # a job must end; the record and the log get the exception type only
            log.error("job %s failed: %s", job.id, type(err).__name__)
            reason = f"the job failed unexpectedly ({type(err).__name__}); nothing was written"
            outcome = {"state": "failed", "step": "failed", "errors": [_error(job, reason)], "message": reason}
        finally:
            stop.set()
            beat.join()
            if job.kind == "import":
                shutil.rmtree(folder, ignore_errors=True)  # the uploads: the registry holds them now, or nothing
        log.info("job %s %s", job.id, outcome["state"])
        return self._finish(**outcome)

    # -- the queue ---------------------------------------------------------------------------

    def sweep(self, now: float | None = None) -> list[str]:
        """Retry or fail the jobs of dead workers, drop old finished records; the ids handled."""
        now = time.time() if now is None else now
        handled: list[str] = []
        with self.queue.sweep_lock() as held:
            if not held:
                return handled
            for job in list(self.queue.jobs()):
                if job.state == "running" and job.lease_until < now:
                    handled.append(job.id)
                    if job.attempts < max_attempts():
                        log.warning("job %s: its worker %s stopped; queued again", job.id, job.worker)
                        self.queue.requeue(job, f"queued again: {LOST}")
                    else:
                        self._fail_lost(job, now)
                elif job.ended and (job.finished or 0) < now - KEEP_DAYS * 86400:
                    self.queue.huey.storage.delete_data(f"job:{job.id}")
        return handled

    def _fail_lost(self, job: Job, now: float) -> None:
        log.warning("job %s: its worker %s stopped; failed after %d attempt(s)", job.id, job.worker, job.attempts)
        reason = f"{LOST} ({job.attempts} attempt(s))"
        failed = replace(
            job,
            state="failed",
            step="failed",
            message=reason,
            errors=[_error(job, reason)],
            finished=now,
            lease_until=0.0,
        )
        self.queue.save(failed)
        self.queue.release_claims(failed)
        if job.kind == "import":
            shutil.rmtree(self.queue.folder(job.id), ignore_errors=True)

    def run(self, stop: threading.Event | None = None, *, burst: bool = False, poll: float = 0.2) -> int:
        """Run jobs until ``stop`` is set (or, with ``burst``, until the queue is empty); the jobs run."""
        stop = stop or threading.Event()
        ran = 0
        self.sweep()
        last_sweep = time.monotonic()
        while not stop.is_set():
            job_id = self.queue.next_job_id()
            if job_id is not None:
                ran += self.run_job(job_id) is not None
                continue
            if burst:
                break
            if time.monotonic() - last_sweep > lease_seconds() / 2:
                self.sweep()
                last_sweep = time.monotonic()
            stop.wait(poll)
        return ran


def _error(job: Job, reason: str) -> dict[str, Any]:
    """A failure that is no problem of the input (a dead worker, an exception)."""
    return problem_dict(Problem(None, job.kind, "", reason))
