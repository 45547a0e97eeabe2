"""REST record routes (issue 22, item 5): `day` derived from `date` and the patient's infusion as
imports derive it, a contradicting day refused naming both, each problem naming its own field and
value (never the whole body), and the site check (404) before body validation (422).

The patients of tests/web/conftest.py were infused on 2024-01-10 (day 0)."""

from __future__ import annotations

from typing import Any

import pytest
from test_api import assert_error
from webhelpers import bearer

LAB = {"analyte": "crp_mg_l", "value": 3.0, "unit": "mg/L"}


def test_lab_with_a_date_and_no_day_gets_the_day_from_the_infusion(client: Any) -> None:
    # 2024-01-10 → 2024-02-10: 21 days left in January + 10 = day 31 (hand count).
    body = {**LAB, "date": "2024-02-10"}
    response = client.post("/api/patients/SLE-A1/labs", json=body, headers=bearer(client, "nurse_a"))
    assert response.status_code == 201, response.text
    assert response.json()["day"] == 31


def test_medication_start_and_stop_days_are_derived(client: Any) -> None:
    body = {"drug": "hydroxychloroquine", "dose": 200, "start_date": "2024-01-03", "stop_date": "2024-03-01"}
    response = client.post("/api/patients/SLE-A1/medications", json=body, headers=bearer(client, "nurse_a"))
    assert response.status_code == 201, response.text
    # 2024-01-03 is 7 days before the infusion; 2024-03-01 is 21 + 29 (leap February) + 1 = day 51.
    assert (response.json()["start_day"], response.json()["stop_day"]) == (-7, 51)


def test_a_day_that_agrees_with_the_date_is_accepted(client: Any) -> None:
    body = {**LAB, "date": "2024-02-11", "day": 32}
    assert client.post("/api/patients/SLE-A1/labs", json=body, headers=bearer(client, "nurse_a")).status_code == 201


def test_a_day_contradicting_the_date_is_an_error_naming_both(client: Any) -> None:
    body = {**LAB, "date": "2024-02-10", "day": 5}
    response = client.post("/api/patients/SLE-A1/labs", json=body, headers=bearer(client, "nurse_a"))
    error = assert_error(response, 422, "invalid_input")
    (problem,) = error["problems"]
    assert (problem["column"], problem["value"]) == ("day", "5")
    assert "contradicts date 2024-02-10, which is day 31 (infusion 2024-01-10)" in problem["reason"]


def test_assessment_day_contradicting_its_date_is_refused(client: Any) -> None:
    body = {"index": "sledai2k", "date": "2024-02-10", "day": 30, "visit": "month 1", "items": {"rash": 1}}
    response = client.post("/api/patients/SLE-A1/assessments", json=body, headers=bearer(client, "nurse_a"))
    (problem,) = assert_error(response, 422, "invalid_input")["problems"]
    assert (problem["column"], problem["value"]) == ("day", "30")


@pytest.mark.parametrize(
    ("body", "column", "value"),
    [
        ({**LAB, "date": "2024-02-10", "value": "high"}, "value", "high"),
        ({**LAB, "date": "2024-13-40"}, "date", "2024-13-40"),
        ({"analyte": "crp_mg_l", "value": 3.0, "date": "2024-02-10"}, "unit", ""),  # missing: empty value
    ],
    ids=["not-a-number", "not-a-date", "missing-field"],
)
def test_each_problem_names_its_field_and_its_own_value(
    client: Any, body: dict[str, Any], column: str, value: str
) -> None:
    response = client.post("/api/patients/SLE-A1/labs", json=body, headers=bearer(client, "nurse_a"))
    problems = assert_error(response, 422, "invalid_input")["problems"]
    mine = [p for p in problems if p["column"] == column]
    assert mine and mine[0]["value"] == value, problems
    assert all("analyte" not in p["value"] for p in problems)  # never the whole body


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/patients/SLE-B1/labs", {"date": "not a date", "value": "x"}),
        ("/api/patients/SLE-B1/medications", {"dose": -1}),
        ("/api/patients/SLE-B1/assessments", {"index": "sledai2k", "date": "never"}),
        ("/api/patients/NOBODY/labs", {"value": "x"}),
    ],
    ids=["labs", "medications", "assessments", "no-such-patient"],
)
def test_another_sites_patient_answers_404_before_the_body_is_checked(client: Any, path: str, body: dict) -> None:
    response = client.post(path, json=body, headers=bearer(client, "nurse_a"))
    assert_error(response, 404, "not_found")


def test_adverse_event_onset_and_resolution_days_are_derived(client: Any) -> None:
    body = {
        "term": "neutropenia",
        "category": "cytopenia",
        "grade": 3,
        "onset_date": "2024-01-17",
        "resolution_date": "2024-02-10",
    }
    response = client.post("/api/patients/SLE-A1/adverse_events", json=body, headers=bearer(client, "nurse_a"))
    assert response.status_code == 201, response.text
    # 2024-01-17 is 7 days after the infusion; 2024-02-10 is day 31 (hand count above).
    assert (response.json()["onset_day"], response.json()["resolution_day"]) == (7, 31)


def _lab_id_and_version(client: Any) -> tuple[int, int]:
    record = client.get("/api/patients/SLE-A1", headers=bearer(client, "nurse_a")).json()
    return record["labs"][0]["id"], record["version"]


