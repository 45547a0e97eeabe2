"""Backup and restore of the registry: a consistent snapshot, restorable into any backend.

* **SQLite** databases are copied with the online backup API of :mod:`sqlite3` in one step: a
  read transaction of its own, so the copy is one consistent state of the file even while other
  connections write (WAL mode lets them go on). The backup is itself a SQLite database.
* **PostgreSQL** (any other backend) is dumped logically: every registry table read in ONE
  ``REPEATABLE READ`` transaction (one snapshot), written as gzip-compressed JSON lines: a header
  line (format, Alembic revision, source backend) and one line per row, tables in
  foreign-key order.

:func:`restore` reads either kind into an EMPTY database of either backend (it creates the schema
at the backup's revision), keeps primary keys (scores point at assessment ids) and moves
PostgreSQL's id sequences past them. :func:`export_tables` gives every table's contents sorted by
natural key, with dates and times in one canonical form, so that ``export before == export
after`` checks a round trip across backends.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import sqlite3
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Date, DateTime, Engine, Table, create_engine, func, inspect, select, text
from sqlalchemy.exc import DatabaseError

from remission.errors import InvalidInputError, Problem
from remission.store import schema
from remission.store.db import current_revision, migrate

FORMAT = "remission-backup"
FORMAT_VERSION = 1
SQLITE_MAGIC = b"SQLite format 3\x00"
GZIP_MAGIC = b"\x1f\x8b"
#: Every registry table, parents before children (the order rows are restored in).
TABLES: tuple[Table, ...] = tuple(schema.metadata.sorted_tables)


@dataclass(frozen=True)
class BackupInfo:
    """What a backup holds: its kind (``sqlite`` file or ``jsonl`` dump), revision and row counts."""

    path: Path
    kind: str
    revision: str
    rows: dict[str, int]


def backup(engine: Engine, out: str | Path) -> BackupInfo:
    """Write a consistent snapshot of the database behind ``engine`` to ``out``.

    The file appears only when complete (written to ``out.part``, then renamed).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from remission.store import connect, migrate
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> engine = connect(f"sqlite:///{folder / 'a.db'}"); migrate(engine)
    >>> info = backup(engine, folder / "a.backup")
    >>> from remission.store.db import head_revision
    >>> info.kind, info.revision == head_revision(), info.rows["patients"]
    ('sqlite', True, 0)
    """
    out = Path(out)
    revision = current_revision(engine)
    if revision is None:
        raise InvalidInputError([Problem(None, "db", _url(engine), "database not initialised: nothing to back up")])
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    part.unlink(missing_ok=True)
    if engine.dialect.name == "sqlite":
        _sqlite_backup(engine, part)
        kind = "sqlite"
    else:
        _logical_dump(engine, part, revision)
        kind = "jsonl"
    part.replace(out)
    with _open_backup(out) as (_, rows):
        counts = _count(rows)
    return BackupInfo(out, kind, revision, counts)


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def _sqlite_backup(engine: Engine, target: Path) -> None:
    raw = engine.raw_connection()
    try:
        source = raw.driver_connection
        assert isinstance(source, sqlite3.Connection)
        destination = sqlite3.connect(target)
        try:
            source.backup(destination)  # pages=-1: the whole file in one step, one snapshot
        finally:
            destination.close()
    finally:
        raw.close()


def _logical_dump(engine: Engine, target: Path, revision: str) -> None:
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "alembic_revision": revision,
        "source": engine.dialect.name,
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    snapshot = engine.connect().execution_options(isolation_level="REPEATABLE READ")
    with snapshot as connection, connection.begin(), gzip.open(target, "wt", encoding="utf-8") as f:
        f.write(json.dumps(header) + "\n")
        for table, row in _rows(connection):
            f.write(json.dumps({"t": table.name, "r": _encode(row)}) + "\n")


def _existing(connection: Connection) -> list[Table]:
    """The registry tables this database has at its schema revision (an older revision has fewer)."""
    names = set(inspect(connection).get_table_names())
    return [t for t in TABLES if t.name in names]


def _rows(connection: Connection) -> Iterator[tuple[Table, dict[str, Any]]]:
    for table in _existing(connection):
        order = [c for c in table.primary_key.columns]
        for row in connection.execute(select(table).order_by(*order)):
            yield table, dict(row._mapping)


def _encode(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _canonical(v) for k, v in row.items()}


def _canonical(value: Any) -> Any:
    """Dates as ISO text, date-times as UTC ISO text (naive values are UTC: SQLite's
    CURRENT_TIMESTAMP), everything else as it is (JSON-compatible)."""
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        return aware.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


# --------------------------------------------------------------------------------------------
# Restore
# --------------------------------------------------------------------------------------------


class _Backup:
    """Context manager over a backup file: yields (revision, iterator of (table, row))."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.engine: Engine | None = None
        self.file: Any = None

    def __enter__(self) -> tuple[str, Iterator[tuple[Table, dict[str, Any]]]]:
        try:
            return self._open()
        except BaseException:
            self.__exit__()
            raise

    def _open(self) -> tuple[str, Iterator[tuple[Table, dict[str, Any]]]]:
        try:
            head = self.path.read_bytes()[:16] if self.path.is_file() else b""
        except OSError as err:
            raise self._refuse(f"cannot be read: {err.strerror}") from err
        if not self.path.is_file():
            raise self._refuse("no such file")
        if head.startswith(SQLITE_MAGIC):
            return self._sqlite()
        if head.startswith(GZIP_MAGIC):
            return self._jsonl()
        raise self._refuse("is not a remission backup (neither a SQLite file nor a gzip JSON-lines dump)")

    def _refuse(self, reason: str) -> InvalidInputError:
        return InvalidInputError([Problem(None, "backup", str(self.path), reason)])

    def _sqlite(self) -> tuple[str, Iterator[tuple[Table, dict[str, Any]]]]:
        self.engine = create_engine(f"sqlite:///file:{self.path}?mode=ro&uri=true")
        try:
            revision = current_revision(self.engine)
        except Exception as err:  # a damaged file: sqlite3.DatabaseError and friends
            raise self._refuse(f"is not a readable SQLite database ({err})") from err
        if revision is None:
            raise self._refuse("has no alembic_version: not a remission database")
        connection = self.engine.connect()
        self.file = connection

        def rows() -> Iterator[tuple[Table, dict[str, Any]]]:
            try:
                for table, row in _rows(connection):
                    yield table, _encode(row)
            except DatabaseError as err:
                raise self._refuse(f"is a damaged SQLite database ({err.orig})") from err

        return revision, rows()

    def _jsonl(self) -> tuple[str, Iterator[tuple[Table, dict[str, Any]]]]:
        self.file = gzip.open(self.path, "rt", encoding="utf-8")  # noqa: SIM115 - closed by __exit__
        try:
            header = json.loads(self.file.readline())
        except (OSError, EOFError, ValueError, zlib.error) as err:
            raise self._refuse(f"has no readable header ({err})") from err
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise self._refuse(f"is not a {FORMAT} file")
        tables = {t.name: t for t in TABLES}

        def rows() -> Iterator[tuple[Table, dict[str, Any]]]:
            n = 1
            while True:
                n += 1
                try:
                    line = self.file.readline()
                except (OSError, EOFError, zlib.error) as err:
                    raise self._refuse(f"is truncated or damaged at line {n} ({err})") from err
                if not line:
                    return
                try:
                    item = json.loads(line)
                    table, row = tables[item["t"]], item["r"]
                except (ValueError, KeyError, TypeError) as err:
                    raise InvalidInputError([Problem(n, "backup", line[:40], f"not a backup row ({err})")]) from err
                yield table, row

        return str(header.get("alembic_revision")), rows()

    def __exit__(self, *exc: object) -> None:
        if self.file is not None:
            self.file.close()
        if self.engine is not None:
            self.engine.dispose()


