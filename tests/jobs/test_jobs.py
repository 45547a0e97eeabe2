"""Jobs (issue 19, item 3): enqueue → worker → state, progress, result, errors; crash semantics.

Imports are checked against the bench generator's own counts (bench/redcap_export.py: N rows →
N/50 patients, 16 assessments, 138 lab results, 5 medications, 4 adverse events each, at most 3
sites) and against the CLI's error list for the same bad file. Each test runs on huey's SQLite
storage and, where a Redis server answers (``$REMISSION_REDIS_URL``, else 127.0.0.1:6379), on
its Redis storage; a queue of its own per test keeps a shared Redis clean.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from remission.cli.main import app
from remission.jobs import Job, JobQueue, Worker, open_queue
from remission.jobs.worker import LOST
from remission.store import connect, schema

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "src" / "remission" / "io" / "examples" / "car_t_trial"
ADMIN = {"username": "admin", "role": "admin", "site_id": None}
REDCAP_FILES = {"records": ["records.csv"], "dictionary": ["dictionary.csv"], "mapping": ["mapping.yaml"]}


def _bench_export() -> ModuleType:
    spec = importlib.util.spec_from_file_location("redcap_export", ROOT / "bench" / "redcap_export.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("redcap_export", module)
    spec.loader.exec_module(module)
    return module


EXPORT = _bench_export()


def redis_url() -> str | None:
    """A Redis server that answers, or None."""
    url = os.environ.get("REMISSION_REDIS_URL") or "redis://127.0.0.1:6379/15"
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
    except Exception:
        return None
    return url


@pytest.fixture(params=["sqlite", "redis"])
def storage(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The queue's storage for this test, set through the environment as a deployment sets it."""
    monkeypatch.setenv("REMISSION_QUEUE_PATH", str(tmp_path / "queue.sqlite"))
    monkeypatch.setenv("REMISSION_JOBS_SPOOL", str(tmp_path / "spool"))
    monkeypatch.setenv("REMISSION_QUEUE_NAME", f"test-{uuid.uuid4().hex[:12]}")
    if request.param == "redis":
        url = redis_url()
        if url is None:
            if os.environ.get("CI"):  # .ci/run starts one: a missing server is a failure there
                pytest.fail("no Redis server answers (REMISSION_REDIS_URL, else 127.0.0.1:6379)")
            pytest.skip("no Redis server answers (set REMISSION_REDIS_URL)")
        monkeypatch.setenv("REMISSION_REDIS_URL", url)
    else:
        monkeypatch.delenv("REMISSION_REDIS_URL", raising=False)
    return str(request.param)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def registry(
    request: pytest.FixtureRequest, storage: str, new_database: Callable[[str, str], str]
) -> Iterator[tuple[str, Engine]]:
    """The registry: a SQLite file, or the session's PostgreSQL database (with the SQLite queue only:
    the queue's storage and the registry's database are independent)."""
    if request.param == "postgresql" and storage == "redis":
        pytest.skip("PostgreSQL registry: run with the SQLite queue only (kept fast)")
    url = new_database(request.param, "registry.db")
    engine = connect(url)
    yield url, engine
    engine.dispose()


@pytest.fixture
def queue(storage: str, registry: tuple[str, Engine]) -> Iterator[JobQueue]:
    q = open_queue(registry[0])
    yield q
    q.huey.storage.flush_all()  # this test's queue only (its own name)


@pytest.fixture(scope="module")
def big_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10,000 rows, 200 patients: about a second of writes inside the import's transaction."""
    return Path(EXPORT.generate_export(10_000, tmp_path_factory.mktemp("export")))


def enqueue_import(queue: JobQueue, source: Path, **options: str) -> Job:
    """What the web's upload does: the files into the job's folder, then one message."""
    job_id = queue.new_id()
    folder = queue.folder(job_id)
    folder.mkdir(parents=True)
    for name in ("records.csv", "dictionary.csv", "mapping.yaml"):
        shutil.copyfile(source / name, folder / name)
    params = {"source": "redcap", "files": REDCAP_FILES, "options": options, "user": ADMIN}
    return queue.enqueue("import", params, "admin", job_id=job_id)


def counts(engine: Engine) -> dict[str, int]:
    out = {}
    with engine.connect() as connection:
        for name in ("sites", "patients", "infusions", "assessments", "labs", "medications", "adverse_events"):
            table = schema.metadata.tables[name]
            out[name] = int(connection.execute(select(func.count()).select_from(table)).scalar_one())
    return out


def import_events(engine: Engine) -> int:
    with engine.connect() as connection:
        query = select(func.count()).select_from(schema.audit_log).where(schema.audit_log.c.action == "import")
        return int(connection.execute(query).scalar_one())


