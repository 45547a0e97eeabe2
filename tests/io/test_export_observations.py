"""`remission export --format nonmem`: the kinetics observation table built from the registry's
CAR-T and CD19 labs, with each infused patient's dose and covariates."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from remission.cli.main import app
from remission.demo.cohort import generate_demo_cohort
from remission.errors import InvalidInputError
from remission.io.export import derive_observations, export_registry
from remission.kinetics.observations import OBSERVATION_COLUMNS, read_observations
from remission.store import save_cohort

D0 = date(2024, 3, 1)


def _tables(labs: list[tuple[str, date, str, float, str]]) -> dict[str, pl.DataFrame]:
    return {
        "patients": pl.DataFrame(
            {"patient_id": ["A", "B", "C"], "disease": ["SLE", "SSc", "IIM"], "birth_year": [1990, None, 1970]},
            schema_overrides={"birth_year": pl.Int64},
        ),
        # A infused twice (the first is day 0), B once, C never
        "infusions": pl.DataFrame(
            {
                "patient_id": ["A", "A", "B"],
                "date": [date(2024, 9, 1), D0, D0],
                "cells_per_kg": [2e6, 1e6, 5e5],
            }
        ),
        "labs": pl.DataFrame(labs, schema=["patient_id", "date", "analyte", "value", "unit"], orient="row"),
    }


LABS = [
    ("A", date(2024, 2, 23), "cd19_cells_ul", 150.0, "cells/µL"),  # day -7: baseline
    ("A", date(2024, 2, 23), "weight_kg", 61.5, "kg"),
    ("A", D0, "car_t_cells_ul", 0.05, "cells/µL"),  # below the car_t LLOQ 0.1
    ("A", date(2024, 3, 11), "car_t_cells_ul", 42.0, "cells/µL"),  # day 10
    ("A", date(2024, 3, 11), "cd19_cells_ul", 0.0, "cells/µL"),  # aplasia: BLQ
    ("A", date(2024, 3, 11), "crp_mg_l", 3.0, "mg/L"),  # not a kinetic lab
    ("A", date(2024, 3, 11), "car_t_copies_ug", 900.0, "copies/µg"),  # dropped: flow is there
    ("B", date(2024, 3, 8), "cd19_cells_ul", 2.5, "cells/µL"),
    ("C", date(2024, 3, 8), "car_t_cells_ul", 5.0, "cells/µL"),  # never infused: no TIME
]


def test_rows_covariates_and_censoring_by_hand() -> None:
    obs = derive_observations(_tables(LABS))
    assert obs.columns == list(OBSERVATION_COLUMNS)
    assert obs.select("ID", "TIME", "ANALYTE", "DV", "UNIT", "LLOQ", "BLQ", "MDV").rows() == [
        ("A", 0.0, "car_t", 0.1, "cells/µL", 0.1, 1, 0),
        ("A", 10.0, "car_t", 42.0, "cells/µL", 0.1, 0, 0),
        ("A", 10.0, "cd19", 1.0, "cells/µL", 1.0, 1, 0),
        ("B", 7.0, "cd19", 2.5, "cells/µL", 1.0, 0, 0),
    ]
    per_id = obs.group_by("ID", maintain_order=True).first()
    # A: first infusion 1e6/kg, SLE, 2024 - 1990 = 34 years, baseline CD19 and weight of day -7
    assert per_id.select(OBSERVATION_COLUMNS[8:]).rows() == [
        (1e6, "SLE", 150.0, 34.0, 61.5),
        (5e5, "SSc", None, None, None),
    ]


def test_the_lloq_can_be_set_per_analyte() -> None:
    obs = derive_observations(_tables(LABS), {"cd19": 3.0})
    assert obs.filter(pl.col("ID") == "B").select("DV", "LLOQ", "BLQ").row(0) == (3.0, 3.0, 1)
    assert set(obs.filter(pl.col("ANALYTE") == "car_t")["LLOQ"]) == {0.1}


def test_qpcr_car_t_alone_is_exported_in_copies() -> None:
    labs = [("B", date(2024, 3, 8), "car_t_copies_ug", 900.0, "copies/µg")]
    obs = derive_observations(_tables(labs), {"car_t": 50.0})
    assert obs.select("ANALYTE", "UNIT", "DV", "BLQ").rows() == [("car_t", "copies/µg", 900.0, 0)]


@pytest.fixture
def demo(engine: Engine) -> Engine:
    save_cohort(engine, generate_demo_cohort(2024), actor="demo")
    return engine


def test_demo_registry_exports_both_analytes_for_every_infused_patient(demo: Engine, tmp_path: Path) -> None:
    [path] = export_registry(demo, tmp_path, "nonmem")
    assert path.name == "observations.csv"
    obs = read_observations(path)
    assert obs.columns == list(OBSERVATION_COLUMNS)
    # the 15 demo patients are all infused (1e6/kg) and have CAR-T and CD19 labs from day 0
    for analyte in ("car_t", "cd19"):
        assert obs.filter(pl.col("ANALYTE") == analyte)["ID"].n_unique() == 15
    assert set(obs["DOSE_PER_KG"]) == {1e6} and obs["TIME"].min() == 0.0
    assert obs["BASELINE_CD19"].null_count() == 0 and obs["AGE"].null_count() == 0
    assert set(obs["DISEASE"]) == {"SLE", "IIM", "SSc"}
    # aplasia: demo CD19 values of 0 are censored at the default LLOQ of 1 cell/µL
    assert obs.filter((pl.col("ANALYTE") == "cd19") & (pl.col("BLQ") == 1))["DV"].unique().to_list() == [1.0]


def test_lloq_only_with_the_nonmem_format(demo: Engine, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"column lloq: .*only with the nonmem format"):
        export_registry(demo, tmp_path, "csv", lloq={"cd19": 2.0})


def test_cli_export_nonmem(tmp_path: Path) -> None:
    runner = CliRunner()
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    assert runner.invoke(app, ["init", "--db", db]).exit_code == 0
    from remission.store import connect

    save_cohort(connect(db), generate_demo_cohort(2024), actor="demo")
    out = tmp_path / "nm"
    result = runner.invoke(app, ["export", "--db", db, "--out", str(out), "--format", "nonmem", "--lloq", "cd19=2"])
    assert result.exit_code == 0, result.output
    obs = read_observations(out / "observations.csv")
    assert set(obs.filter(pl.col("ANALYTE") == "cd19")["LLOQ"]) == {2.0}
    bad = runner.invoke(app, ["export", "--db", db, "--out", str(out), "--format", "nonmem", "--lloq", "il6=1"])
    assert bad.exit_code == 2 and "column lloq: value il6=1: expected analyte=number" in bad.output
