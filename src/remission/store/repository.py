"""Reading and writing registry records: transactional, idempotent (upsert on natural keys).

Writes happen in one transaction per call: either every record of a cohort is stored, or none.
Rows are written with executemany (one statement, many parameter sets), the fast path of both
SQLite and PostgreSQL drivers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import polars as pl
from sqlalchemy import Connection, Engine, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from remission.model import Cohort
from remission.store import schema

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
    """Insert ``rows`` into ``table``, updating rows whose natural key already exists."""
    if not rows:
        return
    keys = schema.NATURAL_KEYS[table.name]
    dialect = connection.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        statement = insert(table)
        updates = {c: statement.excluded[c] for c in part[0] if c not in keys}
        statement = (
            statement.on_conflict_do_update(index_elements=list(keys), set_=updates)
            if updates
            else statement.on_conflict_do_nothing(index_elements=list(keys))
        )
        connection.execute(statement, list(part))


def _rows(records: Iterable[Any]) -> list[dict[str, Any]]:
    return [r.model_dump(mode="python") for r in records]


def save_cohort(engine: Engine, cohort: Cohort, *, actor: str = "system") -> dict[str, int]:
    """Store every record of ``cohort`` in one transaction; re-saving the same cohort is a no-op.

    Returns the number of records written per table.
    """
    counts: dict[str, int] = {}
    with engine.begin() as connection:
        for name, table in _RECORD_TABLES:
            rows = _rows(getattr(cohort, name))
            if name == "patients":
                for row in rows:
                    row["prior_treatments"] = [
                        {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in t.items()}
                        for t in row["prior_treatments"]
                    ]
            upsert(connection, table, rows)
            counts[name] = len(rows)
        connection.execute(
            schema.audit_log.insert(),
            [{"actor": actor, "action": "import", "entity": "cohort", "entity_id": "-", "detail": counts}],
        )
    return counts


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
