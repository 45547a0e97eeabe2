"""Registry export: record tables, ADaM-style analysis datasets and define-style metadata.

``export_registry(engine, out, format)`` writes, as CSV, Parquet or SAS XPORT v5:

* the registry tables ``sites``, ``patients``, ``infusions``, ``assessments`` (one row per
  assessment, one column per item code, plus ``form``), ``labs``, ``medications``,
  ``adverse_events`` and ``scores`` — with natural keys only (no database ids, no timestamps) and
  sorted by them, so that an export imported into a fresh database (``remission import
  registry``) exports to the same bytes;
* ADaM-style datasets: ``adsl`` (one row per patient), ``adeff`` (one row per patient, visit and
  index output, from the stored scores; yes/no outputs such as DORIS, LLDAS or drug-free are
  parameters with AVAL 0/1), ``adae`` (with CRS and ICANS grades and the analysis dates with their
  ADaM imputation flags ASTDTF/AENDTF, ASTDTM/ASTTMF) and ``adcm`` (one row per medication record:
  analysis dates and flags, ONTRTFL/PREFL relative to the infusion, prednisone-equivalent mg/day of
  systemic glucocorticoids with its conversion flag; docs/decisions/adam-exports.md);
* ``define.csv``: dataset, variable, label, type, source and, for XPT, the 8-character name the
  variable was given (``xpt_name``).

``export_registry(engine, out, "nonmem")`` writes instead ``observations.csv``, the long
NONMEM-style observation table of population kinetics (:func:`derive_observations`;
columns :data:`remission.kinetics.observations.OBSERVATION_COLUMNS`).

Examples
--------
>>> import polars as pl
>>> xpt_names(["patient_id", "cells_per_kg", "cells_per_kilo", "AVAL"])
['PATIENT_', 'CELLS_PE', 'CELLS_01', 'AVAL']
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from remission.errors import InvalidInputError, Problem
from remission.io.sources import REGISTRY_TABLES

if TYPE_CHECKING:
    import polars as pl
    from sqlalchemy import Engine

Format = Literal["csv", "parquet", "xpt", "nonmem"]
Progress = Callable[[str, int, int], None]
STUDYID = "REMISSION"
#: SAS XPORT v5 dataset names (8 characters at most).
XPT_DATASETS = {
    "sites": "SITES",
    "patients": "PATIENTS",
    "infusions": "INFUSION",
    "assessments": "ASSESS",
    "labs": "LABS",
    "medications": "MEDS",
    "adverse_events": "ADVEVT",
    "scores": "SCORES",
    "adsl": "ADSL",
    "adeff": "ADEFF",
    "adae": "ADAE",
    "adcm": "ADCM",
}
XPT_TEXT_MAX = 200

#: Columns of each registry table in export order (assessment items follow ``form``).
COLUMNS: dict[str, tuple[str, ...]] = {
    "sites": ("site_id", "name", "country", "synthetic"),
    "patients": (
        "patient_id",
        "site_id",
        "disease",
        "sex",
        "birth_year",
        "diagnosis_year",
        "prior_treatments",
        "synthetic",
    ),
    "infusions": ("patient_id", "date", "product", "cells_per_kg", "conditioning", "synthetic"),
    "assessments": ("patient_id", "date", "day", "visit", "synthetic", "form"),
    "labs": ("patient_id", "date", "day", "analyte", "value", "unit", "lln", "uln", "synthetic"),
    "medications": (
        "patient_id",
        "drug",
        "dose",
        "unit",
        "route",
        "frequency",
        "start_date",
        "stop_date",
        "start_day",
        "stop_day",
        "synthetic",
    ),
    "adverse_events": (
        "patient_id",
        "term",
        "category",
        "grade",
        "onset_date",
        "onset_day",
        "resolution_date",
        "resolution_day",
        "serious",
        "organism",
        "treatment",
        "synthetic",
    ),
    "scores": ("patient_id", "date", "visit", "index_name", "rule_version", "values", "explain"),
}
#: Columns exported when the database has them (source identity and partial-date imputation,
#: issue 17): the original ISO 8601 text, the ADaM imputation flag (D/M/Y) and the source key.
OPTIONAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "labs": ("source_key",),
    "medications": ("start_dtc", "start_date_flag", "stop_dtc", "stop_date_flag", "source_key"),
    "adverse_events": (
        "onset_dtc",
        "onset_date_flag",
        "onset_time",
        "resolution_dtc",
        "resolution_date_flag",
        "source_key",
    ),
}
SORT: dict[str, tuple[str, ...]] = {
    "sites": ("site_id",),
    "patients": ("patient_id",),
    "infusions": ("patient_id", "date"),
    "assessments": ("patient_id", "date", "visit"),
    "labs": ("patient_id", "date", "analyte"),
    "medications": ("patient_id", "drug", "start_date"),
    "adverse_events": ("patient_id", "term", "onset_date"),
    "scores": ("patient_id", "date", "visit", "index_name"),
}

#: Imputation rules, as written into define.csv (docs/decisions/adam-exports.md).
DTF_RULE = (
    "ADaM date imputation flag (admiral derive_vars_dt): D day imputed, M month and day imputed, "
    "Y year imputed; empty = complete date"
)
AE_START_RULE = (
    "adverse_events.onset_date: complete date as collected, else imputed from onset_dtc (AESTDTC) to the "
    "first day of the known period, not before the infusion when the period contains it "
    "(admiral highest_imputation M, date_imputation first, min_dates TRTSDT)"
)
AE_END_RULE = (
    "adverse_events.resolution_date: imputed from resolution_dtc (AEENDTC) to the last day of the known "
    "period, capped at death / data cut-off (admiral date_imputation last, max_dates DTHDT, EOSDT)"
)
CM_START_RULE = (
    "medications.start_date: imputed from start_dtc (CMSTDTC) to the first day of the known period "
    "(earliest: conservative for drug-free remission; admiral date_imputation first)"
)
CM_END_RULE = (
    "medications.stop_date: imputed from stop_dtc (CMENDTC) to the last day of the known period "
    "(latest; admiral date_imputation last); empty = ongoing up to the data cut-off"
)
TIME_RULE = (
    "onset date + time where a time was collected (onset_dtc time part, else onset_time); empty when only "
    "a date is known (no time is invented)"
)
TMF_RULE = (
    "ADaM time imputation flag: M when only the hour was collected (minutes set to 00); empty when hh:mm "
    "was collected (seconds not collected need no flag, ADaM IG via admiral ignore_seconds_flag)"
)
ONTRTFL_RULE = (
    "Y when the record starts on or after the infusion (ASTDY >= 0), or starts before it and is ongoing or "
    "ends on or after it (admiral derive_var_ontrtfl, ref_start_date TRTSDT, no ref_end_date, span_period Y)"
)
PRED_RULE = (
    "systemic glucocorticoids: dose x mg per unit x administrations per day x 5 / mg equivalent to 5 mg "
    "prednisone (remission.medications.dose, equivalence table with sources); empty when not convertible"
)

#: (label, source) of the analysis variables.
ANALYSIS_LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "adsl": {
        "STUDYID": ("Study identifier", f"constant {STUDYID}"),
        "USUBJID": ("Unique subject identifier", "patients.patient_id"),
        "SITEID": ("Site identifier", "patients.site_id"),
        "DISEASE": ("Indication (SLE, IIM, SSc, other)", "patients.disease"),
        "SEX": ("Sex", "patients.sex"),
        "BRTHYR": ("Birth year", "patients.birth_year"),
        "DIAGYR": ("Diagnosis year", "patients.diagnosis_year"),
        "NPRIOR": ("Number of prior treatments", "count of patients.prior_treatments"),
        "TRTSDT": ("CAR-T infusion date (day 0)", "first infusions.date"),
        "TRTPROD": ("CAR-T product", "infusions.product"),
        "CELLSKG": ("CAR-T cells per kg", "infusions.cells_per_kg"),
        "SAFFL": ("Safety population flag (infused)", "Y when an infusion is recorded"),
        "LSTASDY": ("Day of the last assessment", "max assessments.day"),
        "SYNTHFL": ("Synthetic (demo) record flag", "patients.synthetic"),
    },
    "adeff": {
        "STUDYID": ("Study identifier", f"constant {STUDYID}"),
        "USUBJID": ("Unique subject identifier", "assessments.patient_id"),
        "VISIT": ("Visit", "assessments.visit"),
        "FORM": ("Form the items were recorded on", "assessments.form"),
        "ADT": ("Analysis date", "assessments.date"),
        "ADY": ("Analysis day (infusion = day 0)", "assessments.day"),
        "INDEX": ("Index", "scores.index_name"),
        "RULEVER": ("Rule version of the index", "scores.rule_version"),
        "PARAMCD": ("Parameter code (index output)", "key of scores.values"),
        "PARAM": ("Parameter", "index: output"),
        "AVAL": ("Analysis value (yes/no flags 0/1)", "scores.values (numeric)"),
        "AVALC": ("Analysis value (text)", "scores.values (text)"),
        "ABLFL": ("Baseline record flag", "Y on the latest ADY <= 0 per subject and parameter"),
    },
    "adae": {
        "STUDYID": ("Study identifier", f"constant {STUDYID}"),
        "USUBJID": ("Unique subject identifier", "adverse_events.patient_id"),
        "AETERM": ("Adverse event term", "adverse_events.term"),
        "AECAT": ("Category (crs, icans, infection, cytopenia, other)", "adverse_events.category"),
        "AETOXGR": ("Grade (ASTCT for CRS/ICANS, CTCAE otherwise)", "adverse_events.grade"),
        "CRSGR": ("CRS grade (ASTCT)", "grade when category = crs"),
        "ICANSGR": ("ICANS grade (ASTCT)", "grade when category = icans"),
        "AESER": ("Serious event", "adverse_events.serious as Y/N"),
        "ASTDT": ("Analysis start date", AE_START_RULE),
        "ASTDTF": ("Analysis start date imputation flag", DTF_RULE + " (adverse_events.onset_date_flag)"),
        "ASTDTM": ("Analysis start date/time", TIME_RULE),
        "ASTTMF": ("Analysis start time imputation flag", TMF_RULE),
        "ASTDY": ("Onset day (infusion = day 0)", "adverse_events.onset_day"),
        "AENDT": ("Analysis end date", AE_END_RULE),
        "AENDTF": ("Analysis end date imputation flag", DTF_RULE + " (adverse_events.resolution_date_flag)"),
        "AENDY": ("Resolution day", "adverse_events.resolution_day"),
        "TRTEMFL": (
            "Treatment-emergent flag",
            "Y when ASTDY >= 0; Y when the onset is unknown unless the event ended before day 0",
        ),
        "AEORG": ("Organism (infections)", "adverse_events.organism"),
        "AETRT": ("Treatment of the event", "adverse_events.treatment"),
        "SRCKEY": ("Source record key", "adverse_events.source_key (e.g. STUDYID/USUBJID/AE/AESEQ)"),
    },
    "adcm": {
        "STUDYID": ("Study identifier", f"constant {STUDYID}"),
        "USUBJID": ("Unique subject identifier", "medications.patient_id"),
        "CMTRT": ("Reported name of drug", "medications.drug"),
        "CMDECOD": ("Standardized medication name", "drug table name of medications.drug (empty if unknown)"),
        "CMCLAS": ("Medication class", "drug table class (glucocorticoid, antimalarial, ...)"),
        "CMDOSE": ("Dose per administration", "medications.dose"),
        "CMDOSU": ("Dose units", "medications.unit"),
        "CMDOSFRQ": ("Dosing frequency per interval", "medications.frequency"),
        "CMROUTE": ("Route of administration", "medications.route"),
        "CMSTDTC": ("Start date/time of medication", "medications.start_dtc (original ISO 8601 text)"),
        "CMENDTC": ("End date/time of medication", "medications.stop_dtc (original ISO 8601 text)"),
        "ASTDT": ("Analysis start date", CM_START_RULE),
        "ASTDTF": ("Analysis start date imputation flag", DTF_RULE + " (medications.start_date_flag)"),
        "ASTDY": ("Analysis start day (infusion = day 0)", "medications.start_day"),
        "AENDT": ("Analysis end date", CM_END_RULE),
        "AENDTF": ("Analysis end date imputation flag", DTF_RULE + " (medications.stop_date_flag)"),
        "AENDY": ("Analysis end day (infusion = day 0)", "medications.stop_day (empty = ongoing)"),
        "ONTRTFL": ("On-treatment record flag", ONTRTFL_RULE),
        "PREFL": ("Pre-treatment record flag", "Y when ASTDY < 0 (started before the infusion; admiral ad_adcm)"),
        "PREDMGD": ("Prednisone-equivalent dose (mg/day)", PRED_RULE),
        "PREDCVFL": ("Prednisone conversion flag", "Y converted, N not (see PREDCVRS); empty: not a glucocorticoid"),
        "PREDCVRS": ("Prednisone conversion reason", "why PREDMGD is empty (not convertible, local route)"),
        "SRCKEY": ("Source record key", "medications.source_key (e.g. STUDYID/USUBJID/CM/CMSEQ)"),
    },
}
TABLE_LABELS = {
    "synthetic": "Synthetic (demo) record",
    "patient_id": "Pseudonymous patient identifier",
    "site_id": "Site identifier",
    "date": "Date",
    "day": "Day relative to the CAR-T infusion (day 0)",
    "visit": "Visit label",
    "form": "Form (instrument) the items were recorded on",
    "prior_treatments": "Prior treatments (JSON list of drug, start_date, stop_date)",
    "values": "Index outputs (JSON object)",
    "explain": "Items that contributed",
}


def xpt_names(columns: Sequence[str]) -> list[str]:
    """SAS XPORT v5 names: upper case, ``[A-Z0-9_]``, 8 characters, unique (``XXXXXX01`` on clash)."""
    out: list[str] = []
    for c in columns:
        base = re.sub(r"[^A-Z0-9_]", "_", c.upper())
        if not base or base[0].isdigit():
            base = "_" + base
        name = base[:8]
        n = 1
        while name in out:
            name = f"{base[:6]}{n:02d}"
            n += 1
        out.append(name)
    return out


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def registry_tables(engine: Engine) -> dict[str, pl.DataFrame]:
    """Every registry table as exported (natural keys, sorted; assessment items as columns)."""
    import polars as pl
    from sqlalchemy import select

    from remission.store import schema

    out: dict[str, pl.DataFrame] = {}
    with engine.connect() as connection:
        for name in REGISTRY_TABLES:
            if name == "scores":
                a, s = schema.assessments, schema.scores
                query = select(
                    a.c.patient_id, a.c.date, a.c.visit, s.c.index_name, s.c.rule_version, s.c["values"], s.c.explain
                ).join(a)
                rows = [dict(r._mapping) for r in connection.execute(query)]
                for r in rows:
                    r["values"] = json.dumps(r["values"], sort_keys=True)
            else:
                rows = [dict(r._mapping) for r in connection.execute(select(schema.metadata.tables[name]))]
            if name == "patients":
                for r in rows:
                    r["prior_treatments"] = json.dumps(r["prior_treatments"], sort_keys=True)
            if name == "assessments":
                out[name] = _assessments_wide(rows)
                continue
            if name == "scores":
                frame_schema = {c: pl.Date if c == "date" else pl.String for c in COLUMNS[name]}
            else:
                table = schema.metadata.tables[name]
                frame_schema = {c: _polars_type(table, c) for c in exported_columns(name, table.columns.keys())}
            frame = pl.DataFrame([{c: r.get(c) for c in frame_schema} for r in rows], schema=frame_schema, orient="row")
            out[name] = frame.sort(list(SORT[name]))
    return out


def exported_columns(name: str, present: Iterable[str]) -> tuple[str, ...]:
    """The columns of registry table ``name`` in export order: :data:`COLUMNS`, then those of
    :data:`OPTIONAL_COLUMNS` that the database has (``present``).

    Examples
    --------
    >>> exported_columns("medications", ["patient_id", "start_dtc"])[-1]
    'start_dtc'
    """
    have = set(present)
    return COLUMNS[name] + tuple(c for c in OPTIONAL_COLUMNS.get(name, ()) if c in have)


def _polars_type(table: Any, column: str) -> Any:
    import polars as pl
    from sqlalchemy import JSON, Boolean, Date, Float, Integer

    kind = table.columns[column].type
    if isinstance(kind, Boolean):
        return pl.Boolean
    if isinstance(kind, Integer):
        return pl.Int64
    if isinstance(kind, Float):
        return pl.Float64
    if isinstance(kind, Date):
        return pl.Date
    if isinstance(kind, JSON):
        return pl.String
    return pl.String


def _assessments_wide(rows: list[dict[str, Any]]) -> pl.DataFrame:
    import polars as pl

    codes = sorted({k for r in rows for k in r["items"]} - set(COLUMNS["assessments"]))
    base = {
        "patient_id": pl.String,
        "date": pl.Date,
        "day": pl.Int64,
        "visit": pl.String,
        "synthetic": pl.Boolean,
        "form": pl.String,
    }
    frame_schema = {**base, **dict.fromkeys(codes, pl.String)}
    data = [{**{c: r[c] for c in base}, **{k: _text(r["items"].get(k)) for k in codes}} for r in rows]
    return pl.DataFrame(data, schema=frame_schema, orient="row").sort(list(SORT["assessments"]))


# ---------------------------------------------------------------------------------------------
# Analysis datasets (pure: tables in, tables out)


def derive_adsl(tables: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """ADSL: one row per patient with the infusion (day 0), population flag and follow-up."""
    import polars as pl

    p = tables["patients"]
    first = (
        tables["infusions"]
        .sort("patient_id", "date")
        .group_by("patient_id", maintain_order=True)
        .first()
        .select(
            "patient_id",
            pl.col("date").alias("TRTSDT"),
            pl.col("product").alias("TRTPROD"),
            pl.col("cells_per_kg").alias("CELLSKG"),
        )
    )
    last = tables["assessments"].group_by("patient_id").agg(pl.col("day").max().alias("LSTASDY"))
    nprior = pl.col("prior_treatments").map_elements(lambda t: len(json.loads(t)), return_dtype=pl.Int64)
    return (
        p.join(first, on="patient_id", how="left")
        .join(last, on="patient_id", how="left")
        .select(
            pl.lit(STUDYID).alias("STUDYID"),
            pl.col("patient_id").alias("USUBJID"),
            pl.col("site_id").alias("SITEID"),
            pl.col("disease").alias("DISEASE"),
            pl.col("sex").alias("SEX"),
            pl.col("birth_year").alias("BRTHYR"),
            pl.col("diagnosis_year").alias("DIAGYR"),
            nprior.alias("NPRIOR"),
            "TRTSDT",
            "TRTPROD",
            "CELLSKG",
            pl.when(pl.col("TRTSDT").is_not_null()).then(pl.lit("Y")).otherwise(pl.lit("N")).alias("SAFFL"),
            "LSTASDY",
            pl.when(pl.col("synthetic")).then(pl.lit("Y")).otherwise(pl.lit("N")).alias("SYNTHFL"),
        )
        .sort("USUBJID")
    )


def derive_adeff(tables: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """ADEFF: one row per patient, visit and index output (every index with stored scores)."""
    import polars as pl

    a = tables["assessments"].select("patient_id", "date", "visit", "day", "form")
    rows = []
    for r in tables["scores"].iter_rows(named=True):
        for key, value in sorted(json.loads(r["values"]).items()):
            numeric = float(value) if isinstance(value, int | float) and not isinstance(value, str) else None
            rows.append(
                {
                    "patient_id": r["patient_id"],
                    "date": r["date"],
                    "visit": r["visit"],
                    "INDEX": r["index_name"],
                    "RULEVER": r["rule_version"],
                    "PARAMCD": key,
                    "PARAM": f"{r['index_name']}: {key}",
                    "AVAL": numeric,
                    "AVALC": None if value is None or numeric is not None else str(value),
                }
            )
    schema = {
        "patient_id": pl.String,
        "date": pl.Date,
        "visit": pl.String,
        "INDEX": pl.String,
        "RULEVER": pl.String,
        "PARAMCD": pl.String,
        "PARAM": pl.String,
        "AVAL": pl.Float64,
        "AVALC": pl.String,
    }
    long = pl.DataFrame(rows, schema=schema, orient="row").join(a, on=["patient_id", "date", "visit"], how="left")
    base_day = (
        long.filter(pl.col("day") <= 0, pl.col("AVAL").is_not_null() | pl.col("AVALC").is_not_null())
        .group_by("patient_id", "INDEX", "PARAMCD")
        .agg(pl.col("day").max().alias("__base"))
    )
    return (
        long.join(base_day, on=["patient_id", "INDEX", "PARAMCD"], how="left")
        .select(
            pl.lit(STUDYID).alias("STUDYID"),
            pl.col("patient_id").alias("USUBJID"),
            pl.col("visit").alias("VISIT"),
            pl.col("form").alias("FORM"),
            pl.col("date").alias("ADT"),
            pl.col("day").alias("ADY"),
            "INDEX",
            "RULEVER",
            "PARAMCD",
            "PARAM",
            "AVAL",
            "AVALC",
            pl.when(pl.col("day") == pl.col("__base"))
            .then(pl.lit("Y"))
            .otherwise(pl.lit(None, dtype=pl.String))
            .alias("ABLFL"),
        )
        .sort("USUBJID", "ADT", "VISIT", "INDEX", "PARAMCD")
    )


def _optional(frame: pl.DataFrame, column: str, dtype: Any = None) -> pl.Expr:
    """``column`` of ``frame``, or an empty column of ``dtype`` (text) where the table lacks it."""
    import polars as pl

    kind = dtype or pl.String
    return pl.col(column).cast(kind) if column in frame.columns else pl.lit(None, dtype=kind)


def _flag(frame: pl.DataFrame, column: str) -> pl.Expr:
    """An imputation flag column (D/M/Y), with an empty text as no flag."""
    import polars as pl

    value = _optional(frame, column)
    return pl.when(value.str.strip_chars() == "").then(None).otherwise(value)


def _onset_time(ae: pl.DataFrame) -> tuple[pl.Expr, pl.Expr]:
    """(ASTDTM, ASTTMF): the onset date with the collected time (onset_dtc's time part, else
    onset_time); M when only the hour was collected; empty where no time was collected."""
    import polars as pl

    from_dtc = _optional(ae, "onset_dtc").str.extract(r"T(\d{2}(?::\d{2}(?::\d{2})?)?)", 1)
    time = pl.coalesce(from_dtc, _optional(ae, "onset_time").str.strip_chars().replace("", None))
    full = (
        pl.when(time.str.len_chars() == 2)
        .then(time + ":00:00")
        .when(time.str.len_chars() == 5)
        .then(time + ":00")
        .otherwise(time)
    )
    stamp = pl.col("onset_date").cast(pl.String) + " " + full
    astdtm = stamp.str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False)
    asttmf = pl.when(time.str.len_chars() == 2).then(pl.lit("M")).otherwise(pl.lit(None, dtype=pl.String))
    return astdtm.alias("ASTDTM"), asttmf.alias("ASTTMF")


def derive_adae(tables: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """ADAE: one row per adverse event, with CRS and ICANS grades in their own columns and the
    analysis dates with their ADaM imputation flags (ASTDT/ASTDTF, ASTDTM/ASTTMF, AENDT/AENDTF).

    Examples
    --------
    >>> import datetime as dt
    >>> import polars as pl
    >>> ae = pl.DataFrame({"patient_id": ["P"], "term": ["CRS"], "category": ["crs"], "grade": [2],
    ...     "onset_date": [dt.date(2024, 3, 1)], "onset_day": [1], "resolution_date": [None],
    ...     "resolution_day": [None], "serious": [False], "organism": [""], "treatment": [""],
    ...     "onset_dtc": ["2024-03-01T14"], "onset_date_flag": [None]})
    >>> derive_adae({"adverse_events": ae}).select("ASTDTM", "ASTTMF").row(0)
    (datetime.datetime(2024, 3, 1, 14, 0), 'M')
    """
    import polars as pl

    ae = tables["adverse_events"]
    grade = pl.col("grade")
    astdtm, asttmf = _onset_time(ae)
    emergent = (pl.col("onset_day") >= 0) | (
        pl.col("onset_day").is_null() & ~(pl.col("resolution_day") < 0).fill_null(False)
    )
    return ae.select(
        pl.lit(STUDYID).alias("STUDYID"),
        pl.col("patient_id").alias("USUBJID"),
        pl.col("term").alias("AETERM"),
        pl.col("category").alias("AECAT"),
        grade.alias("AETOXGR"),
        pl.when(pl.col("category") == "crs").then(grade).otherwise(None).alias("CRSGR"),
        pl.when(pl.col("category") == "icans").then(grade).otherwise(None).alias("ICANSGR"),
        pl.when(pl.col("serious")).then(pl.lit("Y")).otherwise(pl.lit("N")).alias("AESER"),
        pl.col("onset_date").alias("ASTDT"),
        _flag(ae, "onset_date_flag").alias("ASTDTF"),
        astdtm,
        asttmf,
        pl.col("onset_day").alias("ASTDY"),
        pl.col("resolution_date").alias("AENDT"),
        _flag(ae, "resolution_date_flag").alias("AENDTF"),
        pl.col("resolution_day").alias("AENDY"),
        pl.when(emergent).then(pl.lit("Y")).otherwise(pl.lit("N")).alias("TRTEMFL"),
        pl.col("organism").alias("AEORG"),
        pl.col("treatment").alias("AETRT"),
        _optional(ae, "source_key").alias("SRCKEY"),
    ).sort("USUBJID", "ASTDT", "AETERM", nulls_last=True)


def _drug_columns(cm: pl.DataFrame) -> pl.DataFrame:
    """CMDECOD, CMCLAS and the prednisone-equivalent conversion of each medication record."""
    import polars as pl

    from remission.medications.dose import convert_to_prednisone_mg_day
    from remission.medications.table import default_table

    aliases = default_table().aliases()
    rows = []
    cache: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for values in cm.select("drug", "dose", "unit", "frequency", "route").rows():
        if values not in cache:
            drug = aliases.get(" ".join(str(values[0]).split()).lower())
            if drug is None or drug.drug_class != "glucocorticoid":
                cache[values] = (drug.name if drug else None, drug.drug_class if drug else None, None, None, None)
            else:
                dose = values[1] if values[1] is None or values[1] >= 0 else None
                c = convert_to_prednisone_mg_day(drug.name, dose, values[2], values[3], values[4])
                flag = "Y" if c.status == "converted" else "N"
                cache[values] = (drug.name, drug.drug_class, c.prednisone_mg_day, flag, c.reason)
        rows.append(cache[values])
    names = ("CMDECOD", "CMCLAS", "PREDMGD", "PREDCVFL", "PREDCVRS")
    types = (pl.String, pl.String, pl.Float64, pl.String, pl.String)
    return pl.DataFrame(rows, schema=dict(zip(names, types, strict=True)), orient="row")


def derive_adcm(tables: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """ADCM: one row per medication record, with the analysis dates and their imputation flags,
    the on-treatment / pre-treatment flags relative to the infusion (day 0) and, for systemic
    glucocorticoids, the prednisone-equivalent mg/day with its conversion flag.

    Examples
    --------
    >>> import datetime as dt
    >>> import polars as pl
    >>> cm = pl.DataFrame({"patient_id": ["P", "P"], "drug": ["Medrol", "HCQ"], "dose": [8.0, 200.0],
    ...     "unit": ["mg", "mg"], "route": ["oral", "oral"], "frequency": ["BID", "PRN"],
    ...     "start_date": [dt.date(2024, 1, 1)] * 2, "stop_date": [None, dt.date(2024, 1, 9)],
    ...     "start_day": [-30, -30], "stop_day": [None, -22]})
    >>> derive_adcm({"medications": cm}).select("CMDECOD", "ONTRTFL", "PREFL", "PREDMGD", "PREDCVFL").rows()
    [('hydroxychloroquine', None, 'Y', None, None), ('methylprednisolone', 'Y', 'Y', 20.0, 'Y')]
    """
    import polars as pl

    cm = tables["medications"]
    text_null = pl.lit(None, dtype=pl.String)
    start, stop = pl.col("start_day"), pl.col("stop_day")
    # admiral derive_var_ontrtfl without ref_end_date, span_period "Y": a record is on treatment
    # unless it ended before day 0 (it started on/after day 0, or spans it, or is ongoing).
    on_treatment = ~(stop < 0).fill_null(False)
    base = cm.select(
        pl.lit(STUDYID).alias("STUDYID"),
        pl.col("patient_id").alias("USUBJID"),
        pl.col("drug").alias("CMTRT"),
    )
    dates = cm.select(
        pl.col("dose").alias("CMDOSE"),
        pl.col("unit").alias("CMDOSU"),
        pl.col("frequency").alias("CMDOSFRQ"),
        pl.col("route").alias("CMROUTE"),
        _optional(cm, "start_dtc").alias("CMSTDTC"),
        _optional(cm, "stop_dtc").alias("CMENDTC"),
        pl.col("start_date").alias("ASTDT"),
        _flag(cm, "start_date_flag").alias("ASTDTF"),
        start.alias("ASTDY"),
        pl.col("stop_date").alias("AENDT"),
        _flag(cm, "stop_date_flag").alias("AENDTF"),
        stop.alias("AENDY"),
        pl.when(on_treatment).then(pl.lit("Y")).otherwise(text_null).alias("ONTRTFL"),
        pl.when(start < 0).then(pl.lit("Y")).otherwise(text_null).alias("PREFL"),
        _optional(cm, "source_key").alias("SRCKEY"),
    )
    drug = _drug_columns(cm)
    frame = pl.concat([base, drug.select("CMDECOD", "CMCLAS"), dates, drug.drop("CMDECOD", "CMCLAS")], how="horizontal")
    order = [*base.columns, "CMDECOD", "CMCLAS", *dates.columns[:-1], "PREDMGD", "PREDCVFL", "PREDCVRS", "SRCKEY"]
    return frame.select(order).sort("USUBJID", "ASTDT", "CMTRT", nulls_last=True)


# ---------------------------------------------------------------------------------------------
# Metadata and writing


def _type_name(dtype: Any) -> str:
    import polars as pl

    if dtype == pl.Boolean:
        return "boolean"
    if dtype.is_integer():
        return "integer"
    if dtype.is_float():
        return "float"
    if dtype == pl.Date:
        return "date"
    if isinstance(dtype, pl.Datetime):
        return "datetime"
    return "text"


def define_metadata(datasets: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Define-style metadata: dataset, variable, label, type, source, xpt_name."""
    import polars as pl

    rows = []
    for name, frame in datasets.items():
        names = xpt_names(frame.columns)
        for column, xpt in zip(frame.columns, names, strict=True):
            if name in ANALYSIS_LABELS:
                label, source = ANALYSIS_LABELS[name].get(column, (column, "derived"))
            elif name == "assessments" and column not in COLUMNS["assessments"]:
                label, source = f"Item {column} (spec column code)", f"assessments.items.{column}"
            else:
                label, source = TABLE_LABELS.get(column, column.replace("_", " ").capitalize()), f"{name}.{column}"
            kind = _type_name(frame.schema[column])
            if name == "assessments" and column not in COLUMNS["assessments"]:
                kind = "item (integer, number, true/false or text)"
            if column in ("prior_treatments", "values"):
                kind = "json"
            rows.append(
                {
                    "dataset": name,
                    "variable": column,
                    "label": label,
                    "type": kind,
                    "source": source,
                    "xpt_dataset": XPT_DATASETS[name],
                    "xpt_name": xpt,
                }
            )
    return pl.DataFrame(rows)


