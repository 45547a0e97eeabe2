"""The column-wise path of :func:`~remission.io.importing.write_batch`, for large imports.

Records staged as DataFrames (:meth:`~remission.io.importing.ImportBatch.add_frame`) are checked
column by column against the same rules as the per-record path (the domain models, the store's
column lengths, days relative to the infusion, natural keys, references), then written with the
database's bulk path (:func:`~remission.store.repository.bulk_insert`: ``COPY`` on PostgreSQL)
and compared with the stored rows in SQL. Nothing about the result differs from the per-record
path: the same rows are stored, counted, updated and audited.

The split is by patient. Every natural key, day and reference of a record depends on its patient
only, so a patient whose records all pass the column-wise checks cannot produce a problem, a
merge or a reference to another patient's records: its records are written column-wise. The
records of every other patient (any record with a problem, a duplicated natural key, a missing
day 0, an unknown site or patient, or a value the checks are not sure of) go back into
``batch.records`` at their place (:meth:`~remission.io.importing.ImportBatch.materialise`) and
take the per-record path, which words their problems exactly as before. The checks are
conservative: a record they do not accept may still be valid (the per-record path then stores
it); a record they accept is one the per-record path stores unchanged
(``tests/io/test_columnar.py`` checks both paths against each other).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    MetaData,
    String,
    Table,
    and_,
    cast,
    exists,
    func,
    or_,
    select,
)
from sqlalchemy import (
    Text as SqlText,
)

from remission.io import importing
from remission.io.mapping import AE_CATEGORIES, DISEASES
from remission.model import Patient, Sex, Site
from remission.store import schema
from remission.store.repository import bulk_insert, upsert

if TYPE_CHECKING:
    import polars as pl

#: Every character Python's ``str.strip`` removes (a superset of the Unicode White_Space that
#: pydantic's ``str_strip_whitespace`` removes): patient ids are grouped after removing these.
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
_OUTER_SPACE = r"^[\s\x1c-\x1f]|[\s\x1c-\x1f]$"
_PATIENT_ID = r"^[A-Za-z0-9_.\-]+$"
KEY = "__patient"  # the patient a row belongs to: its patient_id without outer whitespace
SEXES = tuple(s.value for s in Sex)


@dataclass(frozen=True)
class TextField:
    """A str field: required (not None), its length (the model's and the store column's), choices."""

    required: bool = True
    min_length: int = 0
    max_length: int | None = None
    choices: tuple[str, ...] | None = None
    pattern: str | None = None


@dataclass(frozen=True)
class NumberField:
    """An int or float field with the model's bounds (every accepted value is finite)."""

    dtype: str
    required: bool = True
    gt: float | None = None
    ge: float | None = None
    le: float | None = None


@dataclass(frozen=True)
class DateField:
    """A date field (``date``)."""

    required: bool = True


@dataclass(frozen=True)
class FlagField:
    """A bool field."""


@dataclass(frozen=True)
class ItemsField:
    """Assessment items: a struct of item codes (letters, digits, _) to int, float, str or bool."""


Rule = TextField | NumberField | DateField | FlagField | ItemsField
_ID = TextField(min_length=1, max_length=64, pattern=_PATIENT_ID)
_FLAG = TextField(required=False, choices=("D", "M", "Y"))
_TEXT = TextField(required=False)
#: The source identity (empty: the natural key) and, per date, the collected text and its ADaM flag.
_PROVENANCE_MEDICATIONS: dict[str, Rule] = {
    "source_key": TextField(required=False, min_length=1),
    "start_dtc": _TEXT,
    "start_date_flag": _FLAG,
    "stop_dtc": _TEXT,
    "stop_date_flag": _FLAG,
}
_PROVENANCE_AES: dict[str, Rule] = {
    "source_key": TextField(required=False, min_length=1),
    "onset_dtc": _TEXT,
    "onset_date_flag": _FLAG,
    "onset_time": TextField(required=False, pattern=r"^\d{2}:\d{2}(:\d{2})?$"),
    "resolution_dtc": _TEXT,
    "resolution_date_flag": _FLAG,
}