def test_import_job_runs_in_the_worker_with_the_generators_counts(
    queue: JobQueue, registry: tuple[str, Engine], tmp_path: Path
) -> None:
    _, engine = registry
    source = EXPORT.generate_export(500, tmp_path / "export")  # 10 patients
    expected = EXPORT.expected_counts(500)
    job = enqueue_import(queue, source)
    assert (job.state, job.attempts) == ("queued", 0) and counts(engine)["patients"] == 0  # enqueued only
    assert Worker(queue, engine).run(burst=True) == 1
    done = queue.get(job.id)
    assert done is not None and done.state == "succeeded", done
    assert {t: c["inserted"] for t, c in done.result["counts"].items()} == expected
    assert counts(engine) == expected
    assert done.result["totals"]["inserted"] == sum(expected.values()) and done.errors == []
    assert (done.percent, done.attempts, done.step) == (100, 1, "done")
    assert not queue.folder(job.id).exists()  # the uploads go once imported
    # The same files again: nothing changes (idempotent, as the CLI).
    again = enqueue_import(queue, source)
    Worker(queue, engine).run(burst=True)
    rerun = queue.get(again.id)
    assert rerun is not None and rerun.result["totals"]["unchanged"] == sum(expected.values())
    assert rerun.result["totals"]["inserted"] == 0


def test_invalid_input_fails_with_the_clis_error_list_and_writes_nothing(
    queue: JobQueue, registry: tuple[str, Engine], tmp_path: Path
) -> None:
    _, engine = registry
    bad = tmp_path / "bad"
    shutil.copytree(EXAMPLE, bad)
    records = bad / "records.csv"
    records.write_text(records.read_text().replace("SLE-02,,,2,1,2,1988,2010", "SLE-02,,,2,1,2,1988,1950"))
    job = enqueue_import(queue, bad)
    Worker(queue, engine).run(burst=True)
    failed = queue.get(job.id)
    assert failed is not None and failed.state == "failed"
    assert counts(engine)["patients"] == 0 and import_events(engine) == 0
    assert failed.message == "nothing was written: the input has the problems listed"
    first = failed.errors[0]
    # Hand-read from the file: SLE-02 is the 2nd enrolment row; the record's two years disagree.
    assert (first["file"], first["where"], first["column"]) == (
        "records.csv",
        "row 2 of enrolment (record SLE-02)",
        "record",
    )
    assert "diagnosis_year 1950 is before birth_year 1988" in first["reason"]
    files = [
        "--records",
        str(records),
        "--dictionary",
        str(bad / "dictionary.csv"),
        "--mapping",
        str(bad / "mapping.yaml"),
    ]
    # The CLI on a SQLite file of its own (the problems are the file's, whatever the registry's database).
    cli = CliRunner().invoke(app, ["import", "redcap", "--db", f"sqlite:///{tmp_path / 'cli.db'}", "--create", *files])
    assert cli.exit_code == 2
    assert [e["text"] for e in failed.errors] == [line for line in cli.output.splitlines() if line.strip()]


def test_a_job_is_claimed_once_per_attempt(queue: JobQueue) -> None:
    job = queue.enqueue("rescore", {}, "admin")
    assert queue.claim(job.id, "w1") is not None
    assert queue.claim(job.id, "w2") is None  # running now: a duplicate message is dropped
    assert queue.claim("no-such-job", "w1") is None


def test_rescore_and_report_jobs(queue: JobQueue, registry: tuple[str, Engine], storage: str) -> None:
    if storage == "redis":
        pytest.skip("runners do not depend on the storage; the report build is slow (kept fast)")
    _, engine = registry
    enqueue_import(queue, EXAMPLE)
    rescore = queue.enqueue("rescore", {"indices": ["sledai2k"], "actor": "admin"}, "admin")
    report = queue.enqueue("report", {"pdf": False}, "admin")
    assert Worker(queue, engine).run(burst=True) == 3
    done = queue.get(rescore.id)
    # The example project has 3 SLEDAI-2K visits (records.csv: 3 sledai instances).
    assert done is not None and done.result["indices"] == [
        {"index": "sledai2k", "scored": 3, "inserted": 3, "updated": 0, "unchanged": 0, "problems": 0}
    ]
    built = queue.get(report.id)
    assert built is not None and built.state == "succeeded", built.errors
    assert Path(built.result["html"]).read_text().lower().startswith("<!doctype html>")
    assert built.result["pdf"] is None and built.result["tables"], built.result