def estimand_metadata(estimands: pl.DataFrame) -> pl.DataFrame:
    """define.csv rows of the endpoint definitions: one per endpoint, its whole definition
    (column ``definition``) as the label.

    >>> import polars as pl
    >>> e = pl.DataFrame({"endpoint": ["DORIS 2021 remission"], "definition": ["DORIS 2021 remission (SLE). ..."]})
    >>> estimand_metadata(e).select("dataset", "variable", "type").row(0)
    ('estimands', 'DORIS 2021 remission', 'estimand')
    """
    import polars as pl

    return estimands.select(
        pl.lit("estimands").alias("dataset"),
        pl.col("endpoint").alias("variable"),
        pl.col("definition").alias("label"),
        pl.lit("estimand").alias("type"),
        pl.lit("ICH E9(R1) estimand (remission.analysis.estimands)").alias("source"),
        pl.lit(None, pl.String).alias("xpt_dataset"),
        pl.lit(None, pl.String).alias("xpt_name"),
    )


def _write_xpt(frame: pl.DataFrame, path: Path, name: str, labels: list[str]) -> None:
    import polars as pl
    import pyreadstat

    text = [c for c, t in frame.schema.items() if t == pl.String]
    frame = frame.with_columns(pl.col(c).str.slice(0, XPT_TEXT_MAX) for c in text)
    frame = frame.with_columns(pl.col(c).cast(pl.Int8) for c, t in frame.schema.items() if t == pl.Boolean)
    pandas_frame = frame.to_pandas()
    pandas_frame.columns = xpt_names(frame.columns)
    pyreadstat.write_xport(
        pandas_frame,
        str(path),
        file_label=name,
        table_name=XPT_DATASETS[name],
        column_labels=[label[:40] for label in labels],
        file_format_version=5,
    )