def _open_backup(path: Path) -> _Backup:
    return _Backup(path)


def _count(rows: Iterator[tuple[Table, dict[str, Any]]]) -> dict[str, int]:
    counts = {t.name: 0 for t in TABLES}
    for table, _ in rows:
        counts[table.name] += 1
    return counts


def restore(engine: Engine, source: str | Path, *, chunk: int = 5000) -> BackupInfo:
    """Load a backup written by :func:`backup` into the EMPTY database behind ``engine``.

    The schema is created at the backup's revision when the database has none. Every row goes
    in one transaction: a failed restore leaves the database empty.

    Raises
    ------
    InvalidInputError
        Not a backup file, a damaged one, a database that already holds records, or a database
        at another schema revision than the backup.
    """
    path = Path(source)
    with _open_backup(path) as (revision, rows):
        _prepare_target(engine, revision)
        counts = {t.name: 0 for t in TABLES}
        with engine.begin() as connection:
            batch: list[dict[str, Any]] = []
            current: Table | None = None
            for table, row in rows:
                if table is not current or len(batch) >= chunk:
                    _insert(connection, current, batch)
                    batch, current = [], table
                batch.append(_decode(table, row, engine.dialect.name))
                counts[table.name] += 1
            _insert(connection, current, batch)
            if engine.dialect.name == "postgresql":
                _reset_sequences(connection)
    kind = "sqlite" if path.read_bytes()[:16].startswith(SQLITE_MAGIC) else "jsonl"
    return BackupInfo(path, kind, revision, counts)


