"""Benchmark: task-queue candidates for remission's jobs (docs/decisions/job-queue.md).

`python bench/job_queue.py [--n 500] [--redis redis://127.0.0.1:6379/15]`

For each candidate that is installed (huey with SQLite storage, huey with Redis storage,
Dramatiq with its Redis broker, RQ), on this machine:

1. **no server**: whether it can queue at all without a server process (a file, or nothing);
2. **enqueue latency**: the caller's time for one enqueue of a small message (a job id), N times,
   median and p99 — what a web request pays;
3. **round trip**: enqueue → a worker in another process picks it up → its result is visible, N/10
   times, median (a worker polls: this is mostly the poll interval);
4. **kill -9 mid-task**: a worker process takes a task that sleeps 5 s and is killed with SIGKILL
   after 1 s; a fresh worker then runs for 8 s. Prints what became of the task: ``lost`` (not
   queued, never ran again), ``redelivered`` (ran again) or ``failed`` (recorded as failed).

Dramatiq and RQ are not dependencies of remission: install them next to it to compare
(``pip install "dramatiq[redis]==2.2.1" rq==2.12.0``). Only 127.0.0.1 is contacted; the Redis
database given (default 15) is flushed.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import signal
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

MARKS = Path(tempfile.mkdtemp(prefix="queue-bench-"))


def _quantiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return f"median {statistics.median(ordered) * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms"


def _timed(n: int, enqueue: Callable[[int], Any]) -> list[float]:
    out = []
    for i in range(n):
        t = time.perf_counter()
        enqueue(i)
        out.append(time.perf_counter() - t)
    return out


def _mark(name: str) -> None:
    """A task's side effect: one line per run in a file of its own."""
    with (MARKS / name).open("a") as f:
        f.write(f"{os.getpid()}\n")


def _runs(name: str) -> int:
    path = MARKS / name
    return len(path.read_text().splitlines()) if path.exists() else 0


# ---------------------------------------------------------------------------------------------
# huey


def _huey(kind: str, redis_url: str) -> Any:
    from huey import RedisHuey, SqliteHuey

    if kind == "sqlite":
        return SqliteHuey("bench", filename=str(MARKS / "huey.sqlite"))
    return RedisHuey("bench", url=redis_url)


def _huey_tasks(huey: Any) -> tuple[Any, Any]:
    @huey.task(name="echo")
    def echo(i: int) -> int:
        return i

    @huey.task(name="slow")
    def slow(name: str) -> None:
        _mark(name)
        time.sleep(5)

    return echo, slow


def _huey_worker(kind: str, redis_url: str) -> None:
    huey = _huey(kind, redis_url)
    _huey_tasks(huey)
    huey.create_consumer(workers=1, periodic=False, initial_delay=0.01, max_delay=0.05).run()


