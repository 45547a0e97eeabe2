"""Source files → :class:`~remission.io.importing.ImportBatch` (staged registry records).

One builder per source; each reads with the io readers (:mod:`remission.io.redcap`,
:mod:`~remission.io.sdtm`, :mod:`~remission.io.fhir`) and maps rows to record dicts. Rows that
the registry cannot hold are *excluded* with a reason (counted, listed, never silently lost);
datasets or resource types without a registry record type are listed as *not imported*.
The rules are in docs/decisions/import-export.md.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from remission.errors import InvalidInputError, Problem
from remission.io.dates import Imputed, Side, impute_date
from remission.io.importing import ImportBatch, ImportProblem, file_digest

if TYPE_CHECKING:
    import polars as pl

#: Registry tables an export writes and a registry import reads, in write order.
REGISTRY_TABLES = ("sites", "patients", "infusions", "assessments", "labs", "medications", "adverse_events", "scores")


def _problems_of(err: InvalidInputError, file: str) -> list[Problem]:
    return [
        p
        if isinstance(p, ImportProblem)
        else ImportProblem(p.row, p.column, p.value, p.reason, file=file, where=f"row {p.row}" if p.row else "file")
        for p in err.problems
    ]


# ---------------------------------------------------------------------------------------------
# REDCap


def batch_from_redcap(
    records: str | Path,
    dictionary: str | Path,
    mapping: str | Path,
    events: str | Path | None = None,
    *,
    on_error: str = "raise",
    progress: Callable[[str], None] | None = None,
) -> ImportBatch:
    """Tidy a REDCap export, apply the YAML mapping and stage the records.

    Cells the reader refuses are problems (``records.csv, row N, field: value: reason``); with
    ``on_error="skip"`` they are read as empty (and listed), so the rest of the row still counts.
    Assessments get ``form`` = the instrument unless the mapping sets it, ``visit`` = the event.

    The records are staged column-wise (:meth:`ImportBatch.add_frame`, one frame per mapping
    block) where :func:`~remission.io.mapping.map_frames` maps the mapping column-wise, else one
    by one; either way they are the same records, in the same order. ``progress(step)`` is called
    after each step (``"read"``: files read and tidied; ``"mapped"``: records staged).

    Raises
    ------
    InvalidInputError
        Unreadable files, an invalid mapping (always fatal), or bad cells when strict.
    """
    from remission.io.mapping import load_mapping, map_frames, map_records
    from remission.io.redcap import load_dictionary, tidy_redcap

    records, dictionary, mapping = Path(records), Path(dictionary), Path(mapping)
    inputs = [records, dictionary, mapping] + ([Path(events)] if events is not None else [])
    name = records.name
    dd = load_dictionary(dictionary)
    rmap = load_mapping(mapping, dd)
    try:
        tidy = tidy_redcap(records, dd, events, on_error="null" if on_error == "skip" else "raise")
    except InvalidInputError as err:
        raise InvalidInputError(_problems_of(err, name)) from err
    batch = ImportBatch("redcap", digest=file_digest(inputs))
    for p in tidy.problems:
        batch.problems.append(
            ImportProblem(p.row, p.column, p.value, f"{p.reason} (read as empty)", file=name, where=f"row {p.row}")
        )
    if progress is not None:
        progress("read")
    batch.source_rows = {f"{name}:{form}": t.height for form, t in tidy.tables.items()}
    project = rmap.project or records.stem
    frames = map_frames(tidy.tables, rmap, record_id=tidy.record_id)
    skipped: list[tuple[str, Problem]] = []
    if frames is not None:
        sites = _stage_redcap_frames(batch, frames, name, project)
    else:
        try:
            mapped = map_records(
                tidy.tables,
                rmap,
                record_id=tidy.record_id,
                with_origin=True,
                skipped=skipped if on_error == "skip" else None,
            )
        except InvalidInputError as err:
            raise InvalidInputError(_problems_of(err, name)) from err
        sites = _stage_redcap_records(batch, mapped, name, project)
    _exclude_unmapped_rows(batch, tidy.tables, rmap, name, skipped)
    for site in sorted(sites):
        batch.add("sites", {"site_id": site}, name, "site", rows=0)  # read off the patients' rows
        batch.placeholder_sites.add(site)
    if progress is not None:
        progress("mapped")
    return batch


_REDCAP_TABLES = (
    ("patient", "patients"),
    ("infusion", "infusions"),
    ("assessment", "assessments"),
    ("lab", "labs"),
    ("medication", "medications"),
    ("adverse_event", "adverse_events"),
)
_REDCAP_TABLE = dict(_REDCAP_TABLES)


def _exclude_unmapped_rows(
    batch: ImportBatch,
    tables: Mapping[str, pl.DataFrame],
    rmap: Any,
    name: str,
    skipped: list[tuple[str, Problem]],
) -> None:
    """Account for the instrument rows that give no record (the reconciliation per instrument): an
    instrument the mapping does not read is not imported; a row of a mapped one without a record
    is excluded with the reason (the problem it had in skip mode, else no value the mapping reads).
    A skip-mode problem of a row that gave a record of another block is listed, not counted."""
    import polars as pl

    tables_of = {b.instrument: _REDCAP_TABLE[b.record_type] for b in reversed(rmap.blocks)}
    reasons = {
        (f"{name}:{p.column.split('.')[0]}", p.row): (_REDCAP_TABLE[rtype], f"{p.column}: {p.value}: {p.reason}")
        for rtype, p in skipped
    }
    covered = _covered_rows(batch)
    for form, table in tables.items():
        dataset = f"{name}:{form}"
        if form not in tables_of:
            if table.height:
                batch.not_imported[dataset] = "instrument not in the mapping"
            continue
        every = pl.Series(range(1, table.height + 1), dtype=pl.Int64)
        for row in every.filter(~every.is_in(covered.get(dataset, pl.Series([], dtype=pl.Int64)))).to_list():
            rtype, why = reasons.pop((dataset, row), (tables_of[form], "no value that the mapping reads"))
            batch.exclude(rtype, dataset, f"row {row} of {form}", why)
    for (dataset, row), (rtype, why) in reasons.items():
        batch.exclude(rtype, name, f"row {row} of {dataset.split(':', 1)[1]}", why)


def _covered_rows(batch: ImportBatch) -> dict[str, pl.Series]:
    """Per dataset (``<file>:<instrument>``), the rows that gave at least one staged record."""
    import polars as pl

    parts = [staged.row_id_frame(staged.frame) for staged in batch.frames if staged.row_ids]
    ids = [r.row_id for r in batch.records if r.row_id is not None]
    schema = {"dataset": pl.String, "row": pl.Int64}
    parts.append(pl.DataFrame({"dataset": [i[0] for i in ids], "row": [i[1] for i in ids]}, schema=schema))
    rows = pl.concat(parts, how="vertical").unique()
    return {str(key[0]): part["row"] for key, part in rows.partition_by("dataset", as_dict=True).items()}


def redcap_source_key(project: str, origin: Mapping[str, Any]) -> str:
    """``redcap:<project>/<record>/<event>/<instrument>/<instance>``: the REDCap identity of a record.

    ``project`` is the mapping's ``project:`` (else the records file's stem); event and instance
    are empty where the project has none; a second block mapping the same instrument to the same
    record type adds ``#2`` (:func:`remission.io.mapping.block_parts`).

    >>> redcap_source_key("trial", {"record": "P-1", "event": None, "instrument": "meds", "instance": 3})
    'redcap:trial/P-1//meds/3'
    >>> redcap_source_key("trial", {"record": "P-1", "event": "d0_arm_1", "instrument": "ae", "instance": 1,
    ...                             "part": 1})
    'redcap:trial/P-1/d0_arm_1/ae/1#2'
    """
    parts = (origin.get("record"), origin.get("event"), origin.get("instrument"), origin.get("instance"))
    key = f"redcap:{project}/" + "/".join("" if p is None else str(p) for p in parts)
    return key + (f"#{origin['part'] + 1}" if origin.get("part") else "")


def _stage_redcap_records(
    batch: ImportBatch, mapped: Mapping[str, list[dict[str, Any]]], name: str, project: str
) -> set[str]:
    """Stage mapped record dicts one by one; return the site ids of the patients."""
    sites: set[str] = set()
    day0: dict[str, dt.date] = {}
    for inf in mapped["infusion"]:
        pid, when = inf.get("patient_id"), inf.get("date")
        if isinstance(pid, str) and isinstance(when, dt.date) and (pid not in day0 or when < day0[pid]):
            day0[pid] = when
    for rtype, table in _REDCAP_TABLES:
        for rec in mapped[rtype]:
            origin = rec.pop("_origin")
            where = f"row {origin['row']} of {origin['instrument']} (record {origin['record']})"
            data = _redcap_record(table, rec, origin)
            if table in ("medications", "adverse_events"):
                data["source_key"] = redcap_source_key(project, origin)
                data.update(_redcap_dates(table, data, day0.get(str(data.get("patient_id")))))
            elif table == "labs":  # one instance gives one value per analyte
                data["source_key"] = f"{redcap_source_key(project, origin)}/{data.get('analyte')}"
            if table == "patients" and isinstance(data.get("site_id"), str):
                sites.add(data["site_id"])
            batch.add(table, data, name, where, row_id=(f"{name}:{origin['instrument']}", origin["row"]))
    return sites


#: Per table: (date field, collected-text field, flag field, imputation side) (docs/decisions/imputation.md).
_REDCAP_DATES: dict[str, tuple[tuple[str, str, str, Side], ...]] = {
    "medications": (
        ("start_date", "start_dtc", "start_date_flag", "first"),
        ("stop_date", "stop_dtc", "stop_date_flag", "last"),
    ),
    "adverse_events": (
        ("onset_date", "onset_dtc", "onset_date_flag", "first"),
        ("resolution_date", "resolution_dtc", "resolution_date_flag", "last"),
    ),
}


def _redcap_dates(table: str, data: Mapping[str, Any], day0: dt.date | None) -> dict[str, Any]:
    """The analysis dates of a medication or AE with their collected text and ADaM flag.

    A date field holds a date (a ``date_ymd`` field) or ISO 8601 text (a text field, partial
    dates included, already checked readable by the mapping): imputed by
    :func:`~remission.io.dates.impute_date` (medication start earliest, end latest; AE onset the
    first day but not before day 0 when the period contains it, AE end the latest).
    """
    out: dict[str, Any] = {}
    for date_field, dtc, flag, side in _REDCAP_DATES[table]:
        value = data.get(date_field)
        if isinstance(value, dt.date):
            out.update({dtc: value.isoformat(), flag: None})
            continue
        not_before = day0 if date_field == "onset_date" else None
        imputed = impute_date(value, side, not_before=not_before)
        out.update({date_field: imputed.date, dtc: value or None, flag: imputed.flag})
        if date_field == "onset_date":
            out["onset_time"] = imputed.time
    return out


def _stage_redcap_frames(
    batch: ImportBatch, frames: Mapping[str, list[pl.DataFrame]], name: str, project: str
) -> set[str]:
    """Stage mapped frames (:func:`~remission.io.mapping.map_frames`) as :func:`_stage_redcap_records`
    stages the same records; return the site ids of the patients."""
    import polars as pl

    sites: set[str] = set()
    where = pl.format(
        "row {} of {} (record {})", pl.col("__row"), pl.col("__instrument"), pl.col("__record").fill_null("None")
    )
    for rtype, table in _REDCAP_TABLES:
        for frame in frames[rtype]:
            staged = frame.with_columns(*_redcap_columns(table, project)).drop("__event", "__instance", "__part")
            if table == "patients":
                sites.update(s for s in staged["site_id"].drop_nulls().unique() if isinstance(s, str))
            batch.add_frame(table, staged, name, where, row_ids=True)  # the words only for rows that need them
    return sites


def _redcap_columns(table: str, project: str) -> list[pl.Expr]:
    """:func:`_redcap_record` column-wise (``x or y``: a null or empty ``x`` gives ``y``), with the
    source key and collected dates of :func:`_stage_redcap_records` (the frames' dates are dates:
    text dates take the per-record path)."""
    import polars as pl

    def either(*columns: pl.Expr) -> pl.Expr:
        out: Any = pl.when(columns[0].is_not_null() & (columns[0] != "")).then(columns[0])
        for c in columns[1:]:
            out = out.when(c.is_not_null() & (c != "")).then(c)
        return out.otherwise(pl.lit("")).cast(pl.String)

    if table == "infusions":
        return [either(pl.col("product")).alias("product"), pl.lit("").alias("conditioning")]
    if table == "assessments":
        return [
            either(pl.col("form"), pl.col("__instrument")).alias("form"),
            either(pl.col("visit"), pl.col("__event")).alias("visit"),
        ]
    if table == "labs":
        return [pl.concat_str([_redcap_key_column(project), pl.lit("/"), pl.col("analyte")]).alias("source_key")]
    extra: list[pl.Expr] = []
    if table in _REDCAP_DATES:
        extra.append(_redcap_key_column(project))
        for date_field, dtc, flag, _side in _REDCAP_DATES[table]:
            extra += [pl.col(date_field).dt.strftime("%Y-%m-%d").alias(dtc), pl.lit(None, pl.String).alias(flag)]
    if table == "medications":
        return [
            either(pl.col("unit")).alias("unit"),
            either(pl.col("route")).alias("route"),
            pl.lit("").alias("frequency"),
            *extra,
        ]
    if table == "adverse_events":
        return [
            pl.col("serious").fill_null(False).alias("serious"),
            pl.lit(None, pl.String).alias("onset_time"),
            *extra,
        ]
    return []


def _redcap_key_column(project: str) -> pl.Expr:
    """:func:`redcap_source_key` column-wise."""
    import polars as pl

    def part(name: str) -> pl.Expr:
        return pl.col(name).cast(pl.String).fill_null("")

    key = pl.concat_str(
        [
            pl.lit(f"redcap:{project}/"),
            part("__record"),
            pl.lit("/"),
            part("__event"),
            pl.lit("/"),
            part("__instrument"),
            pl.lit("/"),
            part("__instance"),
        ]
    )
    second = key + pl.lit("#") + (pl.col("__part") + 1).cast(pl.String)
    return pl.when(pl.col("__part") > 0).then(second).otherwise(key).alias("source_key")


def _redcap_record(table: str, rec: dict[str, Any], origin: Mapping[str, Any]) -> dict[str, Any]:
    data = dict(rec)
    if table == "infusions":
        data["product"] = data.get("product") or ""
        data["conditioning"] = ""
    elif table == "assessments":
        data["form"] = data.get("form") or origin["instrument"]
        data["visit"] = data.get("visit") or origin.get("event") or ""
    elif table == "medications":
        for key in ("unit", "route"):
            data[key] = data.get(key) or ""
        data["frequency"] = ""
    elif table == "adverse_events":
        data["serious"] = bool(data.get("serious"))
    return data


# ---------------------------------------------------------------------------------------------
# SDTM

_CELLS_PER_KG = re.compile(r"^(?:10\^(\d+)\s*)?cells?\s*/\s*kg$", re.IGNORECASE)
_SEX = {"M": "male", "F": "female", "U": "unknown", "UNDIFFERENTIATED": "other"}
_SEVERITY = {"MILD": 1, "MODERATE": 2, "SEVERE": 3}
_CYTOPENIAS = frozenset(
    {
        "neutropenia",
        "febrile neutropenia",
        "thrombocytopenia",
        "anaemia",
        "anemia",
        "leukopenia",
        "lymphopenia",
        "pancytopenia",
        "neutrophil count decreased",
        "platelet count decreased",
        "white blood cell count decreased",
        "lymphocyte count decreased",
    }
)
#: SDTM datasets the import maps; the others are read (and checked) but not imported.
SDTM_IMPORTED = ("DM", "EX", "CM", "AE", "LB", "VS", "QS")


def ae_category(term: str, body_system: str | None = None) -> str:
    """Registry AE category of a MedDRA preferred term (and its system organ class).

    Examples
    --------
    >>> ae_category("Cytokine release syndrome"), ae_category("PNEUMONIA", "INFECTIONS AND INFESTATIONS")
    ('crs', 'infection')
    >>> ae_category("Immune effector cell-associated neurotoxicity syndrome"), ae_category("Anaemia")
    ('icans', 'cytopenia')
    """
    t = term.lower()
    if "cytokine release" in t:
        return "crs"
    if "immune effector cell" in t or "icans" in t:
        return "icans"
    if body_system and body_system.strip().upper() == "INFECTIONS AND INFESTATIONS":
        return "infection"
    if t in _CYTOPENIAS:
        return "cytopenia"
    return "other"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


class _SdtmContext:
    """Shared state of one SDTM import: file names, references, screen failures."""

    def __init__(self, batch: ImportBatch, files: Mapping[str, str]) -> None:
        self.batch = batch
        self.files = files
        self.screen_failures: set[str] = set()
        self.patients: set[str] = set()
        self.infused: set[str] = set()
        self.infusion_dates: dict[str, dt.date] = {}

    def where(self, domain: str, row: Mapping[str, Any], n: int) -> str:
        seq = row.get(f"{domain}SEQ")
        return f"row {n} (USUBJID {row.get('USUBJID')}" + (f", {domain}SEQ {seq})" if seq is not None else ")")

    def dated(
        self,
        domain: str,
        row: Mapping[str, Any],
        n: int,
        var: str,
        table: str,
        required: bool = True,
        side: Side = "first",
        not_before: dt.date | None = None,
    ) -> tuple[bool, Imputed]:
        """(usable, analysis date) of ``var``, a partial date imputed (io/dates.py); only a missing
        required date excludes the row, with its reason."""
        text = row.get(var)
        if text is None:
            if required:
                self.batch.exclude(table, self.files[domain], self.where(domain, row, n), f"{var} is missing")
                return False, Imputed(None, None)
            return True, Imputed(None, None)
        return True, impute_date(str(text), side, not_before=not_before)

    def dated_exact(
        self, domain: str, row: Mapping[str, Any], n: int, var: str, table: str
    ) -> tuple[bool, dt.date | None]:
        """(usable, date) of a findings date: a lab or form is analysed on its day, so a partial or
        missing date excludes the row, with its reason, instead of being imputed."""
        when = row.get(f"{var}_DATE")
        if when is not None:
            return True, when
        text = row.get(var)
        precision = row.get(f"{var}_PRECISION")
        why = f"{var} is missing" if text is None else f"{var} is partial ({precision} precision): not imputed"
        self.batch.exclude(table, self.files[domain], self.where(domain, row, n), why)
        return False, None

    def source_key(self, domain: str, row: Mapping[str, Any]) -> str | None:
        """``STUDYID/USUBJID/DOMAIN/--SEQ``: the SDTM identity of a record (None without --SEQ)."""
        seq = row.get(f"{domain}SEQ")
        if seq is None:
            return None
        number = int(seq) if isinstance(seq, float) and seq.is_integer() else seq
        return f"{row.get('STUDYID') or ''}/{row.get('USUBJID')}/{domain}/{number}"

    def subject_ok(self, domain: str, row: Mapping[str, Any], n: int, table: str) -> bool:
        pid = row.get("USUBJID")
        if pid not in self.patients:
            self.batch.exclude(table, self.files[domain], self.where(domain, row, n), "USUBJID is not in DM")
            return False
        if pid in self.screen_failures and pid not in self.infused:
            self.batch.exclude(
                table,
                self.files[domain],
                self.where(domain, row, n),
                "screen failure: no reference start date, no study day",
            )
            return False
        return True


def batch_from_sdtm(folder: str | Path, *, disease: str = "other") -> ImportBatch:
    """Stage the records of an SDTM folder (``.xpt`` v5/v8 or ``.csv``).

    DM → sites and patients (every subject, screen failures included); EX → the CAR-T infusion
    when the dose unit is cells/kg (``[10^n ]cells/kg``), else medications (study treatment);
    CM → medications; AE → adverse events; LB and VS → labs; QS → one assessment per subject,
    date and visit (form ``qs``, items = lower-case QSTESTCD). Day 0 is the infusion when there is
    one, else RFXSTDTC, else RFSTDTC. Screen failures (ARMCD ``SCRNFAIL`` or no RFXSTDTC and no
    RFSTDTC) are stored as patients; their dated records have no study day and are excluded.
    """
    from remission.io.sdtm import load_sdtm

    folder = Path(folder)
    if disease not in ("SLE", "IIM", "SSc", "other"):
        raise InvalidInputError([Problem(None, "disease", disease, "expected SLE, IIM, SSc or other")])
    study = load_sdtm(folder)
    files = {p.stem.upper(): p.name for p in folder.iterdir() if p.suffix.lower() in (".xpt", ".csv")}
    batch = ImportBatch("sdtm", duplicates="merge", digest=file_digest([folder / f for f in files.values()]))
    if "DM" not in study.domains:
        raise InvalidInputError([Problem(None, str(folder), "", "no DM dataset: SDTM subjects come from DM")])
    ctx = _SdtmContext(batch, files)
    for name, frame in study.domains.items():
        batch.source_rows[files.get(name, name)] = frame.height
        if name not in SDTM_IMPORTED:
            batch.not_imported[files.get(name, name)] = "no registry record type (read and checked only)"
    for name, reason in study.skipped.items():
        batch.not_imported[name] = reason
    _sdtm_dm(ctx, study.domains["DM"], disease)
    if "EX" in study.domains:
        _sdtm_ex(ctx, study.domains["EX"])
    if "CM" in study.domains:
        _sdtm_cm(ctx, study.domains["CM"])
    if "AE" in study.domains:
        _sdtm_ae(ctx, study.domains["AE"])
    for domain in ("LB", "VS"):
        if domain in study.domains:
            _sdtm_findings(ctx, domain, study.domains[domain])
    if "QS" in study.domains:
        _sdtm_qs(ctx, study.domains["QS"])
    return batch


def _sdtm_dm(ctx: _SdtmContext, dm: pl.DataFrame, disease: str) -> None:
    file = ctx.files["DM"]
    sites: dict[str, str] = {}
    for n, row in enumerate(dm.iter_rows(named=True), start=1):
        pid = row["USUBJID"]
        arm = (row.get("ARMCD") or "").upper()
        ref = row.get("RFXSTDTC_DATE") or row.get("RFSTDTC_DATE")
        if arm == "SCRNFAIL" or ref is None:
            ctx.screen_failures.add(pid)
        else:
            ctx.batch.references[pid] = ref
        ctx.patients.add(pid)
        site = row.get("SITEID") or "unknown"
        sites.setdefault(site, row.get("COUNTRY") or "")
        birth = row.get("BRTHDTC")
        ctx.batch.add(
            "patients",
            {
                "patient_id": pid,
                "site_id": site,
                "disease": disease,
                "sex": _SEX.get((row.get("SEX") or "U").upper(), "unknown"),
                "birth_year": int(birth[:4]) if birth else None,
                "diagnosis_year": None,
            },
            file,
            ctx.where("DM", row, n),
        )
    for site, country in sorted(sites.items()):
        ctx.batch.add("sites", {"site_id": site, "name": "", "country": country}, file, f"SITEID {site}", rows=0)


def _sdtm_ex(ctx: _SdtmContext, ex: pl.DataFrame) -> None:
    file = ctx.files["EX"]
    rows = list(ex.iter_rows(named=True))
    for n, row in enumerate(rows, start=1):  # infusions first: they set day 0
        m = _CELLS_PER_KG.match((row.get("EXDOSU") or "").strip())
        if m and row.get("USUBJID") in ctx.patients:
            ok, imputed = ctx.dated("EX", row, n, "EXSTDTC", "infusions")
            when = imputed.date
            if ok and imputed.flag is not None:
                why = "EXSTDTC is partial: day 0 is not imputed"
                ctx.batch.exclude("infusions", file, ctx.where("EX", row, n), why)
                continue
            if ok:
                ctx.infused.add(row["USUBJID"])
                if when is not None:
                    ctx.infusion_dates.setdefault(row["USUBJID"], when)
                dose = row.get("EXDOSE")
                ctx.batch.add(
                    "infusions",
                    {
                        "patient_id": row["USUBJID"],
                        "date": when,
                        "product": row.get("EXTRT") or "",
                        "cells_per_kg": None if dose is None else float(dose) * 10 ** int(m.group(1) or 0),
                        "conditioning": "",
                    },
                    file,
                    ctx.where("EX", row, n),
                )
    for n, row in enumerate(rows, start=1):
        if _CELLS_PER_KG.match((row.get("EXDOSU") or "").strip()) or not ctx.subject_ok("EX", row, n, "medications"):
            continue
        _medication(ctx, "EX", row, n, row.get("EXTRT"))


def _medication(ctx: _SdtmContext, domain: str, row: Mapping[str, Any], n: int, drug: Any) -> None:
    """A medication record; start imputed to the earliest, stop to the latest day, a missing start
    kept empty (docs/decisions/imputation.md)."""
    _ok, start = ctx.dated(domain, row, n, f"{domain}STDTC", "medications", required=False)
    _ok, stop = ctx.dated(domain, row, n, f"{domain}ENDTC", "medications", required=False, side="last")
    dose = row.get(f"{domain}DOSE")
    ctx.batch.add(
        "medications",
        {
            "patient_id": row["USUBJID"],
            "drug": drug,
            "dose": None if dose is None else float(dose),
            "unit": row.get(f"{domain}DOSU") or "",
            "route": (row.get(f"{domain}ROUTE") or "").lower(),
            "frequency": row.get(f"{domain}DOSFRQ") or "",
            "start_date": start.date,
            "stop_date": stop.date,
            "source_key": ctx.source_key(domain, row),
            "start_dtc": row.get(f"{domain}STDTC"),
            "start_date_flag": start.flag,
            "stop_dtc": row.get(f"{domain}ENDTC"),
            "stop_date_flag": stop.flag,
        },
        ctx.files[domain],
        ctx.where(domain, row, n),
    )


def _sdtm_cm(ctx: _SdtmContext, cm: pl.DataFrame) -> None:
    for n, row in enumerate(cm.iter_rows(named=True), start=1):
        if ctx.subject_ok("CM", row, n, "medications"):
            _medication(ctx, "CM", row, n, row.get("CMDECOD") or row.get("CMTRT"))


def _ae_grade(row: Mapping[str, Any]) -> int | None:
    if (row.get("AEOUT") or "").upper() == "FATAL":
        return 5
    tox = row.get("AETOXGR")
    if tox is not None and str(tox).strip().removesuffix(".0").isdigit():
        return int(str(tox).strip().removesuffix(".0"))
    return _SEVERITY.get((row.get("AESEV") or "").upper())


def _sdtm_ae(ctx: _SdtmContext, ae: pl.DataFrame) -> None:
    file = ctx.files["AE"]
    for n, row in enumerate(ae.iter_rows(named=True), start=1):
        if not ctx.subject_ok("AE", row, n, "adverse_events"):
            continue
        day0 = ctx.infusion_dates.get(row["USUBJID"]) or ctx.batch.references.get(row["USUBJID"])
        ok, onset = ctx.dated("AE", row, n, "AESTDTC", "adverse_events", not_before=day0)
        if not ok:
            continue
        _ok, end = ctx.dated("AE", row, n, "AEENDTC", "adverse_events", required=False, side="last")
        grade = _ae_grade(row)
        if grade is None:
            ctx.batch.exclude("adverse_events", file, ctx.where("AE", row, n), "no grade: AETOXGR and AESEV are empty")
            continue
        term = row.get("AEDECOD") or row.get("AETERM") or ""
        ctx.batch.add(
            "adverse_events",
            {
                "patient_id": row["USUBJID"],
                "term": term,
                "category": ae_category(term, row.get("AEBODSYS") or row.get("AESOC")),
                "grade": grade,
                "onset_date": onset.date,
                "resolution_date": end.date,
                "serious": (row.get("AESER") or "").upper() == "Y",
                "source_key": ctx.source_key("AE", row),
                "onset_dtc": row.get("AESTDTC"),
                "onset_date_flag": onset.flag,
                "onset_time": onset.time,
                "resolution_dtc": row.get("AEENDTC"),
                "resolution_date_flag": end.flag,
            },
            file,
            ctx.where("AE", row, n),
        )


def _sdtm_findings(ctx: _SdtmContext, domain: str, frame: pl.DataFrame) -> None:
    file = ctx.files[domain]
    for n, row in enumerate(frame.iter_rows(named=True), start=1):
        if not ctx.subject_ok(domain, row, n, "labs"):
            continue
        value = row.get(f"{domain}STRESN")
        if value is None:
            text = row.get(f"{domain}STRESC") or row.get(f"{domain}ORRES")
            why = "no result" if text is None else "character result (no numeric value)"
            ctx.batch.exclude("labs", file, ctx.where(domain, row, n), why)
            continue
        ok, when = ctx.dated_exact(domain, row, n, f"{domain}DTC", "labs")
        if not ok:
            continue
        analyte = _slug(row.get(f"{domain}TESTCD") or "")
        qualifier = row.get(f"{domain}TPT") or row.get(f"{domain}POS")
        if qualifier:
            analyte = f"{analyte}_{_slug(qualifier)}"
        ctx.batch.add(
            "labs",
            {
                "patient_id": row["USUBJID"],
                "date": when,
                "analyte": analyte[:64],
                "value": float(value),
                "unit": row.get(f"{domain}STRESU") or "",
                "lln": row.get(f"{domain}STNRLO"),
                "uln": row.get(f"{domain}STNRHI"),
            },
            file,
            ctx.where(domain, row, n),
        )


def _sdtm_qs(ctx: _SdtmContext, qs: pl.DataFrame) -> None:
    file = ctx.files["QS"]
    groups: dict[tuple[str, dt.date, str], dict[str, Any]] = {}
    where: dict[tuple[str, dt.date, str], str] = {}
    rows: Counter[tuple[str, dt.date, str]] = Counter()
    for n, row in enumerate(qs.iter_rows(named=True), start=1):
        if not ctx.subject_ok("QS", row, n, "assessments"):
            continue
        ok, when = ctx.dated_exact("QS", row, n, "QSDTC", "assessments")
        if not ok or when is None:
            continue
        key = (row["USUBJID"], when, row.get("VISIT") or "")
        value = row.get("QSSTRESN")
        groups.setdefault(key, {})[_slug(row.get("QSTESTCD") or "")] = (
            (value if value is None else (int(value) if float(value).is_integer() else float(value)))
            if value is not None
            else row.get("QSSTRESC")
        )
        where.setdefault(key, ctx.where("QS", row, n))
        rows[key] += 1
    for (pid, when, visit), items in groups.items():
        ctx.batch.add(
            "assessments",
            {"patient_id": pid, "date": when, "visit": visit, "form": "qs", "items": items},
            file,
            where[(pid, when, visit)],
            rows=rows[(pid, when, visit)],
        )


# ---------------------------------------------------------------------------------------------
# FHIR

#: SNOMED CT codes of the three indications (Condition.code) → registry disease.
SNOMED_DISEASES = {
    "55464009": "SLE",  # systemic lupus erythematosus
    "396230008": "IIM",  # dermatomyositis
    "31384009": "IIM",  # polymyositis
    "89155008": "SSc",  # systemic sclerosis
}
#: LOINC → registry analyte code (others keep ``loinc_<code>``).
LOINC_ANALYTES = {
    "1988-5": "crp",
    "4485-9": "c3",
    "4498-2": "c4",
    "5130-0": "anti_dsdna",
    "777-3": "platelets",
    "26515-7": "platelets",
    "751-8": "neutrophils",
    "6690-2": "leukocytes",
    "718-7": "hemoglobin",
    "2160-0": "creatinine",
    "2276-4": "ferritin",
    "2157-6": "ck",
    "29463-7": "body_weight",
}
_FHIR_SEVERITY = {"mild": 1, "moderate": 2, "severe": 3}
FHIR_SITE = "fhir"


#: FHIR table → the resource type its rows are read from (the reconciliation counts per resource type).
FHIR_RESOURCE_TYPES = {
    "patients": "Patient",
    "observations": "Observation",
    "conditions": "Condition",
    "adverse_events": "AdverseEvent",
    "procedures": "Procedure",
    "research_subjects": "ResearchSubject",
}
#: Words naming a CAR-T product in a Procedure's code or a MedicationAdministration's medication
#: (display or text, case-insensitive, whole words): the anti-CD19 products of the autoimmune
#: CAR-T studies (KYV-101, MB-CART19.1) and the licensed ones by INN and brand name. Codes are not
#: listed: CAR-T products have no code common to the code systems FHIR servers use.
CAR_T_PRODUCTS = re.compile(
    r"\b(tisagenlecleucel|kymriah|axicabtagene|yescarta|lisocabtagene|breyanzi|brexucabtagene|tecartus"
    r"|idecabtagene|abecma|ciltacabtagene|carvykti|obecabtagene|aucatzyl|kyv-101|mb-cart19\.1"
    r"|cd19[- ]car[- ]?t|car[- ]?t[- ]cells?|car-t|chimeric antigen receptor)\b",
    re.IGNORECASE,
)
#: A dose unit in cells per kg: ``cells/kg``, ``10^6 cells/kg``, UCUM ``10*6/kg``, ``10*6.{cells}/kg``.
_FHIR_CELLS_PER_KG = re.compile(r"^(?:10[\^*](\d+)\s*\.?\s*)?(\{?cells?\}?)?\s*/\s*kg$", re.IGNORECASE)
_FHIR_DATETIME = re.compile(
    r"^(\d{4}(?:-\d{2}(?:-\d{2})?)?)(?:T(\d{2}:\d{2}(?::\d{2})?)(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})?)?$"
)
#: MedicationStatement status that says the drug is no longer taken: dateAsserted bounds its end.
_FHIR_STOPPED = frozenset({"completed", "stopped", "not-taken"})


def fhir_dtc(text: str | None) -> str | None:
    """The ISO 8601 date (and local time) of a FHIR date/dateTime: the zone and fractions cut off.

    FHIR writes partial dates as ISO 8601 does (``2015``, ``2015-02``) and a time only with a zone;
    the local date and time are what was recorded (as the ``date`` column of :mod:`remission.io.fhir`).

    >>> [fhir_dtc(t) for t in ("2015-02", "2015-01-15T14:30:00+01:00", "2015-01-15T14:30:00.123Z", None)]
    ['2015-02', '2015-01-15T14:30:00', '2015-01-15T14:30:00', None]
    """
    if text is None:
        return None
    match = _FHIR_DATETIME.match(text.strip())
    if match is None:
        return text
    return match[1] + (f"T{match[2]}" if match[2] else "")


def fhir_cells_per_kg(dose: float | None, unit: str | None) -> float | None:
    """A CAR-T dose in cells per kg, or None when its unit is not one.

    >>> fhir_cells_per_kg(1.0, "10*6/kg"), fhir_cells_per_kg(5e5, "cells/kg"), fhir_cells_per_kg(2, "mg")
    (1000000.0, 500000.0, None)
    """
    match = _FHIR_CELLS_PER_KG.match((unit or "").strip())
    if dose is None or match is None or not (match[1] or match[2]):
        return None
    return float(dose) * 10 ** int(match[1] or 0)


def batch_from_fhir(path: str | Path) -> ImportBatch:
    """Stage the records of a FHIR R4 file or folder of ``*.json``.

    Patient → patient (site ``fhir``; disease from a Condition with a SNOMED code of SLE, IIM or
    SSc, else ``other``; birth year only); Observation with a numeric value → lab (LOINC mapped to
    analyte codes, else ``loinc_<code>``); MedicationStatement/Request/Administration → medication;
    a Procedure or MedicationAdministration naming a CAR-T product (:data:`CAR_T_PRODUCTS`) →
    infusion (day 0); AdverseEvent (actuality ``actual``) → adverse event (severity
    mild/moderate/severe → grade 1–3). Medications and AEs keep their identity
    (``fhir:<resourceType>/<id>``) and partial dates are imputed per derivation
    (docs/decisions/imputation.md). Day 0 of a patient without a CAR-T infusion is the earliest
    date among its imported records. Rows are reconciled per resource type; resource types without
    a registry record type are listed with their counts.
    """
    from remission.io.fhir import load_fhir

    p = Path(path)
    loaded = load_fhir(p)
    files = sorted(p.glob("*.json")) if p.is_dir() else [p]
    ctx = _FhirContext(ImportBatch("fhir", duplicates="merge", digest=file_digest(files)))
    batch = ctx.batch
    for name, frame in loaded.tables.items():
        if name == "medications":
            for kind, count in Counter(frame["resource_type"].to_list()).items():
                batch.source_rows[str(kind)] = count
        elif frame.height:
            batch.source_rows[FHIR_RESOURCE_TYPES[name]] = frame.height
    if loaded.tables["research_subjects"].height:
        batch.not_imported["ResearchSubject"] = "no registry record type"
    if loaded.tables["conditions"].height:
        batch.not_imported["Condition"] = "used only to find the indication (SNOMED SLE/IIM/SSc)"
    for kind, count in sorted(loaded.skipped.items()):
        batch.source_rows[kind] = count
        why = "status entered-in-error: not a record" if "entered-in-error" in kind else "no registry record type"
        batch.not_imported[kind] = why
    ctx.patients(loaded.tables["patients"], loaded.tables["conditions"])
    ctx.infusions(loaded.tables["procedures"], loaded.tables["medications"])
    ctx.observations(loaded.tables["observations"])
    ctx.medications(loaded.tables["medications"])
    ctx.adverse_events(loaded.tables["adverse_events"])
    batch.references.update(ctx.firsts)
    batch.references.update(ctx.day0)
    return batch


def _fhir_where(kind: str, r: Mapping[str, Any]) -> str:
    version = r.get("version_id")
    return f"{kind}/{r.get('resource_id')}" + (f"/_history/{version}" if version else "")


def _fhir_key(kind: str, r: Mapping[str, Any]) -> str | None:
    """``fhir:<resourceType>/<id>``: the identity of a resource (its versions are one record)."""
    return f"fhir:{kind}/{r['resource_id']}" if r.get("resource_id") else None


def _latest_first(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Rows with the latest version of a resource first: of two versions in one import, the
    latest is stored and the other counted as merged into it."""

    def version(r: Mapping[str, Any]) -> int:
        v = str(r.get("version_id") or "")
        return -int(v) if v.isdigit() else 0

    return sorted(frame.iter_rows(named=True), key=version)


