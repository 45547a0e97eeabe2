"""Column-wise reading of assessments and bulk writing of scores (``remission rescore``).

The row-by-row path (:func:`remission.store.assessment_table`, :func:`remission.store.save_scores`)
builds a dict per assessment and per score. This module does the same jobs column by column:

* :func:`read_assessments` fetches the assessments with one SQLAlchemy Core query (items as JSON
  text, no per-row conversion) and decodes the item documents into columns with polars
  (``str.json_decode``), giving each item column the values the row path gives;
* :func:`write_scores` compares the new scores of every index with the stored ones and writes
  only what changed, in one transaction with its audit events: new scores by
  :func:`~remission.store.bulk_insert` (``COPY`` on PostgreSQL, multi-row ``INSERT`` on SQLite),
  changed scores by ``executemany`` ``UPDATE`` (SQLite) or ``COPY`` into a temporary table and
  one ``INSERT … ON CONFLICT DO UPDATE`` (PostgreSQL). One audit event per rescore with the
  counts, plus one per stored score whose values, explanation or rule version changed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import polars as pl
from sqlalchemy import Connection, Engine, String, Text, cast, select

from remission.store import schema
from remission.store.repository import _as_text, bulk_insert

#: Item codes that can be read with a JSON path (anything else is decoded in Python).
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Text that JSON writes as it is between quotes (json.dumps with ensure_ascii).
_PLAIN_TEXT = r"^[ !#-\[\]-~]*$"

Progress = Callable[[str, int, int], None]


def read_assessments(
    engine: Engine, *, patients: Sequence[str] | None = None, since: date | None = None
) -> pl.DataFrame:
    """Assessments as :func:`remission.store.assessment_table` gives them (same columns, same
    values), read column-wise; sorted by patient, day and id.

    ``patients`` and ``since`` choose whole patients (those listed; those with an assessment dated
    on or after ``since``) so that baselines and previous visits are read too; the column
    ``in_scope`` marks the assessments the filters select (``date >= since``).
    """
    a, p = schema.assessments, schema.patients
    query = select(
        a.c.id,
        a.c.patient_id,
        p.c.disease,
        a.c.day,
        cast(a.c.date, String),
        a.c.visit,
        a.c.form,
        cast(a.c["items"], Text),
    ).join(p, p.c.patient_id == a.c.patient_id)
    if patients is not None:
        query = query.where(a.c.patient_id.in_(list(patients)))
    if since is not None:
        query = query.where(a.c.patient_id.in_(select(a.c.patient_id).where(a.c.date >= since).distinct()))
    query = query.order_by(a.c.patient_id, a.c.day, a.c.id)
    with engine.connect() as connection:
        rows = connection.execute(query).fetchall()
    if not rows:
        return pl.DataFrame()
    names = ["assessment_id", "patient_id", "disease", "day", "date", "visit", "form", "items"]
    types = [pl.Int64, pl.Utf8, pl.Utf8, pl.Int64, pl.Utf8, pl.Utf8, pl.Utf8, pl.Utf8]
    frame = pl.DataFrame(rows, schema=list(zip(names, types, strict=True)), orient="row")
    frame = frame.with_columns(pl.col("date").str.slice(0, 10).str.to_date("%Y-%m-%d"))
    scope = pl.lit(True) if since is None else pl.col("date") >= pl.lit(since)
    items = decode_items(frame["items"])
    base = frame.drop("items").with_columns(scope.alias("in_scope"))
    clash = [c for c in items.columns if c in base.columns]
    return pl.concat([base, items.drop(clash)], how="horizontal")


def decode_items(documents: pl.Series) -> pl.DataFrame:
    """One column per item code of the JSON ``documents`` (objects), with the value the row path
    gives (:func:`remission.store.repository._as_text`): text, except codes whose every value is
    a JSON integer or boolean, which stay integers (``true``/``false`` as 1/0, what their text
    ``"1"``/``"0"`` parses as).

    polars decodes every document in one pass; a code that holds mixed or nested values, or
    numbers other than integers, is read as its JSON text (a JSON path) or, where that could
    differ from the row path (booleans among text, nested values), by ``json.loads`` per row.
    """
    if documents.is_empty():
        return pl.DataFrame()
    try:
        decoded = documents.str.json_decode(infer_schema_length=None)
    except pl.exceptions.PolarsError:  # values polars cannot unify (e.g. a list and an object)
        return _python_columns(documents, None)
    if not isinstance(decoded.dtype, pl.Struct):
        return _python_columns(documents, None)
    fields = decoded.struct.unnest()
    columns: list[pl.Series] = []
    slow: list[str] = []
    for name, dtype in fields.schema.items():
        column = fields[name]
        if dtype.is_integer() or dtype == pl.Boolean:
            columns.append(column.cast(pl.Int64))
        elif dtype == pl.Null:
            columns.append(column.cast(pl.Utf8))
        elif (dtype.is_float() or dtype == pl.Utf8) and _PLAIN_KEY.match(name):
            raw = documents.str.json_path_match(f"$.{name}")
            if dtype == pl.Utf8 and raw.is_in(["true", "false"]).any():
                slow.append(name)  # a boolean among text: "1"/"0" in the row path
            else:
                columns.append(raw.alias(name))
        else:
            slow.append(name)
    frame = pl.DataFrame(columns) if columns else pl.DataFrame()
    if slow:
        frame = frame.hstack(_python_columns(documents, slow)) if columns else _python_columns(documents, slow)
    return frame


def _python_columns(documents: pl.Series, keys: Sequence[str] | None) -> pl.DataFrame:
    """The row path's decoding (``json.loads`` and ``_as_text`` per value) for ``keys`` (all keys: None)."""
    parsed = [json.loads(d) if d is not None else {} for d in documents.to_list()]
    if keys is None:
        keys = list(dict.fromkeys(k for d in parsed for k in d))
    return pl.DataFrame({k: pl.Series(k, [_as_text(d.get(k)) for d in parsed], dtype=pl.Utf8) for k in keys})


