"""Shared fixtures: a migrated database on SQLite and, where one answers, on PostgreSQL.

PostgreSQL tests use ``$REMISSION_TEST_PG_URL`` (``.ci/run`` sets it after making sure a server
runs) and create a throw-away database per test session; without it they are skipped locally.

Every test still gets an empty database at the newest schema revision, but without running the
migrations each time (they cost ~0.1 s on SQLite, ~0.2 s with the downgrade on PostgreSQL, over
~660 tests): a SQLite test gets a copy of a file migrated once per session (byte for byte the file
a migration writes), and the PostgreSQL database is emptied by one ``TRUNCATE ... RESTART
IDENTITY`` (sequences back to 1), or dropped and migrated again when a test left it at another
revision or with other tables.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import Engine, create_engine, text

from remission.store import connect, migrate, schema
from remission.store.db import head_revision

if str(Path(__file__).resolve().parent) not in sys.path:  # sharedpaths.py, imported by test modules
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from sharedpaths import REQUIRED, SHARED, in_ci, missing_message, require

# "ci" (make test): enough cases per run for a check on every push, and the same cases on every
# run and every clean clone (derandomize, no example database), so a red build reproduces
# anywhere; print_blob shows the blob to replay a failure with @reproduce_failure. Every property
# test follows the profile, so "thorough" (make fuzz, or any test on demand) stays random and runs
# ~65 times as many; each failure it finds becomes an @example of its test.
settings.register_profile(
    "ci",
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
    database=None,
    print_blob=True,
)
settings.register_profile("thorough", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_configure(config: pytest.Config) -> None:
    """Under CI=1 the shared folder must be there: a run without it fails instead of skipping."""
    absent = [path for path in REQUIRED if not path.exists()]
    if in_ci() and absent:
        raise pytest.UsageError("; ".join(missing_message(path) for path in absent))


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared folder (``../shared`` or ``$REMISSION_SHARED``); skips (fails under CI) without it."""
    return require(SHARED)


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    base = os.environ.get("REMISSION_TEST_PG_URL")
    if not base:
        pytest.skip("no PostgreSQL: set REMISSION_TEST_PG_URL (make test does when one answers)")
    admin = create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    name = f"remission_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.rsplit("/", 1)[0] + "/" + name
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to the newest revision, once: tests get copies of it."""
    path = tmp_path_factory.mktemp("template") / "migrated.db"
    eng = connect(f"sqlite:///{path}")
    migrate(eng)
    eng.dispose()  # the last connection closed: the WAL is checked into the file and removed
    return path


@cache
def _head() -> str:
    return head_revision()


def empty_postgresql(url: str) -> None:
    """Bring the database at ``url`` to an empty schema at the newest revision."""
    tables = {*schema.metadata.tables, "alembic_version"}
    eng = connect(url)
    try:
        with eng.begin() as connection:
            present = set(connection.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")))
            revision = connection.scalar(text("SELECT version_num FROM alembic_version")) if present == tables else None
            if revision == _head():
                names = ", ".join(f'"{t}"' for t in schema.metadata.tables)
                connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
                return
            # first use in the session, or a test migrated, downgraded or dropped tables
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        migrate(eng)
    finally:
        eng.dispose()


@pytest.fixture
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str, str], str]:
    """``new_database(backend, filename)``: the URL of an empty database at the newest revision,
    a SQLite file ``tmp_path / filename`` or the session's PostgreSQL database."""

    def make(backend: str, filename: str) -> str:
        if backend == "sqlite":
            target = tmp_path / filename
            shutil.copyfile(request.getfixturevalue("migrated_sqlite"), target)
            return f"sqlite:///{target}"
        url: str = request.getfixturevalue("pg_server_url")
        empty_postgresql(url)
        return url

    return make


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, new_database: Callable[[str, str], str]) -> Iterator[Engine]:
    """A freshly migrated database: a SQLite file, or a clean PostgreSQL database."""
    eng = connect(new_database(request.param, "test.db"))
    yield eng
    eng.dispose()


@dataclass(frozen=True)
class DemoRun:
    """What ``remission demo`` printed and wrote (tests only read it)."""

    output: str
    out: Path
    db: Path


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """``remission demo`` run once (in process): the demo database, scored, and its report with
    the PDF, read by tests/test_demo.py and tests/report/ (~5 s a run)."""
    from typer.testing import CliRunner

    from remission.cli.main import app

    folder = tmp_path_factory.mktemp("demo")
    out, db = folder / "out", folder / "demo.db"
    result = CliRunner().invoke(app, ["demo", "--db", f"sqlite:///{db}", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return DemoRun(result.output, out, db)


# The long tests, marked `slow` here in one list rather than in each file: `make quick` leaves
# them out (-m "not slow"), `make test` runs them. Docs build, real browser, fuzzing, Dask cluster.
SLOW = (
    "tests/docs/test_site.py",
    "tests/web/test_browser.py",
    "tests/web/test_csp_browser.py",
    "tests/web/test_api_fuzz.py",
    "tests/reliability/",
    "tests/scale/test_dask_engine.py",
    "tests/scale/test_distributed_rescore.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(__file__).resolve().parents[1]
    for item in items:
        where = item.path.resolve().relative_to(root).as_posix() if item.path.is_relative_to(root) else ""
        if where.startswith(SLOW):
            item.add_marker(pytest.mark.slow)