class _FhirContext:
    def __init__(self, batch: ImportBatch) -> None:
        self.batch = batch
        self.known: set[str] = set()
        self.firsts: dict[str, dt.date] = {}
        #: Day 0 from CAR-T infusions (Procedure, MedicationAdministration), stored or not.
        self.day0: dict[str, dt.date] = {}

    def seen(self, pid: str, when: dt.date) -> None:
        if pid not in self.firsts or when < self.firsts[pid]:
            self.firsts[pid] = when

    def exclude(self, table: str, kind: str, where: str, reason: str) -> None:
        self.batch.exclude(table, kind, where, reason)  # counted in the resource type's row

    def known_patient(self, table: str, r: Mapping[str, Any], kind: str) -> bool:
        if r.get("patient_id") in self.known:
            return True
        where = f"{_fhir_where(kind, r)} (patient {r.get('patient_id')})"
        self.exclude(table, kind, where, "its patient is not in the import")
        return False

    def usable(self, table: str, r: Mapping[str, Any], kind: str, when: dt.date | None, text: str | None) -> bool:
        if not self.known_patient(table, r, kind):
            return False
        if when is None:
            self.exclude(table, kind, _fhir_where(kind, r), "no date" if not text else "partial date: not imputed")
            return False
        self.seen(r["patient_id"], when)
        return True

    def imputed(
        self,
        table: str,
        r: Mapping[str, Any],
        kind: str,
        field: str,
        text: str | None,
        side: Side,
        not_before: dt.date | None = None,
    ) -> Imputed | None:
        """The analysis date of a FHIR date (io/dates.py), None (excluded with the reason) if unreadable."""
        try:
            return impute_date(fhir_dtc(text), side, not_before=not_before)
        except ValueError as err:
            self.exclude(table, kind, _fhir_where(kind, r), f"{field}: {text}: {err}")
            return None

    def patients(self, patients: pl.DataFrame, conditions: pl.DataFrame) -> None:
        disease: dict[str, str] = {}
        diagnosis: dict[str, int] = {}
        for r in conditions.iter_rows(named=True):
            code = SNOMED_DISEASES.get(r.get("code") or "")
            if code and r["patient_id"]:
                disease[r["patient_id"]] = code
                if r.get("onset_text"):
                    diagnosis[r["patient_id"]] = int(r["onset_text"][:4])
        for r in patients.iter_rows(named=True):
            pid = r["patient_id"]
            if not pid:
                self.exclude("patients", "Patient", "Patient (no id)", "a Patient without an id cannot be referred to")
                continue
            self.known.add(pid)
            birth = r.get("birth_date_text")
            self.batch.add(
                "patients",
                {
                    "patient_id": pid,
                    "site_id": FHIR_SITE,
                    "disease": disease.get(pid, "other"),
                    "sex": r.get("sex") if r.get("sex") in ("male", "female", "other") else "unknown",
                    "birth_year": int(birth[:4]) if birth else None,
                    "diagnosis_year": diagnosis.get(pid),
                },
                r["source"],
                f"Patient/{pid}",
                dataset="Patient",
            )
        if self.known:
            site = {"site_id": FHIR_SITE, "name": "FHIR import (no site in the source)"}
            self.batch.add("sites", site, "-", "site", rows=0)  # read off no row of its own
            self.batch.placeholder_sites.add(FHIR_SITE)

    def infusions(self, procedures: pl.DataFrame, medications: pl.DataFrame) -> None:
        """CAR-T infusions: Procedures naming a product (the others have no registry record type)
        and MedicationAdministrations of one (the others are medications)."""
        import polars as pl

        administrations = medications.filter(pl.col("resource_type") == "MedicationAdministration")
        for kind, frame in (("Procedure", procedures), ("MedicationAdministration", administrations)):
            for r in _latest_first(frame):
                product = next((t for t in (r.get("display"), r.get("code")) if t and CAR_T_PRODUCTS.search(t)), None)
                if product is None:
                    if kind == "Procedure":
                        why = "not a CAR-T infusion: no registry record type"
                        self.exclude("procedures", kind, _fhir_where(kind, r), why)
                    continue
                self._infusion(kind, r, product)

    def _infusion(self, kind: str, r: Mapping[str, Any], product: str) -> None:
        where = _fhir_where(kind, r)
        if not self.known_patient("infusions", r, kind):
            return
        when = r.get("start_date")
        if when is None:
            why = "no date" if not r.get("start_text") else "partial date: day 0 is not imputed"
            self.exclude("infusions", kind, where, f"CAR-T infusion ({product}): {why}")
            return
        pid = r["patient_id"]
        self.day0[pid] = min(when, self.day0.get(pid, when))
        cells = fhir_cells_per_kg(r.get("dose"), r.get("dose_unit"))
        if cells is None:
            why = f"CAR-T infusion ({product}) on {when}: no dose in cells per kg, which the registry's infusion needs"
            self.exclude("infusions", kind, where, why + "; its date is the patient's day 0")
            return
        infusion = {"patient_id": pid, "date": when, "product": product, "cells_per_kg": cells, "conditioning": ""}
        self.batch.add("infusions", infusion, r["source"], where, dataset=kind)

    def observations(self, observations: pl.DataFrame) -> None:
        for r in observations.iter_rows(named=True):
            if r.get("value") is None:
                self.exclude("labs", "Observation", _fhir_where("Observation", r), "not a numeric value")
                continue
            if not self.usable("labs", r, "Observation", r.get("date"), r.get("effective_text")):
                continue
            code = r.get("code") or ""
            self.batch.add(
                "labs",
                {
                    "patient_id": r["patient_id"],
                    "date": r["date"],
                    "analyte": LOINC_ANALYTES.get(code) or f"loinc_{_slug(code)}",
                    "value": float(r["value"]),
                    "unit": r.get("unit") or "",
                },
                r["source"],
                _fhir_where("Observation", r),
                dataset="Observation",
            )

    def medications(self, medications: pl.DataFrame) -> None:
        """MedicationStatement (effective[x]), MedicationRequest (authoredOn), MedicationAdministration
        (effective[x]): start imputed to the earliest, end to the latest day; a MedicationStatement
        without an end whose status says the drug is no longer taken ends by its ``dateAsserted``."""
        for r in _latest_first(medications):
            kind = r.get("resource_type") or "Medication"
            if kind == "MedicationAdministration" and any(
                t and CAR_T_PRODUCTS.search(t) for t in (r.get("display"), r.get("code"))
            ):
                continue  # an infusion (infusions())
            if not self.known_patient("medications", r, kind):
                continue
            end_text = r.get("end_text")
            if end_text is None and kind == "MedicationStatement" and r.get("status") in _FHIR_STOPPED:
                end_text = r.get("asserted_text")
            start = self.imputed("medications", r, kind, "start", r.get("start_text"), "first")
            stop = self.imputed("medications", r, kind, "end", end_text, "last")
            if start is None or stop is None:
                continue
            if start.date is not None:
                self.seen(r["patient_id"], start.date)
            self.batch.add(
                "medications",
                {
                    "patient_id": r["patient_id"],
                    "drug": r.get("display") or r.get("code") or "",
                    "dose": r.get("dose"),
                    "unit": r.get("dose_unit") or "",
                    "route": (r.get("route") or "").lower(),
                    "frequency": "",
                    "start_date": start.date,
                    "stop_date": stop.date,
                    "source_key": _fhir_key(kind, r),
                    "start_dtc": fhir_dtc(r.get("start_text")),
                    "start_date_flag": start.flag,
                    "stop_dtc": fhir_dtc(end_text),
                    "stop_date_flag": stop.flag,
                },
                r["source"],
                _fhir_where(kind, r),
                dataset=kind,
            )

    def adverse_events(self, events: pl.DataFrame) -> None:
        kind = "AdverseEvent"
        for r in _latest_first(events):
            where = _fhir_where(kind, r)
            grade = _FHIR_SEVERITY.get((r.get("severity") or "").lower())
            if (r.get("actuality") or "actual") != "actual":
                self.exclude("adverse_events", kind, where, "actuality is not 'actual': not an event that happened")
                continue
            if grade is None:
                self.exclude("adverse_events", kind, where, "no severity: no grade")
                continue
            if not self.known_patient("adverse_events", r, kind):
                continue
            if not r.get("date_text"):
                self.exclude("adverse_events", kind, where, "no date")
                continue
            day0 = self.day0.get(r["patient_id"])
            onset = self.imputed("adverse_events", r, kind, "date", r.get("date_text"), "first", not_before=day0)
            if onset is None or onset.date is None:
                continue
            self.seen(r["patient_id"], onset.date)
            term = r.get("display") or r.get("code") or ""
            self.batch.add(
                "adverse_events",
                {
                    "patient_id": r["patient_id"],
                    "term": term,
                    "category": ae_category(term),
                    "grade": grade,
                    "onset_date": onset.date,
                    "serious": (r.get("seriousness") or "").lower() == "serious",
                    "source_key": _fhir_key(kind, r),
                    "onset_dtc": fhir_dtc(r.get("date_text")),
                    "onset_date_flag": onset.flag,
                    "onset_time": onset.time,
                },
                r["source"],
                where,
                dataset=kind,
            )