def read_columns(
    engine: Engine, name: str, columns: Sequence[str], *, patients: Iterable[str] | None = None
) -> pl.DataFrame:
    """Columns of a record table (numbers and text) as a polars DataFrame, optionally of some patients."""
    table = schema.metadata.tables[name]
    query = select(*[table.c[c] for c in columns])
    if patients is not None:
        query = query.where(table.c.patient_id.in_(list(patients)))
    with engine.connect() as connection:
        rows = connection.execute(query).fetchall()
    types = {c: _polars_type(table.c[c].type) for c in columns}
    return pl.DataFrame(rows, schema=types, orient="row")


def _polars_type(sql_type: Any) -> Any:
    python = sql_type.python_type
    return {int: pl.Int64, float: pl.Float64, str: pl.Utf8, bool: pl.Boolean}.get(python, pl.Object)


@dataclass(frozen=True)
class ScoreBatch:
    """New scores of one index: ``assessment_id``, ``values`` (JSON text as the row path writes
    it) and ``explain``, one row per scored assessment."""

    index: str
    rule_version: str
    scores: pl.DataFrame
    problems: int = 0


@dataclass
class WriteCounts:
    """What writing one index's scores did."""

    scored: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class RescoreWrite:
    counts: dict[str, WriteCounts] = field(default_factory=dict)
    audit_id: int | None = None


def score_frame(scored: pl.DataFrame, outputs: Sequence[str]) -> pl.DataFrame:
    """``assessment_id``, ``values`` and ``explain`` of scored rows, built column-wise: ``values``
    is the same JSON text as :func:`remission.store.save_scores` stores (``json.dumps`` of the
    output values in the index's order), ``explain`` the explanation or ''."""
    explain_col = next((c for c in outputs if c.endswith("_explain")), None)
    value_cols = [c for c in outputs if c != explain_col and c in scored.columns]
    parts: list[pl.Expr] = []
    for number, name in enumerate(value_cols):
        prefix = ("{" if number == 0 else ", ") + json.dumps(name) + ": "
        parts += [pl.lit(prefix), _json_value(scored[name])]
    values = pl.concat_str([*parts, pl.lit("}")]) if parts else pl.lit("{}")
    explain = pl.col(explain_col).fill_null("") if explain_col and explain_col in scored.columns else pl.lit("")
    return scored.select(
        pl.col("assessment_id").cast(pl.Int64), values.alias("values"), explain.cast(pl.Utf8).alias("explain")
    )


def _json_value(series: pl.Series) -> pl.Expr:
    """JSON text of each value, as ``json.dumps`` writes it."""
    dtype = series.dtype
    if dtype.is_integer():
        return pl.lit(series.cast(pl.Utf8).fill_null("null"))
    if dtype == pl.Boolean:
        text = pl.when(pl.lit(series)).then(pl.lit("true")).otherwise(pl.lit("false"))
        return pl.when(pl.lit(series).is_null()).then(pl.lit("null")).otherwise(text)
    if dtype == pl.Null:
        return pl.lit("null")
    if dtype == pl.Utf8 and series.drop_nulls().str.contains(_PLAIN_TEXT).all():
        return pl.lit(('"' + series + '"').fill_null("null"))
    return pl.lit(pl.Series([json.dumps(v) for v in series.to_list()], dtype=pl.Utf8))


