"""The queue of one registry: huey storage (SQLite file or Redis) holding messages and job records.

A message carries only a job id; the job itself is a JSON record in the storage's key-value
store (``job:<id>``), written by whoever enqueues it and updated by the worker that runs it:
state, progress, result, errors and the worker's lease. See docs/decisions/job-queue.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from huey import Huey, RedisHuey, SqliteHuey
from huey.constants import EmptyData

REDIS_ENV = "REMISSION_REDIS_URL"
QUEUE_PATH_ENV = "REMISSION_QUEUE_PATH"
QUEUE_NAME_ENV = "REMISSION_QUEUE_NAME"
SPOOL_ENV = "REMISSION_JOBS_SPOOL"
LEASE_ENV = "REMISSION_JOB_LEASE_S"
ATTEMPTS_ENV = "REMISSION_JOB_ATTEMPTS"
DEFAULT_LEASE_S = 15.0
DEFAULT_ATTEMPTS = 2
#: Finished job records are dropped after this many days (by the workers' sweep).
KEEP_DAYS = 7

State = Literal["queued", "running", "succeeded", "failed"]
STATES: tuple[State, ...] = ("queued", "running", "succeeded", "failed")
KINDS = ("import", "rescore", "report")
TASK_NAME = "remission.job"


@dataclass(frozen=True)
class Job:
    """One job as its record says (a snapshot: read it again with :meth:`JobQueue.get`).

    ``errors`` are the problems that failed it, each ``{file, where, row, column, value, reason,
    text}`` (``text`` is the CLI's line); ``result`` is the kind's summary (an import: counts per
    table, totals and the reconciliation of source rows)."""

    id: str
    kind: str
    owner: str
    params: dict[str, Any]
    state: State = "queued"
    step: str = "waiting for a worker"
    done: int = 0
    total: int = 0
    message: str = ""
    result: dict[str, Any] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0
    worker: str = ""
    lease_until: float = 0.0
    created: float = 0.0
    started: float | None = None
    finished: float | None = None

    @property
    def percent(self) -> int:
        """Progress in percent (100 once finished)."""
        if self.state in ("succeeded", "failed"):
            return 100
        return int(100 * self.done / self.total) if self.total else 0

    @property
    def ended(self) -> bool:
        """Whether the job has succeeded or failed."""
        return self.state in ("succeeded", "failed")

    def public(self) -> dict[str, Any]:
        """What ``GET /api/jobs/{id}`` answers (no parameters: they hold server paths)."""
        out = {k: v for k, v in asdict(self).items() if k not in ("params", "lease_until", "worker")}
        out["percent"] = self.percent
        return out


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, "") or default)
    except ValueError:
        return default


def lease_seconds() -> float:
    """How long a worker's claim on a running job lasts without a heartbeat (``$REMISSION_JOB_LEASE_S``)."""
    return max(_env_float(LEASE_ENV, DEFAULT_LEASE_S), 1.0)


def max_attempts() -> int:
    """Runs of one job before a dead worker's job is failed rather than retried (``$REMISSION_JOB_ATTEMPTS``)."""
    return max(int(_env_float(ATTEMPTS_ENV, DEFAULT_ATTEMPTS)), 1)


def _sqlite_file(registry_url: str) -> Path | None:
    """The registry's SQLite file (absolute), or None for another database."""
    from sqlalchemy.engine import make_url

    url = make_url(registry_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).resolve()
    return None


def queue_name(registry_url: str) -> str:
    """The queue's name: ``$REMISSION_QUEUE_NAME``, else one derived from the registry (a SQLite
    file's absolute path, another database's URL without its password and driver), so that registries
    sharing one Redis keep separate queues and every process of one registry finds the same one."""
    named = os.environ.get(QUEUE_NAME_ENV, "").strip()
    if named:
        return named
    from sqlalchemy.engine import make_url

    registry = _sqlite_file(registry_url)
    if registry is None:  # the driver is left out: postgresql:// and postgresql+psycopg:// are one registry
        url = make_url(registry_url)
        key = url.set(drivername=url.get_backend_name(), password=None).render_as_string(hide_password=True)
    else:
        key = str(registry)
    return f"remission-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def queue_file(registry_url: str) -> Path:
    """Where the SQLite storage lives: ``$REMISSION_QUEUE_PATH``, else beside a SQLite registry
    (``registry.db`` → ``registry.jobs.sqlite``), else ``queue.sqlite`` in the spool folder of
    :func:`spool_folder` (another database: set ``$REMISSION_REDIS_URL`` or this path for a queue
    that outlives the system's temporary folder)."""
    named = os.environ.get(QUEUE_PATH_ENV, "").strip()
    if named:
        return Path(named)
    registry = _sqlite_file(registry_url)
    return (
        registry.with_name(registry.stem + ".jobs.sqlite") if registry else spool_folder(registry_url) / "queue.sqlite"
    )


def spool_folder(registry_url: str) -> Path:
    """Where uploads wait for their job and reports are written: ``$REMISSION_JOBS_SPOOL``, else a
    folder beside a SQLite registry, else one in the system's temporary folder. With workers on
    several machines it must be a folder they all see under the same path."""
    named = os.environ.get(SPOOL_ENV, "").strip()
    if named:
        return Path(named)
    registry = _sqlite_file(registry_url)
    if registry:
        return registry.with_name(registry.stem + ".jobs")
    return Path(tempfile.gettempdir()) / queue_name(registry_url)


def _describe(storage: Huey) -> str:
    if isinstance(storage, SqliteHuey):
        return f"SQLite {storage.storage.filename}"
    return "Redis"


class JobQueue:
    """Enqueue jobs, read and update their records (web and worker side alike)."""

    def __init__(self, huey: Huey, spool: Path) -> None:
        self.huey = huey
        self.spool = spool
        # The message's task; the worker runs the job itself (remission.jobs.worker), by its id.
        self._task = huey.task(name=TASK_NAME)(_never_called)

    @property
    def name(self) -> str:
        return str(self.huey.name)

    def folder(self, job_id: str) -> Path:
        """The job's own folder in the spool (an import's uploads, a built report)."""
        return self.spool / job_id

    def describe(self) -> str:
        """The storage in words (``SQLite /path/registry.jobs.sqlite`` or ``Redis``)."""
        return _describe(self.huey)

    # -- records -------------------------------------------------------------------------------

    def _put(self, job: Job) -> None:
        self.huey.storage.put_data(f"job:{job.id}", json.dumps(asdict(job)).encode())

    def get(self, job_id: str) -> Job | None:
        """The job's record, or None."""
        data = self.huey.storage.peek_data(f"job:{job_id}")
        if data is EmptyData:
            return None
        return Job(**json.loads(data))

    def save(self, job: Job) -> Job:
        """Write ``job`` as the record (the worker's progress and outcome)."""
        self._put(job)
        return job

    def jobs(self) -> Iterator[Job]:
        """Every job record (the sweep; small: finished records are dropped after :data:`KEEP_DAYS`)."""
        for key, data in self.huey.storage.result_items().items():
            if str(key).startswith("job:"):
                yield Job(**json.loads(data))

    # -- queue ---------------------------------------------------------------------------------

    def new_id(self) -> str:
        return secrets.token_urlsafe(12)

    def enqueue(self, kind: str, params: Mapping[str, Any], owner: str, job_id: str | None = None) -> Job:
        """Record a new job and queue it; returns its record (state ``queued``)."""
        if kind not in KINDS:
            raise ValueError(f"unknown job kind {kind!r}: expected one of {', '.join(KINDS)}")
        job = Job(id=job_id or self.new_id(), kind=kind, owner=owner, params=dict(params), created=time.time())
        self._put(job)
        self.huey.enqueue(self._task.s(job.id))
        return job

    def requeue(self, job: Job, note: str) -> Job:
        """Queue ``job`` again (a retry after its worker died)."""
        again = replace(job, state="queued", step=note, worker="", lease_until=0.0, done=0, total=0)
        self._put(again)
        self.huey.enqueue(self._task.s(job.id))
        return again

    def next_job_id(self) -> str | None:
        """Take the next message off the queue (SQLite: at once; Redis: waits up to a second)."""
        task = self.huey.dequeue()
        return None if task is None else str(task.args[0])

    def claim(self, job_id: str, worker: str) -> Job | None:
        """Mark a queued job running for ``worker``; None if it is not queued or another worker claimed it."""
        job = self.get(job_id)
        if job is None or job.state != "queued":
            return None
        attempt = job.attempts + 1
        if not self.huey.storage.put_if_empty(f"claim:{job_id}:{attempt}", worker.encode()):
            return None
        now = time.time()
        running = replace(
            job,
            state="running",
            step="starting",
            attempts=attempt,
            worker=worker,
            lease_until=now + lease_seconds(),
            started=now,
        )
        return self.save(running)

    def release_claims(self, job: Job) -> None:
        for attempt in range(1, job.attempts + 1):
            self.huey.storage.delete_data(f"claim:{job.id}:{attempt}")

    @contextmanager
    def sweep_lock(self, stale_after: float = 60.0) -> Iterator[bool]:
        """Hold the queue-wide sweep lock if it is free (yields whether this caller holds it).

        A lock older than ``stale_after`` seconds is a dead sweeper's and is taken over; a sweep
        done twice is harmless (a job is claimed once per attempt)."""
        key, storage = "lock:sweep", self.huey.storage
        held = storage.put_if_empty(key, str(time.time()).encode())
        if not held:
            since = storage.peek_data(key)
            if since is not EmptyData and time.time() - float(since) > stale_after:
                storage.delete_data(key)
                held = storage.put_if_empty(key, str(time.time()).encode())
        try:
            yield bool(held)
        finally:
            if held:
                storage.delete_data(key)

    def pending(self) -> int:
        """Messages waiting in the queue."""
        return int(self.huey.pending_count())


def _never_called(job_id: str) -> None:  # pragma: no cover - workers run jobs by id, not the task
    raise RuntimeError("remission jobs are run by `remission worker`, not by huey's consumer")


def open_queue(registry_url: str, *, redis_url: str | None = None) -> JobQueue:
    """The queue of the registry at ``registry_url``: Redis storage when ``redis_url`` or
    ``$REMISSION_REDIS_URL`` is given, else the SQLite file of :func:`queue_file`."""
    name = queue_name(registry_url)
    redis = redis_url if redis_url is not None else os.environ.get(REDIS_ENV, "").strip()
    huey: Huey
    if redis:
        huey = RedisHuey(name, url=redis, results=True, store_none=False)
    else:
        path = queue_file(registry_url)
        path.parent.mkdir(parents=True, exist_ok=True)
        huey = SqliteHuey(name, filename=str(path), results=True, store_none=False)
    return JobQueue(huey, spool_folder(registry_url))
