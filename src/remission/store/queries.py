"""Data-quality queries in the registry: every write of the ``queries`` table, each audited.

:func:`sync_queries` stores what a run of the checks raised, idempotently: a query already open
(or answered) stays as it is, one whose condition vanished is closed with its reason (never
deleted), one the checks had closed comes back when its condition does; a query a person closed
stays closed. :func:`answer_query` and :func:`set_query_status` are the people's moves. Each change
appends an ``audit_log`` row (``entity`` = ``query``, ``entity_id`` = the query id) in the same
transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, func, select, update

from remission.errors import InvalidInputError, Problem
from remission.model.queries import QueryStatus, RaisedQuery
from remission.store import schema
from remission.store.writes import append_audit

#: ``close_reason`` of a query the checks closed because its condition no longer holds.
VANISHED = "condition no longer met when the checks ran again"
#: The actor name of the checks.
CHECKS_ACTOR = "checks"


@dataclass(frozen=True)
class SyncResult:
    """What one :func:`sync_queries` call did (counts of queries)."""

    opened: int = 0
    reopened: int = 0
    kept: int = 0
    closed: int = 0


def _audit(connection: Connection, actor: str, action: str, query_id: int, detail: Mapping[str, Any]) -> None:
    append_audit(connection, actor, action, "query", str(query_id), detail)


def _stored(connection: Connection, rules: Collection[str]) -> dict[tuple[str, str, int], Any]:
    table = schema.queries
    rows = connection.execute(select(table).where(table.c.rule.in_(list(rules)))).all()
    return {(r.rule, r.record_type, r.record_id): r for r in rows}


def sync_queries(
    engine: Engine, raised: Sequence[RaisedQuery], rules: Collection[str], *, actor: str = CHECKS_ACTOR
) -> SyncResult:
    """Store the queries of one run of the checks of ``rules`` (one transaction).

    - not stored yet: inserted ``open`` (audit ``raise``);
    - stored ``open``/``answered``: left as it is, answer included (no duplicate);
    - stored, closed by the checks (``close_reason`` :data:`VANISHED`) and raised again:
      ``open`` again (audit ``reopen``);
    - stored, closed by a person: left closed (their decision stands);
    - stored ``open``/``answered`` of one of ``rules`` but not raised now: ``closed`` with
      reason :data:`VANISHED` (audit ``close``); rules not in ``rules`` are not touched.

    Examples
    --------
    >>> from remission.store import connect, migrate, save_cohort
    >>> from remission.model import Cohort, Patient, Site
    >>> engine = connect("sqlite:///:memory:"); migrate(engine)
    >>> p = Patient(patient_id="P1", site_id="S1", disease="SLE", sex="female", birth_year=1990, diagnosis_year=2015)
    >>> _ = save_cohort(engine, Cohort(sites=(Site(site_id="S1"),), patients=(p,)))
    >>> q = RaisedQuery("P1", "assessments", 1, "r", "item contradicts lab")
    >>> sync_queries(engine, [q], {"r"}), sync_queries(engine, [q], {"r"})
    (SyncResult(opened=1, reopened=0, kept=0, closed=0), SyncResult(opened=0, reopened=0, kept=1, closed=0))
    >>> sync_queries(engine, [], {"r"}).closed
    1
    """
    wanted = set(rules)
    unknown = sorted({q.rule for q in raised} - wanted)
    if unknown:
        raise InvalidInputError(
            [Problem(None, "rule", r, "raised by a rule not among the rules checked") for r in unknown]
        )
    counts = {"opened": 0, "reopened": 0, "kept": 0, "closed": 0}
    with engine.begin() as connection:
        stored = _stored(connection, wanted)
        for query in {q.key: q for q in raised}.values():
            counts[_store_one(connection, stored.pop(query.key, None), query, actor)] += 1
        for row in stored.values():
            if row.status != QueryStatus.CLOSED:
                _move(connection, row.id, QueryStatus.CLOSED, actor, "close", close_reason=VANISHED)
                counts["closed"] += 1
        append_audit(connection, actor, "check", "queries", "-", counts | {"rules": sorted(wanted)})
    return SyncResult(**counts)


def last_check(engine: Engine) -> dict[str, Any] | None:
    """When the checks last ran and what they did (their audit row), or None if they never ran."""
    log = schema.audit_log
    query = select(log.c.at, log.c.detail).where(log.c.entity == "queries", log.c.action == "check")
    with engine.connect() as connection:
        row = connection.execute(query.order_by(log.c.id.desc()).limit(1)).first()
    return None if row is None else {"at": row.at, **row.detail}


def _store_one(connection: Connection, row: Any, query: RaisedQuery, actor: str) -> str:
    if row is None:
        new_id = connection.execute(
            schema.queries.insert().values(
                patient_id=query.patient_id,
                record_type=query.record_type,
                record_id=query.record_id,
                rule=query.rule,
                values=query.values,
                message=query.message,
                status=QueryStatus.OPEN.value,
                answer="",
                close_reason="",
                updated_by=actor,
            )
        ).inserted_primary_key
        assert new_id is not None
        _audit(connection, actor, "raise", int(new_id[0]), {"rule": query.rule, "patient_id": query.patient_id})
        return "opened"
    if row.status == QueryStatus.CLOSED and row.close_reason == VANISHED:
        _move(
            connection,
            row.id,
            QueryStatus.OPEN,
            actor,
            "reopen",
            "raised again",
            close_reason="",
            values=query.values,
            message=query.message,
        )
        return "reopened"
    return "kept"


def _move(
    connection: Connection, query_id: int, status: QueryStatus, actor: str, action: str, note: str = "", **changes: Any
) -> None:
    table = schema.queries
    old = connection.execute(select(table.c.status).where(table.c.id == query_id)).scalar_one()
    connection.execute(
        update(table)
        .where(table.c.id == query_id)
        .values(status=status.value, updated_at=func.current_timestamp(), updated_by=actor, **changes)
    )
    detail = {"status": [old, status.value]} | {k: v for k, v in changes.items() if k in ("answer", "close_reason")}
    if note:
        detail["reason"] = note
    _audit(connection, actor, action, query_id, detail)


def get_query(engine: Engine, query_id: int) -> dict[str, Any] | None:
    """One query with its patient's ``site_id``; None when there is none."""
    rows = list_queries(engine, query_id=query_id)
    return rows[0] if rows else None


