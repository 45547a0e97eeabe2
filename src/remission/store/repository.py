"""Reading and writing registry records: transactional, idempotent (upsert on natural keys).

Writes happen in one transaction per call: either every record of a cohort is stored, or none.
Rows are written with executemany (one statement, many parameter sets), the fast path of both
SQLite and PostgreSQL drivers. Large imports of new rows can take :func:`bulk_insert`, which
goes round SQLAlchemy's per-row work: ``COPY ... FROM STDIN`` on PostgreSQL, plain executemany
in large batches on SQLite, inside the caller's transaction.
"""

from __future__ import annotations

import itertools
import json
import operator
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any

import polars as pl
from sqlalchemy import JSON, Connection, Engine, String, Table, Text, cast, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from remission.errors import InvalidInputError, Problem, StaleVersionError
from remission.model import Cohort, Patient
from remission.store import schema
from remission.store.writes import append_audit, check_version

_RECORD_TABLES: tuple[tuple[str, Table], ...] = (
    ("sites", schema.sites),
    ("patients", schema.patients),
    ("infusions", schema.infusions),
    ("assessments", schema.assessments),
    ("labs", schema.labs),
    ("medications", schema.medications),
    ("adverse_events", schema.adverse_events),
)


def upsert(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]], chunk: int = 5000) -> None:
    """Insert ``rows`` into ``table``, updating rows whose natural key already exists.

    A patient row that changes gets ``version + 1`` (optimistic concurrency, see
    :func:`update_patient`); re-saving identical values leaves it as it is.
    """
    if not rows:
        return
    keys = schema.NATURAL_KEYS[table.name]
    dialect = connection.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        statement = insert(table)
        updates: dict[str, Any] = {c: statement.excluded[c] for c in part[0] if c not in keys}
        if updates and table.name == "patients":
            changed = or_(*(_text(table.c[c]) != _text(statement.excluded[c]) for c in updates))
            updates["version"] = table.c.version + 1
            updates["updated_at"] = func.current_timestamp()
            statement = statement.on_conflict_do_update(index_elements=list(keys), set_=updates, where=changed)
        elif updates:
            statement = statement.on_conflict_do_update(index_elements=list(keys), set_=updates)
        else:
            statement = statement.on_conflict_do_nothing(index_elements=list(keys))
        connection.execute(statement, list(part))


Processor = Callable[[Any], Any] | None


def bulk_insert(
    connection: Connection,
    table: Table,
    rows: Iterable[Mapping[str, Any]] | pl.DataFrame,
    *,
    batch: int = 100_000,
    json_encoded: Collection[str] = (),
) -> int:
    """Insert new ``rows`` into ``table`` by the database's fast path; return how many.

    For large imports of rows that are not in the database yet (a first load, a new export).
    It runs inside the transaction of ``connection`` (``with engine.begin() as connection``), so
    a failure anywhere leaves nothing written. A row whose natural key is already stored is an
    error (an ``IntegrityError``, and the transaction rolls back): use :func:`upsert` to merge.

    Values are converted as SQLAlchemy would (the column types' bind processors: JSON, dates,
    booleans), then sent with ``COPY table (columns) FROM STDIN`` on PostgreSQL (psycopg's
    ``cursor.copy``, on the same connection) or with the driver's ``executemany`` in batches of
    ``batch`` rows on SQLite (with a larger page cache for the load).

    Parameters
    ----------
    connection : sqlalchemy.Connection
        A connection in a transaction (SQLite or PostgreSQL via psycopg 3).
    table : sqlalchemy.Table
        One of :mod:`remission.store.schema`'s tables.
    rows : iterable of mappings, or polars.DataFrame
        Column name → value; every row has the same columns as the first (a DataFrame: its
        columns); columns left out get their Python-side default (``default=``), as with upsert.
        A DataFrame whose columns are numbers, text, booleans, dates and (for JSON columns)
        structs is converted column-wise and sent as CSV to ``COPY`` (PostgreSQL); a struct is
        stored with all its fields (null where a row has none).
        An iterator is consumed in batches, so an import need not be held in memory.
    batch : int
        Rows per executemany call (SQLite) or per chunk read from an iterator.
    json_encoded : collection of str
        JSON columns whose values are given as JSON text already (a text column of a DataFrame,
        or ``str`` values): stored as they are, not encoded again.

    Returns
    -------
    int
        The number of rows inserted.

    Examples
    --------
    >>> from sqlalchemy import create_engine
    >>> from remission.store import schema
    >>> engine = create_engine("sqlite://")
    >>> schema.metadata.create_all(engine)
    >>> with engine.begin() as connection:
    ...     bulk_insert(connection, schema.sites, [{"site_id": "S1", "name": "A"}, {"site_id": "S2", "name": "B"}])
    2
    """
    if isinstance(rows, pl.DataFrame):
        _check_columns(table, rows.columns)
        prepared = _frame_for_driver(rows, table, connection.dialect.name, json_encoded)
        if prepared is not None:
            return _bulk_frame(connection, table.name, prepared, batch)
    columns, tuples = _as_tuples(rows, batch)
    if not columns:
        return 0
    _check_columns(table, columns)
    defaults = _defaults(table, columns)
    if defaults:
        columns = [*columns, *defaults]
        extra = tuple(defaults.values())
        tuples = (row + extra for row in tuples)
    dialect = connection.dialect
    convert = _converter([None if c in json_encoded else table.c[c].type.bind_processor(dialect) for c in columns])
    converted = map(convert, tuples)
    driver = connection.connection.driver_connection
    if dialect.name == "postgresql":
        return _copy_postgresql(driver, table.name, columns, converted)
    return _executemany_sqlite(driver, table.name, columns, converted, batch)