#: The fields a staged frame gives per table and what the domain model accepts for each (see
#: :mod:`remission.model`). Lengths of the store's columns are added from the schema.
RULES: dict[str, dict[str, Rule]] = {
    "patients": {
        "patient_id": _ID,
        "site_id": TextField(min_length=1, max_length=64),
        "disease": TextField(choices=DISEASES),
        "sex": TextField(choices=SEXES),
        "birth_year": NumberField("Int64", required=False, ge=1900, le=2100),
        "diagnosis_year": NumberField("Int64", required=False, ge=1900, le=2100),
    },
    "infusions": {
        "patient_id": _ID,
        "date": DateField(),
        "product": TextField(),
        "cells_per_kg": NumberField("Float64", gt=0, le=1e9),
        "conditioning": TextField(),
    },
    "assessments": {
        "patient_id": _ID,
        "date": DateField(),
        "visit": TextField(),
        "form": TextField(min_length=1, max_length=32),
        "items": ItemsField(),
    },
    "labs": {
        "patient_id": _ID,
        "date": DateField(),
        "analyte": TextField(min_length=1, max_length=64),
        "value": NumberField("Float64"),
        "unit": TextField(),
        "lln": NumberField("Float64", required=False),
        "uln": NumberField("Float64", required=False),
        "source_key": TextField(required=False, min_length=1),
    },
    "medications": {
        "patient_id": _ID,
        "drug": TextField(min_length=1),
        "dose": NumberField("Float64", required=False, ge=0),
        "unit": TextField(),
        "route": TextField(),
        "frequency": TextField(),
        "start_date": DateField(required=False),
        "stop_date": DateField(required=False),
        **_PROVENANCE_MEDICATIONS,
    },
    "adverse_events": {
        "patient_id": _ID,
        "term": TextField(min_length=1),
        "category": TextField(choices=AE_CATEGORIES),
        "grade": NumberField("Int64", ge=1, le=5),
        "onset_date": DateField(),
        "resolution_date": DateField(required=False),
        "serious": FlagField(),
        **_PROVENANCE_AES,
    },
}
#: Fields the models fill when a record leaves them out, as stored (patients are written as dicts).
DEFAULTS: dict[str, dict[str, Any]] = {
    "infusions": {"synthetic": False},
    "assessments": {"synthetic": False},
    "labs": {"synthetic": False},
    "medications": {"synthetic": False},
    "adverse_events": {"organism": "", "treatment": "", "synthetic": False},
}


@dataclass
class Columnar:
    """The records that passed the column-wise checks, per table, as the store will hold them."""

    frames: dict[str, pl.DataFrame] = field(default_factory=dict)
    #: Per source file: rows kept on the column-wise path (the others became per-record records).
    kept_rows: Counter[str] = field(default_factory=Counter)
    #: (dataset, row) of the kept rows of frames whose rows name their source row
    #: (:attr:`~remission.io.importing.StagedFrame.row_ids`), counted per source row instead.
    kept_row_ids: list[pl.DataFrame] = field(default_factory=list)

    def rows(self, table: str) -> int:
        frame = self.frames.get(table)
        return 0 if frame is None else frame.height

    def write(self, connection: Connection, table: str, counts: Counter[str]) -> None:
        """Write the table's records (new: bulk insert; stored: compared, changed ones updated and audited)."""
        frame = self.frames.get(table)
        if frame is None or frame.is_empty():
            return
        if table == "patients":
            _write_patients(connection, frame, counts)
        else:
            _write_frame(connection, schema.metadata.tables[table], frame, counts)


# ---------------------------------------------------------------------------------------------
# Checks


def _column_limit(table: str, name: str) -> int | None:
    column = schema.metadata.tables[table].columns.get(name)
    return column.type.length if column is not None and isinstance(column.type, String) else None


def _text_ok(values: pl.Series, rule: TextField, limit: int | None) -> pl.Series:
    import polars as pl

    if values.dtype == pl.Null:
        values = values.cast(pl.String)
    if values.dtype != pl.String:
        return pl.Series([False] * len(values))
    present = values.is_not_null()
    ok = present
    if rule.pattern is None:  # the patterns of RULES allow no whitespace at all
        ok = ok & ~values.str.contains(_OUTER_SPACE).fill_null(False)
    longest = min(x for x in (rule.max_length, limit, 2**62) if x is not None)
    length = values.str.len_chars()
    ok = ok & (length >= rule.min_length) & (length <= longest)
    if rule.choices is not None:
        ok = ok & values.is_in(list(rule.choices))
    if rule.pattern is not None:
        ok = ok & values.str.contains(rule.pattern)
    ok = ok.fill_null(False)
    return ok if rule.required else (ok | ~present)


