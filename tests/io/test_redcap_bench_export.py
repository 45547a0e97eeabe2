"""The REDCap import benchmark's export generator (bench/redcap_export.py) makes what it says.

So that `bench/redcap_import.py` cannot silently time the wrong thing: an export of 2 000 rows
imports with the counts worked out by hand from the stated mix, and a second import changes
nothing.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Engine, func, select

from remission.io.importing import write_batch
from remission.io.sources import batch_from_redcap
from remission.store import schema

BENCH = Path(__file__).resolve().parents[2] / "bench" / "redcap_export.py"


def generator() -> Any:
    spec = importlib.util.spec_from_file_location("redcap_export", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("redcap_export", module)
    spec.loader.exec_module(module)
    return module


def test_export_of_2000_rows_imports_with_the_stated_counts_and_reimports_as_no_op(
    engine: Engine, tmp_path: Path
) -> None:
    folder = generator().generate_export(2000, tmp_path / "export")
    records = pl.read_csv(folder / "records.csv", infer_schema=False)
    assert records.height == 2000
    # 2 000 rows / 50 per patient = 40 patients; per patient 1 + 16 + 24 + 5 + 4 rows
    assert records["redcap_repeat_instrument"].value_counts(sort=True).rows() == [
        ("labs", 960), ("sledai", 640), ("medications", 200), ("adverse_events", 160), (None, 40),
    ]  # fmt: skip
    batch = batch_from_redcap(folder / "records.csv", folder / "dictionary.csv", folder / "mapping.yaml")
    report = write_batch(engine, batch)
    # labs: 24 instances × 6 analytes, anti-dsDNA empty on every 4th (6 of 24) = 138 per patient
    expected = {
        "sites": 3, "patients": 40, "infusions": 40, "assessments": 640, "labs": 40 * 138, "medications": 200,
        "adverse_events": 160,
    }  # fmt: skip
    assert {t: report.stored(t) for t in expected} == expected
    with engine.connect() as c:
        stored = {
            t: c.execute(select(func.count()).select_from(schema.metadata.tables[t])).scalar_one() for t in expected
        }
    assert stored == expected
    again = write_batch(
        engine, batch_from_redcap(folder / "records.csv", folder / "dictionary.csv", folder / "mapping.yaml")
    )
    assert again.totals() == {
        "inserted": 0, "updated": 0, "unchanged": sum(expected.values()), "merged": 0, "excluded": 0, "skipped": 0,
    }  # fmt: skip
    assert generator().expected_counts(2000) == expected
