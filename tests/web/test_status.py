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
    # Fludarabine on days -5..-3 is conditioning, not maintenance treatment: no maintenance record
    # reaches the infusion, so drug-free is unknown (not "drug-free"), as in the report.
    assert status["drug_free"] is None and status["drug_free_from_day"] is None


def test_sle_on_prednisone_at_the_last_follow_up_day_is_not_drug_free(client: Any) -> None:
    # conftest: prednisone from day -374 to day 51; the latest record is the lab of day 9.
    status = _status(client, "SLE-A1")
    assert status["follow_up_day"] == 9
    assert status["drug_free"] is False and status["drug_free_from_day"] is None
    assert status["treatment_free_days"] is None  # still taking it


def _patient(last_day: int, *courses: tuple[str, int | None, int | None]) -> dict[str, Any]:
    return {
        "patient_id": "P",
        "disease": "SLE",
        "assessments": [],
        "labs": [{"day": -7}, {"day": last_day}],
        "medications": [{"drug": d, "start_day": a, "stop_day": b} for d, a, b in courses],
    }


# Hand-computed from the rule of docs/decisions/sap.md: drug-free once ≥ 30 days have passed since
# the last maintenance dose (day − stop_day ≥ 30); unknown without a maintenance record at or after
# day 0; an empty start means taken since before any day.
DRUG_FREE_CASES = [
    ("stopped-49-days-ago", _patient(100, ("prednisone", -374, 51)), True, 81, 49, [(81, 100)]),
    ("stopped-19-days-ago", _patient(70, ("prednisone", -374, 51)), False, None, 19, []),
    ("stopped-exactly-30-days-ago", _patient(81, ("prednisone", -374, 51)), True, 81, 30, [(81, 81)]),
    ("still-running", _patient(100, ("prednisone", -374, None)), False, None, None, []),
    ("empty-start-still-running", _patient(100, ("hydroxychloroquine", None, None)), False, None, None, []),
    ("no-medication-history", _patient(100), None, None, None, []),
    ("stopped-before-infusion-only", _patient(100, ("prednisone", -374, -100)), None, None, None, []),
    ("conditioning-only", _patient(100, ("fludarabine", -5, -3)), None, None, None, []),
    (
        "restarted-then-stopped",
        _patient(200, ("prednisone", -374, 10), ("methotrexate", 60, 120)),
        True,
        150,
        80,
        [(40, 59), (150, 200)],
    ),
]


@pytest.mark.parametrize(
    ("patient", "drug_free", "since", "free_days", "periods"),
    [c[1:] for c in DRUG_FREE_CASES],
    ids=[c[0] for c in DRUG_FREE_CASES],
)
def test_drug_free_status_and_periods_follow_the_reports_rule(
    patient: dict[str, Any], drug_free: bool | None, since: int | None, free_days: int | None, periods: list
) -> None:
    from remission.web import services

    status = services.derive_status("SLE", services._record_facts(patient))
    assert (status["drug_free"], status["drug_free_from_day"], status["treatment_free_days"]) == (
        drug_free,
        since,
        free_days,
    )
    assert services.drug_free_periods(patient, status["follow_up_day"]) == periods


def test_list_and_timeline_pages_show_the_status_in_words(status_client: Any) -> None:
    page_login(status_client, "nurse_a")
    listing = status_client.get("/").text
    assert "TIS 42.5, moderate response" in listing and "EUSTAR-AI 1.75 (&lt; 2.5)" in listing
    assert "unknown (no medication history)" in listing  # SSC-A1: conditioning only
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


def test_web_drug_free_agrees_with_the_report_for_every_demo_patient(app_engine: Engine, client: Any) -> None:
    """The list status and the timeline's drug-free periods against the report's own per-visit
    flag (report/sections.py ``remission_visits``) on every assessment of the scored demo cohort."""
    import polars as pl

    from remission.demo.cohort import generate_demo_cohort
    from remission.pipeline import score_database
    from remission.report.data import ReportData
    from remission.report.sections import remission_visits

    save_cohort(app_engine, generate_demo_cohort(), actor="test")
    score_database(app_engine)
    visits, _missing = remission_visits(ReportData.load(app_engine))
    headers = bearer(client, "admin")
    listed = {p["patient_id"]: p["status"] for p in client.get("/api/patients", headers=headers).json()["items"]}
    compared = {True: 0, False: 0, None: 0}
    for pid, status in listed.items():
        periods = client.get(f"/api/patients/{pid}", headers=headers).json()["periods"]["drug_free"]
        report = visits.filter(pl.col("patient_id") == pid).sort("day").select("day", "drug_free").rows()
        for day, flag in report:
            on_web = None if status["drug_free"] is None else any(a <= day <= b for a, b in periods)
            assert on_web == (None if flag is None else flag == 1), (pid, day, flag, periods)
            compared[on_web] += 1
        if report and report[-1][0] == status["follow_up_day"]:
            assert status["drug_free"] == (None if report[-1][1] is None else report[-1][1] == 1), pid
    # Both answers occur (every demo patient has a medication history; "unknown" is in the table above).
    assert compared[True] > 0 and compared[False] > 0, compared