def export_registry(
    engine: Engine,
    out: str | Path,
    fmt: Format = "csv",
    *,
    progress: Progress | None = None,
    lloq: Mapping[str, float] | None = None,
    estimands: pl.DataFrame | None = None,
) -> list[Path]:
    """Write the registry tables, ADSL/ADEFF/ADAE/ADCM and ``define.csv`` into ``out``.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        A migrated registry database.
    out : path
        Output folder (created).
    fmt : {"csv", "parquet", "xpt", "nonmem"}
        File format of the datasets; ``define.csv`` is always CSV. XPT is SAS transport v5
        (8-character names, see ``xpt_name``; text cut to 200 characters) and is not read back.
        ``nonmem`` writes only ``observations.csv``, the kinetics observation table
        (:func:`derive_observations`).
    lloq : mapping analyte -> float, optional
        With ``nonmem``: the LLOQ of ``car_t`` and ``cd19`` (default :data:`DEFAULT_LLOQ`).
    estimands : polars.DataFrame, optional
        The endpoint definitions of the analyses (``remission.analysis.estimands.estimand_table``,
        given by the caller: io sits below analysis): written as ``estimands.csv`` and listed in
        ``define.csv`` (dataset ``estimands``, one row per endpoint with its whole definition).

    Returns
    -------
    list of Path
        The files written.
    """
    from remission.io.importing import require_current_schema

    if fmt not in ("csv", "parquet", "xpt", "nonmem"):
        raise InvalidInputError([Problem(None, "format", str(fmt), "expected csv, parquet, xpt or nonmem")])
    if lloq is not None and fmt != "nonmem":
        raise InvalidInputError([Problem(None, "lloq", str(lloq), "only with the nonmem format")])
    require_current_schema(engine)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "nonmem":
        path = out / "observations.csv"
        derive_observations(kinetic_tables(engine), lloq).write_csv(path)
        if progress is not None:
            progress("writing observations", 1, 1)
        return [path]
    tables = registry_tables(engine)
    datasets = {
        **tables,
        "adsl": derive_adsl(tables),
        "adeff": derive_adeff(tables),
        "adae": derive_adae(tables),
        "adcm": derive_adcm(tables),
    }
    meta = define_metadata(datasets)
    written: list[Path] = []
    for i, (name, frame) in enumerate(datasets.items(), start=1):
        path = out / f"{name}.{fmt}"
        if fmt == "csv":
            frame.write_csv(path)
        elif fmt == "parquet":
            frame.write_parquet(path, statistics=False)
        else:
            labels = meta.filter(meta["dataset"] == name)["label"].to_list()
            _write_xpt(frame, path, name, labels)
        written.append(path)
        if progress is not None:
            progress(f"writing {name}", i, len(datasets) + 1)
    if estimands is not None:
        import polars as pl

        estimands.write_csv(out / "estimands.csv")
        written.append(out / "estimands.csv")
        meta = pl.concat([meta, estimand_metadata(estimands)], how="vertical_relaxed")
    meta.write_csv(out / "define.csv")
    written.append(out / "define.csv")
    if progress is not None:
        progress("writing define.csv", len(datasets) + 1, len(datasets) + 1)
    return written


