"""REST API: health, OpenAPI, auth, the role × route access matrix, site isolation, error shape."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from webhelpers import PASSWORDS, bearer

ERROR_KEYS = {"code", "message", "problems"}


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == ERROR_KEYS
    assert body["error"]["code"] == code
    for problem in body["error"]["problems"]:
        assert set(problem) == {"row", "column", "value", "reason"}
    return body["error"]


def test_health_answers_ok_without_login(client: Any) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_openapi_lists_the_api_and_its_error_shape(client: Any) -> None:
    spec = client.get("/openapi.json").json()
    for path in (
        "/api/health",
        "/api/auth/token",
        "/api/patients",
        "/api/patients/{patient_id}",
        "/api/patients/{patient_id}/assessments",
        "/api/score/{index}",
        "/api/indices",
    ):
        assert path in spec["paths"], path
    assert "ErrorResponse" in spec["components"]["schemas"]
    assert not any(p.startswith("/patients") for p in spec["paths"]), "pages are not part of the API schema"


def test_token_for_right_password_and_401_for_wrong(client: Any) -> None:
    good = client.post("/api/auth/token", data={"username": "admin", "password": PASSWORDS["admin"]})
    assert good.status_code == 200
    assert good.json()["token_type"] == "bearer" and good.json()["expires_in"] == 8 * 3600
    wrong = client.post("/api/auth/token", data={"username": "admin", "password": "not-the-password"})
    assert_error(wrong, 401, "unauthorized")
    assert wrong.headers["WWW-Authenticate"] == "Bearer"
    unknown = client.post("/api/auth/token", data={"username": "nobody", "password": "whatever-1"})
    assert_error(unknown, 401, "unauthorized")


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer forged.token"}, {"Authorization": "Basic YWRtaW46eA=="}],
    ids=["none", "forged", "not-bearer"],
)
def test_api_refuses_requests_without_a_valid_token(client: Any, headers: dict[str, str]) -> None:
    assert_error(client.get("/api/patients", headers=headers), 401, "unauthorized")


def test_a_tampered_token_is_refused(client: Any) -> None:
    token = bearer(client, "nurse_a")["Authorization"].removeprefix("Bearer ")
    payload, signature = token.split(".")
    tampered = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + signature
    assert_error(client.get("/api/me", headers={"Authorization": "Bearer " + tampered}), 401, "unauthorized")


def test_logout_revokes_the_token(client: Any) -> None:
    headers = bearer(client, "monitor")
    assert client.get("/api/me", headers=headers).json() == {"username": "monitor", "role": "monitor", "site_id": None}
    assert client.post("/api/auth/logout", headers=headers).status_code == 204
    assert_error(client.get("/api/me", headers=headers), 401, "unauthorized")


VISIT = {"index": "sledai2k", "date": "2024-04-10", "visit": "month 3", "items": {"rash": 1, "arthritis": 0}}

READ_PATIENTS = {"admin": 200, "monitor": 200, "nurse_a": 200, "nurse_b": 404, "stat": 403}
WRITE_A = {"admin": 201, "monitor": 403, "nurse_a": 201, "nurse_b": 404, "stat": 403}
CHANGE_A = {"admin": 200, "monitor": 403, "nurse_a": 200, "nurse_b": 404, "stat": 403}
DELETE_A = {"admin": 204, "monitor": 403, "nurse_a": 204, "nurse_b": 404, "stat": 403}
EVERYONE = {"admin": 200, "monitor": 200, "nurse_a": 200, "nurse_b": 200, "stat": 200}
COHORT_WIDE = {"admin": 200, "monitor": 200, "nurse_a": 403, "nurse_b": 403, "stat": 200}
NEW_PATIENT = {
    "patient_id": "SLE-A2",
    "site_id": "A",
    "disease": "SLE",
    "sex": "male",
    "birth_year": 1980,
    "diagnosis_year": 2001,
}

# (method, path, body) → expected status per user: the access matrix of the issue. Every request
# carries If-Match "1" (the version of the conftest's patients); ``{kind}`` in a path is the id
# of SLE-A1's first record of that kind. test_access_matrix_covers_every_api_route checks that
# every API route is here.
MATRIX: list[tuple[str, str, dict[str, Any] | None, dict[str, int]]] = [
    ("GET", "/api/health", None, EVERYONE),
    ("GET", "/api/me", None, EVERYONE),
    ("POST", "/api/auth/logout", None, {u: 204 for u in EVERYONE}),
    ("GET", "/api/indices", None, EVERYONE),
    ("POST", "/api/score/sledai2k", {"rows": [{"rash": 1}], "missing": "absent"}, EVERYONE),
    ("GET", "/api/patients", None, {"admin": 200, "monitor": 200, "nurse_a": 200, "nurse_b": 200, "stat": 403}),
    ("POST", "/api/patients", NEW_PATIENT, {"admin": 201, "monitor": 403, "nurse_a": 201, "nurse_b": 403, "stat": 403}),
    ("GET", "/api/patients/SLE-A1", None, READ_PATIENTS),
    ("PATCH", "/api/patients/SLE-A1", {"diagnosis_year": 2016}, CHANGE_A),
    ("DELETE", "/api/patients/SLE-A1", None, DELETE_A),
    ("GET", "/api/patients/SLE-A1/audit", None, READ_PATIENTS),
    ("POST", "/api/patients/SLE-A1/assessments", VISIT, WRITE_A),
    (
        "POST",
        "/api/patients/SLE-A1/infusions",
        {"date": "2024-06-01", "cells_per_kg": 1e6, "product": "second dose"},
        WRITE_A,
    ),
    (
        "POST",
        "/api/patients/SLE-A1/labs",
        {"date": "2024-02-10", "day": 31, "analyte": "crp_mg_l", "value": 3.0, "unit": "mg/L"},
        WRITE_A,
    ),
    (
        "POST",
        "/api/patients/SLE-A1/medications",
        {"drug": "hydroxychloroquine", "dose": 200, "start_date": "2024-03-01", "start_day": 51},
        WRITE_A,
    ),
    (
        "POST",
        "/api/patients/SLE-A1/adverse_events",
        {"term": "neutropenia", "category": "cytopenia", "grade": 2, "onset_date": "2024-01-20", "onset_day": 10},
        WRITE_A,
    ),
    ("PATCH", "/api/patients/SLE-A1/infusions/{infusions}", {"cells_per_kg": 2e6}, CHANGE_A),
    ("PATCH", "/api/patients/SLE-A1/assessments/{assessments}", {"items": {"arthritis": 1, "rash": 1}}, CHANGE_A),
    ("PATCH", "/api/patients/SLE-A1/labs/{labs}", {"value": 60.0}, CHANGE_A),
    ("PATCH", "/api/patients/SLE-A1/medications/{medications}", {"dose": 2.5}, CHANGE_A),
    ("PATCH", "/api/patients/SLE-A1/adverse_events/{adverse_events}", {"grade": 2}, CHANGE_A),
    ("DELETE", "/api/patients/SLE-A1/labs/{labs}", None, DELETE_A),
    ("DELETE", "/api/patients/SLE-A1/assessments/{assessments}", None, DELETE_A),
    ("GET", "/api/export/patients", None, COHORT_WIDE),
    ("GET", "/api/cohort/summary", None, EVERYONE),
    ("GET", "/api/cohort/milestones", None, COHORT_WIDE),
]
#: Routes outside the matrix, and why.
NOT_IN_MATRIX = {("POST", "/api/auth/token"): "logging in: test_token_for_right_password_and_401_for_wrong"}


def _record_ids(engine: Engine, patient_id: str) -> dict[str, str]:
    from remission.web.services import RECORD_KINDS

    with engine.connect() as connection:
        return {
            kind: str(connection.execute(select(func.min(t.c.id)).where(t.c.patient_id == patient_id)).scalar())
            for kind, (t, _model) in RECORD_KINDS.items()
        }


@pytest.mark.parametrize("user", sorted(PASSWORDS))
@pytest.mark.parametrize(("method", "path", "body", "expected"), MATRIX, ids=[f"{m} {p}" for m, p, _, _ in MATRIX])
def test_access_matrix(
    client: Any,
    app_engine: Engine,
    user: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    expected: dict[str, int],
) -> None:
    url = path.format(**_record_ids(app_engine, "SLE-A1"))
    headers = bearer(client, user) | {"If-Match": '"1"'}
    response = client.request(method, url, headers=headers, json=body)
    assert response.status_code == expected[user], response.text
    if response.status_code >= 400:
        assert_error(response, expected[user], {403: "forbidden", 404: "not_found"}[expected[user]])


def test_access_matrix_covers_every_api_route() -> None:
    from fastapi.routing import APIRoute

    from remission.web.api import router

    def pattern(template: str) -> re.Pattern[str]:
        return re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$")

    routes = {
        (method, route.path) for route in router.routes if isinstance(route, APIRoute) for method in route.methods
    }
    assert len(routes) >= 22
    uncovered = sorted(
        (method, template)
        for method, template in routes - set(NOT_IN_MATRIX)
        if not any(m == method and pattern(template).match(p) for m, p, _, _ in MATRIX)
    )
    assert uncovered == []


def test_investigator_lists_only_their_own_site(client: Any) -> None:
    listed = client.get("/api/patients", headers=bearer(client, "nurse_a")).json()
    assert listed["total"] == 1 and [p["patient_id"] for p in listed["items"]] == ["SLE-A1"]
    other_site = client.get("/api/patients", params={"site": "B"}, headers=bearer(client, "nurse_a")).json()
    assert other_site == {"items": [], "total": 0}
    assert client.get("/api/patients", headers=bearer(client, "monitor")).json()["total"] == 2


def test_another_sites_patient_is_not_found_exactly_like_a_missing_one(client: Any) -> None:
    headers = bearer(client, "nurse_a")
    hidden = assert_error(client.get("/api/patients/SLE-B1", headers=headers), 404, "not_found")
    missing = assert_error(client.get("/api/patients/NOPE-9", headers=headers), 404, "not_found")
    assert hidden["message"].replace("SLE-B1", "X") == missing["message"].replace("NOPE-9", "X")


def test_patient_detail_has_every_record_kind_with_scores(client: Any) -> None:
    headers = bearer(client, "nurse_a")
    saved = client.post("/api/patients/SLE-A1/assessments", headers=headers, json=VISIT)
    assert saved.status_code == 201
    # Day from the infusion date (2024-01-10) to 2024-04-10 = 91 days (hand count: 21 + 29 + 31 + 10).
    assert saved.json()["day"] == 91
    detail = client.get("/api/patients/SLE-A1", headers=headers)
    body = detail.json()
    assert detail.headers["ETag"] == f'"{body["version"]}"'
    for kind in ("infusions", "assessments", "labs", "medications", "adverse_events"):
        assert body[kind], kind
    scored = next(a for a in body["assessments"] if a["visit"] == "month 3")
    # SLEDAI-2K weight of rash = 2 (Gladman 2002); arthritis recorded absent; other items missing.
    (score,) = scored["scores"]
    assert score["index"] == "sledai2k" and score["explain"] == "rash=2"
    assert scored["items"] == {"rash": 1, "arthritis": 0}


def test_score_endpoint_follows_the_cli_contract(client: Any) -> None:
    headers = bearer(client, "stat")
    rows = [{"arthritis": 1, "rash": 1}, {"rash": "yes", "id": "x"}]
    body = client.post("/api/score/sledai2k", headers=headers, json={"rows": rows, "missing": "absent"}).json()
    # Gladman 2002 weights: arthritis 4 + rash 2 = 6; rash alone = 2. Input columns are kept.
    assert [r["sledai2k"] for r in body["rows"]] == [6, 2]
    assert [r["sledai2k_explain"] for r in body["rows"]] == ["arthritis=4; rash=2", "rash=2"]
    assert body["rows"][1]["id"] == "x" and body["problems"] == []


def test_score_endpoint_skips_bad_rows_on_request(client: Any) -> None:
    rows = [{"rash": 1}, {"rash": 5}]
    body = client.post(
        "/api/score/sledai2k",
        headers=bearer(client, "admin"),
        json={"rows": rows, "missing": "absent", "on_error": "skip"},
    ).json()
    assert [r["sledai2k"] for r in body["rows"]] == [2]
    assert body["problems"] == [
        {"row": 2, "column": "rash", "value": "5", "reason": "must be 0 or 1 (also true/false, yes/no)"}
    ]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("GET", "/api/patients/NOPE", {}, 404, "not_found"),
        ("GET", "/api/no-such-route", {}, 404, "not_found"),
        ("GET", "/api/score/unknown-index", {}, 405, "method_not_allowed"),
        ("DELETE", "/api/health", {}, 405, "method_not_allowed"),
        ("POST", "/api/score/sledai2k", {"json": {"rows": [{"rash": 7}]}}, 422, "invalid_input"),
        ("POST", "/api/score/no-such-index", {"json": {"rows": [{"rash": 1}]}}, 422, "invalid_input"),
        ("POST", "/api/score/sledai2k", {"json": {"rows": []}}, 422, "invalid_input"),
        ("POST", "/api/patients/SLE-A1/assessments", {"json": {"index": "sledai2k"}}, 422, "invalid_input"),
        (
            "POST",
            "/api/score/sledai2k",
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
            400,
            "bad_request",
        ),
    ],
    ids=[
        "unknown-patient",
        "unknown-route",
        "wrong-method",
        "delete-health",
        "out-of-range",
        "unknown-index",
        "no-rows",
        "missing-fields",
        "malformed-json",
    ],
)
def test_every_api_error_has_the_one_shape(
    client: Any, method: str, path: str, kwargs: dict[str, Any], status: int, code: str
) -> None:
    kwargs = dict(kwargs)  # the parametrize dict is shared by the SQLite and PostgreSQL runs
    headers = {**bearer(client, "admin"), **kwargs.pop("headers", {})}
    error = assert_error(client.request(method, path, headers=headers, **kwargs), status, code)
    assert error["message"]


def test_out_of_range_value_names_row_column_value_reason(client: Any) -> None:
    response = client.post(
        "/api/score/sledai2k", headers=bearer(client, "admin"), json={"rows": [{"rash": 0}, {"rash": 7}]}
    )
    error = assert_error(response, 422, "invalid_input")
    assert error["problems"] == [
        {"row": 2, "column": "rash", "value": "7", "reason": "must be 0 or 1 (also true/false, yes/no)"}
    ]


def test_unexpected_failure_answers_500_in_the_error_shape(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from remission.web import services

    def boom(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("secret detail SLE-A1")

    monkeypatch.setattr(services, "list_patients", boom)
    error = assert_error(client.get("/api/patients", headers=bearer(client, "admin")), 500, "internal_error")
    assert "SLE-A1" not in error["message"]


def test_export_is_pseudonymised(client: Any) -> None:
    body = client.get("/api/export/labs", headers=bearer(client, "stat")).json()
    assert body["total"] == 2
    assert "date" not in body["items"][0] and body["items"][0]["day"] == 9
    patients = client.get("/api/export/patients", headers=bearer(client, "stat")).json()["items"]
    assert "birth_year" not in patients[0] and patients[0]["age_at_diagnosis"] == 25