def _number_ok(values: pl.Series, rule: NumberField) -> pl.Series:
    import polars as pl

    if values.dtype == pl.Null:
        values = values.cast(getattr(pl, rule.dtype))
    if values.dtype != getattr(pl, rule.dtype):
        return pl.Series([False] * len(values))
    present = values.is_not_null()
    ok = present
    if rule.dtype == "Float64":
        ok = ok & values.is_finite()
    for bound, test in ((rule.gt, values.__gt__), (rule.ge, values.__ge__), (rule.le, values.__le__)):
        if bound is not None:
            ok = ok & test(bound)
    ok = ok.fill_null(False)
    return ok if rule.required else (ok | ~present)


def _items_ok(values: pl.Series) -> pl.Series:
    """Rows whose non-null items all have a valid code and a value the model keeps as it is."""
    import polars as pl

    ok = pl.Series([True] * len(values))
    if not isinstance(values.dtype, pl.Struct):
        return ~ok
    for name, dtype in values.dtype.to_schema().items():
        item = values.struct.field(name)
        if not name.replace("_", "").isalnum():
            good = pl.Series([False] * len(values))
        elif dtype.is_integer() or dtype in (pl.Boolean, pl.Null):
            good = item.is_not_null() & (item.abs() < 2**53) if dtype.is_integer() else item.is_not_null()
        elif dtype.is_float():
            good = item.is_finite()
        elif dtype == pl.String:
            good = ~item.str.contains(_OUTER_SPACE)
        else:
            good = pl.Series([False] * len(values))
        ok = ok & (good.fill_null(False) | item.is_null())
    return ok


def _rule_ok(table: str, name: str, values: pl.Series, rule: Rule) -> pl.Series:
    import polars as pl

    if isinstance(rule, TextField):
        return _text_ok(values, rule, _column_limit(table, name))
    if isinstance(rule, NumberField):
        return _number_ok(values, rule)
    if isinstance(rule, DateField):
        if values.dtype not in (pl.Date, pl.Null):
            return pl.Series([False] * len(values))
        return values.is_not_null() if rule.required else pl.Series([True] * len(values))
    if isinstance(rule, FlagField):
        return values.is_not_null() if values.dtype == pl.Boolean else pl.Series([False] * len(values))
    return _items_ok(values)


def _record_ok(table: str, frame: pl.DataFrame) -> pl.Series:
    """Rows the model and the store's column lengths accept unchanged (conservatively)."""
    import polars as pl

    rules = RULES[table]
    if {c for c in frame.columns if not c.startswith("__")} != set(rules):
        return pl.Series([False] * frame.height)  # a missing or extra field: the model words it
    ok = pl.Series([True] * frame.height)
    for name, rule in rules.items():
        ok = ok & _rule_ok(table, name, frame[name], rule)
    if table == "patients":
        born, diagnosed = frame["birth_year"], frame["diagnosis_year"]
        ok = ok & (diagnosed >= born).fill_null(True)
    if table == "medications":
        ok = ok & (frame["stop_date"] >= frame["start_date"]).fill_null(True)
    return ok.fill_null(False)


def _typed(table: str, frame: pl.DataFrame) -> pl.DataFrame:
    """The frame's fields with the rules' dtypes (all-null columns are typed ``Null``)."""
    import polars as pl

    out = []
    for name, rule in RULES[table].items():
        column = frame[name]
        if column.dtype == pl.Null:
            target = {TextField: pl.String, DateField: pl.Date, FlagField: pl.Boolean}.get(type(rule))
            if isinstance(rule, NumberField):
                target = getattr(pl, rule.dtype)
            if target is not None:
                column = column.cast(target)
        out.append(column)
    return pl.DataFrame(out)


# ---------------------------------------------------------------------------------------------
# Split


@dataclass
class _Checked:
    staged: importing.StagedFrame
    ok: pl.Series
    keys: pl.Series  # KEY of every row (null where patient_id is not a string)


