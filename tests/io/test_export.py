"""Export: registry tables, ADaM-style datasets, define metadata, XPT names; the demo database
round-trips exactly (export → import registry into a fresh database → export: same bytes)."""

from __future__ import annotations

import filecmp
import json
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine

from remission.demo.cohort import generate_demo_cohort
from remission.io.export import derive_adae, export_registry, registry_tables, xpt_names
from remission.io.importing import write_batch
from remission.io.sources import batch_from_registry
from remission.pipeline import score_database
from remission.store import connect, migrate, save_cohort


@pytest.fixture
def demo(engine: Engine) -> Engine:
    """What `remission demo` stores: the synthetic cohort and its scores."""
    save_cohort(engine, generate_demo_cohort(2024), actor="demo")
    score_database(engine)
    return engine


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_demo_round_trip_is_exact(demo: Engine, tmp_path: Path, fmt: str) -> None:
    first = tmp_path / "first"
    export_registry(demo, first, fmt)  # type: ignore[arg-type]
    fresh = connect(f"sqlite:///{tmp_path / 'fresh.db'}")
    migrate(fresh)
    report = write_batch(fresh, batch_from_registry(first))
    assert report.totals()["updated"] == 0 and report.totals()["skipped"] == 0
    second = tmp_path / "second"
    export_registry(fresh, second, fmt)  # type: ignore[arg-type]
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    assert len(names) == 12  # 8 registry tables + adsl, adeff, adae + define.csv
    _, mismatch, errors = filecmp.cmpfiles(first, second, names, shallow=False)
    assert mismatch == [] and errors == []
    # and the original database holds exactly what was exported: importing it back changes nothing
    again = write_batch(demo, batch_from_registry(first))
    assert again.totals()["inserted"] == again.totals()["updated"] == 0


def test_demo_tables_and_analysis_datasets(demo: Engine, tmp_path: Path) -> None:
    export_registry(demo, tmp_path)
    adsl = pl.read_csv(tmp_path / "adsl.csv")
    assert adsl.height == 15 and adsl["USUBJID"].is_unique().all()  # 15 demo patients
    assert set(adsl["SAFFL"]) == {"Y"}
    assessments = pl.read_csv(tmp_path / "assessments.csv", infer_schema=False)
    assert assessments.height == 370 and "form" in assessments.columns  # demo: 370 assessments
    adeff = pl.read_csv(tmp_path / "adeff.csv", infer_schema=False)
    assert "sledai2k" in set(adeff["INDEX"])
    # baseline: one ABLFL per subject and parameter (latest day <= 0)
    base = adeff.filter(pl.col("ABLFL") == "Y").group_by("USUBJID", "INDEX", "PARAMCD").len()
    assert base["len"].max() == 1
    define = pl.read_csv(tmp_path / "define.csv")
    assert set(define["dataset"]) == {
        "sites",
        "patients",
        "infusions",
        "assessments",
        "labs",
        "medications",
        "adverse_events",
        "scores",
        "adsl",
        "adeff",
        "adae",
    }
    assert define["xpt_name"].str.len_chars().max() <= 8


def test_adae_crs_and_icans_grades() -> None:
    # hand-made: one CRS grade 2, one ICANS grade 1, one infection grade 3
    ae = pl.DataFrame(
        {
            "patient_id": ["P", "P", "P"],
            "term": ["Cytokine release syndrome", "ICANS", "Pneumonia"],
            "category": ["crs", "icans", "infection"],
            "grade": [2, 1, 3],
            "onset_date": [None, None, None],
            "onset_day": [1, 5, -2],
            "resolution_date": [None, None, None],
            "resolution_day": [3, None, None],
            "serious": [False, False, True],
            "organism": ["", "", "S. pneumoniae"],
            "treatment": ["tocilizumab", "", ""],
        },
        schema_overrides={"onset_date": pl.Date, "resolution_date": pl.Date},
    )
    adae = derive_adae({"adverse_events": ae}).sort("ASTDY")
    assert adae.select("AETERM", "CRSGR", "ICANSGR", "AESER", "TRTEMFL").rows() == [
        ("Pneumonia", None, None, "Y", "N"),
        ("Cytokine release syndrome", 2, None, "N", "Y"),
        ("ICANS", None, 1, "N", "Y"),
    ]


def test_xpt_export_is_readable_with_renamed_variables(demo: Engine, tmp_path: Path) -> None:
    import pyreadstat

    export_registry(demo, tmp_path, "xpt")
    frame, _meta = pyreadstat.read_xport(str(tmp_path / "patients.xpt"))
    assert list(frame.columns) == [
        "PATIENT_",
        "SITE_ID",
        "DISEASE",
        "SEX",
        "BIRTH_YE",
        "DIAGNOSI",
        "PRIOR_TR",
        "SYNTHETI",
    ]
    assert frame.shape[0] == 15
    define = pl.read_csv(tmp_path / "define.csv")
    row = define.filter(pl.col("dataset") == "patients", pl.col("variable") == "diagnosis_year")
    assert row["xpt_name"].to_list() == ["DIAGNOSI"]
    adae, _ = pyreadstat.read_xport(str(tmp_path / "adae.xpt"))
    assert "CRSGR" in adae.columns


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["a", "b"], ["A", "B"]),
        (["patient_id", "patient_idx"], ["PATIENT_", "PATIEN01"]),
        (["1st"], ["_1ST"]),
        (["mrss_left_hand", "mrss_left_foot"], ["MRSS_LEF", "MRSS_L01"]),
    ],
    ids=["short", "clash", "digit-first", "items"],
)
def test_xpt_names(names: list[str], expected: list[str]) -> None:
    assert xpt_names(names) == expected


def test_registry_tables_have_no_ids_or_timestamps(demo: Engine) -> None:
    tables = registry_tables(demo)
    for frame in tables.values():
        assert not {"id", "assessment_id", "updated_at", "computed_at", "version"} & set(frame.columns)
    prior = json.loads(tables["patients"]["prior_treatments"][0])
    assert isinstance(prior, list)
