"""Registry export: record tables, ADaM-style analysis datasets and define-style metadata.

``export_registry(engine, out, format)`` writes, as CSV, Parquet or SAS XPORT v5:

* the registry tables ``sites``, ``patients``, ``infusions``, ``assessments`` (one row per
  assessment, one column per item code, plus ``form``), ``labs``, ``medications``,
  ``adverse_events`` and ``scores`` — with natural keys only (no database ids, no timestamps) and
  sorted by them, so that an export imported into a fresh database (``remission import
  registry``) exports to the same bytes;
* ADaM-style datasets: ``adsl`` (one row per patient), ``adeff`` (one row per patient, visit and
  index output, from the stored scores; yes/no outputs such as DORIS, LLDAS or drug-free are
  parameters with AVAL 0/1) and ``adae`` (with CRS and ICANS grades);
* ``define.csv``: dataset, variable, label, type, source and, for XPT, the 8-character name the
  variable was given (``xpt_name``).

Examples
--------
>>> import polars as pl
>>> xpt_names(["patient_id", "cells_per_kg", "cells_per_kilo", "AVAL"])
['PATIENT_', 'CELLS_PE', 'CELLS_01', 'AVAL']
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from remission.errors import InvalidInputError, Problem
from remission.io.sources import REGISTRY_TABLES

if TYPE_CHECKING:
    import polars as pl
    from sqlalchemy import Engine

Format = Literal["csv", "parquet", "xpt"]
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
        "ASTDT": ("Onset date", "adverse_events.onset_date"),
        "ASTDY": ("Onset day (infusion = day 0)", "adverse_events.onset_day"),
        "AENDT": ("Resolution date", "adverse_events.resolution_date"),
        "AENDY": ("Resolution day", "adverse_events.resolution_day"),
        "TRTEMFL": ("Treatment-emergent flag", "Y when ASTDY >= 0"),
        "AEORG": ("Organism (infections)", "adverse_events.organism"),
        "AETRT": ("Treatment of the event", "adverse_events.treatment"),
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
                frame_schema = {c: _polars_type(schema.metadata.tables[name], c) for c in COLUMNS[name]}
            frame = pl.DataFrame(
                [{c: r.get(c) for c in COLUMNS[name]} for r in rows], schema=frame_schema, orient="row"
            )
            out[name] = frame.sort(list(SORT[name]))
    return out


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


def derive_adae(tables: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """ADAE: one row per adverse event, with CRS and ICANS grades in their own columns."""
    import polars as pl

    ae = tables["adverse_events"]
    grade = pl.col("grade")
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
        pl.col("onset_day").alias("ASTDY"),
        pl.col("resolution_date").alias("AENDT"),
        pl.col("resolution_day").alias("AENDY"),
        pl.when(pl.col("onset_day") >= 0).then(pl.lit("Y")).otherwise(pl.lit("N")).alias("TRTEMFL"),
        pl.col("organism").alias("AEORG"),
        pl.col("treatment").alias("AETRT"),
    ).sort("USUBJID", "ASTDT", "AETERM")


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
    engine: Engine, out: str | Path, fmt: Format = "csv", *, progress: Progress | None = None
) -> list[Path]:
    """Write the registry tables, ADSL/ADEFF/ADAE and ``define.csv`` into ``out``.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        A migrated registry database.
    out : path
        Output folder (created).
    fmt : {"csv", "parquet", "xpt"}
        File format of the datasets; ``define.csv`` is always CSV. XPT is SAS transport v5
        (8-character names, see ``xpt_name``; text cut to 200 characters) and is not read back.

    Returns
    -------
    list of Path
        The files written.
    """
    from remission.io.importing import require_current_schema

    if fmt not in ("csv", "parquet", "xpt"):
        raise InvalidInputError([Problem(None, "format", str(fmt), "expected csv, parquet or xpt")])
    require_current_schema(engine)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tables = registry_tables(engine)
    datasets = {**tables, "adsl": derive_adsl(tables), "adeff": derive_adeff(tables), "adae": derive_adae(tables)}
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
    meta.write_csv(out / "define.csv")
    written.append(out / "define.csv")
    if progress is not None:
        progress("writing define.csv", len(datasets) + 1, len(datasets) + 1)
    return written