def start_worker(url: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "REMISSION_JOB_LEASE_S": "1"}
    entry = "from remission.cli.main import main; main()"
    return subprocess.Popen(
        [sys.executable, "-c", entry, "worker", "--db", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def kill_mid_write(queue: JobQueue, job: Job, worker: subprocess.Popen[str]) -> str:
    """SIGKILL ``worker`` once the job is inside its transaction, past the patients; the step then."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        seen = queue.get(job.id)
        assert seen is not None and seen.state in ("queued", "running"), seen
        if seen.step in ("writing infusions", "writing assessments", "writing labs"):
            worker.send_signal(signal.SIGKILL)
            worker.communicate(timeout=30)
            return seen.step
        time.sleep(0.005)
    worker.kill()
    raise AssertionError(f"the job never reached its writes: {worker.communicate()[0]}")


@pytest.mark.parametrize(("attempts", "outcome"), [(2, "succeeded"), (1, "failed")], ids=["retried", "failed"])
def test_kill_9_mid_import_writes_nothing_and_the_job_is_retried_or_failed(
    queue: JobQueue,
    registry: tuple[str, Engine],
    big_export: Path,
    storage: str,
    monkeypatch: pytest.MonkeyPatch,
    attempts: int,
    outcome: str,
) -> None:
    if (storage, outcome) == ("redis", "failed"):
        pytest.skip("the sweep's failing branch does not depend on the storage (kept fast)")
    url, engine = registry
    monkeypatch.setenv("REMISSION_JOB_ATTEMPTS", str(attempts))
    monkeypatch.setenv("REMISSION_JOB_LEASE_S", "1")
    job = enqueue_import(queue, big_export)
    step = kill_mid_write(queue, job, start_worker(url))
    # Patients (and sites) were written before the kill, inside the transaction: none is stored.
    assert counts(engine) == dict.fromkeys(counts(engine), 0), step
    assert import_events(engine) == 0
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
    stuck = queue.get(job.id)
    assert stuck is not None and stuck.state == "running"  # until its lease runs out
    time.sleep(max(stuck.lease_until - time.time(), 0) + 0.1)
    Worker(queue, engine).run(burst=True)  # sweeps first: the dead worker's job
    final = queue.get(job.id)
    assert final is not None and final.state == outcome
    if outcome == "succeeded":
        assert final.attempts == 2 and counts(engine) == EXPORT.expected_counts(10_000)
        assert import_events(engine) == 1
    else:
        assert counts(engine)["patients"] == 0 and final.attempts == 1
        assert final.errors[0]["reason"] == f"{LOST} (1 attempt(s))"
        assert not queue.folder(job.id).exists()


def test_worker_command_runs_the_queue_and_says_where_it_is(
    queue: JobQueue, registry: tuple[str, Engine], storage: str
) -> None:
    url, engine = registry
    job = enqueue_import(queue, EXAMPLE)
    result = CliRunner().invoke(app, ["worker", "--db", url, "--burst"])
    assert result.exit_code == 0, result.output
    assert f"queue {queue.name} ({'Redis' if storage == 'redis' else 'SQLite'}" in result.output
    assert "stopped after 1 job(s)" in result.output
    done = queue.get(job.id)
    assert done is not None and done.state == "succeeded" and counts(engine)["patients"] == 3


def test_serve_with_worker_runs_jobs_in_a_child_and_stops_it(
    registry: tuple[str, Engine], storage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if storage == "redis":
        pytest.skip("the child worker does not depend on the storage (kept fast)")
    import uvicorn

    import remission.cli.jobs as cli_jobs

    url, engine = registry
    started: list[subprocess.Popen[bytes]] = []
    start = cli_jobs.start_worker_process

    def recording(db: str | None) -> subprocess.Popen[bytes]:
        started.append(start(db))
        return started[-1]

    def serving(web_app: Any, **_: Any) -> None:
        """Stands in for the server: queues an import and waits for the child worker to run it."""
        web_app.state.engine.dispose()  # the server's engine: unused here
        queue = open_queue(url)
        job = enqueue_import(queue, EXAMPLE)
        deadline = time.monotonic() + 60
        while (seen := queue.get(job.id)) is not None and not seen.ended and time.monotonic() < deadline:
            time.sleep(0.05)
        assert seen is not None and seen.state == "succeeded", seen

    monkeypatch.setattr(cli_jobs, "start_worker_process", recording)
    monkeypatch.setattr(uvicorn, "run", serving)
    result = CliRunner().invoke(app, ["serve", "--db", url, "--with-worker"])
    assert result.exit_code == 0, result.output
    assert len(started) == 1 and started[0].returncode == 0  # stopped by SIGTERM, after its jobs
    assert counts(engine)["patients"] == 3


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("postgresql://u:secret@db.example/registry", "postgresql+psycopg://u:other@db.example/registry", True),
        ("postgresql://u@db.example/registry", "postgresql://u@db.example/registry2", False),
        ("sqlite:////data/registry.db", "sqlite:////data/../data/registry.db", True),
        ("sqlite:////data/registry.db", "sqlite:////data/other.db", False),
    ],
    ids=["driver-and-password-ignored", "other-database", "same-file", "other-file"],
)
def test_every_process_of_one_registry_finds_one_queue(
    a: str, b: str, same: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from remission.jobs.queue import queue_name

    monkeypatch.delenv("REMISSION_QUEUE_NAME", raising=False)
    assert (queue_name(a) == queue_name(b)) is same
    assert "secret" not in queue_name(a)


def test_the_sqlite_queue_and_spool_lie_beside_a_sqlite_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    from remission.jobs.queue import queue_file, spool_folder

    for name in ("REMISSION_QUEUE_PATH", "REMISSION_JOBS_SPOOL"):
        monkeypatch.delenv(name, raising=False)
    assert queue_file("sqlite:////data/registry.db") == Path("/data/registry.jobs.sqlite")
    assert spool_folder("sqlite:////data/registry.db") == Path("/data/registry.jobs")
    monkeypatch.setenv("REMISSION_QUEUE_PATH", "/srv/queue.sqlite")
    assert queue_file("postgresql://u@h/registry") == Path("/srv/queue.sqlite")
