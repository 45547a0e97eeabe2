"""The data-quality queries page: a site's queries, answered by its investigator, closed by a monitor.

Site scoping follows :mod:`remission.web.services`: an investigator sees the queries of patients
of their own site only, and a query of another site is *not found*; admin and monitor see every
site; a statistician reads no patient records, so no queries. The site's investigator (or an
admin) answers; a monitor (or an admin) closes or reopens, with a reason. Every move is written
with its audit row by :mod:`remission.store.queries`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from remission.model.queries import QueryStatus
from remission.store.queries import answer_query, get_query, list_queries, set_query_status
from remission.web.deps import current_user, engine_of
from remission.web.security import User
from remission.web.services import Forbidden, NotFound

router = APIRouter(include_in_schema=False)
UserDep = Annotated[User, Depends(current_user)]


def can_answer(user: User, query: dict[str, Any]) -> bool:
    """The site's investigator, or an admin."""
    return user.can_write_site(query["site_id"])


def can_close(user: User) -> bool:
    """Monitors and admins review answers and close (or reopen) queries."""
    return user.role in ("admin", "monitor")


def visible_queries(request: Request, user: User, status: str | None, patient: str | None) -> list[dict[str, Any]]:
    """The queries ``user`` may read (their site's, or all for admin and monitor)."""
    if not user.can_read_patients():
        raise Forbidden(f"role {user.role} cannot read patient records")
    site = None if user.all_sites else (user.site_id or "")
    return list_queries(engine_of(request), status=status, patient_id=patient, site_id=site)


def _query_of(request: Request, user: User, query_id: int) -> dict[str, Any]:
    found = get_query(engine_of(request), query_id)
    if found is None or not user.can_read_site(found["site_id"]):
        raise NotFound(f"no query {query_id}")
    return found


@router.get("/queries")
async def queries_page(request: Request, user: UserDep, status: str = "", patient: str = "") -> Response:
    from remission.web.pages import _render

    rows = visible_queries(request, user, status or None, patient or None)
    return _render(
        request,
        "queries.html",
        queries=rows,
        chosen_status=status,
        patient=patient,
        statuses=[s.value for s in QueryStatus],
        answerable={q["id"] for q in rows if can_answer(user, q) and q["status"] != QueryStatus.CLOSED},
        closable=can_close(user),
    )


@router.post("/queries/{query_id}/answer")
async def answer(request: Request, query_id: int, user: UserDep) -> Response:
    query = _query_of(request, user, query_id)
    if not can_answer(user, query):
        raise Forbidden(f"role {user.role} cannot answer queries of site {query['site_id']}")
    form = await request.form()
    answer_query(engine_of(request), query_id, str(form.get("answer", "")), actor=user.username)
    return RedirectResponse(f"/queries#query-{query_id}", status_code=303)


@router.post("/queries/{query_id}/status")
async def change_status(request: Request, query_id: int, user: UserDep) -> Response:
    _query_of(request, user, query_id)
    if not can_close(user):
        raise Forbidden(f"role {user.role} cannot close or reopen queries (a monitor does)")
    form = await request.form()
    status, reason = str(form.get("status", "")), str(form.get("reason", ""))
    set_query_status(engine_of(request), query_id, status, reason, actor=user.username)
    return RedirectResponse(f"/queries#query-{query_id}", status_code=303)
