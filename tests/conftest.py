"""Shared fixtures: a migrated database on SQLite and, where one answers, on PostgreSQL.

PostgreSQL tests use ``$REMISSION_TEST_PG_URL`` (``.ci/run`` sets it after making sure a server
runs) and create a throw-away database per test session; without it they are skipped locally.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import Engine, create_engine, text

from remission.store import connect, migrate
from remission.store.db import downgrade

settings.register_profile("ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


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


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A freshly migrated database: a SQLite file, or a clean PostgreSQL database."""
    url = f"sqlite:///{tmp_path / 'test.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_server_url")
    eng = connect(url)
    migrate(eng)
    yield eng
    if request.param == "postgresql":
        downgrade(eng, "base")
        with eng.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    eng.dispose()
