"""The queries page: site scoping, the investigator's answer, the monitor's close, every move audited."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, select
from webhelpers import page_login

from remission.model.queries import RaisedQuery
from remission.store import schema
from remission.store.queries import list_queries, sync_queries

RULE = "sledai2k_proteinuria_vs_lab"


@pytest.fixture
def raised(app_engine: Engine) -> dict[str, int]:
    """One open query per site's patient; returns patient id → query id."""
    found = [
        RaisedQuery(p, "assessments", n, RULE, f"proteinuria recorded absent on day 30 ({p})", {"day": 30})
        for n, p in ((1, "SLE-A1"), (2, "SLE-B1"))
    ]
    sync_queries(app_engine, found, {RULE})
    return {r["patient_id"]: r["id"] for r in list_queries(app_engine)}


def query_audit(engine: Engine) -> list[tuple[str, str, str]]:
    log = schema.audit_log
    with engine.connect() as connection:
        rows = connection.execute(select(log.c.actor, log.c.action, log.c.entity_id).where(log.c.entity == "query"))
        return [tuple(r) for r in rows]


def test_logged_out_is_sent_to_the_login(client: Any) -> None:
    response = client.get("/queries", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_investigator_sees_only_their_site(client: Any, raised: dict[str, int]) -> None:
    page_login(client, "nurse_a")
    html = client.get("/queries").text
    assert "(SLE-A1)" in html and "SLE-B1" not in html
    assert f'action="/queries/{raised["SLE-A1"]}/answer"' in html
    assert "/status" not in html  # an investigator does not close queries


def test_monitor_sees_every_site_and_may_close_but_not_answer(client: Any, raised: dict[str, int]) -> None:
    page_login(client, "monitor")
    html = client.get("/queries?status=open").text
    assert "(SLE-A1)" in html and "(SLE-B1)" in html
    assert "/answer" not in html and f'action="/queries/{raised["SLE-B1"]}/status"' in html


def test_statistician_reads_no_queries(client: Any, raised: dict[str, int]) -> None:
    page_login(client, "stat")
    assert client.get("/queries").status_code == 403


def test_investigator_answers_and_the_answer_is_audited(
    client: Any, app_engine: Engine, raised: dict[str, int]
) -> None:
    csrf = page_login(client, "nurse_a")
    query_id = raised["SLE-A1"]
    response = client.post(
        f"/queries/{query_id}/answer",
        data={"csrf_token": csrf, "answer": "24-h urine collected after the visit; item corrected"},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == f"/queries#query-{query_id}"
    [row] = list_queries(app_engine, patient_id="SLE-A1")
    assert (row["status"], row["answer"], row["updated_by"]) == (
        "answered",
        "24-h urine collected after the visit; item corrected",
        "nurse_a",
    )
    assert ("nurse_a", "answer", str(query_id)) in query_audit(app_engine)
    assert "24-h urine collected" in client.get("/queries").text


def test_another_sites_query_is_not_found_for_an_investigator(
    client: Any, app_engine: Engine, raised: dict[str, int]
) -> None:
    csrf = page_login(client, "nurse_a")
    response = client.post(f"/queries/{raised['SLE-B1']}/answer", data={"csrf_token": csrf, "answer": "x"})
    assert response.status_code == 404
    assert list_queries(app_engine, patient_id="SLE-B1")[0]["status"] == "open"


@pytest.mark.parametrize(
    ("user", "path", "data", "status"),
    [
        ("nurse_a", "status", {"status": "closed", "reason": "fixed"}, 403),
        ("monitor", "answer", {"answer": "x"}, 403),
        ("nurse_a", "answer", {"answer": "  "}, 422),
        ("monitor", "status", {"status": "closed", "reason": ""}, 422),
    ],
    ids=["investigator-closes", "monitor-answers", "empty-answer", "close-without-reason"],
)
def test_refused_moves_write_nothing(
    client: Any, app_engine: Engine, raised: dict[str, int], user: str, path: str, data: dict[str, str], status: int
) -> None:
    csrf = page_login(client, user)
    before = query_audit(app_engine)
    response = client.post(f"/queries/{raised['SLE-A1']}/{path}", data={"csrf_token": csrf, **data})
    assert response.status_code == status
    assert query_audit(app_engine) == before
    assert list_queries(app_engine, patient_id="SLE-A1")[0]["status"] == "open"


def test_a_form_without_its_csrf_token_is_refused(client: Any, app_engine: Engine, raised: dict[str, int]) -> None:
    page_login(client, "nurse_a")
    response = client.post(f"/queries/{raised['SLE-A1']}/answer", data={"answer": "ok"})
    assert response.status_code == 403
    assert list_queries(app_engine, patient_id="SLE-A1")[0]["status"] == "open"


def test_monitor_closes_then_reopens_with_reasons(client: Any, app_engine: Engine, raised: dict[str, int]) -> None:
    csrf = page_login(client, "monitor")
    query_id = raised["SLE-B1"]
    closing = {"csrf_token": csrf, "status": "closed", "reason": "source verified"}
    assert client.post(f"/queries/{query_id}/status", data=closing, follow_redirects=False).status_code == 303
    row = list_queries(app_engine, patient_id="SLE-B1")[0]
    assert (row["status"], row["close_reason"], row["updated_by"]) == ("closed", "source verified", "monitor")
    assert "Reopen" in client.get("/queries?status=closed").text
    reopening = {"csrf_token": csrf, "status": "open", "reason": "lab still contradicts"}
    assert client.post(f"/queries/{query_id}/status", data=reopening, follow_redirects=False).status_code == 303
    moves = [a for a in query_audit(app_engine) if a[2] == str(query_id)]
    assert [a[:2] for a in moves] == [("checks", "raise"), ("monitor", "close"), ("monitor", "reopen")]