def split(connection: Connection, batch: importing.ImportBatch) -> Columnar:
    """Keep the rows of ``batch.frames`` of patients with no problem; every other row goes into
    ``batch.records`` (see the module docstring). Returns the kept rows as the store holds them."""
    import polars as pl

    checked = [_check(staged) for staged in batch.frames]
    slow: set[str] = set()
    for c in checked:
        slow.update(c.keys.filter(~c.ok).drop_nulls().to_list())
    ok_rows = {t: [c for c in checked if c.staged.table == t] for t in RULES}
    day0 = _day_zero(connection, batch, checked, slow)
    frames: dict[str, pl.DataFrame] = {}
    for table, parts in ok_rows.items():
        kept = [_with_keys(c).filter(pl.col("__ok") & ~pl.col(KEY).is_in(list(slow))) for c in parts]
        kept = [k for k in kept if k.height]
        if kept:
            frames[table] = pl.concat([_stored(table, k) for k in kept], how="vertical")
    slow |= _undated(frames, day0, batch.references)
    slow |= _duplicated(frames)
    slow |= _unreferenced(connection, batch, frames)
    slow |= _with_natural_rows(connection, frames)
    by_frame = {id(c.staged): c for c in checked}
    out = Columnar()

    def keep(staged: importing.StagedFrame) -> pl.DataFrame:
        mine = _slow_mask(by_frame[id(staged)], slow)
        moved = staged.frame.filter(mine)
        if staged.row_ids:
            out.kept_row_ids.append(staged.row_id_frame(staged.frame.filter(~mine)))
        else:
            out.kept_rows[staged.file] += staged.frame.height - moved.height
        return moved

    batch.materialise(keep=keep)
    for table, frame in frames.items():
        clean = frame.filter(~pl.col(KEY).is_in(list(slow)))
        out.frames[table] = _dated(table, clean, day0).drop(KEY)
    return out


def _check(staged: importing.StagedFrame) -> _Checked:
    import polars as pl

    frame = staged.frame
    ok = _record_ok(staged.table, frame) if staged.table in RULES else pl.Series([False] * frame.height)
    pid = frame["patient_id"] if "patient_id" in frame.columns else pl.Series([None] * frame.height)
    keys = (
        pid.str.strip_chars(WHITESPACE) if pid.dtype == pl.String else pl.Series([None] * frame.height, dtype=pl.String)
    )
    return _Checked(staged, ok, keys)


def _with_keys(c: _Checked) -> pl.DataFrame:
    return c.staged.frame.with_columns(c.keys.alias(KEY), c.ok.alias("__ok"))


def _stored(table: str, frame: pl.DataFrame) -> pl.DataFrame:
    """Accepted rows as the store holds them: typed, items as JSON text, the models' defaults."""
    import polars as pl

    out = _typed(table, frame)
    if table == "assessments":
        out = out.with_columns(_items_json(out["items"]).alias("items"))
    defaults = [pl.lit(v, dtype=pl.String if v is None else None).alias(k) for k, v in DEFAULTS.get(table, {}).items()]
    return out.with_columns(*defaults, *_natural_identity(table, out), frame[KEY])


#: Fields of the natural key that is the identity of a record whose source gives none
#: (:func:`remission.model.records.natural_source_key`, which the per-record path applies).
NATURAL_IDENTITY = {
    "labs": ("analyte", "date"),
    "medications": ("drug", "start_date"),
    "adverse_events": ("term", "onset_date"),
}


def _natural_identity(table: str, out: pl.DataFrame) -> list[pl.Expr]:
    import polars as pl

    if table not in NATURAL_IDENTITY:
        return []
    text, when = NATURAL_IDENTITY[table]
    day = pl.col(when).dt.strftime("%Y-%m-%d").fill_null("")  # as natural_source_key writes None
    key = pl.concat_str([pl.lit("natural:"), pl.col("patient_id"), pl.lit("|"), pl.col(text), pl.lit("|"), day])
    return [pl.coalesce(pl.col("source_key"), key).alias("source_key")]


def _items_json(items: pl.Series) -> pl.Series:
    """The items dict as ``json.dumps`` writes it (null items left out, as the per-record path does)."""
    import polars as pl

    assert isinstance(items.dtype, pl.Struct)
    if all(d.is_integer() or d.is_float() or d in (pl.Boolean, pl.Null) for d in items.dtype.to_schema().values()):
        return _numbers_json(items)
    parts = []
    for name, dtype in items.dtype.to_schema().items():
        value = items.struct.field(name)
        if dtype == pl.Boolean:
            text = value.replace_strict({True: "true", False: "false"}, return_dtype=pl.String)
        elif dtype == pl.String:
            # JSON string literal: polars' encoder, without the object around it
            encoded = pl.DataFrame([value.alias("v")]).select(pl.struct("v").struct.json_encode()).to_series()
            literal = pl.when(pl.lit(value).is_not_null()).then(pl.lit(encoded).str.slice(5).str.head(-1))
            text = pl.select(literal).to_series()
        else:
            text = value.cast(pl.String)
        parts.append((pl.lit(json.dumps(name) + ": ") + pl.lit(text)).alias(name))
    body = pl.select(pl.concat_str(parts, separator=", ", ignore_nulls=True)).to_series() if parts else None
    if body is None:
        return pl.Series(["{}"] * len(items))
    return pl.select(pl.lit("{") + pl.lit(body).fill_null("") + pl.lit("}")).to_series()


