"""The queries table: idempotent syncs, vanished conditions closed (never deleted), people's moves audited."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine, select

from remission.errors import InvalidInputError
from remission.model import Cohort, Patient, Site
from remission.model.queries import RaisedQuery
from remission.store import save_cohort, schema
from remission.store.queries import (
    VANISHED,
    SyncResult,
    answer_query,
    last_check,
    list_queries,
    set_query_status,
    sync_queries,
)

RULES = {"r1", "r2"}


@pytest.fixture
def stored(engine: Engine) -> Engine:
    patients = tuple(
        Patient(patient_id=p, site_id=s, disease="SLE", sex="female", birth_year=1990, diagnosis_year=2015)
        for p, s in (("P1", "A"), ("P2", "B"))
    )
    save_cohort(engine, Cohort(sites=(Site(site_id="A"), Site(site_id="B")), patients=patients))
    return engine


def q(rule: str = "r1", record_id: int = 1, patient: str = "P1", message: str = "m") -> RaisedQuery:
    return RaisedQuery(
        patient, "assessments", record_id, rule, message, {"day": 30, "on": date(2024, 1, 1).isoformat()}
    )


def audit(engine: Engine) -> list[tuple[str, str, str, str]]:
    log = schema.audit_log
    with engine.connect() as connection:
        rows = connection.execute(select(log.c.actor, log.c.action, log.c.entity, log.c.entity_id).order_by(log.c.id))
        return [tuple(r) for r in rows if r.entity in ("query", "queries")]


def test_running_the_same_checks_twice_raises_each_query_once(stored: Engine) -> None:
    raised = [q(), q(record_id=2), q("r2", 1, "P2")]
    assert sync_queries(stored, raised, RULES) == SyncResult(opened=3)
    assert sync_queries(stored, raised, RULES) == SyncResult(kept=3)
    rows = list_queries(stored)
    assert len(rows) == 3 and {r["status"] for r in rows} == {"open"}
    assert rows[0]["values"] == {"day": 30, "on": "2024-01-01"} and rows[0]["site_id"] == "A"
    assert [a[1] for a in audit(stored)] == ["raise", "raise", "raise", "check", "check"]


def test_a_duplicate_within_one_run_is_stored_once(stored: Engine) -> None:
    assert sync_queries(stored, [q(), q()], RULES) == SyncResult(opened=1)


def test_vanished_condition_closes_with_reason_and_comes_back_when_it_returns(stored: Engine) -> None:
    sync_queries(stored, [q(), q(record_id=2)], RULES)
    assert sync_queries(stored, [q()], RULES) == SyncResult(kept=1, closed=1)
    closed = list_queries(stored, status="closed")
    assert [(r["record_id"], r["close_reason"], r["updated_by"]) for r in closed] == [(2, VANISHED, "checks")]
    assert len(list_queries(stored)) == 2  # nothing deleted
    assert sync_queries(stored, [q(), q(record_id=2)], RULES) == SyncResult(reopened=1, kept=1)
    assert {r["status"] for r in list_queries(stored)} == {"open"}


def test_rules_not_checked_now_are_left_alone(stored: Engine) -> None:
    sync_queries(stored, [q("r2")], RULES)
    assert sync_queries(stored, [], {"r1"}) == SyncResult()
    assert list_queries(stored)[0]["status"] == "open"


def test_a_query_of_a_rule_not_checked_is_refused(stored: Engine) -> None:
    with pytest.raises(InvalidInputError, match="column rule: value r9"):
        sync_queries(stored, [q("r9")], RULES)
    assert list_queries(stored) == []


def test_answer_then_close_by_a_person_stays_closed_on_rerun(stored: Engine) -> None:
    sync_queries(stored, [q()], RULES)
    query_id = list_queries(stored)[0]["id"]
    answered = answer_query(stored, query_id, "  lab attributed to lymphodepletion  ", actor="nurse_a")
    assert (answered["status"], answered["answer"], answered["updated_by"]) == (
        "answered",
        "lab attributed to lymphodepletion",
        "nurse_a",
    )
    assert sync_queries(stored, [q()], RULES) == SyncResult(kept=1)
    assert list_queries(stored)[0]["status"] == "answered"  # the answer is kept
    set_query_status(stored, query_id, "closed", "answer accepted", actor="monitor")
    assert sync_queries(stored, [q()], RULES) == SyncResult(kept=1)
    row = list_queries(stored)[0]
    assert (row["status"], row["close_reason"]) == ("closed", "answer accepted")
    actions = [a for a in audit(stored) if a[2] == "query"]
    assert [a[:2] for a in actions] == [("checks", "raise"), ("nurse_a", "answer"), ("monitor", "close")]


def test_reopen_needs_a_reason_and_clears_the_close_reason(stored: Engine) -> None:
    sync_queries(stored, [q()], RULES)
    query_id = list_queries(stored)[0]["id"]
    set_query_status(stored, query_id, "closed", "resolved", actor="monitor")
    with pytest.raises(InvalidInputError, match="column reason"):
        set_query_status(stored, query_id, "open", " ", actor="monitor")
    reopened = set_query_status(stored, query_id, "open", "answer does not explain the lab", actor="monitor")
    assert (reopened["status"], reopened["close_reason"]) == ("open", "")
    log = schema.audit_log
    with stored.connect() as connection:
        detail = connection.execute(select(log.c.detail).where(log.c.action == "reopen")).scalar_one()
    assert detail == {"status": ["closed", "open"], "close_reason": "", "reason": "answer does not explain the lab"}


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda e, i: answer_query(e, i, "", actor="x"), "column answer: value : an answer needs some text"),
        (lambda e, i: answer_query(e, 999, "ok", actor="x"), "column query_id: value 999: no such query"),
        (lambda e, i: set_query_status(e, i, "answered", "r", actor="x"), "column status: value answered"),
        (lambda e, i: set_query_status(e, i, "open", "r", actor="x"), "is open already"),
        (lambda e, i: list_queries(e, status="pending"), "column status: value pending"),
    ],
    ids=["empty-answer", "unknown-id", "status-answered", "same-status", "list-bad-status"],
)
def test_bad_moves_are_refused_and_write_nothing(stored: Engine, call, match: str) -> None:  # type: ignore[no-untyped-def]
    sync_queries(stored, [q()], RULES)
    query_id = list_queries(stored)[0]["id"]
    before = audit(stored)
    with pytest.raises(InvalidInputError, match=match):
        call(stored, query_id)
    assert audit(stored) == before and list_queries(stored)[0]["status"] == "open"


def test_a_closed_query_cannot_be_answered(stored: Engine) -> None:
    sync_queries(stored, [q()], RULES)
    query_id = list_queries(stored)[0]["id"]
    set_query_status(stored, query_id, "closed", "done", actor="monitor")
    with pytest.raises(InvalidInputError, match="reopen it"):
        answer_query(stored, query_id, "late answer", actor="nurse_a")


def test_filters_and_last_check(stored: Engine) -> None:
    assert last_check(stored) is None
    sync_queries(stored, [q(), q("r2", 1, "P2")], RULES)
    assert [r["patient_id"] for r in list_queries(stored, site_id="B")] == ["P2"]
    assert [r["rule"] for r in list_queries(stored, patient_id="P1")] == ["r1"]
    ran = last_check(stored)
    assert ran is not None and (ran["opened"], ran["rules"]) == (2, ["r1", "r2"])


def test_correcting_the_source_record_closes_its_query_on_the_next_check(stored: Engine) -> None:
    """End to end (pipeline.check_database): proteinuria recorded absent on day 30 with 1.32 g/24 h
    on day 28 is a query; the site corrects the item to 1 (an ordinary re-import of the visit),
    and the next check closes the query with its reason — the row stays."""
    from remission.model import Assessment, LabResult
    from remission.pipeline import check_database

    def visit(proteinuria: int) -> Cohort:
        assessment = Assessment(
            patient_id="P1",
            date=date(2024, 2, 9),
            day=30,
            visit="month 1",
            form="sle",
            items={"proteinuria": proteinuria},
        )
        lab = LabResult(
            patient_id="P1", date=date(2024, 2, 7), day=28, analyte="proteinuria_g_24h", value=1.32, unit="g/24 h"
        )
        return Cohort(assessments=(assessment,), labs=(lab,))

    save_cohort(stored, visit(0))
    assert check_database(stored).opened == 1
    assert check_database(stored) == SyncResult(kept=1)
    save_cohort(stored, visit(1))
    assert check_database(stored) == SyncResult(closed=1)
    [row] = list_queries(stored)
    assert (row["status"], row["close_reason"], row["rule"]) == ("closed", VANISHED, "sledai2k_proteinuria_vs_lab")
