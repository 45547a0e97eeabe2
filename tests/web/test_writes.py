"""Writes: optimistic locking (409 on a stale version), and an audit record for every write."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Engine, select
from webhelpers import PASSWORDS, bearer

from remission.store import schema


def audit_rows(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(select(schema.audit_log).order_by(schema.audit_log.c.id)))


def test_update_with_the_current_version_bumps_it(client: Any) -> None:
    headers = bearer(client, "nurse_a")
    response = client.patch(
        "/api/patients/SLE-A1", headers=headers | {"If-Match": '"1"'}, json={"diagnosis_year": 2016}
    )
    assert response.status_code == 200
    assert response.json()["version"] == 2 and response.json()["diagnosis_year"] == 2016
    assert response.headers["ETag"] == '"2"'


@pytest.mark.parametrize("how", ["if-match", "body"], ids=["if-match-header", "version-field"])
def test_stale_update_answers_409_and_changes_nothing(client: Any, how: str) -> None:
    headers = bearer(client, "nurse_a")
    first = client.patch("/api/patients/SLE-A1", headers=headers, json={"diagnosis_year": 2016, "version": 1})
    assert first.status_code == 200
    stale = (
        client.patch("/api/patients/SLE-A1", headers=headers | {"If-Match": "1"}, json={"diagnosis_year": 2010})
        if how == "if-match"
        else client.patch("/api/patients/SLE-A1", headers=headers, json={"diagnosis_year": 2010, "version": 1})
    )
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "conflict"
    assert stale.json()["error"]["problems"] == [
        {"row": None, "column": "version", "value": "1", "reason": "stale; current version is 2"}
    ]
    assert client.get("/api/patients/SLE-A1", headers=headers).json()["diagnosis_year"] == 2016


def test_update_without_a_version_answers_428(client: Any) -> None:
    response = client.patch("/api/patients/SLE-A1", headers=bearer(client, "admin"), json={"diagnosis_year": 2016})
    assert response.status_code == 428 and response.json()["error"]["code"] == "precondition_required"


def test_stale_assessment_save_answers_409(client: Any) -> None:
    headers = bearer(client, "nurse_a")
    visit = {"index": "sledai2k", "date": "2024-02-09", "items": {"rash": 1}}
    assert (
        client.post("/api/patients/SLE-A1/assessments", headers=headers, json=visit | {"version": 1}).status_code == 201
    )
    again = client.post(
        "/api/patients/SLE-A1/assessments", headers=headers | {"If-Match": "1"}, json=visit | {"visit": "other"}
    )
    assert again.status_code == 409


def test_duplicate_visit_answers_409(client: Any) -> None:
    headers = bearer(client, "nurse_a")
    visit = {"index": "sledai2k", "date": "2024-02-09", "visit": "month 1", "items": {"rash": 1}}
    assert client.post("/api/patients/SLE-A1/assessments", headers=headers, json=visit).status_code == 201
    assert client.post("/api/patients/SLE-A1/assessments", headers=headers, json=visit).status_code == 409


def test_invalid_patient_update_answers_422_with_problems(client: Any) -> None:
    response = client.patch(
        "/api/patients/SLE-A1", headers=bearer(client, "admin"), json={"birth_year": 1800, "version": 1}
    )
    assert response.status_code == 422
    assert response.json()["error"]["problems"][0]["column"] == "birth_year"


def test_every_write_appends_an_audit_record(client: Any, app_engine: Engine) -> None:
    headers = bearer(client, "nurse_a")
    before = len(audit_rows(app_engine))
    lab = client.post(
        "/api/patients/SLE-A1/labs",
        headers=headers,
        json={"date": "2024-02-10", "day": 31, "analyte": "crp_mg_l", "value": 3.0, "unit": "mg/L"},
    ).json()
    client.post(
        "/api/patients/SLE-A1/assessments",
        headers=headers,
        json={"index": "sledai2k", "date": "2024-02-09", "items": {"rash": 1}},
    )
    client.patch("/api/patients/SLE-A1", headers=headers, json={"diagnosis_year": 2016, "version": 3})
    client.delete(f"/api/patients/SLE-A1/labs/{lab['id']}", headers=headers | {"If-Match": "4"})
    client.post(
        "/api/patients",
        headers=headers,
        json={
            "patient_id": "SLE-A2",
            "site_id": "A",
            "disease": "SLE",
            "sex": "male",
            "birth_year": 1980,
            "diagnosis_year": 2001,
        },
    )
    rows = audit_rows(app_engine)[before:]
    writes = [(r.actor, r.action, r.entity) for r in rows if r.action not in ("login", "login_failed")]
    assert writes == [
        ("nurse_a", "create", "labs"),
        ("nurse_a", "create", "assessment"),
        ("nurse_a", "update", "patient"),
        ("nurse_a", "delete", "labs"),
        ("nurse_a", "create", "patient"),
    ]
    update = next(r for r in rows if r.action == "update")
    assert update.detail == {"version": [3, 4], "changes": {"diagnosis_year": [2015, 2016]}}
    deleted = next(r for r in rows if r.action == "delete")
    assert deleted.detail["old"]["analyte"] == "crp_mg_l"
    # The patient's audit trail is readable per patient, newest first.
    trail = client.get("/api/patients/SLE-A1/audit", headers=headers).json()["items"]
    assert [e["action"] for e in trail][:4] == ["delete", "update", "create", "create"]


def test_audit_records_hold_no_passwords_and_no_route_changes_them(client: Any, app_engine: Engine) -> None:
    client.post("/api/auth/token", data={"username": "nurse_a", "password": "a-wrong-guess"})
    headers = bearer(client, "admin")
    text = json.dumps([dict(r._mapping) for r in audit_rows(app_engine)], default=str)
    assert "a-wrong-guess" not in text and all(p not in text for p in PASSWORDS.values())
    assert [r.action for r in audit_rows(app_engine)][-2:] == ["login_failed", "login"]
    for method in ("PUT", "PATCH", "DELETE", "POST"):
        assert client.request(method, "/api/audit", headers=headers).status_code in (404, 405)
        assert client.request(method, "/api/patients/SLE-A1/audit", headers=headers).status_code in (404, 405)


def test_refused_write_changes_nothing_and_audits_nothing(client: Any, app_engine: Engine) -> None:
    before = len(audit_rows(app_engine))
    response = client.post(
        "/api/patients/SLE-A1/assessments",
        headers=bearer(client, "nurse_a"),
        json={"index": "sledai2k", "date": "2024-02-09", "items": {"rash": 9}},
    )
    assert response.status_code == 422
    assert [r.action for r in audit_rows(app_engine)[before:]] == ["login"]


def _first_id(engine: Engine, table: Any, patient_id: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(table.c.id).where(table.c.patient_id == patient_id)).scalars().first())


def test_record_update_audits_old_and_new_values(client: Any, app_engine: Engine) -> None:
    headers = bearer(client, "nurse_a")
    lab_id = _first_id(app_engine, schema.labs, "SLE-A1")
    response = client.patch(f"/api/patients/SLE-A1/labs/{lab_id}", headers=headers, json={"value": 60.0, "version": 1})
    assert response.status_code == 200, response.text
    assert response.json()["value"] == 60.0 and response.json()["patient_version"] == 2
    update = audit_rows(app_engine)[-1]
    assert (update.actor, update.action, update.entity, update.entity_id) == ("nurse_a", "update", "labs", str(lab_id))
    # conftest stores CAR-T 50.0 cells/µL on day 9.
    assert update.detail == {"patient_id": "SLE-A1", "changes": {"value": [50.0, 60.0]}, "version": [1, 2]}
    stale = client.patch(f"/api/patients/SLE-A1/labs/{lab_id}", headers=headers | {"If-Match": "1"}, json={"value": 1})
    assert stale.status_code == 409
    assert client.patch(f"/api/patients/SLE-A1/labs/{lab_id}", headers=headers, json={"value": 1}).status_code == 428


def test_assessment_update_scores_the_visit_again(client: Any, app_engine: Engine) -> None:
    headers = bearer(client, "nurse_a")
    visit = {"index": "sledai2k", "date": "2024-04-10", "visit": "month 3", "items": {"rash": 1}}
    saved = client.post("/api/patients/SLE-A1/assessments", headers=headers, json=visit).json()
    # Other items are missing, so the total is empty; the explanation lists what counts:
    # rash = 2 (Gladman 2002 weights).
    assert saved["score"]["explain"] == "rash=2"
    response = client.patch(
        f"/api/patients/SLE-A1/assessments/{saved['id']}",
        headers=headers | {"If-Match": str(saved["patient_version"])},
        json={"items": {"rash": 1, "arthritis": 1}},
    )
    assert response.status_code == 200, response.text
    detail = client.get("/api/patients/SLE-A1", headers=headers).json()
    (score,) = next(a for a in detail["assessments"] if a["id"] == saved["id"])["scores"]
    # arthritis 4 + rash 2 (Gladman 2002 weights).
    assert score["explain"] == "arthritis=4; rash=2"
    audit = audit_rows(app_engine)[-1]
    assert audit.detail["changes"]["items"] == [{"rash": 1}, {"rash": 1, "arthritis": 1}]
    assert set(audit.detail["scores"]) == {"sledai2k"} and len(audit.detail["scores"]["sledai2k"]) == 2


def test_invalid_record_update_changes_nothing(client: Any, app_engine: Engine) -> None:
    headers = bearer(client, "admin")
    ae_id = _first_id(app_engine, schema.adverse_events, "SLE-A1")
    before = len(audit_rows(app_engine))
    response = client.patch(
        f"/api/patients/SLE-A1/adverse_events/{ae_id}", headers=headers, json={"grade": 9, "version": 1}
    )
    assert response.status_code == 422 and response.json()["error"]["problems"][0]["column"] == "grade"
    unknown = client.patch(
        f"/api/patients/SLE-A1/adverse_events/{ae_id}", headers=headers, json={"id": 5, "version": 1}
    )
    assert unknown.status_code == 422
    assert [r.action for r in audit_rows(app_engine)[before:]] == []
    assert client.get("/api/patients/SLE-A1", headers=headers).json()["version"] == 1


def test_patient_delete_removes_its_records_and_keeps_an_audit_record(client: Any, app_engine: Engine) -> None:
    headers = bearer(client, "admin")
    assert client.delete("/api/patients/SLE-A1", headers=headers | {"If-Match": "2"}).status_code == 409
    assert client.delete("/api/patients/SLE-A1", headers=headers | {"If-Match": "1"}).status_code == 204
    assert client.get("/api/patients/SLE-A1", headers=headers).status_code == 404
    with app_engine.connect() as connection:
        assert connection.execute(select(schema.labs).where(schema.labs.c.patient_id == "SLE-A1")).first() is None
    deleted = audit_rows(app_engine)[-1]
    assert (deleted.actor, deleted.action, deleted.entity, deleted.entity_id) == (
        "admin",
        "delete",
        "patient",
        "SLE-A1",
    )
    assert deleted.detail["old"]["birth_year"] == 1990
    assert deleted.detail["records"] == {
        "infusions": 1,
        "assessments": 1,
        "labs": 1,
        "medications": 1,
        "adverse_events": 1,
    }


def test_cohort_summary_counts_by_site_for_the_users_sites(client: Any) -> None:
    # conftest: one SLE patient per site, on prednisone (until day 51) at the last follow-up day 9
    # (not drug-free), no remission score.
    expected_a = {"site_id": "A", "disease": "SLE", "patients": 1, "remission": 0, "drug_free": 0}
    own = client.get("/api/cohort/summary", headers=bearer(client, "nurse_a")).json()
    assert own == {"items": [expected_a], "total": 1}
    every = client.get("/api/cohort/summary", headers=bearer(client, "stat")).json()
    assert every["total"] == 2 and [g["site_id"] for g in every["items"]] == ["A", "B"]
    milestones = client.get("/api/cohort/milestones", headers=bearer(client, "monitor")).json()
    assert milestones["total"] == 2
    row = next(r for r in milestones["items"] if r["patient_id"] == "SLE-A1")
    assert row["drug_free_stop_day"] == 51