# ---------------------------------------------------------------------------------------------
# Registry export (round trip)


def read_registry_table(folder: Path, name: str) -> pl.DataFrame | None:
    """``folder/<name>.parquet`` or ``.csv`` of an export, every column as text (None if absent)."""
    import polars as pl

    parquet, csv = folder / f"{name}.parquet", folder / f"{name}.csv"
    if parquet.exists():
        frame = pl.read_parquet(parquet)
        return frame.with_columns(pl.all().cast(pl.String))
    if csv.exists():
        try:
            return pl.read_csv(csv, infer_schema=False)
        except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as exc:
            from remission.csv_errors import describe_csv_error

            raise InvalidInputError([Problem(None, "file", str(csv), describe_csv_error(csv, exc))]) from exc
    return None


def parse_item(text: str | None) -> Any:
    """An exported item cell back to its value: integer, number, true/false, or text.

    Examples
    --------
    >>> [parse_item(t) for t in ("3", "0.5", "1e-05", "true", "-", "", None)]
    [3, 0.5, 1e-05, True, '-', None, None]
    """
    if text is None or text == "":
        return None
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if text in ("true", "false"):
        return text == "true"
    try:
        return float(text)
    except ValueError:
        return text


_REGISTRY_COLUMNS: dict[str, dict[str, str]] = {
    "sites": {"site_id": "str", "name": "str", "country": "str", "synthetic": "bool"},
    "patients": {
        "patient_id": "str",
        "site_id": "str",
        "disease": "str",
        "sex": "str",
        "birth_year": "int",
        "diagnosis_year": "int",
        "prior_treatments": "json",
        "synthetic": "bool",
    },
    "infusions": {
        "patient_id": "str",
        "date": "date",
        "product": "str",
        "cells_per_kg": "float",
        "conditioning": "str",
        "synthetic": "bool",
    },
    "assessments": {
        "patient_id": "str",
        "date": "date",
        "day": "int",
        "visit": "str",
        "form": "str",
        "synthetic": "bool",
    },
    "labs": {
        "patient_id": "str",
        "date": "date",
        "day": "int",
        "analyte": "str",
        "value": "float",
        "unit": "str",
        "lln": "float",
        "uln": "float",
        "synthetic": "bool",
        "source_key": "text?",  # issue 17: the source identity travels with the record
    },
    "medications": {
        "patient_id": "str",
        "drug": "str",
        "dose": "float",
        "unit": "str",
        "route": "str",
        "frequency": "str",
        "start_date": "date",
        "stop_date": "date",
        "start_day": "int",
        "stop_day": "int",
        "synthetic": "bool",
        # issue 17: the source identity and the collected dates travel with the record
        "source_key": "text?",
        "start_dtc": "text?",
        "start_date_flag": "text?",
        "stop_dtc": "text?",
        "stop_date_flag": "text?",
    },
    "adverse_events": {
        "patient_id": "str",
        "term": "str",
        "category": "str",
        "grade": "int",
        "onset_date": "date",
        "onset_day": "int",
        "resolution_date": "date",
        "resolution_day": "int",
        "serious": "bool",
        "organism": "str",
        "treatment": "str",
        "synthetic": "bool",
        "source_key": "text?",
        "onset_dtc": "text?",
        "onset_date_flag": "text?",
        "onset_time": "text?",
        "resolution_dtc": "text?",
        "resolution_date_flag": "text?",
    },
    "scores": {
        "patient_id": "str",
        "date": "date",
        "visit": "str",
        "index_name": "str",
        "rule_version": "str",
        "values": "json",
        "explain": "str",
    },
}
#: Text columns where an empty cell means "" (not missing).
_NULLABLE = {
    "birth_year",
    "diagnosis_year",
    "dose",
    "lln",
    "uln",
    "stop_date",
    "stop_day",
    "resolution_date",
    "resolution_day",
}


