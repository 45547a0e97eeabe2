"""Export: registry tables, ADaM-style datasets, define metadata, XPT names; the demo database
round-trips exactly (export → import registry into a fresh database → export: same bytes)."""

from __future__ import annotations

import filecmp
import json
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine

from remission.demo.cohort import generate_demo_cohort
from remission.io.export import (
    ANALYSIS_LABELS,
    derive_adae,
    derive_adcm,
    export_registry,
    registry_tables,
    xpt_names,
)
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
    assert len(names) == 13  # 8 registry tables + adsl, adeff, adae, adcm + define.csv
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
        "adcm",
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


# ---------------------------------------------------------------------------------------------
# ADAE analysis dates and ADCM (issue 17). The rows carry the columns that the source-identity
# migration adds (onset_dtc, *_date_flag, onset_time, source_key …); expected values by hand from
# admiral's conventions (derive_vars_dt flags, derive_var_ontrtfl with span_period).


def _ae_rows() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "patient_id": ["P1", "P1", "P1", "P1"],
            "term": ["CRS", "Rash", "Neutropenia", "Nausea"],
            "category": ["crs", "other", "cytopenia", "other"],
            "grade": [2, 1, 3, 1],
            "onset_date": [date(2024, 3, 1), date(2024, 3, 1), date(2024, 5, 1), date(2024, 2, 10)],
            "onset_day": [0, 0, 61, -20],
            "resolution_date": [date(2024, 3, 4), date(2024, 3, 31), None, date(2024, 2, 11)],
            "resolution_day": [3, 30, None, -19],
            "serious": [False, False, True, False],
            "organism": ["", "", "", ""],
            "treatment": ["tocilizumab", "", "", ""],
            # CRS: hour only; rash: month only, imputed to the infusion (min_dates) and end of month;
            # neutropenia: year only; nausea: complete with hh:mm.
            "onset_dtc": ["2024-03-01T14", "2024-03", "2024", "2024-02-10T08:30"],
            "onset_date_flag": [None, "D", "M", None],
            "onset_time": [None, None, None, "08:30"],
            "resolution_dtc": ["2024-03-04", "2024-03", None, "2024-02-11"],
            "resolution_date_flag": [None, "D", None, ""],
            "source_key": ["S/P1/AE/1", "S/P1/AE/2", "S/P1/AE/3", "S/P1/AE/4"],
        }
    )


def test_adae_dates_and_imputation_flags_against_hand_derivation() -> None:
    adae = derive_adae({"adverse_events": _ae_rows()}).sort("SRCKEY")
    assert adae.select("AETERM", "ASTDT", "ASTDTF", "ASTDTM", "ASTTMF", "AENDT", "AENDTF", "TRTEMFL").rows() == [
        ("CRS", date(2024, 3, 1), None, datetime(2024, 3, 1, 14, 0), "M", date(2024, 3, 4), None, "Y"),
        ("Rash", date(2024, 3, 1), "D", None, None, date(2024, 3, 31), "D", "Y"),
        ("Neutropenia", date(2024, 5, 1), "M", None, None, None, None, "Y"),
        ("Nausea", date(2024, 2, 10), None, datetime(2024, 2, 10, 8, 30), None, date(2024, 2, 11), None, "N"),
    ]


def test_adae_without_the_new_columns_still_derives() -> None:
    old = _ae_rows().drop("onset_dtc", "onset_date_flag", "onset_time", "resolution_dtc", "resolution_date_flag")
    adae = derive_adae({"adverse_events": old.drop("source_key")})
    assert adae["ASTDTF"].null_count() == adae["ASTDTM"].null_count() == adae["SRCKEY"].null_count() == 4