def _numbers_json(items: pl.Series) -> pl.Series:
    """:func:`_items_json` of items that are all numbers or booleans, by polars' JSON encoder.

    Without text values the encoder's output can be edited as text: null items are cut out and
    ``json.dumps``' spaces put in (codes are letters, digits and ``_``: nothing to escape).
    """
    import polars as pl

    text = pl.lit(items).struct.json_encode()
    if any(items.struct.field(name).has_nulls() for name in items.dtype.to_schema()):  # type: ignore[attr-defined]
        code = r'"[^"]+":null'
        text = text.str.replace_all(code + ",", "").str.replace_all("," + code, "")
        text = text.str.replace_all(r"\{" + code + r"\}", "{}")
    text = text.str.replace_all('":', '": ', literal=True).str.replace_all(',"', ', "', literal=True)
    return pl.select(text).to_series()


def _day_zero(
    connection: Connection, batch: importing.ImportBatch, checked: Sequence[_Checked], slow: set[str]
) -> dict[str, dt.date]:
    """Day 0 of each patient of the kept rows: earliest infusion of the batch, else of the store
    (as the per-record path finds it: any staged infusion with a date counts)."""
    day0: dict[str, dt.date] = {}
    for pid, when in _staged_infusions(batch, checked):
        if pid not in day0 or when < day0[pid]:
            day0[pid] = when
    wanted: set[str] = set()
    for c in checked:
        if c.staged.table in importing.DAY_FIELDS:
            wanted.update(c.keys.filter(c.ok).drop_nulls().unique().to_list())
    infusions = schema.infusions
    for chunk in importing._chunks(sorted(wanted - set(day0) - slow)):
        query = select(infusions.c.patient_id, infusions.c.date).where(infusions.c.patient_id.in_(chunk))
        for pid, when in connection.execute(query):
            if pid not in day0 or when < day0[pid]:
                day0[pid] = when
    return day0


def _staged_infusions(batch: importing.ImportBatch, checked: Sequence[_Checked]) -> Iterable[tuple[str, dt.date]]:
    """(patient_id, date) of every staged infusion with a date: frames' rows and records."""
    import polars as pl

    for c in checked:
        frame = c.staged.frame
        if c.staged.table == "infusions" and frame["date"].dtype == pl.Date and frame["patient_id"].dtype == pl.String:
            dated = frame.filter(pl.col("date").is_not_null() & pl.col("patient_id").is_not_null())
            yield from dated.group_by("patient_id").agg(pl.col("date").min()).iter_rows()
    for rec in batch.records:
        pid, when = rec.data.get("patient_id"), rec.data.get("date")
        if rec.table == "infusions" and isinstance(when, dt.date) and isinstance(pid, str):
            yield pid, when


def _undated(
    frames: Mapping[str, pl.DataFrame], day0: Mapping[str, dt.date], references: Mapping[str, dt.date]
) -> set[str]:
    """Patients with a dated record and no day 0 (the per-record path words the problem)."""
    import polars as pl

    known = set(day0) | set(references)
    out: set[str] = set()
    for table, pairs in importing.DAY_FIELDS.items():
        frame = frames.get(table)
        if frame is None:
            continue
        dated = pl.any_horizontal(pl.col(d).is_not_null() for d, _ in pairs)
        out.update(frame.filter(dated & ~pl.col(KEY).is_in(list(known)))[KEY].unique().to_list())
    return out


def _dated(table: str, frame: pl.DataFrame, day0: Mapping[str, dt.date]) -> pl.DataFrame:
    """Add each day field (date − day 0 of the row's patient), as the per-record path does."""
    import polars as pl

    pairs = importing.DAY_FIELDS.get(table, ())
    if not pairs:
        return frame
    zero = pl.DataFrame({KEY: list(day0), "__day0": list(day0.values())}, schema={KEY: pl.String, "__day0": pl.Date})
    joined = frame.join(zero, on=KEY, how="left", maintain_order="left")
    days = [(pl.col(d) - pl.col("__day0")).dt.total_days().cast(pl.Int64).alias(f) for d, f in pairs]
    return joined.with_columns(days).drop("__day0")