def bench_huey(kind: str, n: int, redis_url: str) -> None:
    huey = _huey(kind, redis_url)
    huey.flush()
    echo, slow = _huey_tasks(huey)
    enqueue = _timed(n, lambda i: echo(i))
    huey.flush()
    worker = mp.Process(target=_huey_worker, args=(kind, redis_url), daemon=True)
    worker.start()
    trips = []
    for i in range(max(n // 10, 5)):
        t = time.perf_counter()
        echo(i).get(blocking=True, timeout=10, backoff=1.0, max_delay=0.005)
        trips.append(time.perf_counter() - t)
    name = f"huey-{kind}"
    slow(name)
    fate = _kill_and_rerun(worker, lambda: _runs(name), lambda: huey.pending_count(), (_huey_worker, (kind, redis_url)))
    print(f"huey {kind}: enqueue {_quantiles(enqueue)}; round trip {_quantiles(trips)}; kill -9: {fate}")


# ---------------------------------------------------------------------------------------------
# Dramatiq (Redis broker)


def _dramatiq(redis_url: str) -> tuple[Any, Any, Any]:
    import dramatiq
    from dramatiq.brokers.redis import RedisBroker
    from dramatiq.results import Results
    from dramatiq.results.backends import RedisBackend

    # heartbeat_timeout 3 s (default 60 s): how long until another worker requeues a dead one's messages
    # maintenance (which requeues them) runs on every fetch here, not on 1 in 1,000 (the default)
    broker = RedisBroker(url=redis_url, heartbeat_timeout=3000, dead_message_ttl=60000, maintenance_chance=1_000_000)
    broker.add_middleware(Results(backend=RedisBackend(url=redis_url)))
    dramatiq.set_broker(broker)

    @dramatiq.actor(store_results=True, max_retries=0)
    def echo(i: int) -> int:
        return i

    @dramatiq.actor(max_retries=0, time_limit=60000)
    def slow(name: str) -> None:
        _mark(name)
        time.sleep(5)

    return broker, echo, slow


def _dramatiq_worker(redis_url: str) -> None:
    from dramatiq import Worker

    broker, _, _ = _dramatiq(redis_url)
    worker = Worker(broker, worker_threads=1, worker_timeout=50)
    worker.start()
    while True:
        time.sleep(1)


def bench_dramatiq(n: int, redis_url: str) -> None:
    broker, echo, slow = _dramatiq(redis_url)
    broker.flush_all()
    enqueue = _timed(n, lambda i: echo.send(i))
    broker.flush_all()
    worker = mp.Process(target=_dramatiq_worker, args=(redis_url,), daemon=True)
    worker.start()
    trips = []
    for i in range(max(n // 10, 5)):
        t = time.perf_counter()
        echo.send(i).get_result(block=True, timeout=10000)
        trips.append(time.perf_counter() - t)
    slow.send("dramatiq")
    fate = _kill_and_rerun(worker, lambda: _runs("dramatiq"), lambda: 0, (_dramatiq_worker, (redis_url,)))
    print(f"dramatiq redis: enqueue {_quantiles(enqueue)}; round trip {_quantiles(trips)}; kill -9: {fate}")


# ---------------------------------------------------------------------------------------------
# RQ


def rq_echo(i: int) -> int:
    return i


def rq_slow(name: str) -> None:
    _mark(name)
    time.sleep(5)


def _rq_worker(redis_url: str) -> None:
    from redis import Redis
    from rq import Queue, SimpleWorker

    connection = Redis.from_url(redis_url)
    # SimpleWorker: the job runs in the worker process itself (the default Worker forks a child
    # per job, so a kill -9 of the parent would leave the child running).
    SimpleWorker([Queue("bench", connection=connection)], connection=connection).work(with_scheduler=False)


def bench_rq(n: int, redis_url: str) -> None:
    from job_queue import rq_echo, rq_slow  # RQ refuses functions of __main__: this file by its name
    from redis import Redis
    from rq import Queue
    from rq.registry import FailedJobRegistry, StartedJobRegistry

    connection = Redis.from_url(redis_url)
    connection.flushdb()
    queue = Queue("bench", connection=connection)
    enqueue = _timed(n, lambda i: queue.enqueue(rq_echo, i))
    connection.flushdb()
    worker = mp.Process(target=_rq_worker, args=(redis_url,), daemon=True)
    worker.start()
    trips = []
    for i in range(max(n // 10, 5)):
        t = time.perf_counter()
        job = queue.enqueue(rq_echo, i)
        while job.get_status(refresh=True) != "finished":
            time.sleep(0.002)
        trips.append(time.perf_counter() - t)
    job = queue.enqueue(rq_slow, "rq")

    def pending() -> int:
        StartedJobRegistry(queue=queue).cleanup()  # what a worker does now and then: moves abandoned jobs
        return len(FailedJobRegistry(queue=queue)) * 1000 + len(queue)

    fate = _kill_and_rerun(worker, lambda: _runs("rq"), pending, (_rq_worker, (redis_url,)))
    print(
        f"rq: enqueue {_quantiles(enqueue)}; round trip {_quantiles(trips)}; "
        f"kill -9: {fate} (status {job.get_status()})"
    )


# ---------------------------------------------------------------------------------------------


def _kill_and_rerun(
    worker: Any, runs: Callable[[], int], pending: Callable[[], int], fresh: tuple[Callable[..., None], tuple[Any, ...]]
) -> str:
    """Kill ``worker`` 1 s into the slow task, run a fresh worker 8 s, say what became of the task."""
    deadline = time.monotonic() + 10
    while runs() == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(1.0)
    os.kill(worker.pid, signal.SIGKILL)
    worker.join()
    again = mp.Process(target=fresh[0], args=fresh[1], daemon=True)
    again.start()
    time.sleep(8)
    left = pending()
    again.kill()
    again.join()
    if runs() > 1:
        return "redelivered"
    if left >= 1000:
        return "failed (recorded in the failed-job registry)"
    return "lost (not queued, never ran again)" if left == 0 else f"still queued ({left})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--redis", default=os.environ.get("REMISSION_REDIS_URL", "redis://127.0.0.1:6379/15"))
    args = parser.parse_args()
    bench_huey("sqlite", args.n, args.redis)
    bench_huey("redis", args.n, args.redis)
    for name, bench in (("dramatiq", bench_dramatiq), ("rq", bench_rq)):
        try:
            __import__(name)
        except ImportError:
            print(f"{name}: not installed, skipped")
            continue
        bench(args.n, args.redis)


if __name__ == "__main__":
    main()