def write_scores(
    engine: Engine,
    batches: Sequence[ScoreBatch],
    *,
    actor: str = "system",
    detail: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> RescoreWrite:
    """Store each batch's scores, writing only new and changed ones, in one transaction.

    Per index: the stored scores are read (``values`` as text) and joined to the new ones by
    assessment; equal text, explanation and rule version is unchanged; where the text differs
    the two documents are also compared as JSON (a score stored by another encoder is not
    rewritten). Then one audit event (``rescore``/``scores``) with the counts per index and
    ``detail`` (the filters), and one (``rescore``/``score``) per stored score that changed, with
    the values before and after. On PostgreSQL the scores table is locked against other writers
    (``SHARE ROW EXCLUSIVE``; readers go on) for the transaction.
    """
    result = RescoreWrite()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("LOCK TABLE scores IN SHARE ROW EXCLUSIVE MODE")
        changes: list[dict[str, Any]] = []
        for number, batch in enumerate(batches):
            if progress:
                progress(f"writing {batch.index}", number, len(batches))
            counts, changed = _write_batch(connection, batch)
            result.counts[batch.index] = counts
            changes += [
                {
                    "actor": actor,
                    "action": "rescore",
                    "entity": "score",
                    "entity_id": f"{row['assessment_id']}/{batch.index}",
                    "detail": {
                        "index": batch.index,
                        "assessment_id": row["assessment_id"],
                        "rule_version": [row["rule_version_old"], batch.rule_version],
                        "before": json.loads(row["values_old"]),
                        "after": json.loads(row["values"]),
                        "explain_changed": row["explain_old"] != row["explain"],
                    },
                }
                for row in changed.iter_rows(named=True)
            ]
        summary = {"indices": {k: v.as_dict() for k, v in result.counts.items()}, **(detail or {})}
        inserted = connection.execute(
            schema.audit_log.insert().returning(schema.audit_log.c.id),
            {"actor": actor, "action": "rescore", "entity": "scores", "entity_id": "-", "detail": summary},
        )
        result.audit_id = int(inserted.scalar_one())
        if changes:
            connection.execute(schema.audit_log.insert(), changes)
    if progress:
        progress("written", len(batches), len(batches))
    return result


def _write_batch(connection: Connection, batch: ScoreBatch) -> tuple[WriteCounts, pl.DataFrame]:
    """Insert the new and update the changed scores of one index; the changed rows (with the old
    values) for the audit."""
    new = batch.scores.unique("assessment_id", keep="last", maintain_order=True)
    s = schema.scores
    query = select(s.c.assessment_id, s.c.rule_version, cast(s.c["values"], Text), s.c.explain).where(
        s.c.index_name == batch.index
    )
    stored_rows = connection.execute(query).fetchall()
    stored = pl.DataFrame(
        stored_rows,
        schema={"assessment_id": pl.Int64, "rule_version_old": pl.Utf8, "values_old": pl.Utf8, "explain_old": pl.Utf8},
        orient="row",
    )
    joined = new.join(stored, on="assessment_id", how="left")
    absent = joined["rule_version_old"].is_null()
    differs = ~absent & (
        (joined["rule_version_old"] != batch.rule_version)
        | (joined["values_old"] != joined["values"])
        | (joined["explain_old"] != joined["explain"])
    )
    inserts = joined.filter(absent).select("assessment_id", "values", "explain")
    candidates = joined.filter(differs)
    if not candidates.is_empty():
        really = [
            rule != batch.rule_version or explain_old != explain or json.loads(old) != json.loads(now)
            for rule, old, now, explain_old, explain in candidates.select(
                "rule_version_old", "values_old", "values", "explain_old", "explain"
            ).iter_rows()
        ]
        candidates = candidates.filter(pl.Series(really, dtype=pl.Boolean))
    counts = WriteCounts(
        scored=new.height,
        inserted=inserts.height,
        updated=candidates.height,
        unchanged=new.height - inserts.height - candidates.height,
        problems=batch.problems,
    )
    if not inserts.is_empty():
        frame = inserts.select(
            "assessment_id",
            pl.lit(batch.index).alias("index_name"),
            pl.lit(batch.rule_version).alias("rule_version"),
            "values",
            "explain",
        )
        bulk_insert(connection, schema.scores, frame, json_encoded=("values",))
    if not candidates.is_empty():
        _update(connection, batch, candidates.select("assessment_id", "values", "explain"))
    return counts, candidates


def _update(connection: Connection, batch: ScoreBatch, rows: pl.DataFrame) -> None:
    driver: Any = connection.connection.driver_connection
    if connection.dialect.name == "postgresql":
        from psycopg import sql

        connection.exec_driver_sql(
            "CREATE TEMPORARY TABLE rescore_stage (assessment_id integer, values_text text, explain text) "
            "ON COMMIT DROP"
        )
        with driver.cursor() as cursor:
            with cursor.copy(sql.SQL("COPY rescore_stage FROM STDIN (FORMAT csv)")) as copy:
                copy.write(rows.write_csv(include_header=False))
            cursor.execute(
                'INSERT INTO scores (assessment_id, index_name, rule_version, "values", explain) '
                "SELECT assessment_id, %s, %s, values_text::json, explain FROM rescore_stage "
                "ON CONFLICT (assessment_id, index_name) DO UPDATE SET rule_version = excluded.rule_version, "
                '"values" = excluded."values", explain = excluded.explain, computed_at = CURRENT_TIMESTAMP',
                (batch.index, batch.rule_version),
            )
            cursor.execute("DROP TABLE rescore_stage")
        return
    cursor = driver.cursor()
    try:
        cursor.executemany(
            'UPDATE scores SET rule_version = ?, "values" = ?, explain = ?, computed_at = CURRENT_TIMESTAMP '
            "WHERE assessment_id = ? AND index_name = ?",
            [
                (batch.rule_version, values, explain, assessment_id, batch.index)
                for assessment_id, values, explain in rows.iter_rows()
            ],
        )
    finally:
        cursor.close()