def _check_columns(table: Table, columns: Sequence[str]) -> None:
    unknown = [c for c in columns if c not in table.c]
    if unknown:
        raise ValueError(f"{table.name} has no column(s) {', '.join(unknown)}")


def _frame_for_driver(
    frame: pl.DataFrame, table: Table, dialect: str, json_encoded: Collection[str] = ()
) -> pl.DataFrame | None:
    """The frame with every value as the driver takes it, converted column-wise (no Python loop):
    struct columns into JSON columns as JSON text, dates as ISO text on SQLite, column defaults
    added. None when a column needs the per-row conversion instead."""
    exprs: list[pl.Expr] = []
    for name, dtype in frame.schema.items():
        column = pl.col(name)
        if isinstance(table.c[name].type, JSON) and name in json_encoded and dtype == pl.Utf8:
            exprs.append(column)
        elif isinstance(table.c[name].type, JSON):
            if not isinstance(dtype, pl.Struct):
                return None
            exprs.append(column.struct.json_encode())
        elif dtype == pl.Date:
            exprs.append(column.dt.to_string("%Y-%m-%d") if dialect == "sqlite" else column)
        elif dtype.is_numeric() or dtype in (pl.Utf8, pl.Boolean, pl.Null):
            exprs.append(column)
        else:
            return None
    defaults = _defaults(table, frame.columns)
    exprs += [
        pl.lit(json.dumps(value) if isinstance(table.c[name].type, JSON) else value).alias(name)
        for name, value in defaults.items()
    ]
    return frame.select(exprs)


def _bulk_frame(connection: Connection, name: str, frame: pl.DataFrame, batch: int) -> int:
    if frame.height == 0:
        return 0
    driver: Any = connection.connection.driver_connection
    if connection.dialect.name == "postgresql":
        from psycopg import sql

        statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
            sql.Identifier(name), sql.SQL(", ").join(sql.Identifier(c) for c in frame.columns)
        )
        # polars writes null as an empty field and "" quoted: PostgreSQL's CSV reading of both.
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for start in range(0, frame.height, batch):
                copy.write(frame.slice(start, batch).write_csv(include_header=False))
        return frame.height
    return _executemany_sqlite(driver, name, frame.columns, _flat_rows(frame, batch), batch)


#: Rows per INSERT statement on SQLite: at most 999 bound values (the limit of older SQLite builds).
_SQLITE_VARIABLES = 999