def _prepare_target(engine: Engine, revision: str) -> None:
    have = current_revision(engine)
    if have is None:
        migrate(engine, revision)
    elif have != revision:
        reason = f"is at schema {have}, the backup at {revision}: restore into a new database"
        raise InvalidInputError([Problem(None, "db", _url(engine), reason)])
    with engine.connect() as connection:
        busy = [
            t.name
            for t in _existing(connection)
            if connection.execute(select(func.count()).select_from(t)).scalar_one()
        ]
    if busy:
        reason = f"is not empty (tables {', '.join(busy)}): restore needs an empty database"
        raise InvalidInputError([Problem(None, "db", _url(engine), reason)])


def _insert(connection: Connection, table: Table | None, batch: list[dict[str, Any]]) -> None:
    if table is not None and batch:
        connection.execute(table.insert(), batch)


def _decode(table: Table, row: dict[str, Any], dialect: str) -> dict[str, Any]:
    out = dict(row)
    for name, value in row.items():
        if value is None or name not in table.c:
            continue
        kind = table.c[name].type
        if isinstance(kind, DateTime):
            moment = dt.datetime.fromisoformat(value)
            out[name] = moment.astimezone(dt.UTC).replace(tzinfo=None) if dialect == "sqlite" else moment
        elif isinstance(kind, Date):
            out[name] = dt.date.fromisoformat(value)
    return out


def _reset_sequences(connection: Connection) -> None:
    for table in _existing(connection):
        if "id" in table.c and table.c.id.autoincrement is not False and table.c.id.primary_key:
            connection.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f"COALESCE((SELECT MAX(id) FROM {table.name}), 1), "
                    f"(SELECT MAX(id) FROM {table.name}) IS NOT NULL)"
                )
            )


# --------------------------------------------------------------------------------------------
# Comparable exports
# --------------------------------------------------------------------------------------------


def export_tables(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every registry table's rows as canonical tuples sorted by natural key (then primary key).

    Dates and times are ISO text in UTC and JSON values sorted JSON text, so that two exports of
    the same registry on SQLite and on PostgreSQL compare equal.
    """
    out: dict[str, list[tuple[Any, ...]]] = {}
    names = set(inspect(engine).get_table_names())
    with engine.connect() as connection:
        for table in TABLES:
            if table.name not in names:
                continue
            keys = [table.c[k] for k in schema.NATURAL_KEYS.get(table.name, ())] + list(table.primary_key.columns)
            result = connection.execute(select(table).order_by(*keys))
            out[table.name] = [
                tuple(json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else _canonical(v) for v in row)
                for row in result
            ]
    return out