def _duplicated(frames: Mapping[str, pl.DataFrame]) -> set[str]:
    """Patients with two kept records of one natural key (merged or refused record by record)."""
    out: set[str] = set()
    for table, frame in frames.items():
        twice = duplicate_rows(frame.select(schema.NATURAL_KEYS[table]))
        out.update(frame.filter(twice)[KEY].unique().to_list())
    return out


def duplicate_rows(keys: pl.DataFrame) -> pl.Series:
    """Rows whose values occur in another row too (``DataFrame.is_duplicated``, faster when rare).

    Row hashes are sorted to find the hashes that occur twice; only rows with such a hash (equal
    keys, or a hash collision) are compared value by value.
    """
    import numpy as np
    import polars as pl

    hashes = keys.hash_rows()
    ordered = np.sort(hashes.to_numpy())
    twice = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    out = pl.Series([False] * keys.height)
    if len(twice):
        suspects = keys.with_row_index("__i").filter(hashes.is_in(pl.Series(twice, dtype=pl.UInt64)))
        rows = suspects.filter(suspects.drop("__i").is_duplicated())["__i"]
        out = out.scatter(rows, True)
    return out


def _unreferenced(connection: Connection, batch: importing.ImportBatch, frames: Mapping[str, pl.DataFrame]) -> set[str]:
    """Patients whose site, or dependent records whose patient, is neither staged nor stored."""
    import polars as pl

    out: set[str] = set()
    patients = frames.get("patients")
    staged_patients: set[str] = set()
    if patients is not None:
        sites = _valid_sites(batch)
        unknown = set(patients["site_id"].unique().to_list()) - sites
        sites |= _stored_keys(connection, schema.sites.c.site_id, unknown)
        out.update(patients.filter(~pl.col("site_id").is_in(list(sites)))[KEY].to_list())
        staged_patients = set(patients[KEY].to_list())
    wanted: set[str] = set()
    for table, frame in frames.items():
        if table != "patients":
            wanted.update(frame[KEY].unique().to_list())
    known = staged_patients | _stored_keys(connection, schema.patients.c.patient_id, wanted - staged_patients)
    out |= wanted - known
    return out


def _with_natural_rows(connection: Connection, frames: Mapping[str, pl.DataFrame]) -> set[str]:
    """Patients with stored labs, medications or AEs keyed by their natural key (imported before their
    source's identity was kept): the per-record path gives those rows their identity
    (:func:`remission.io.importing._adopt_natural_rows`) instead of doubling them."""
    out: set[str] = set()
    for name in importing.NATURAL_FIELDS:
        frame = frames.get(name)
        if frame is None:
            continue
        table = schema.metadata.tables[name]
        for chunk in importing._chunks(sorted(frame[KEY].unique().to_list())):
            query = (
                select(table.c.patient_id)
                .distinct()
                .where(table.c.patient_id.in_(chunk), table.c.source_key.startswith("natural:"))
            )
            out.update(pid for (pid,) in connection.execute(query))
    return out


def _valid_sites(batch: importing.ImportBatch) -> set[str]:
    """Site ids of the staged site records the model accepts (as the per-record path plans them)."""
    sites: set[str] = set()
    for rec in batch.records:
        if rec.table == "sites":
            try:
                sites.add(Site.model_validate(rec.data).site_id)
            except ValidationError:
                continue
    return sites