def test_changing_a_records_date_moves_its_day(client: Any) -> None:
    lab_id, version = _lab_id_and_version(client)  # conftest: the lab of 2024-01-19, day 9
    changed = client.patch(
        f"/api/patients/SLE-A1/labs/{lab_id}",
        json={"date": "2024-02-10", "version": version},
        headers=bearer(client, "nurse_a"),
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["date"], changed.json()["day"]) == ("2024-02-10", 31)


def test_changing_a_date_with_a_contradicting_day_is_refused_naming_both(client: Any) -> None:
    lab_id, version = _lab_id_and_version(client)
    response = client.patch(
        f"/api/patients/SLE-A1/labs/{lab_id}",
        json={"date": "2024-02-10", "day": 9, "version": version},
        headers=bearer(client, "nurse_a"),
    )
    (problem,) = assert_error(response, 422, "invalid_input")["problems"]
    assert (problem["column"], problem["value"]) == ("day", "9")
    assert "contradicts date 2024-02-10, which is day 31" in problem["reason"]


@pytest.mark.parametrize(
    ("body", "value"), [(b"[1, 2]", "list"), (b'"text"', "str"), (b"", "empty")], ids=["list", "string", "empty"]
)
def test_a_body_that_is_not_an_object_names_the_body(client: Any, body: bytes, value: str) -> None:
    headers = {**bearer(client, "nurse_a"), "content-type": "application/json"}
    response = client.post("/api/patients/SLE-A1/labs", content=body, headers=headers)
    (problem,) = assert_error(response, 422, "invalid_input")["problems"]
    assert (problem["column"], problem["value"], problem["reason"]) == ("body", value, "expected a JSON object")


# Every body route: the caller's identity and rights are answered before the body is looked at.
BODY_ROUTES = [
    ("POST", "/api/patients/SLE-A1/labs"),
    ("POST", "/api/patients/SLE-A1/medications"),
    ("POST", "/api/patients/SLE-A1/adverse_events"),
    ("POST", "/api/patients/SLE-A1/infusions"),
    ("POST", "/api/patients/SLE-A1/assessments"),
    ("PATCH", "/api/patients/SLE-A1/labs/1"),
    ("PATCH", "/api/patients/SLE-A1"),
]
BAD_BODIES = {"malformed-json": b"{not json", "not-an-object": b"[1, 2]", "invalid-values": b'{"value": "x"}'}
CALLERS = [(None, 401, "unauthorized"), ("monitor", 403, "forbidden"), ("nurse_b", 404, "not_found")]


@pytest.mark.parametrize(("caller", "status", "code"), CALLERS, ids=["anonymous", "monitor", "other-site"])
@pytest.mark.parametrize("bad", list(BAD_BODIES), ids=list(BAD_BODIES))
@pytest.mark.parametrize(("method", "path"), BODY_ROUTES, ids=[f"{m} {p}" for m, p in BODY_ROUTES])
def test_authorization_runs_before_body_validation(
    client: Any, method: str, path: str, bad: str, caller: str | None, status: int, code: str
) -> None:
    headers = {**(bearer(client, caller) if caller else {}), "content-type": "application/json"}
    response = client.request(method, path, content=BAD_BODIES[bad], headers=headers)
    assert_error(response, status, code)


@pytest.mark.parametrize(("caller", "status", "code"), CALLERS[:2], ids=["anonymous", "monitor"])
@pytest.mark.parametrize("bad", list(BAD_BODIES), ids=list(BAD_BODIES))
def test_creating_a_patient_checks_the_role_before_the_body(
    client: Any, bad: str, caller: str | None, status: int, code: str
) -> None:
    headers = {**(bearer(client, caller) if caller else {}), "content-type": "application/json"}
    assert_error(client.post("/api/patients", content=BAD_BODIES[bad], headers=headers), status, code)


def test_malformed_json_of_an_authorised_caller_is_a_400(client: Any) -> None:
    headers = {**bearer(client, "nurse_a"), "content-type": "application/json"}
    response = client.post("/api/patients/SLE-A1/labs", content=b"{not json", headers=headers)
    (problem,) = assert_error(response, 400, "bad_request")["problems"]
    assert problem["column"] == "body" and "line 1 column 2" in problem["reason"]


def test_a_date_without_an_infusion_names_the_day_field(client: Any) -> None:
    headers = bearer(client, "nurse_a")
    patient = {"patient_id": "SLE-A9", "site_id": "A", "disease": "SLE", "sex": "female", "birth_year": 1990}
    assert client.post("/api/patients", json={**patient, "diagnosis_year": 2015}, headers=headers).status_code == 201
    response = client.post("/api/patients/SLE-A9/labs", json={**LAB, "date": "2024-02-10"}, headers=headers)
    (problem,) = assert_error(response, 422, "invalid_input")["problems"]
    assert (problem["column"], problem["value"]) == ("day", "")
    assert problem["reason"].startswith("the patient has no infusion (day 0)")
    given = client.post("/api/patients/SLE-A9/labs", json={**LAB, "date": "2024-02-10", "day": 3}, headers=headers)
    assert given.status_code == 201 and given.json()["day"] == 3  # without day 0, the given day is kept