def _cm_rows() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "patient_id": ["P1"] * 6,
            "drug": ["Medrol", "prednisone", "HCQ", "hydrocortisone", "aspirin", "prednisolone"],
            "dose": [8.0, 5.0, 200.0, 1.0, 100.0, None],
            "unit": ["mg", "mg", "mg", "VIAL", "mg", "mg"],
            "route": ["oral", "oral", "oral", "topical", "oral", "oral"],
            "frequency": ["BID", "PRN", "QD", "QD", "QD", "QD"],
            "start_date": [
                date(2024, 1, 1),
                date(2024, 3, 5),
                date(2023, 1, 1),
                date(2024, 1, 1),
                None,
                date(2024, 1, 1),
            ],
            "stop_date": [None, date(2024, 3, 10), date(2024, 2, 29), date(2024, 1, 31), None, date(2024, 3, 1)],
            "start_day": [-60, 4, -425, -60, None, -60],
            "stop_day": [None, 9, -1, -30, None, 0],
            "synthetic": [False] * 6,
            # Medrol: month known (first day); HCQ: year known, ended in Feb 2024 (last day);
            # aspirin: no start at all (year not imputed, record kept).
            "start_dtc": ["2024-01", "2024-03-05", "2023", "2024-01-01", None, "2024-01-01"],
            "start_date_flag": ["D", None, "M", None, None, None],
            "stop_dtc": [None, "2024-03-10", "2024-02", "2024-01-31", None, "2024-03-01"],
            "stop_date_flag": [None, None, "D", None, None, None],
            "source_key": [f"S/P1/CM/{i}" for i in range(1, 7)],
        },
        schema_overrides={"start_day": pl.Int64, "dose": pl.Float64},
    )


def test_adcm_one_row_per_record_with_flags_and_prednisone_against_hand_derivation() -> None:
    adcm = derive_adcm({"medications": _cm_rows()}).sort("SRCKEY")
    assert adcm.height == 6
    got = adcm.select(
        "CMTRT", "CMDECOD", "CMCLAS", "ASTDT", "ASTDTF", "AENDTF", "ONTRTFL", "PREFL", "PREDMGD", "PREDCVFL"
    ).rows()
    assert got == [
        # 8 mg × 2 × 5/4 = 20; started before day 0 and ongoing: spans the infusion
        ("Medrol", "methylprednisolone", "glucocorticoid", date(2024, 1, 1), "D", None, "Y", "Y", 20.0, "Y"),
        ("prednisone", "prednisone", "glucocorticoid", date(2024, 3, 5), None, None, "Y", None, None, "N"),
        ("HCQ", "hydroxychloroquine", "antimalarial", date(2023, 1, 1), "M", "D", None, "Y", None, None),
        ("hydrocortisone", "hydrocortisone", "glucocorticoid", date(2024, 1, 1), None, None, None, "Y", None, "N"),
        ("aspirin", None, None, None, None, None, "Y", None, None, None),
        ("prednisolone", "prednisolone", "glucocorticoid", date(2024, 1, 1), None, None, "Y", "Y", None, "N"),
    ]
    reasons = adcm["PREDCVRS"].to_list()
    assert reasons[1] == "frequency PRN: as needed, administrations per day unknown"
    assert reasons[3] == "route topical: local, not systemic (counts 0 mg/day)"
    assert reasons[5] == "dose missing"
    assert adcm["CMSTDTC"].to_list()[0] == "2024-01"


def test_new_analysis_variables_are_documented(demo: Engine, tmp_path: Path) -> None:
    export_registry(demo, tmp_path)
    define = pl.read_csv(tmp_path / "define.csv")
    for dataset in ("adae", "adcm"):
        columns = pl.read_csv(tmp_path / f"{dataset}.csv", infer_schema=False).columns
        rows = define.filter(pl.col("dataset") == dataset)
        assert rows["variable"].to_list() == columns
        assert set(columns) == set(ANALYSIS_LABELS[dataset])
        assert (rows["source"] != "derived").all()
    astdt = define.filter(pl.col("dataset") == "adcm", pl.col("variable") == "ASTDT")["source"][0]
    assert "first day of the known period" in astdt
    flag = define.filter(pl.col("dataset") == "adae", pl.col("variable") == "ASTDTF")["source"][0]
    assert "D day imputed, M month and day imputed, Y year imputed" in flag