def _cell(kind: str, text: str | None, column: str) -> Any:
    if kind == "text?":  # optional text: empty is "not collected" (None), not ""
        return text or None
    if text is None or (text == "" and (kind != "str" or column in _NULLABLE)):
        return "" if kind == "str" else None
    if kind == "int":
        return int(text)
    if kind == "float":
        return float(text)
    if kind == "bool":
        if text.lower() not in ("true", "false", "1", "0"):
            raise ValueError("expected true/false")
        return text.lower() in ("true", "1")
    if kind == "date":
        return dt.date.fromisoformat(text)
    if kind == "json":
        return json.loads(text)
    return text


def batch_from_registry(folder: str | Path) -> ImportBatch:
    """Stage the tables of a ``remission export`` folder (CSV or Parquet): the round trip.

    Every column is read as text and parsed by the column's kind; assessment item columns (any
    column not listed in the registry schema) go back into ``items`` with :func:`parse_item`.
    Stored days are kept as exported (they may come from a reference date, not an infusion).
    """
    folder = Path(folder)
    if not (folder / "patients.csv").exists() and not (folder / "patients.parquet").exists():
        raise InvalidInputError(
            [Problem(None, str(folder), "", "no patients.csv or patients.parquet: not a remission export")]
        )
    used = [
        folder / f"{n}.{ext}" for n in REGISTRY_TABLES for ext in ("csv", "parquet") if (folder / f"{n}.{ext}").exists()
    ]
    batch = ImportBatch("registry", digest=file_digest(used))
    for name in REGISTRY_TABLES:
        frame = read_registry_table(folder, name)
        if frame is None:
            continue
        file = next(p.name for p in used if p.stem == name)
        batch.source_rows[file] = frame.height
        kinds = _REGISTRY_COLUMNS[name]
        for n, row in enumerate(frame.iter_rows(named=True), start=1):
            data: dict[str, Any] = {}
            bad = False
            for column, text in row.items():
                if column in kinds:
                    try:
                        data[column] = _cell(kinds[column], text, column)
                    except (ValueError, json.JSONDecodeError) as err:
                        batch.problem(file, f"row {n}", column, text, str(err), row=n)
                        bad = True
                elif name == "assessments":
                    data.setdefault("items", {})[column] = parse_item(text)
            if name == "assessments":
                data["items"] = {k: v for k, v in data.get("items", {}).items() if v is not None}
            if not bad:
                batch.add(name, data, file, f"row {n}")
    return batch
