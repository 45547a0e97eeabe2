"""Fixtures of the reliability suite: a database URL (SQLite file or throw-away PostgreSQL)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from remission.store import connect

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # store_worker.py: imported by the tests, run by their subprocesses
    sys.path.insert(0, str(HERE))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, new_database: Callable[[str, str], str]) -> str:
    """The URL of a freshly migrated database that other processes can open too."""
    return new_database(request.param, "registry.db")


@pytest.fixture
def store(db_url: str) -> Iterator[Engine]:
    """An Engine on :func:`db_url`, disposed after the test (no connection left open)."""
    engine = connect(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def fresh_pg_url(pg_server_url: str) -> Iterator[str]:
    """A second, empty PostgreSQL database (restore target), dropped afterwards."""
    import uuid

    from sqlalchemy import create_engine

    admin_url = pg_server_url.replace("postgresql://", "postgresql+psycopg://", 1)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"remission_restore_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield pg_server_url.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
