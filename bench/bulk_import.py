"""Benchmark: importing N new lab results and N assessments with `remission.store.bulk_insert`.

`python bench/bulk_import.py [N]` (default 10^6). Rows are those of a REDCap-style export already
parsed into a polars DataFrame (generated, not timed): labs (patient, date, day, analyte, value,
unit, limits) and assessments (patient, date, day, visit, form, JSON items: 24 SLEDAI-2K
descriptors). Each database gets a
fresh schema (`remission init`), 1 000 patients, then N labs and N assessments, each in one
transaction; the time includes the commit. For reference, the upsert path (SQLAlchemy
executemany with ON CONFLICT) is timed on N/10 labs into a fresh database.

Databases: a SQLite file under $REMISSION_BENCH_DIR (default out/bench) and, where
$REMISSION_BENCH_PG_URL or $REMISSION_TEST_PG_URL names a PostgreSQL server, a throw-away database
created on it (dropped afterwards).
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import Engine, create_engine, text

from remission.indices.sledai2k import CODES
from remission.store import bulk_insert, connect, migrate, schema
from remission.store.repository import upsert

ROOT = Path(os.environ.get("REMISSION_BENCH_DIR", "out/bench"))
PATIENTS = 1000
ANALYTES = (
    ("c3_g_l", "g/L", 0.9, 1.8),
    ("c4_g_l", "g/L", 0.1, 0.4),
    ("anti_dsdna_iu_ml", "IU/mL", None, 10.0),
    ("platelets_10e9_l", "10^9/L", 150.0, 400.0),
    ("wbc_10e9_l", "10^9/L", 4.0, 10.0),
)
START = date(2020, 1, 1)


def lab_rows(n: int) -> pl.DataFrame:
    """N lab results, 1 000 patients, five analytes per visit day (a parsed export, columnar)."""
    i = np.arange(n)
    per_patient = -(-n // PATIENTS)
    patient, k = np.divmod(i, per_patient)
    visit, a = np.divmod(k, len(ANALYTES))
    pick = [list(x) for x in zip(*ANALYTES, strict=True)]
    return pl.DataFrame(
        {
            "patient_id": pl.Series(patient).cast(pl.Utf8).str.zfill(5).str.replace("^", "P"),
            "date": np.datetime64(START, "D") + visit.astype("timedelta64[D]"),
            "day": visit - 7,
            "analyte": np.array(pick[0])[a],
            "value": (i % 97) / 10,
            "unit": np.array(pick[1])[a],
            "lln": pl.Series([pick[2][j] for j in a], dtype=pl.Float64),
            "uln": pl.Series([pick[3][j] for j in a], dtype=pl.Float64),
        }
    ).with_columns(  # the natural identity of a lab (issue 17: labs.source_key)
        pl.concat_str(
            [pl.lit("natural:"), "patient_id", pl.lit("|"), "analyte", pl.lit("|"), pl.col("date").cast(pl.Utf8)]
        ).alias("source_key")
    )


def assessment_rows(n: int) -> pl.DataFrame:
    """N SLEDAI-2K assessments, the 24 descriptors in a struct column (stored as JSON items)."""
    i = np.arange(n)
    patient, visit = np.divmod(i, -(-n // PATIENTS))
    items = pl.DataFrame({c: ((i * 7 + j) % 10 == 0).astype(np.int64) for j, c in enumerate(CODES)})
    return pl.DataFrame(
        {
            "patient_id": pl.Series(patient).cast(pl.Utf8).str.zfill(5).str.replace("^", "P"),
            "date": np.datetime64(START, "D") + visit.astype("timedelta64[D]"),
            "day": visit - 7,
            "visit": pl.Series(visit).cast(pl.Utf8).str.replace("^", "v"),
            "form": pl.repeat("sle", n, eager=True),
            "items": items.to_struct(),
        }
    )


def fresh(engine: Engine) -> None:
    migrate(engine)
    with engine.begin() as connection:
        upsert(connection, schema.sites, [{"site_id": "S1", "name": "bench", "country": "", "synthetic": True}])
        upsert(
            connection,
            schema.patients,
            [
                {
                    "patient_id": f"P{p:05d}",
                    "site_id": "S1",
                    "disease": "SLE",
                    "sex": "female",
                    "birth_year": 1990,
                    "diagnosis_year": 2010,
                    "prior_treatments": [],
                    "synthetic": True,
                }
                for p in range(PATIENTS)
            ],
        )


def timed_bulk(engine: Engine, table: Any, rows: pl.DataFrame) -> tuple[int, float]:
    start = time.perf_counter()
    with engine.begin() as connection:
        count = bulk_insert(connection, table, rows)
    return count, time.perf_counter() - start


def run(name: str, url: str, n: int) -> None:
    engine = connect(url)
    fresh(engine)
    for label, table, rows in (
        ("labs", schema.labs, lab_rows(n)),
        ("assessments", schema.assessments, assessment_rows(n)),
    ):
        count, seconds = timed_bulk(engine, table, rows)
        print(f"{name:>10} {'bulk_insert ' + label:>24} {count:>10,} {seconds:>9.2f} {count / seconds:>11,.0f}")
    engine.dispose()


def run_upsert(name: str, url: str, n: int) -> None:
    engine = connect(url)
    fresh(engine)
    rows = lab_rows(n).to_dicts()
    start = time.perf_counter()
    with engine.begin() as connection:
        upsert(connection, schema.labs, rows)
    seconds = time.perf_counter() - start
    print(f"{name:>10} {'upsert labs':>24} {n:>10,} {seconds:>9.2f} {n / seconds:>11,.0f}")
    engine.dispose()


def main(n: int) -> None:
    ROOT.mkdir(parents=True, exist_ok=True)
    print(f"{'database':>10} {'path':>24} {'rows':>10} {'seconds':>9} {'rows/s':>11}")
    for suffix in ("", "-upsert"):
        for ext in ("", "-wal", "-shm"):
            Path(f"{ROOT}/import{suffix}.db{ext}").unlink(missing_ok=True)
    run("sqlite", f"sqlite:///{ROOT}/import.db", n)
    run_upsert("sqlite", f"sqlite:///{ROOT}/import-upsert.db", n // 10)
    base = os.environ.get("REMISSION_BENCH_PG_URL") or os.environ.get("REMISSION_TEST_PG_URL")
    if not base:
        print("no PostgreSQL: set REMISSION_BENCH_PG_URL (or REMISSION_TEST_PG_URL)")
        return
    admin = create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    for label, runner, size in (("bulk", run, n), ("upsert", run_upsert, n // 10)):
        db = f"remission_bench_{label}_{uuid.uuid4().hex[:8]}"
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{db}"'))
        try:
            runner("postgresql", base.rsplit("/", 1)[0] + "/" + db, size)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
    admin.dispose()


if __name__ == "__main__":
    main(int(float(sys.argv[1])) if len(sys.argv) > 1 else 10**6)