def list_queries(
    engine: Engine,
    *,
    status: str | None = None,
    patient_id: str | None = None,
    site_id: str | None = None,
    query_id: int | None = None,
) -> list[dict[str, Any]]:
    """Stored queries (with the patient's ``site_id``), by patient, rule and record.

    ``status`` must be one of :class:`~remission.model.queries.QueryStatus` when given.
    """
    if status is not None and status not in set(QueryStatus):
        raise InvalidInputError([Problem(None, "status", status, "expected one of open, answered, closed")])
    table = schema.queries
    query = select(table, schema.patients.c.site_id).join(schema.patients)
    for column, value in ((table.c.status, status), (table.c.patient_id, patient_id), (table.c.id, query_id)):
        if value is not None:
            query = query.where(column == value)
    if site_id is not None:
        query = query.where(schema.patients.c.site_id == site_id)
    query = query.order_by(table.c.patient_id, table.c.rule, table.c.record_type, table.c.record_id)
    with engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(query)]


def _require(engine: Engine, query_id: int) -> dict[str, Any]:
    found = get_query(engine, query_id)
    if found is None:
        raise InvalidInputError([Problem(None, "query_id", str(query_id), "no such query")])
    return found


def answer_query(engine: Engine, query_id: int, answer: str, *, actor: str) -> dict[str, Any]:
    """The site's answer: ``answer`` text stored, status ``answered`` (audit ``answer``).

    A closed query cannot be answered (reopen it first); the answer must not be empty.
    """
    text = answer.strip()
    if not text:
        raise InvalidInputError([Problem(None, "answer", answer, "an answer needs some text")])
    current = _require(engine, query_id)
    if current["status"] == QueryStatus.CLOSED:
        raise InvalidInputError([Problem(None, "status", "closed", "a closed query cannot be answered; reopen it")])
    with engine.begin() as connection:
        _move(connection, query_id, QueryStatus.ANSWERED, actor, "answer", answer=text)
    return _require(engine, query_id)


def set_query_status(engine: Engine, query_id: int, status: str, reason: str, *, actor: str) -> dict[str, Any]:
    """Close a query (``closed``, with ``reason``) or reopen it (``open``), audited.

    ``reason`` is required for both (why it is resolved, or what is still wrong).
    """
    if status not in (QueryStatus.OPEN, QueryStatus.CLOSED):
        raise InvalidInputError([Problem(None, "status", status, "expected open or closed")])
    if not reason.strip():
        raise InvalidInputError([Problem(None, "reason", reason, "a status change needs a reason")])
    current = _require(engine, query_id)
    if current["status"] == status:
        raise InvalidInputError([Problem(None, "status", status, f"query {query_id} is {status} already")])
    action = "close" if status == QueryStatus.CLOSED else "reopen"
    with engine.begin() as connection:
        closing = status == QueryStatus.CLOSED
        reason_text = reason.strip()
        _move(
            connection,
            query_id,
            QueryStatus(status),
            actor,
            action,
            reason_text,
            close_reason=reason_text if closing else "",
        )
    return _require(engine, query_id)
