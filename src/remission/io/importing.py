"""Imports into the registry store: staged record dicts → validated records → one transaction.

Every importer (REDCap, SDTM, FHIR, registry export) first builds an :class:`ImportBatch`: plain
record dicts per store table, each with where it came from (file and row or resource), plus the
rows that cannot be stored by design (``excluded``, with the reason) and problems found while
reading. :func:`write_batch` then

1. computes the day relative to each patient's infusion (day 0) for every dated record, from the
   infusion in the batch or already stored; a patient without an infusion uses the batch's
   reference date (SDTM: RFXSTDTC, else RFSTDTC; FHIR: first recorded date);
2. validates every record with the domain model (:mod:`remission.model`) and the store's column
   lengths, and checks that every record's patient exists (in the batch or the store);
3. collapses records that share a natural key (identical ones always; different ones are merged
   by the batch's policy, or reported as problems);
4. compares each record with the stored one and writes, in **one transaction**, only new and
   changed rows; changed rows are listed in ``audit_log`` (actor ``import``, the changed field
   *names* only, never values), and one ``import`` event records the counts.

Strict by default: any problem raises :class:`~remission.errors.InvalidInputError` (each problem
reads ``file, row N, field: value: reason``) and nothing is written. ``on_error="skip"`` writes
the valid records and returns the problems in :attr:`ImportReport.skipped` (a patient that fails
takes its dependent records with it).

Large imports stage their records column-wise (:meth:`ImportBatch.add_frame`, the REDCap
importer does): the records of patients without any problem then take the column-wise path of
:mod:`remission.io.columnar` (the same checks on whole columns, bulk writes, comparison with the
stored rows in SQL), the others the steps above, record by record. The outcome is the same.

Examples
--------
>>> import datetime as dt, tempfile, pathlib
>>> from remission.store import connect, migrate
>>> engine = connect(f"sqlite:///{tempfile.mkdtemp()}/doc.db"); migrate(engine)
>>> batch = ImportBatch("example")
>>> batch.add("sites", {"site_id": "ERL"}, "sites.csv", "row 1")
>>> batch.add("patients", {"patient_id": "P1", "site_id": "ERL", "disease": "SLE", "sex": "female",
...                        "birth_year": 1990, "diagnosis_year": 2010}, "patients.csv", "row 1")
>>> batch.add("infusions", {"patient_id": "P1", "date": dt.date(2024, 3, 1), "cells_per_kg": 1e6},
...           "infusions.csv", "row 1")
>>> batch.add("labs", {"patient_id": "P1", "date": dt.date(2024, 3, 8), "analyte": "crp",
...                    "value": 3.0, "unit": "mg/L"}, "labs.csv", "row 1")
>>> write_batch(engine, batch).totals()
{'inserted': 4, 'updated': 0, 'unchanged': 0, 'merged': 0, 'excluded': 0, 'skipped': 0}
>>> write_batch(engine, batch).totals()["unchanged"]
4
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection, Engine, String, Table, bindparam, select

from remission.errors import InvalidInputError, Problem
from remission.model import (
    AdverseEvent,
    Assessment,
    Infusion,
    LabResult,
    Medication,
    Patient,
    Site,
)
from remission.store import schema
from remission.store.repository import upsert

if TYPE_CHECKING:
    import polars as pl

#: Store tables in write order (foreign keys first); ``scores`` only from registry exports.
TABLES: tuple[str, ...] = (
    "sites",
    "patients",
    "infusions",
    "assessments",
    "labs",
    "medications",
    "adverse_events",
    "scores",
)
MODELS: dict[str, type[BaseModel]] = {
    "sites": Site,
    "patients": Patient,
    "infusions": Infusion,
    "assessments": Assessment,
    "labs": LabResult,
    "medications": Medication,
    "adverse_events": AdverseEvent,
}
#: Date field → the day field computed from it, per table.
DAY_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "assessments": (("date", "day"),),
    "labs": (("date", "day"),),
    "medications": (("start_date", "start_day"), ("stop_date", "stop_day")),
    "adverse_events": (("onset_date", "onset_day"), ("resolution_date", "resolution_day")),
}
#: Natural key of a score: its assessment's natural key and the index.
SCORE_KEY = ("patient_id", "date", "visit", "index_name")
#: Columns the store fills itself: never compared, never exported.
STORE_MANAGED = frozenset({"id", "version", "updated_at", "computed_at", "assessment_id"})
ACTOR = "import"

Duplicates = Literal["error", "merge"]
OnError = Literal["raise", "skip"]
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class ImportProblem(Problem):
    """A problem of an import, worded ``file, row N, field: value: reason``.

    ``row`` is the 1-based data row when the source is a table (else None), ``where`` says the
    row or resource in words (``row 3``, ``Observation/abc``).

    Examples
    --------
    >>> print(ImportProblem(3, "grade", "7", "a grade is 1 to 5", file="ae.csv", where="row 3"))
    ae.csv, row 3, grade: 7: a grade is 1 to 5
    """

    file: str = ""
    where: str = ""

    def __str__(self) -> str:
        return f"{self.file}, {self.where}, {self.column}: {self.value}: {self.reason}"


@dataclass
class Staged:
    """One record dict bound for ``table``, with its origin."""

    table: str
    data: dict[str, Any]
    file: str
    where: str
    #: Source rows the record stands for (a QS assessment: its items' rows; a site read off DM: 0).
    rows: int = 1
    #: The source dataset its rows are counted in (FHIR: the resource type), where not ``file``.
    dataset: str = ""
    #: (dataset, row) of the one source row the record comes from, where several records come from
    #: one row (a REDCap instance: its lab analytes): the row counts once, stored if any is stored.
    row_id: tuple[str, int] | None = None


@dataclass
class StagedFrame:
    """Records bound for ``table`` as the rows of a DataFrame, staged before ``records[position:]``.

    ``frame`` has one column per record field (``to_dicts()`` gives the record dicts; a struct
    column gives a dict) and columns named ``__*`` that are not fields: ``__where`` (the row or
    resource in words), or what ``where``, an expression over the frame, makes it from (only
    for the rows that need it: the records that take the per-record path).
    """

    table: str
    frame: pl.DataFrame
    file: str
    position: int
    where: pl.Expr | None = None
    #: Whether the rows name their source row (``__instrument``, ``__row``: row ``__row`` of dataset
    #: ``<file>:<__instrument>``), counted once however many records it gives (:attr:`Staged.row_id`).
    row_ids: bool = False

    def records(self, rows: pl.DataFrame) -> list[Staged]:
        """``rows`` (of ``frame``) as staged records."""
        if self.where is not None:
            rows = rows.with_columns(self.where.alias("__where"))
        out = []
        for data in rows.to_dicts():
            where = str(data["__where"])
            row_id = (f"{self.file}:{data['__instrument']}", int(data["__row"])) if self.row_ids else None
            fields = {k: v for k, v in data.items() if not k.startswith("__")}
            out.append(Staged(self.table, fields, self.file, where, row_id=row_id))
        return out

    def row_id_frame(self, rows: pl.DataFrame) -> pl.DataFrame:
        """The (dataset, row) of ``rows`` (of ``frame``), as :attr:`Staged.row_id` names them."""
        import polars as pl

        dataset = pl.concat_str([pl.lit(f"{self.file}:"), pl.col("__instrument")]).alias("dataset")
        return rows.select(dataset, pl.col("__row").cast(pl.Int64).alias("row"))


@dataclass
class ImportBatch:
    """Records of one import, before validation and writing.

    Parameters
    ----------
    source : str
        What is imported (``redcap``, ``sdtm``, ``fhir``, ``registry``): goes to the audit log.
    duplicates : {"error", "merge"}
        Records with the same natural key and different values: a problem (``error``), or
        merged (``merge``: adverse events keep the worst grade, the latest resolution and
        ``serious`` if any report says so; other records keep the first). Identical duplicates
        are always collapsed. Each collapsed row is counted as ``merged``.
    """

    source: str
    duplicates: Duplicates = "error"
    records: list[Staged] = field(default_factory=list)
    problems: list[ImportProblem] = field(default_factory=list)
    #: (table or dataset, file, where, reason) of source rows that are not stored by design.
    excluded: list[tuple[str, str, str, str]] = field(default_factory=list)
    #: Per source dataset/file: rows (or resources) read.
    source_rows: dict[str, int] = field(default_factory=dict)
    #: Whole datasets/resource types read but not imported (no registry record type), and why.
    not_imported: dict[str, str] = field(default_factory=dict)
    #: Sites staged only so that patients can refer to them: inserted when absent, never updated.
    placeholder_sites: set[str] = field(default_factory=set)
    #: Day-0 reference of patients without an infusion (see the module docstring).
    references: dict[str, dt.date] = field(default_factory=dict)
    #: Digest of the input files (SHA-256), recorded in the audit log instead of file names.
    digest: str = ""
    #: Source dataset of a record table where the source counts its rows per dataset rather than
    #: per file (FHIR: ``labs`` come from ``observations``); else a record's dataset is its file.
    datasets: dict[str, str] = field(default_factory=dict)
    #: Whether the source's rows map onto records so that :meth:`ImportReport.reconciliation` holds.
    reconciled: bool = True
    #: Records staged column-wise (large imports): the same records as ``add`` would stage, written
    #: by the column-wise path where they have no problem (:mod:`remission.io.columnar`).
    frames: list[StagedFrame] = field(default_factory=list)

    def add(
        self,
        table: str,
        data: dict[str, Any],
        file: str,
        where: str,
        rows: int = 1,
        dataset: str = "",
        row_id: tuple[str, int] | None = None,
    ) -> None:
        """Stage one record dict for ``table``, standing for ``rows`` rows of ``file`` (or of
        ``dataset``), or for the source row ``row_id`` (see :attr:`Staged.row_id`)."""
        self.records.append(Staged(table, data, file, where, rows, dataset, row_id))

    def add_frame(
        self, table: str, frame: pl.DataFrame, file: str, where: pl.Expr | None = None, row_ids: bool = False
    ) -> None:
        """Stage the rows of ``frame`` (see :class:`StagedFrame`) after the records staged so far."""
        self.frames.append(StagedFrame(table, frame, file, len(self.records), where, row_ids))

    def materialise(self, keep: Callable[[StagedFrame], pl.DataFrame] | None = None) -> None:
        """Turn the staged frames into records, each at its place among ``records``.

        ``keep(staged)`` picks the rows of each frame to turn into records (default: all); the
        frames are dropped either way.
        """
        moved: dict[int, list[Staged]] = {}
        for staged in self.frames:
            rows = staged.frame if keep is None else keep(staged)
            moved.setdefault(staged.position, []).extend(staged.records(rows))
        self.frames = []
        if moved:
            records: list[Staged] = []
            for position in range(len(self.records) + 1):
                records += moved.get(position, [])
                records += self.records[position : position + 1]
            self.records = records

    def exclude(self, table: str, file: str, where: str, reason: str) -> None:
        """Record that a source row is not stored, and why."""
        self.excluded.append((table, file, where, reason))

    def problem(self, file: str, where: str, column: str, value: Any, reason: str, row: int | None = None) -> None:
        """Record a problem found while reading the source."""
        self.problems.append(ImportProblem(row, column, _shown(value), reason, file=file, where=where))


@dataclass
class ImportReport:
    """What an import did: per table, counts of inserted/updated/unchanged/merged records."""

    source: str
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    excluded: list[tuple[str, str, str, str]] = field(default_factory=list)
    skipped: list[ImportProblem] = field(default_factory=list)
    source_rows: dict[str, int] = field(default_factory=dict)
    not_imported: dict[str, str] = field(default_factory=dict)
    #: Per source file: rows that are stored (in a record inserted, updated, unchanged or merged).
    stored_rows: Counter[str] = field(default_factory=Counter)
    #: Per source file: rows whose record has a problem (left out with ``on_error="skip"``).
    rejected_rows: Counter[str] = field(default_factory=Counter)
    reconciled: bool = True
    #: Every collapse of two source rows into one record (same natural key, a source without its
    #: own record identity): (table, the row kept, the row collapsed into it), never silent.
    merges: list[tuple[str, str, str]] = field(default_factory=list)

    def reconciliation(self) -> list[dict[str, Any]]:
        """Per source file: rows read = stored + excluded (with a reason) + rejected.

        ``unaccounted`` is what the equation misses: 0 unless a row was lost (a defect).
        Datasets read but not imported count as excluded, their reason in ``not_imported``.
        """
        if not self.reconciled:
            return []
        excluded = Counter(file for _table, file, _where, _reason in self.excluded)
        out = []
        for file, read in sorted(self.source_rows.items()):
            row: dict[str, Any]
            if file in self.not_imported:
                row = {"file": file, "read": read, "stored": 0, "excluded": read, "rejected": 0}
            else:
                row = {
                    "file": file,
                    "read": read,
                    "stored": self.stored_rows[file],
                    "excluded": excluded[file],
                    "rejected": self.rejected_rows[file],
                }
            row["unaccounted"] = read - row["stored"] - row["excluded"] - row["rejected"]
            out.append(row)
        return out

    def totals(self) -> dict[str, int]:
        """Counts summed over tables, plus excluded rows and skipped problems."""
        total: Counter[str] = Counter()
        for c in self.counts.values():
            total.update(c)
        out = {k: total[k] for k in ("inserted", "updated", "unchanged", "merged")}
        out["excluded"] = len(self.excluded)
        out["skipped"] = len(self.skipped)
        return out

    def stored(self, table: str) -> int:
        """Records of ``table`` in the batch that are now in the store (new, changed or not)."""
        c = self.counts.get(table, Counter())
        return c["inserted"] + c["updated"] + c["unchanged"]

    def excluded_reasons(self) -> Counter[tuple[str, str]]:
        """(table, reason) → rows excluded for it."""
        return Counter((t, r) for t, _, _, r in self.excluded)


# ---------------------------------------------------------------------------------------------
# Helpers


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def file_digest(paths: Iterable[Path]) -> str:
    """SHA-256 over the bytes of ``paths`` in sorted order (what was imported, without names)."""
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(p.read_bytes())
    return h.hexdigest()


def _canonical(value: Any) -> Any:
    """A comparable form of a stored or staged value (JSON text for dicts/lists)."""
    if isinstance(value, dict | list | tuple):
        return json.dumps(_jsonable(value), sort_keys=True)
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return value
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _same(a: Any, b: Any) -> bool:
    ca, cb = _canonical(a), _canonical(b)
    if isinstance(ca, bool) or isinstance(cb, bool):
        return type(ca) is type(cb) and ca == cb
    return bool(ca == cb)


def natural_key(table: str, row: Mapping[str, Any]) -> tuple[Any, ...]:
    """The natural key of a record of ``table`` (see :data:`remission.store.schema.NATURAL_KEYS`)."""
    names = SCORE_KEY if table == "scores" else schema.NATURAL_KEYS[table]
    return tuple(row.get(k) for k in names)


def _store_row(table: str, record: BaseModel | Mapping[str, Any]) -> dict[str, Any]:
    row = record.model_dump(mode="python") if isinstance(record, BaseModel) else dict(record)
    if table == "patients":
        row["prior_treatments"] = [_jsonable(t) for t in row.get("prior_treatments", [])]
    return row


# ---------------------------------------------------------------------------------------------
# Days


def _infusion_dates(connection: Connection, batch: ImportBatch) -> dict[str, dt.date]:
    """Day 0 per patient: earliest infusion of the batch or the store."""
    day0: dict[str, dt.date] = {}
    for rec in batch.records:
        if rec.table == "infusions" and isinstance(rec.data.get("date"), dt.date):
            pid = rec.data.get("patient_id")
            if isinstance(pid, str) and (pid not in day0 or rec.data["date"] < day0[pid]):
                day0[pid] = rec.data["date"]
    ids = {r.data.get("patient_id") for r in batch.records if r.table in DAY_FIELDS} - set(day0)
    for chunk in _chunks(sorted(i for i in ids if isinstance(i, str))):
        query = select(schema.infusions.c.patient_id, schema.infusions.c.date).where(
            schema.infusions.c.patient_id.in_(chunk)
        )
        for pid, when in connection.execute(query):
            if pid not in day0 or when < day0[pid]:
                day0[pid] = when
    return day0


def _add_days(connection: Connection, batch: ImportBatch) -> None:
    day0 = _infusion_dates(connection, batch)
    for rec in batch.records:
        pairs = DAY_FIELDS.get(rec.table, ())
        if not pairs:
            continue
        pid = rec.data.get("patient_id")
        ref = day0.get(pid) if isinstance(pid, str) else None
        if ref is None and isinstance(pid, str):
            ref = batch.references.get(pid)
        for date_field, day_field in pairs:
            when = rec.data.get(date_field)
            if rec.data.get(day_field) is not None or not isinstance(when, dt.date):
                continue
            if ref is None:
                batch.problem(
                    rec.file,
                    rec.where,
                    date_field,
                    when,
                    f"patient {pid} has no infusion (day 0) and no reference date: day cannot be computed",
                )
                rec.data["__bad"] = True
                break
            rec.data[day_field] = (when - ref).days


def _chunks(items: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# ---------------------------------------------------------------------------------------------
# Validation


def _validate(batch: ImportBatch) -> list[tuple[Staged, dict[str, Any]]]:
    """Model-validate every staged record; problems go to the batch, bad records are marked."""
    out: list[tuple[Staged, dict[str, Any]]] = []
    for rec in batch.records:
        if rec.data.pop("__bad", False):
            out.append((rec, {}))
            continue
        if rec.table == "assessments" and isinstance(rec.data.get("items"), dict):
            # missing is an absent item: a null item and no item are the same (long format)
            rec.data["items"] = {k: v for k, v in rec.data["items"].items() if v is not None}
        model = MODELS.get(rec.table)
        if model is None:  # scores: checked when written
            out.append((rec, dict(rec.data)))
            continue
        try:
            row = _store_row(rec.table, model.model_validate(rec.data))
        except ValidationError as err:
            for e in err.errors():
                loc = ".".join(str(x) for x in e["loc"]) or "record"
                value = e.get("input") if e["loc"] else ""
                if isinstance(value, dict):
                    value = ""
                batch.problem(rec.file, rec.where, loc, value, e["msg"])
            out.append((rec, {}))
            continue
        table = schema.metadata.tables[rec.table]
        bad = False
        for name, value in row.items():
            col = table.columns.get(name)
            limit = col.type.length if col is not None and isinstance(col.type, String) else None
            if limit and isinstance(value, str) and len(value) > limit:
                batch.problem(rec.file, rec.where, name, value, f"longer than {limit} characters")
                bad = True
        out.append((rec, {} if bad else row))
    return out


def _merge(table: str, first: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    if table != "adverse_events":
        return first
    merged = dict(first)
    merged["grade"] = max(first["grade"], other["grade"])
    merged["serious"] = bool(first["serious"] or other["serious"])
    ends = [r for r in (first, other) if r.get("resolution_date") is not None]
    if ends:
        last = max(ends, key=lambda r: r["resolution_date"])
        merged["resolution_date"], merged["resolution_day"] = last["resolution_date"], last["resolution_day"]
    return merged


def _rows_equal(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)


@dataclass
class _Planned:
    rows: dict[str, dict[tuple[Any, ...], tuple[Staged, dict[str, Any]]]]
    merged: Counter[str]
    bad_patients: set[str]
    #: Records with a problem (not written): their rows are the import's rejected rows.
    rejected: list[Staged] = field(default_factory=list)
    #: Every collapse of two records of one natural key: (table, kept record, collapsed record).
    merges: list[tuple[str, str, str]] = field(default_factory=list)


def _plan(batch: ImportBatch, validated: list[tuple[Staged, dict[str, Any]]]) -> _Planned:
    rows: dict[str, dict[tuple[Any, ...], tuple[Staged, dict[str, Any]]]] = {t: {} for t in TABLES}
    merged: Counter[str] = Counter()
    bad_patients: set[str] = set()
    rejected: list[Staged] = []
    merges: list[tuple[str, str, str]] = []
    for rec, row in validated:
        if not row:
            rejected.append(rec)
            if rec.table == "patients" and isinstance(rec.data.get("patient_id"), str):
                bad_patients.add(rec.data["patient_id"])
            continue
        key = natural_key(rec.table, row)
        seen = rows[rec.table].get(key)
        if seen is None:
            rows[rec.table][key] = (rec, row)
            continue
        same = _rows_equal(seen[1], row)
        if same or batch.duplicates == "merge":
            merged[rec.table] += 1
            merges.append((rec.table, f"{seen[0].file}, {seen[0].where}", f"{rec.file}, {rec.where}"))
            if not same:
                rows[rec.table][key] = (seen[0], _merge(rec.table, seen[1], row))
        else:
            batch.problem(
                rec.file,
                rec.where,
                "+".join(schema.NATURAL_KEYS.get(rec.table, SCORE_KEY)),
                "",
                f"same natural key as {seen[0].file}, {seen[0].where} with different values",
            )
            rejected.append(rec)  # not written: its row is rejected, not stored
    return _Planned(rows, merged, bad_patients, rejected, merges)


# ---------------------------------------------------------------------------------------------
# Writing


def _existing(
    connection: Connection, table: Table, keys: Sequence[tuple[Any, ...]]
) -> dict[tuple[Any, ...], dict[str, Any]]:
    names = schema.NATURAL_KEYS[table.name]
    first = table.c[names[0]]
    found: dict[tuple[Any, ...], dict[str, Any]] = {}
    wanted = set(keys)
    for chunk in _chunks(sorted({k[0] for k in keys})):
        for r in connection.execute(select(table).where(first.in_(chunk))):
            row = dict(r._mapping)
            key = tuple(row[n] for n in names)
            if key in wanted:
                found[key] = row
    return found


def _known_patients(connection: Connection, ids: set[str]) -> set[str]:
    known: set[str] = set()
    for chunk in _chunks(sorted(ids)):
        query = select(schema.patients.c.patient_id).where(schema.patients.c.patient_id.in_(chunk))
        known.update(pid for (pid,) in connection.execute(query))
    return known


def _check_references(connection: Connection, batch: ImportBatch, planned: _Planned) -> None:
    staged_sites = {k[0] for k in planned.rows["sites"]}
    for key, (rec, row) in list(planned.rows["patients"].items()):
        if row["site_id"] not in staged_sites:
            site = connection.execute(
                select(schema.sites.c.site_id).where(schema.sites.c.site_id == row["site_id"])
            ).first()
            if site is None:
                batch.problem(
                    rec.file,
                    rec.where,
                    "site_id",
                    row["site_id"],
                    "unknown site (not in the import nor in the registry)",
                )
                del planned.rows["patients"][key]
                planned.rejected.append(rec)
                planned.bad_patients.add(row["patient_id"])
    staged = {k[0] for k in planned.rows["patients"]}
    wanted = {k[0] for t in TABLES[2:] for k in planned.rows[t]} - staged - planned.bad_patients
    known = _known_patients(connection, wanted) | staged
    for table in TABLES[2:]:
        for key, (rec, row) in list(planned.rows[table].items()):
            pid = row.get("patient_id")
            if pid in planned.bad_patients:
                batch.problem(rec.file, rec.where, "patient_id", pid, "its patient record has a problem")
                del planned.rows[table][key]
                planned.rejected.append(rec)
            elif pid not in known:
                batch.problem(
                    rec.file, rec.where, "patient_id", pid, "unknown patient (not in the import nor in the registry)"
                )
                del planned.rows[table][key]
                planned.rejected.append(rec)


def _changed_fields(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[str]:
    return sorted(k for k, v in new.items() if k not in STORE_MANAGED and not _same(v, old.get(k)))


def _write_table(
    connection: Connection,
    table: Table,
    planned: Mapping[tuple[Any, ...], tuple[Staged, dict[str, Any]]],
    counts: Counter[str],
    keep: set[str] = frozenset(),  # type: ignore[assignment]
) -> None:
    _write_rows(connection, table, {key: row for key, (_rec, row) in planned.items()}, counts, keep)


def _write_rows(
    connection: Connection,
    table: Table,
    planned: Mapping[tuple[Any, ...], dict[str, Any]],
    counts: Counter[str],
    keep: set[str] = frozenset(),  # type: ignore[assignment]
) -> None:
    """Insert new rows, update changed ones (audited by field name), count the unchanged."""
    existing = _existing(connection, table, list(planned))
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    audit: list[dict[str, Any]] = []
    now = dt.datetime.now(dt.UTC)
    for key, row in planned.items():
        old = existing.get(key)
        if old is None:
            inserts.append(row)
            continue
        changed = _changed_fields(row, old)
        if not changed or key[0] in keep:
            counts["unchanged"] += 1
            continue
        update = dict(row)
        if table.name == "patients":
            update["version"] = int(old.get("version") or 1) + 1
            update["updated_at"] = now
        updates.append(update)
        entity_id = str(old.get("id", old.get("patient_id", old.get("site_id"))))
        audit.append(
            {
                "actor": ACTOR,
                "action": "update",
                "entity": table.name,
                "entity_id": entity_id,
                "detail": {"fields": changed},
            }
        )
    if table.name == "patients":
        for row in inserts:
            row["version"] = 1
            row["updated_at"] = now
    if table.name in NATURAL_FIELDS:
        inserts, adopted = _adopt_natural_rows(connection, table, inserts, audit)
        counts["updated"] += adopted
    upsert(connection, table, inserts)
    upsert(connection, table, updates)
    if audit:
        connection.execute(schema.audit_log.insert(), audit)
    counts["inserted"] += len(inserts)
    counts["updated"] += len(updates)


#: The natural identity of a record whose source gave none (:func:`remission.model.records.natural_source_key`).
NATURAL_FIELDS = {
    "labs": ("patient_id", "analyte", "date"),
    "medications": ("patient_id", "drug", "start_date"),
    "adverse_events": ("patient_id", "term", "onset_date"),
}


def _adopt_natural_rows(
    connection: Connection, table: Table, inserts: list[dict[str, Any]], audit: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], int]:
    """Give a stored row keyed by its natural key (imported before its source's identity was kept,
    migration 0006) the source identity of the new record that is the same record: it is updated
    (and audited) instead of doubled. Returns the rows still to insert and how many were adopted."""
    from remission.model.records import natural_source_key

    wanted = {
        natural_source_key(*(row.get(f) for f in NATURAL_FIELDS[table.name])): i
        for i, row in enumerate(inserts)
        if not str(row.get("source_key", "")).startswith("natural:")
    }
    if not wanted:
        return inserts, 0
    found: dict[int, dict[str, Any]] = {}
    for chunk in _chunks(sorted(wanted)):
        for r in connection.execute(select(table).where(table.c.source_key.in_(chunk))):
            found[wanted[r.source_key]] = dict(r._mapping)
    if not found:
        return inserts, 0
    update = table.update().where(table.c.id == bindparam("old_id"))
    for i, old in found.items():
        row = inserts[i]
        connection.execute(
            update.values({k: bindparam(f"new_{k}") for k in row}),
            {"old_id": old["id"], **{f"new_{k}": v for k, v in row.items()}},
        )
        detail = {"fields": _changed_fields(row, old)}
        audit.append(
            {"actor": ACTOR, "action": "update", "entity": table.name, "entity_id": str(old["id"]), "detail": detail}
        )
    return [row for i, row in enumerate(inserts) if i not in found], len(found)


def _write_scores(
    connection: Connection,
    batch: ImportBatch,
    planned: Mapping[tuple[Any, ...], tuple[Staged, dict[str, Any]]],
    counts: Counter[str],
) -> None:
    if not planned:
        return
    a = schema.assessments
    ids: dict[tuple[Any, ...], int] = {}
    for chunk in _chunks(sorted({k[0] for k in planned})):
        for r in connection.execute(
            select(a.c.id, a.c.patient_id, a.c.date, a.c.visit).where(a.c.patient_id.in_(chunk))
        ):
            ids[(r.patient_id, r.date, r.visit)] = r.id
    resolved: dict[tuple[Any, ...], tuple[Staged, dict[str, Any]]] = {}
    for key, (rec, row) in planned.items():
        aid = ids.get(key[:3])
        if aid is None:
            batch.problem(rec.file, rec.where, "date+visit", f"{_shown(key[1])} {key[2]}", "no such assessment")
            continue
        new = {
            "assessment_id": aid,
            "index_name": row["index_name"],
            "rule_version": row["rule_version"],
            "values": row["values"],
            "explain": row.get("explain") or "",
        }
        resolved[(aid, row["index_name"])] = (rec, new)
    existing: dict[tuple[Any, ...], dict[str, Any]] = {}
    s = schema.scores
    for chunk in _chunks(sorted({k[0] for k in resolved})):
        for r in connection.execute(select(s).where(s.c.assessment_id.in_(chunk))):
            existing[(r.assessment_id, r.index_name)] = dict(r._mapping)
    rows, audit = [], []
    for key, (_rec, new) in resolved.items():
        old = existing.get(key)
        if old is None:
            counts["inserted"] += 1
        elif _changed_fields(new, old):
            counts["updated"] += 1
            audit.append(
                {
                    "actor": ACTOR,
                    "action": "update",
                    "entity": "scores",
                    "entity_id": str(old["id"]),
                    "detail": {"fields": _changed_fields(new, old)},
                }
            )
        else:
            counts["unchanged"] += 1
            continue
        rows.append(new)
    upsert(connection, s, rows)
    if audit:
        connection.execute(schema.audit_log.insert(), audit)


def _count_rows(report: ImportReport, batch: ImportBatch, planned: _Planned, columnar: Any) -> None:
    """Source rows stored and rejected, per file (the reconciliation of :meth:`ImportReport.reconciliation`)."""
    rejected = {id(rec) for rec in planned.rejected}
    by_row: dict[tuple[str, int], bool] = {}
    for rec in batch.records:
        if rec.row_id is not None:
            by_row[rec.row_id] = by_row.get(rec.row_id, False) or id(rec) not in rejected
            continue
        dataset = rec.dataset or batch.datasets.get(rec.table, rec.file)
        (report.rejected_rows if id(rec) in rejected else report.stored_rows)[dataset] += rec.rows
    if columnar is not None:
        report.stored_rows.update(columnar.kept_rows)
    kept = columnar.kept_row_ids if columnar is not None else []
    if by_row or kept:
        _count_source_rows(report, by_row, kept)


def _count_source_rows(
    report: ImportReport, by_row: Mapping[tuple[str, int], bool], kept: Sequence[pl.DataFrame]
) -> None:
    """Rows that give several records: stored once if any record is stored, else rejected."""
    import polars as pl

    ids = {"dataset": pl.String, "row": pl.Int64}
    slow = pl.DataFrame(
        {"dataset": [k[0] for k in by_row], "row": [k[1] for k in by_row], "stored": list(by_row.values())},
        schema={**ids, "stored": pl.Boolean},
    )
    stored = pl.concat([*kept, slow.filter("stored").drop("stored")], how="vertical").unique()
    lost = slow.filter(~pl.col("stored")).drop("stored").join(stored, on=["dataset", "row"], how="anti").unique()
    for counter, frame in ((report.stored_rows, stored), (report.rejected_rows, lost)):
        for dataset, n in frame.group_by("dataset").len().iter_rows():
            counter[dataset] += n


def require_current_schema(engine: Engine) -> None:
    """Refuse a database that is not initialised or not migrated to the code's schema (head)."""
    from remission.store.db import current_revision, head_revision, require_schema

    require_schema(engine)
    head = head_revision()
    at = current_revision(engine)
    if at != head:
        raise InvalidInputError(
            [
                Problem(
                    None,
                    "db",
                    engine.url.render_as_string(),
                    f"database schema is at {at}, the code needs {head}: run `remission init` to migrate",
                )
            ]
        )