# ---------------------------------------------------------------------------------------------
# The kinetics observation table (``--format nonmem``)

#: Registry lab codes read into the observation table: code -> (ANALYTE, UNIT).
KINETIC_LABS: dict[str, tuple[str, str]] = {
    "car_t_cells_ul": ("car_t", "cells/µL"),  # flow cytometry (the demo cohort, Müller 2024)
    "car_t_copies_ug": ("car_t", "copies/µg"),  # transgene qPCR, copies/µg DNA
    "cd19_cells_ul": ("cd19", "cells/µL"),
}
#: Lab codes of body weight in kg (SDTM VS ``WEIGHT``, FHIR LOINC 29463-7, a REDCap ``weight_kg``).
WEIGHT_LABS: tuple[str, ...] = ("weight_kg", "weight", "body_weight")
#: Default LLOQ per analyte, in cells/µL (the kinetic models' ``default_lloq``; a qPCR LLOQ must
#: be given in copies/µg).
DEFAULT_LLOQ: dict[str, float] = {"car_t": 0.1, "cd19": 1.0}


def kinetic_tables(engine: Engine) -> dict[str, pl.DataFrame]:
    """The registry rows the observation table needs: patients, first infusions, kinetic labs."""
    import polars as pl
    from sqlalchemy import select

    from remission.store import schema

    codes = [*KINETIC_LABS, *WEIGHT_LABS]
    p, i, lab = schema.patients, schema.infusions, schema.labs
    queries = {
        "patients": select(p.c.patient_id, p.c.disease, p.c.birth_year),
        "infusions": select(i.c.patient_id, i.c.date, i.c.cells_per_kg),
        "labs": select(lab.c.patient_id, lab.c.date, lab.c.analyte, lab.c.value, lab.c.unit).where(
            lab.c.analyte.in_(codes)
        ),
    }
    schemas: dict[str, dict[str, Any]] = {
        "patients": {"patient_id": pl.String, "disease": pl.String, "birth_year": pl.Int64},
        "infusions": {"patient_id": pl.String, "date": pl.Date, "cells_per_kg": pl.Float64},
        "labs": {
            "patient_id": pl.String,
            "date": pl.Date,
            "analyte": pl.String,
            "value": pl.Float64,
            "unit": pl.String,
        },
    }
    with engine.connect() as connection:
        return {
            name: pl.DataFrame([tuple(r) for r in connection.execute(q)], schema=schemas[name], orient="row")
            for name, q in queries.items()
        }


