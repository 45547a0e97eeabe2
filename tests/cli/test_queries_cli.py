"""CLI: `remission check` raises the data-quality queries, `remission queries` lists and filters them."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from remission.cli.main import app
from remission.model import AdverseEvent, Assessment, Cohort, LabResult, Patient, Site
from remission.store import connect, save_cohort

runner = CliRunner()


def cohort() -> Cohort:
    """P1: proteinuria recorded absent on day 30 with 1.32 g/24 h on day 28 (a query); P2: the
    same item absent with 0.4 g/24 h (none); P2's neutropenia graded 3 with ANC 0.3 (a query)."""
    patients = tuple(
        Patient(patient_id=p, site_id="A", disease="SLE", sex="female", birth_year=1990, diagnosis_year=2015)
        for p in ("P1", "P2")
    )
    visits = tuple(
        Assessment(patient_id=p, date=date(2024, 2, 9), day=30, visit="month 1", form="sle", items={"proteinuria": 0})
        for p in ("P1", "P2")
    )
    proteinuria = [
        LabResult(
            patient_id=p, date=date(2024, 2, 7), day=28, analyte="proteinuria_g_24h", value=v, unit="g/24 h", uln=0.15
        )
        for p, v in (("P1", 1.32), ("P2", 0.4))
    ]
    anc = LabResult(
        patient_id="P2", date=date(2024, 1, 14), day=4, analyte="anc_10e9_l", value=0.3, unit="10^9/L", lln=1.8
    )
    labs = (*proteinuria, anc)
    event = AdverseEvent(
        patient_id="P2",
        term="neutropenia",
        category="cytopenia",
        grade=3,
        onset_date=date(2024, 1, 13),
        onset_day=3,
        resolution_date=date(2024, 1, 18),
        resolution_day=8,
    )
    return Cohort(sites=(Site(site_id="A"),), patients=patients, assessments=visits, labs=labs, adverse_events=(event,))


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert runner.invoke(app, ["init", "--db", url]).exit_code == 0
    save_cohort(connect(url), cohort())
    return url


def lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line and not line.startswith(("id\t", "queries:"))]


def test_check_twice_raises_each_query_once(db: str) -> None:
    first = runner.invoke(app, ["check", "--db", db])
    assert first.exit_code == 0 and "queries: 2 raised, 0 reopened, 0 still open or answered, 0 closed" in first.output
    again = runner.invoke(app, ["check", "--db", db])
    assert "queries: 0 raised, 0 reopened, 2 still open or answered, 0 closed" in again.output


def test_queries_lists_filters_by_patient_and_status(db: str) -> None:
    listed = runner.invoke(app, ["queries", "--db", db, "--run"])
    assert listed.exit_code == 0
    assert (
        "1\topen\tP1\tassessments/1\tsledai2k_proteinuria_vs_lab\tproteinuria recorded absent on day 30"
        in listed.output
    )
    assert "2 queries" in listed.output
    one = runner.invoke(app, ["queries", "--db", db, "--patient", "P2"])
    assert [line.split("\t")[4] for line in lines(one.output)[:-1]] == ["ctcae_neutrophil_count_decreased"]
    assert "CTCAE grade 4" in one.output and "1 query" in one.output
    closed = runner.invoke(app, ["queries", "--db", db, "--status", "closed"])
    assert closed.exit_code == 0 and "0 queries" in closed.output


def test_bad_status_exits_2_with_the_contract_wording(db: str) -> None:
    result = runner.invoke(app, ["queries", "--db", db, "--status", "pending"])
    assert result.exit_code == 2
    assert "column status: value pending: expected one of open, answered, closed" in result.output


def test_uninitialised_database_asks_for_init(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", "--db", f"sqlite:///{tmp_path / 'none.db'}"])
    assert result.exit_code == 2 and "run `remission init`" in result.output


def test_help_names_the_options() -> None:
    result = runner.invoke(app, ["queries", "--help"])
    assert result.exit_code == 0
    for option in ("--db", "--status", "--patient", "--run"):
        assert option in result.output