def write_batch(
    engine: Engine,
    batch: ImportBatch,
    *,
    on_error: OnError = "raise",
    progress: Progress | None = None,
    actor: str = ACTOR,
) -> ImportReport:
    """Validate ``batch`` and store it in one transaction (see the module docstring).

    Parameters
    ----------
    engine : sqlalchemy.Engine
        A migrated registry database.
    batch : ImportBatch
        The staged records.
    on_error : {"raise", "skip"}
        ``"raise"``: any problem raises :class:`InvalidInputError` and nothing is written.
        ``"skip"``: records with problems (and the records of a patient whose own record has
        one) are left out, the rest is written, problems are in :attr:`ImportReport.skipped`.
    progress : callable, optional
        Called as ``progress(step, done, total)`` after each step.
    actor : str
        Who imports (the web application's user; default ``import``): the actor of the import
        event in ``audit_log``, written in the same transaction as the records.

    Returns
    -------
    ImportReport
        Counts per table; re-importing the same batch gives only ``unchanged`` (and ``merged``).

    Raises
    ------
    InvalidInputError
        Problems with ``on_error="raise"`` (every problem, each as ``file, row, field: value:
        reason``).
    """
    if on_error not in ("raise", "skip"):
        raise InvalidInputError([Problem(None, "on_error", str(on_error), "expected 'raise' or 'skip'")])
    require_current_schema(engine)
    steps = 3 + len(TABLES)

    def tick(step: str, done: int) -> None:
        if progress is not None:
            progress(step, done, steps)

    report = ImportReport(
        batch.source,
        excluded=[(t, batch.datasets.get(t, f), w, r) for t, f, w, r in batch.excluded],
        source_rows=dict(batch.source_rows),
        not_imported=dict(batch.not_imported),
        reconciled=batch.reconciled,
    )
    with engine.begin() as connection:
        columnar = None
        if batch.frames:  # large imports: records of patients with no problem go column-wise
            from remission.io.columnar import split

            columnar = split(connection, batch)
        _add_days(connection, batch)
        tick("days relative to infusion", 1)
        validated = _validate(batch)
        tick("validating records", 2)
        planned = _plan(batch, validated)
        _check_references(connection, batch, planned)
        tick("checking references", 3)
        if batch.problems and on_error == "raise":
            raise InvalidInputError(list(batch.problems))
        report.skipped = list(batch.problems)
        report.merges = list(planned.merges)
        _count_rows(report, batch, planned, columnar)
        for i, name in enumerate(TABLES, start=4):
            counts: Counter[str] = Counter()
            counts["merged"] = planned.merged[name]
            if name == "scores":
                _write_scores(connection, batch, planned.rows[name], counts)
            else:
                keep = batch.placeholder_sites if name == "sites" else set()
                _write_table(connection, schema.metadata.tables[name], planned.rows[name], counts, keep)
                if columnar is not None:
                    columnar.write(connection, name, counts)
            report.counts[name] = counts
            tick(f"writing {name}", i)
        if batch.problems and on_error == "raise":  # scores that found no assessment
            raise InvalidInputError(list(batch.problems))
        report.skipped = list(batch.problems)
        connection.execute(
            schema.audit_log.insert(),
            [
                {
                    "actor": actor,
                    "action": "import",
                    "entity": batch.source,
                    "entity_id": batch.digest[:64] or "-",
                    "detail": {
                        "source": batch.source,
                        "sha256": batch.digest,
                        "counts": {t: dict(c) for t, c in report.counts.items()},
                        "excluded": len(batch.excluded),
                        "skipped": len(report.skipped),
                        "reconciliation": report.reconciliation(),
                        "merges": [list(m) for m in report.merges],
                    },
                }
            ],
        )
    return report