def test_demo_adcm_has_every_medication_and_the_exposure_dose(demo: Engine, tmp_path: Path) -> None:
    export_registry(demo, tmp_path)
    meds = pl.read_csv(tmp_path / "medications.csv", infer_schema=False)
    adcm = pl.read_csv(tmp_path / "adcm.csv", infer_schema=False)
    assert adcm.height == meds.height
    steroids = adcm.filter(pl.col("CMCLAS") == "glucocorticoid")
    # demo prednisone/prednisolone courses: 10, 5 and 2.5 mg daily (equivalent 5: mg/day = dose)
    assert set(steroids["PREDMGD"].cast(pl.Float64)) == {10.0, 5.0, 2.5}
    assert set(steroids["PREDCVFL"]) == {"Y"}
    assert adcm.filter(pl.col("CMCLAS") != "glucocorticoid")["PREDCVFL"].null_count() == adcm.height - steroids.height


@pytest.mark.parametrize("fmt", ["parquet", "xpt"])
def test_adcm_and_adae_written_in_every_format(demo: Engine, tmp_path: Path, fmt: str) -> None:
    export_registry(demo, tmp_path, fmt)  # type: ignore[arg-type]
    if fmt == "parquet":
        adcm = pl.read_parquet(tmp_path / "adcm.parquet")
        assert adcm.schema["ASTDT"] == pl.Date and adcm.schema["PREDMGD"] == pl.Float64
        assert pl.read_parquet(tmp_path / "adae.parquet").schema["ASTDTM"] == pl.Datetime("us")
        return
    import pyreadstat

    adcm, meta = pyreadstat.read_xport(str(tmp_path / "adcm.xpt"))
    assert {"CMTRT", "CMDECOD", "ASTDT", "ASTDTF", "AENDTF", "ONTRTFL", "PREFL", "PREDMGD", "PREDCVFL"} <= set(
        adcm.columns
    )
    assert meta.table_name == "ADCM"
    labels = dict(zip(meta.column_names, meta.column_labels, strict=True))
    assert labels["PREDMGD"] == "Prednisone-equivalent dose (mg/day)"
    assert sorted(set(adcm.loc[adcm["CMCLAS"] == "glucocorticoid", "PREDMGD"])) == [2.5, 5.0, 10.0]
    adae, _ = pyreadstat.read_xport(str(tmp_path / "adae.xpt"))
    assert {"ASTDTF", "ASTDTM", "ASTTMF", "AENDTF"} <= set(adae.columns)


def test_xpt_readback_of_imputed_dates_and_times(tmp_path: Path) -> None:
    import pyreadstat

    from remission.io.export import _write_xpt, define_metadata

    adae = derive_adae({"adverse_events": _ae_rows()})
    labels = define_metadata({"adae": adae})["label"].to_list()
    _write_xpt(adae, tmp_path / "adae.xpt", "adae", labels)
    back, _ = pyreadstat.read_xport(str(tmp_path / "adae.xpt"))
    crs = back[back["AETERM"] == "CRS"].iloc[0]
    assert crs["ASTTMF"] == "M" and str(crs["ASTDTM"]) == "2024-03-01 14:00:00"
    rash = back[back["AETERM"] == "Rash"].iloc[0]
    assert rash["ASTDTF"] == "D" and rash["ASTDT"].date() == date(2024, 3, 1)


def test_the_cli_export_writes_the_endpoint_definitions_into_define(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from remission.cli.main import app

    db = f"sqlite:///{tmp_path / 'r.db'}"
    engine = connect(db)
    migrate(engine)
    save_cohort(engine, generate_demo_cohort(2024), actor="demo")
    engine.dispose()
    result = CliRunner().invoke(app, ["export", "--db", db, "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    estimands = pl.read_csv(tmp_path / "out" / "estimands.csv")
    define = pl.read_csv(tmp_path / "out" / "define.csv").filter(pl.col("dataset") == "estimands")
    assert define["variable"].to_list() == estimands["endpoint"].to_list()
    doris = define.filter(pl.col("variable") == "DORIS 2021 remission")["label"][0]
    assert doris.startswith("DORIS 2021 remission (SLE). Population:") and "Strategy:" in doris and "NRI" in doris
    assert set(estimands["disease"]) == {"SLE", "IIM", "SSc", "All"}
