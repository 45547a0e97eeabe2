"""Patient status on the list and timeline: remission read from stored scores (SLE, IIM, SSc) and
drug-free from the medications by the report's rule (analysis/treatment.py)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine, select
from webhelpers import bearer, page_login

from remission.model import Assessment, Cohort, Infusion, Medication, Patient
from remission.store import save_cohort, schema

INFUSION = date(2024, 1, 10)


def _store_score(engine: Engine, patient_id: str, day: int, index: str, values: dict[str, Any]) -> None:
    with engine.begin() as connection:
        assessment_id = connection.execute(
            select(schema.assessments.c.id).where(
                schema.assessments.c.patient_id == patient_id, schema.assessments.c.day == day
            )
        ).scalar_one()
        connection.execute(
            schema.scores.insert().values(
                assessment_id=assessment_id, index_name=index, rule_version="test", values=values, explain=""
            )
        )


@pytest.fixture
def status_client(app_engine: Engine, client: Any) -> Any:
    """An IIM and an SSc patient at site A, each with two visits whose scores are stored."""
    patients, infusions, assessments, medications = [], [], [], []
    for pid, disease, form in (("IIM-A1", "IIM", "iim"), ("SSC-A1", "SSc", "ssc")):
        patients.append(
            Patient(patient_id=pid, site_id="A", disease=disease, sex="male", birth_year=1970, diagnosis_year=2010)
        )
        infusions.append(Infusion(patient_id=pid, date=INFUSION, cells_per_kg=1e6))
        for day in (90, 180):
            assessments.append(
                Assessment(
                    patient_id=pid,
                    date=date.fromordinal(INFUSION.toordinal() + day),
                    day=day,
                    visit=f"day {day}",
                    form=form,
                    items={},
                )
            )
    # IIM: mycophenolate runs on (not drug-free); SSc: fludarabine conditioning only (not maintenance,
    # docs/decisions/report.md), so drug-free although a course is recorded.
    medications.append(
        Medication(
            patient_id="IIM-A1", drug="mycophenolate mofetil", dose=1000, start_date=date(2023, 3, 16), start_day=-300
        )
    )
    medications.append(
        Medication(
            patient_id="SSC-A1",
            drug="fludarabine",
            dose=30,
            start_date=date(2024, 1, 5),
            stop_date=date(2024, 1, 7),
            start_day=-5,
            stop_day=-3,
        )
    )
    save_cohort(
        app_engine,
        Cohort(
            patients=tuple(patients),
            infusions=tuple(infusions),
            assessments=tuple(assessments),
            medications=tuple(medications),
        ),
        actor="test",
    )
    # Stored values are the input here (the status reads them; it does not score).
    _store_score(app_engine, "IIM-A1", 90, "myositis-tis", {"tis": 65.0, "tis_response": "major"})
    _store_score(app_engine, "IIM-A1", 180, "myositis-tis", {"tis": 42.5, "tis_response": "moderate"})
    _store_score(app_engine, "SSC-A1", 90, "eustar-ai", {"eustar_ai": 3.25, "eustar_ai_active": 1})
    _store_score(app_engine, "SSC-A1", 180, "eustar-ai", {"eustar_ai": 1.75, "eustar_ai_active": 0})
    return client


def _status(client: Any, patient_id: str) -> dict[str, Any]:
    items = client.get("/api/patients", headers=bearer(client, "nurse_a")).json()["items"]
    status: dict[str, Any] = next(p["status"] for p in items if p["patient_id"] == patient_id)
    return status


def test_iim_status_is_the_latest_tis_response_category(status_client: Any) -> None:
    status = _status(status_client, "IIM-A1")
    # Latest stored TIS (day 180) is a moderate response: not the major response the report calls remission.
    assert status["remission"] is False and status["remission_day"] == 180
    assert status["remission_rule"] == "ACR/EULAR major TIS response (tis_response = major)"
    assert status["remission_detail"] == "TIS 42.5, moderate response"
    assert status["drug_free"] is False and status["drug_free_from_day"] is None


def test_ssc_status_is_the_latest_eustar_ai_below_2_5(status_client: Any) -> None:
    status = _status(status_client, "SSC-A1")
    assert status["remission"] is True and status["remission_day"] == 180
    assert status["remission_rule"] == "EUSTAR-AI < 2.5 (eustar_ai_active = 0)"
    assert status["remission_detail"] == "EUSTAR-AI 1.75 (< 2.5)"
    # Fludarabine on days -5..-3 is conditioning, not maintenance treatment: drug-free throughout.
    assert status["drug_free"] is True and status["drug_free_from_day"] is None


def test_sle_drug_free_from_the_day_after_the_last_course(client: Any) -> None:
    # conftest: prednisone from day -374 to day 51 (last day taken), nothing else → drug-free from day 52.
    status = _status(client, "SLE-A1")
    assert status["drug_free"] is True and status["drug_free_from_day"] == 52


def test_list_and_timeline_pages_show_the_status_in_words(status_client: Any) -> None:
    page_login(status_client, "nurse_a")
    listing = status_client.get("/").text
    assert "TIS 42.5, moderate response" in listing and "EUSTAR-AI 1.75 (&lt; 2.5)" in listing
    assert "since day 52" in listing
    timeline = status_client.get("/patients/SSC-A1").text
    assert "EUSTAR-AI 1.75 (&lt; 2.5)" in timeline and "day 180" in timeline


def test_timeline_status_equals_the_list_status_for_every_demo_patient(app_engine: Engine, client: Any) -> None:
    """The timeline derives the status from the rows it has read, the list by grouped queries
    (web/services.py); on the scored demo cohort both give every patient the same status."""
    from remission.demo.cohort import generate_demo_cohort
    from remission.pipeline import score_database

    save_cohort(app_engine, generate_demo_cohort(), actor="test")
    score_database(app_engine)
    headers = bearer(client, "admin")
    listed = {p["patient_id"]: p["status"] for p in client.get("/api/patients", headers=headers).json()["items"]}
    assert len(listed) == 15 + 2  # the demo cohort and the two patients of the web tests
    for pid in listed:
        assert client.get(f"/api/patients/{pid}", headers=headers).json()["status"] == listed[pid], pid
    assert any(s["drug_free"] for s in listed.values()) and any(s["remission"] for s in listed.values())