def derive_observations(tables: Mapping[str, pl.DataFrame], lloq: Mapping[str, float] | None = None) -> pl.DataFrame:
    """The observation table of the infused patients' CAR-T and CD19+ B-cell labs.

    One row per lab of :data:`KINETIC_LABS` on or after the first infusion: ``ID`` the
    ``patient_id``, ``TIME`` the days from that infusion, ``DV`` the value (``LLOQ`` with
    ``BLQ = 1`` when below ``lloq``, e.g. a 0 during aplasia), ``MDV`` 0. Covariates per
    patient: ``DOSE_PER_KG`` the first infusion's cells/kg, ``DISEASE``, ``BASELINE_CD19`` the
    latest ``cd19_cells_ul`` on or before day 0 (the project's baseline rule), ``AGE`` the
    infusion year minus the birth year (only years are stored), ``WEIGHT`` the latest weight (kg)
    on or before day 0; empty when unknown. Pre-infusion labs are covariates, never rows. Where
    CAR-T were recorded both by flow and by qPCR, only flow (cells/µL) is kept (one unit per
    analyte). Sorted by ``ID``, ``TIME``, ``ANALYTE``; validated by
    :func:`remission.kinetics.observations.validate_observations`.
    """
    import polars as pl

    from remission.kinetics.observations import OBSERVATION_COLUMNS, validate_observations

    limits = {**DEFAULT_LLOQ, **(lloq or {})}
    first = (
        tables["infusions"]
        .sort("patient_id", "date")
        .group_by("patient_id", maintain_order=True)
        .first()
        .rename({"date": "day0", "cells_per_kg": "DOSE_PER_KG"})
    )
    labs = (
        tables["labs"].join(first, on="patient_id").with_columns(TIME=(pl.col("date") - pl.col("day0")).dt.total_days())
    )
    covariates = (
        first.join(tables["patients"], on="patient_id", how="left")
        .join(_baseline(labs, ["cd19_cells_ul"], "BASELINE_CD19"), on="patient_id", how="left")
        .join(
            _baseline(labs.filter(pl.col("unit").is_in(["kg", ""])), list(WEIGHT_LABS), "WEIGHT"),
            on="patient_id",
            how="left",
        )
        .select(
            "patient_id",
            "DOSE_PER_KG",
            pl.col("disease").alias("DISEASE"),
            "BASELINE_CD19",
            (pl.col("day0").dt.year() - pl.col("birth_year")).cast(pl.Float64).alias("AGE"),
            "WEIGHT",
        )
    )
    samples = labs.filter(pl.col("analyte").is_in(list(KINETIC_LABS)) & (pl.col("TIME") >= 0))
    if samples.filter(pl.col("analyte") == "car_t_cells_ul").height:
        samples = samples.filter(pl.col("analyte") != "car_t_copies_ug")
    analyte = pl.col("analyte").replace_strict({k: v[0] for k, v in KINETIC_LABS.items()}, return_dtype=pl.String)
    unit = pl.col("analyte").replace_strict({k: v[1] for k, v in KINETIC_LABS.items()}, return_dtype=pl.String)
    rows = (
        samples.with_columns(ANALYTE=analyte, UNIT=unit)
        .with_columns(LLOQ=pl.col("ANALYTE").replace_strict(limits, return_dtype=pl.Float64))
        .with_columns(BLQ=(pl.col("value") < pl.col("LLOQ")).cast(pl.Int64), MDV=pl.lit(0, pl.Int64))
        .with_columns(DV=pl.when(pl.col("BLQ") == 1).then(pl.col("LLOQ")).otherwise(pl.col("value")))
        .join(covariates, on="patient_id", how="left")
        .rename({"patient_id": "ID"})
        .sort("ID", "TIME", "ANALYTE")
        .select(OBSERVATION_COLUMNS)
    )
    return validate_observations(rows)


def _baseline(labs: pl.DataFrame, codes: list[str], name: str) -> pl.DataFrame:
    """Per patient, the latest value of ``codes`` on or before day 0 (ties: the last code)."""
    import polars as pl

    return (
        labs.filter(pl.col("analyte").is_in(codes) & (pl.col("TIME") <= 0))
        .sort("patient_id", "TIME")
        .group_by("patient_id", maintain_order=True)
        .last()
        .select("patient_id", pl.col("value").alias(name))
    )