def _flat_rows(frame: pl.DataFrame, batch: int) -> Iterator[list[Any]]:
    """The frame's rows as flat parameter lists of up to 999 values (whole rows, in order).

    Built column by column (``to_list`` and slice assignment run in C): several times cheaper
    than a tuple per row, and several rows per statement spare SQLite a step per row.
    """
    width = frame.width
    per = max(1, _SQLITE_VARIABLES // width)
    for start in range(0, frame.height, batch):
        part = frame.slice(start, batch)
        flat: list[Any] = [None] * (part.height * width)
        for j, column in enumerate(part.columns):
            flat[j::width] = part[column].to_list()
        for row in range(0, part.height, per):
            yield flat[row * width : (row + per) * width]


def _as_tuples(
    rows: Iterable[Mapping[str, Any]] | pl.DataFrame, batch: int
) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
    if isinstance(rows, pl.DataFrame):
        return list(rows.columns), rows.iter_rows(buffer_size=batch)
    iterator = iter(rows)
    first = next(iterator, None)
    if first is None:
        return [], iter(())
    columns = list(first)
    width = len(columns)
    pick = operator.itemgetter(*columns)

    def tuples() -> Iterator[tuple[Any, ...]]:
        for number, row in enumerate(itertools.chain((first,), iterator), start=1):
            if len(row) != width:
                raise ValueError(f"row {number}: columns {sorted(row)} differ from the first row's {sorted(columns)}")
            yield pick(row) if width > 1 else (row[columns[0]],)

    return columns, tuples()


def _defaults(table: Table, given: Sequence[str]) -> dict[str, Any]:
    """Python-side column defaults (``default=...``) of the columns not given, as SQLAlchemy adds them."""
    found: dict[str, Any] = {}
    for column in table.columns:
        default = column.default
        if column.name in given or default is None or not hasattr(default, "arg"):
            continue
        found[column.name] = default.arg(None) if callable(default.arg) else default.arg
    return found


def _converter(processors: Sequence[Processor]) -> Callable[[tuple[Any, ...]], Sequence[Any]]:
    """Apply the columns' bind processors (only those that have one) to a row of values."""
    active = [(i, f) for i, f in enumerate(processors) if f is not None]
    if not active:
        return lambda row: row

    def convert(row: tuple[Any, ...]) -> list[Any]:
        values = list(row)
        for i, f in active:
            if values[i] is not None:
                values[i] = f(values[i])
        return values

    return convert


def _copy_postgresql(driver: Any, name: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    from psycopg import sql

    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(name), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    count = 0
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def _executemany_sqlite(
    driver: Any, name: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], batch: int
) -> int:
    """Insert ``rows`` (each one row's values, or several rows' values one after the other) with
    executemany, one statement per row count; return the number of rows."""
    quoted = ", ".join(f'"{c}"' for c in columns)
    one = f"({', '.join('?' * len(columns))})"
    statements: dict[int, str] = {}
    cursor = driver.cursor()
    previous = cursor.execute("PRAGMA cache_size").fetchone()[0]
    cursor.execute("PRAGMA cache_size=-262144")  # 256 MiB of pages: index updates stay in memory
    count = 0
    try:
        iterator = iter(rows)
        while chunk := list(itertools.islice(iterator, batch)):
            # consecutive parameter lists of one length go to one statement with that many rows
            for length, group in itertools.groupby(chunk, len):
                size = length // len(columns)
                if size not in statements:
                    statements[size] = f'INSERT INTO "{name}" ({quoted}) VALUES {", ".join([one] * size)}'
                params = list(group)
                cursor.executemany(statements[size], params)
                count += size * len(params)
    finally:
        cursor.execute(f"PRAGMA cache_size={int(previous)}")
        cursor.close()
    return count


def _text(column: Any) -> Any:
    """A column compared as text: PostgreSQL's ``json`` type has no equality operator."""
    return cast(column, Text)


def _text_problems(name: str, table: Table, rows: Sequence[Mapping[str, Any]]) -> list[Problem]:
    """Refuse text that one backend would store and another refuse: longer than the column
    (SQLite ignores VARCHAR lengths, PostgreSQL enforces them) or holding NUL (PostgreSQL text
    cannot). Checked before anything is written, so the import stays all or nothing."""
    limits = {c.name: getattr(c.type, "length", None) for c in table.columns if isinstance(c.type, String)}
    problems: list[Problem] = []
    for n, row in enumerate(rows, start=1):
        for column, limit in limits.items():
            value = row.get(column)
            if not isinstance(value, str):
                continue
            if limit is not None and len(value) > limit:
                problems.append(Problem(n, f"{name}.{column}", value[:40], f"longer than {limit} characters"))
            elif "\x00" in value:
                problems.append(Problem(n, f"{name}.{column}", value[:40], "contains a NUL character"))
        for key, value in (row.get("items") or {}).items():
            if isinstance(value, str) and "\x00" in value:
                problems.append(Problem(n, f"{name}.items.{key}", value[:40], "contains a NUL character"))
    return problems


def _rows(records: Iterable[Any]) -> list[dict[str, Any]]:
    return [r.model_dump(mode="python") for r in records]


def save_cohort(engine: Engine, cohort: Cohort, *, actor: str = "system") -> dict[str, int]:
    """Store every record of ``cohort`` in one transaction; re-saving the same cohort is a no-op.

    Text that a backend would refuse (longer than its column, NUL) is refused first, for every
    table at once, with :class:`InvalidInputError`. Returns the number of records written per table.
    """
    tables: list[tuple[str, Table, list[dict[str, Any]]]] = []
    problems: list[Problem] = []
    for name, table in _RECORD_TABLES:
        rows = _rows(getattr(cohort, name))
        if name == "patients":
            for row in rows:
                row["prior_treatments"] = _json_treatments(row["prior_treatments"])
        problems += _text_problems(name, table, rows)
        tables.append((name, table, rows))
    if problems:
        raise InvalidInputError(problems)
    counts: dict[str, int] = {}
    with engine.begin() as connection:
        for name, table, rows in tables:
            upsert(connection, table, rows)
            counts[name] = len(rows)
        connection.execute(
            schema.audit_log.insert(),
            [{"actor": actor, "action": "import", "entity": "cohort", "entity_id": "-", "detail": counts}],
        )
    return counts


#: Patient fields that :func:`update_patient` may change (the id is the record's identity).
PATIENT_FIELDS = ("site_id", "disease", "sex", "birth_year", "diagnosis_year", "prior_treatments", "synthetic")


def update_patient(
    engine: Engine, patient_id: str, changes: Mapping[str, Any], expected_version: int, *, actor: str = "system"
) -> int:
    """Change fields of one patient if it is still at ``expected_version``; return the new version.

    Optimistic concurrency: the write is one ``UPDATE ... WHERE version = expected_version``
    with its audit_log row in the same transaction, so of two writers that read the same version
    one wins and the other gets :class:`~remission.errors.StaleVersionError` (nothing lost,
    nothing written twice).

    Raises
    ------
    StaleVersionError
        Another writer changed the patient since ``expected_version`` was read.
    InvalidInputError
        Unknown patient, unknown field, or a value the :class:`~remission.model.Patient` model refuses.

    Examples
    --------
    >>> from remission.store import connect, migrate, save_cohort
    >>> from remission.model import Cohort, Patient, Site
    >>> engine = connect("sqlite:///:memory:"); migrate(engine)
    >>> p = Patient(patient_id="P1", site_id="S1", disease="SLE", sex="female", birth_year=1990, diagnosis_year=2015)
    >>> _ = save_cohort(engine, Cohort(sites=(Site(site_id="S1"),), patients=(p,)))
    >>> update_patient(engine, "P1", {"diagnosis_year": 2016}, expected_version=1)
    2
    >>> update_patient(engine, "P1", {"diagnosis_year": 2017}, expected_version=1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    remission.errors.StaleVersionError: column version: value 1: stale; current version is 2
    """
    unknown = sorted(set(changes) - set(PATIENT_FIELDS))
    if unknown:
        reason = "not a field update_patient can change"
        raise InvalidInputError([Problem(None, c, str(changes[c]), reason) for c in unknown])
    table = schema.patients
    with engine.connect() as connection:
        current = connection.execute(select(table).where(table.c.patient_id == patient_id)).first()
    if current is None:
        raise InvalidInputError([Problem(None, "patient_id", str(patient_id), "no such patient")])
    check_version(patient_id, current.version, expected_version, required=True)
    values = _validated_patient(dict(current._mapping), changes)
    with engine.begin() as connection:
        result = connection.execute(
            update(table)
            .where(table.c.patient_id == patient_id, table.c.version == expected_version)
            .values(**values, version=table.c.version + 1, updated_at=func.current_timestamp())
        )
        if result.rowcount != 1:
            now = connection.execute(select(table.c.version).where(table.c.patient_id == patient_id)).scalar_one()
            raise StaleVersionError(patient_id, expected=expected_version, current=now)
        detail = {"changes": sorted(changes), "version": expected_version + 1}
        append_audit(connection, actor, "update", "patient", patient_id, detail)
    return expected_version + 1


def _validated_patient(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    from pydantic import ValidationError

    merged = {k: current[k] for k in ("patient_id", *PATIENT_FIELDS)} | dict(changes)
    try:
        patient = Patient.model_validate(merged)
    except ValidationError as err:
        problems = [
            Problem(None, ".".join(str(x) for x in e["loc"]) or "patient", str(e.get("input", "")), e["msg"])
            for e in err.errors()
        ]
        raise InvalidInputError(problems) from err
    row = _rows([patient])[0]
    row["prior_treatments"] = _json_treatments(row["prior_treatments"])
    return {k: row[k] for k in changes}


def _json_treatments(treatments: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in t.items()} for t in treatments]


def read_table(engine: Engine, name: str) -> pl.DataFrame:
    """A whole record table as a polars DataFrame (columns as in :mod:`remission.store.schema`)."""
    table = schema.metadata.tables[name]
    with engine.connect() as connection:
        result = connection.execute(select(table))
        rows = [dict(r._mapping) for r in result]
    if not rows:
        return pl.DataFrame(schema={c.name: pl.Object for c in table.columns}).clear()
    return pl.DataFrame(rows, infer_schema_length=None)


def assessment_table(engine: Engine, *, disease: str | None = None) -> pl.DataFrame:
    """Assessments in long format: ``assessment_id``, ``patient_id``, ``day``, ``date``, one text
    column per item code, sorted by patient and day.

    Item values are given as text, as in a CSV export, because one code can hold different kinds
    of value in different forms; each index parses and validates its own columns.
    """
    query = select(schema.assessments, schema.patients.c.disease).join(schema.patients)
    if disease is not None:
        query = query.where(schema.patients.c.disease == disease)
    with engine.connect() as connection:
        rows = [
            {
                "assessment_id": r.id,
                "patient_id": r.patient_id,
                "disease": r.disease,
                "day": r.day,
                "date": r.date,
                "visit": r.visit,
                "form": r.form,
                **{k: _as_text(v) for k, v in r.items.items()},
            }
            for r in connection.execute(query.order_by(schema.assessments.c.patient_id, schema.assessments.c.day))
        ]
    return pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame()


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def save_scores(
    engine: Engine, index_name: str, rule_version: str, scored: pl.DataFrame, outputs: Sequence[str]
) -> int:
    """Store one index's outputs per assessment (``scored`` has ``assessment_id``) in one transaction."""
    explain_col = next((c for c in outputs if c.endswith("_explain")), None)
    value_cols = [c for c in outputs if c != explain_col and c in scored.columns]
    rows = [
        {
            "assessment_id": int(r["assessment_id"]),
            "index_name": index_name,
            "rule_version": rule_version,
            "values": {c: r[c] for c in value_cols},
            "explain": (r.get(explain_col) or "") if explain_col else "",
        }
        for r in scored.iter_rows(named=True)
    ]
    with engine.begin() as connection:
        upsert(connection, schema.scores, rows)
    return len(rows)


def scores_table(engine: Engine, index_name: str) -> pl.DataFrame:
    """Stored scores of one index joined to their assessment's patient and day."""
    query = (
        select(schema.scores, schema.assessments.c.patient_id, schema.assessments.c.day)
        .join(schema.assessments)
        .where(schema.scores.c.index_name == index_name)
        .order_by(schema.assessments.c.patient_id, schema.assessments.c.day)
    )
    with engine.connect() as connection:
        rows = [
            {
                "patient_id": r.patient_id,
                "day": r.day,
                "assessment_id": r.assessment_id,
                **r.values,
                "explain": r.explain,
            }
            for r in connection.execute(query)
        ]
    return pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame()


def import_events(engine: Engine, *, limit: int | None = None) -> list[dict[str, Any]]:
    """The import events of the audit log, newest first: when, who, source, digest and the
    detail written with the import (counts per table, row reconciliation per source file)."""
    log = schema.audit_log
    query = select(log.c.id, log.c.at, log.c.actor, log.c.entity, log.c.detail).where(log.c.action == "import")
    query = query.order_by(log.c.id.desc())
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(query)]
