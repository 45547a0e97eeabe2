"""``remission worker``: runs the jobs (imports, rescoring, reports) that the web application queues."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from typing import Annotated

import typer

from remission.cli.main import EXIT_INVALID, DbOption


def worker(
    db: DbOption = None,
    redis_url: Annotated[
        str | None,
        typer.Option("--redis-url", help="Redis queue shared by several workers (default: $REMISSION_REDIS_URL)."),
    ] = None,
    burst: Annotated[bool, typer.Option("--burst", help="Run the queued jobs, then exit (no waiting).")] = False,
) -> None:
    """Run the jobs that the web application and the API queue, one at a time, until stopped.

    The queue is a SQLite file beside the registry (``registry.db`` → ``registry.jobs.sqlite``) unless
    ``--redis-url`` or ``$REMISSION_REDIS_URL`` names a Redis server, which lets several workers on
    several machines serve one registry. A job whose worker dies is run again (once, by default) or
    marked failed. SIGTERM or Ctrl-C stops the worker after the job it is running."""
    import logging

    from remission.errors import InvalidInputError
    from remission.jobs import Worker, open_queue
    from remission.store import connect
    from remission.store.db import require_schema, resolve_url

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    url = resolve_url(db)
    engine = connect(url)
    try:
        require_schema(engine)
        queue = open_queue(url, redis_url=redis_url)
        runner = Worker(queue, engine)
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        typer.echo(
            f"worker {runner.name}: queue {queue.name} ({queue.describe()}); jobs folder {queue.spool}", err=True
        )
        ran = runner.run(stop, burst=burst)
        typer.echo(f"worker {runner.name}: stopped after {ran} job(s)", err=True)
    except InvalidInputError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(EXIT_INVALID) from err
    finally:
        engine.dispose()


def start_worker_process(db: str | None) -> subprocess.Popen[bytes]:
    """``remission worker`` as a child process (``remission serve --with-worker``)."""
    entry = "from remission.cli.main import main; main()"
    command = [sys.executable, "-c", entry, "worker"] + (["--db", db] if db else [])
    return subprocess.Popen(command, env=dict(os.environ))


def stop_worker_process(process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Stop the child worker: SIGTERM (it finishes its job), then SIGKILL after ``timeout``."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def register(app: typer.Typer) -> None:
    app.command()(worker)