def _stored_keys(connection: Connection, column: Any, wanted: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for chunk in importing._chunks(sorted(wanted)):
        found.update(v for (v,) in connection.execute(select(column).distinct().where(column.in_(chunk))))
    return found


def _slow_mask(c: _Checked, slow: set[str]) -> pl.Series:
    """Rows of a frame for the per-record path: those of a patient in ``slow``, or with no patient id."""
    mine = ~c.ok | c.keys.is_null() | c.keys.is_in(list(slow))
    return mine.fill_null(True)


# ---------------------------------------------------------------------------------------------
# Writing


def _write_patients(connection: Connection, frame: pl.DataFrame, counts: Counter[str]) -> None:
    """Patients (a few per thousand rows) as the per-record writer writes them: new ones at
    version 1, stored ones compared, changed ones updated with a new version and audited."""
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for data in frame.to_dicts():
        row = importing._store_row("patients", Patient.model_validate(data))
        rows[(row["patient_id"],)] = row
    if _stored_keys(connection, schema.patients.c.patient_id, [k for (k,) in rows]):
        importing._write_rows(connection, schema.patients, rows, counts)
        return
    now = dt.datetime.now(dt.UTC)
    counts["inserted"] += bulk_insert(
        connection, schema.patients, [{**row, "version": 1, "updated_at": now} for row in rows.values()]
    )


def _write_frame(connection: Connection, table: Table, frame: pl.DataFrame, counts: Counter[str]) -> None:
    """New rows by the bulk path; rows of patients with stored rows compared in SQL (a temporary table)."""
    encoded = {"items"} if table.name == "assessments" else set()
    patients = frame["patient_id"].unique().to_list()
    if not _stored_keys(connection, table.c.patient_id, patients):
        counts["inserted"] += bulk_insert(connection, table, frame, json_encoded=encoded)
        return
    temp = _temporary(connection, table, frame)
    try:
        bulk_insert(connection, temp, frame.with_row_index("__seq"))
        matched = _compare(connection, table, temp, frame.columns, counts)
        _insert_new(connection, table, temp, frame.columns)
        counts["inserted"] += frame.height - matched  # natural keys are unique in the frame
    finally:
        temp.drop(connection)


def _temporary(connection: Connection, table: Table, frame: pl.DataFrame) -> Table:
    """A temporary table with the frame's columns (JSON as text: compared as written)."""
    columns: list[Column[Any]] = [Column("__seq", BigInteger())]
    for name in frame.columns:
        kind: Any = table.c[name].type
        columns.append(Column(name, SqlText() if isinstance(kind, JSON) else kind))
    temp = Table(f"import_{table.name}_{uuid.uuid4().hex[:8]}", MetaData(), *columns, prefixes=["TEMPORARY"])
    temp.create(connection)
    return temp


def _same_key(table: Table, temp: Table) -> Any:
    return and_(*(table.c[k] == temp.c[k] for k in schema.NATURAL_KEYS[table.name]))


def _compare(connection: Connection, table: Table, temp: Table, columns: Sequence[str], counts: Counter[str]) -> int:
    """Update the frame's stored rows that changed (field names to the audit log); return how many
    rows of the frame are stored."""
    on = _same_key(table, temp)
    matched = connection.execute(select(func.count()).select_from(temp.join(table, on))).scalar_one()
    compared = [c for c in columns if c not in schema.NATURAL_KEYS[table.name] and c not in importing.STORE_MANAGED]
    differs = or_(*(cast(table.c[c], SqlText).is_distinct_from(temp.c[c]) if c == "items" else
                    table.c[c].is_distinct_from(temp.c[c]) for c in compared))  # fmt: skip
    query = select(table, *(temp.c[c].label(f"new__{c}") for c in columns)).select_from(temp.join(table, on))
    updates: list[dict[str, Any]] = []
    audit: list[dict[str, Any]] = []
    for r in connection.execute(query.where(differs).order_by(temp.c["__seq"])):
        row = dict(r._mapping)
        new = {c: row[f"new__{c}"] for c in columns}
        if "items" in new:
            new["items"] = json.loads(new["items"])
        old = {c.name: row[c.name] for c in table.columns}
        changed = importing._changed_fields(new, old)
        if changed:
            updates.append(new)
            audit.append(
                {
                    "actor": importing.ACTOR,
                    "action": "update",
                    "entity": table.name,
                    "entity_id": str(old["id"]),
                    "detail": {"fields": changed},
                }
            )
    upsert(connection, table, updates)
    if audit:
        connection.execute(schema.audit_log.insert(), audit)
    counts["updated"] += len(updates)
    counts["unchanged"] += matched - len(updates)
    return int(matched)


def _insert_new(connection: Connection, table: Table, temp: Table, columns: Sequence[str]) -> None:
    """Insert the temporary table's rows whose natural key is not stored, in frame order."""
    json_text = connection.dialect.name == "postgresql"
    values = [cast(temp.c[c], JSON) if c == "items" and json_text else temp.c[c] for c in columns]
    new = select(*values).where(~exists().where(_same_key(table, temp))).order_by(temp.c["__seq"])
    connection.execute(table.insert().from_select(list(columns), new))
