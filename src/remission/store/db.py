"""Database connection and migrations: SQLite file by default, any SQLAlchemy URL otherwise.

The URL comes from ``--db`` (``url`` argument), else ``$REMISSION_DB_URL``, else
``sqlite:///remission.db``. SQLite runs in WAL mode with foreign keys on; PostgreSQL URLs use
psycopg 3 (``postgresql://`` is read as ``postgresql+psycopg://``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect

from remission.errors import InvalidInputError, Problem

DEFAULT_URL = "sqlite:///remission.db"
MIGRATIONS = Path(__file__).with_name("migrations")


def resolve_url(url: str | None = None) -> str:
    """The database URL to use: argument, then $REMISSION_DB_URL, then the default SQLite file."""
    chosen = url or os.environ.get("REMISSION_DB_URL") or DEFAULT_URL
    if chosen.startswith("postgresql://") or chosen.startswith("postgres://"):
        chosen = "postgresql+psycopg://" + chosen.split("://", 1)[1]
    return chosen


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def connect(url: str | None = None) -> Engine:
    """An Engine for ``url`` (see :func:`resolve_url`); creates the SQLite file's folder."""
    resolved = resolve_url(url)
    if resolved.startswith("sqlite:///") and resolved != "sqlite:///:memory:":
        Path(resolved.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(resolved, future=True)
    except Exception as exc:
        raise InvalidInputError([Problem(None, "db", resolved, f"not a usable database URL ({exc})")]) from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Create or upgrade the database schema to ``revision`` (``remission init``)."""
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Downgrade the schema to ``revision`` (tests and rollbacks)."""
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at (None for an empty database)."""
    if not inspect(engine).has_table("alembic_version"):
        return None
    with engine.connect() as connection:
        row = connection.exec_driver_sql("SELECT version_num FROM alembic_version").first()
    return None if row is None else str(row[0])


def head_revision() -> str:
    """The schema revision this code needs (the newest migration)."""
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def require_schema(engine: Engine) -> None:
    """Raise a clear error when the database has not been initialised (``remission init``)."""
    if current_revision(engine) is None:
        raise InvalidInputError(
            [Problem(None, "db", engine.url.render_as_string(), "database not initialised: run `remission init`")]
        )
