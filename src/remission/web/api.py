"""The REST API under ``/api``: JSON in, JSON out, one error shape (see :mod:`remission.web.errors`)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

import polars as pl
from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field, ValidationError

from remission.errors import InvalidInputError, Problem
from remission.indices import get_index, registry
from remission.web import services
from remission.web.deps import current_user, engine_of, signer_of
from remission.web.errors import Unauthorized
from remission.web.responses import JSONRoute
from remission.web.security import User
from remission.web.services import Forbidden

router = APIRouter(prefix="/api", route_class=JSONRoute)
UserDep = Annotated[User, Depends(current_user)]
IfMatch = Annotated[str | None, Header(alias="If-Match", description="The patient's version (optimistic locking)")]


class ErrorProblem(BaseModel):
    row: int | None
    column: str
    value: str
    reason: str


class ErrorDetail(BaseModel):
    code: str
    message: str
    problems: list[ErrorProblem]


class ErrorResponse(BaseModel):
    """The one error shape of every API error."""

    error: ErrorDetail


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in (
        (400, "Malformed request"),
        (401, "Not logged in"),
        (403, "Role not allowed"),
        (404, "Not found (or not visible to this user)"),
        (409, "Stale version or duplicate record"),
        (413, "Request body over the size limit"),
        (422, "Invalid values"),
        (429, "Too many failed logins"),
    )
}


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class ScoreRequest(BaseModel):
    """Rows to score, as ``remission score`` reads them: one object per row, keys = column codes."""

    rows: list[dict[str, Any]] = Field(min_length=1, max_length=100_000)
    missing: Literal["empty", "absent"] = "empty"
    on_error: Literal["raise", "skip"] = "raise"
    explain: bool = True
    options: dict[str, Any] = Field(default_factory=dict)


class AssessmentIn(BaseModel):
    """One visit of one index: its items by column code; scored on save."""

    index: str
    date: date
    visit: str = ""
    day: int | None = Field(default=None, description="Day relative to infusion; default: from the infusion date")
    items: dict[str, Any]
    version: int | None = Field(default=None, description="The patient's version (or the If-Match header)")


#: The documented body of ``POST /patients/{id}/assessments`` (read as a dict, validated after
#: the patient is checked, so that a patient of another site answers 404 before a bad body 422).
ASSESSMENT_SCHEMA: dict[str, Any] = AssessmentIn.model_json_schema()


def _version(if_match: str | None, body_version: int | None) -> int | None:
    if if_match:
        text = if_match.strip().strip('"').removeprefix("W/").strip('"')
        try:
            return int(text)
        except ValueError as exc:
            raise InvalidInputError(
                [Problem(None, "If-Match", if_match, "expected the patient's version number")]
            ) from exc
    return body_version


@router.get("/health", tags=["system"])
def health() -> dict[str, str]:
    """Liveness: ``{"status": "ok"}``."""
    return {"status": "ok"}


@router.post("/auth/token", response_model=Token, tags=["auth"], responses=ERRORS)
def token(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> Token:
    """OAuth2 password flow: a signed bearer token that expires (and is revoked by logout)."""
    from remission.web.hardening import check_throttle, record_login
    from remission.web.security import TOKEN_LIFETIME, authenticate

    engine = engine_of(request)
    check_throttle(request, form.username)
    user = authenticate(engine, form.username, form.password)
    record_login(request, form.username, user is not None)
    with engine.begin() as connection:
        services.audit(
            connection, form.username[:64], "login" if user else "login_failed", "session", "api", {"via": "api"}
        )
    if user is None:
        raise Unauthorized("wrong username or password")
    signed, _ = signer_of(request).issue(engine, user, "bearer")
    return Token(access_token=signed, expires_in=int(TOKEN_LIFETIME.total_seconds()))


@router.post("/auth/logout", status_code=204, tags=["auth"], responses=ERRORS)
def logout(request: Request, user: UserDep) -> Response:
    """Revoke the token (or session) used for this request."""
    signer_of(request).revoke(engine_of(request), user.session_id)
    return Response(status_code=204)


@router.get("/me", tags=["auth"], responses=ERRORS)
def me(user: UserDep) -> dict[str, Any]:
    """Who the token belongs to: username, role, site."""
    return {"username": user.username, "role": user.role, "site_id": user.site_id}


@router.get("/indices", tags=["scoring"], responses=ERRORS)
def indices(user: UserDep) -> dict[str, Any]:
    """Every index of the registry with its columns, options and outputs."""
    return {
        "items": [
            {
                "name": d.name,
                "title": d.title,
                "source": d.source,
                "doi": d.doi,
                "version": d.version,
                "layout": d.layout,
                "outputs": list(d.outputs),
                "options": [{"name": o.name, "kind": o.kind, "default": o.default, "help": o.help} for o in d.options],
                "columns": [
                    {
                        "code": c.code,
                        "kind": c.kind,
                        "description": c.description,
                        "unit": c.unit,
                        "minimum": c.minimum,
                        "maximum": c.maximum,
                        "choices": list(c.choices),
                        "required": c.required,
                    }
                    for c in d.all_columns()
                ],
            }
            for d in registry().values()
        ]
    }


@router.post("/score/{index}", tags=["scoring"], responses=ERRORS)
def score_rows(index: str, body: ScoreRequest, user: UserDep) -> dict[str, Any]:
    """Score JSON rows with an index: every input field plus the outputs (as ``remission score``).

    ``on_error="raise"`` answers 422 listing every bad value; ``"skip"`` scores the valid rows and
    lists the others under ``rejected``.
    """
    from remission.api import score_rows as score_json_rows

    get_index(index)
    outcome = score_json_rows(index, body.rows, missing=body.missing, explain=body.explain, **body.options)
    if outcome.problems and body.on_error == "raise":
        raise InvalidInputError(outcome.problems)
    return {
        "index": index,
        "rows": outcome.scored,
        "rejected": outcome.rejected,
        "problems": [
            {"row": p.row, "column": p.column, "value": p.value, "reason": p.reason} for p in outcome.problems
        ],
    }


@router.get("/patients", tags=["patients"], responses=ERRORS)
def list_patients(
    request: Request, user: UserDep, site: str | None = None, disease: str | None = None
) -> dict[str, Any]:
    """The patients this user may read (investigators: their own site), with their status."""
    items = services.list_patients(engine_of(request), user, site=site, disease=disease)
    return {"items": items, "total": len(items)}


@router.post("/patients", status_code=201, tags=["patients"], responses=ERRORS)
def create_patient(request: Request, user: UserDep, body: dict[str, Any]) -> dict[str, Any]:
    """Create a patient (admin; investigators at their own site). Answers it with ``version`` 1."""
    return services.create_patient(engine_of(request), user, body)


@router.get("/patients/{patient_id}", tags=["patients"], responses=ERRORS)
def get_patient(request: Request, response: Response, patient_id: str, user: UserDep) -> dict[str, Any]:
    """One patient with its infusions, assessments (with scores and explanations), labs,
    medications, adverse events, status and remission/drug-free periods. ETag = its version."""
    record = services.patient_record(engine_of(request), user, patient_id)
    response.headers["ETag"] = f'"{record["version"]}"'
    return record


@router.patch("/patients/{patient_id}", tags=["patients"], responses=ERRORS)
def update_patient(
    request: Request, response: Response, patient_id: str, user: UserDep, body: dict[str, Any], if_match: IfMatch = None
) -> dict[str, Any]:
    """Change patient fields; needs the version read (If-Match or ``version``), 409 when stale."""
    changes = {k: v for k, v in body.items() if k != "version"}
    version = _version(if_match, body.get("version"))
    record = services.update_patient(engine_of(request), user, patient_id, changes, version)
    response.headers["ETag"] = f'"{record["version"]}"'
    return record


@router.delete("/patients/{patient_id}", status_code=204, tags=["patients"], responses=ERRORS)
def delete_patient(request: Request, patient_id: str, user: UserDep, if_match: IfMatch = None) -> Response:
    """Delete a patient with all its records and scores; needs If-Match with its version (409 when
    stale, 428 without). The audit record keeps the deleted patient row."""
    services.delete_patient(engine_of(request), user, patient_id, _version(if_match, None))
    return Response(status_code=204)


@router.get("/patients/{patient_id}/audit", tags=["patients"], responses=ERRORS)
def patient_audit(request: Request, patient_id: str, user: UserDep) -> dict[str, Any]:
    """The audit trail of one patient, newest first (read-only: no route changes audit records)."""
    items = services.audit_entries(engine_of(request), user, patient_id)
    return {"items": items, "total": len(items)}


@router.post(
    "/patients/{patient_id}/assessments",
    status_code=201,
    tags=["patients"],
    responses=ERRORS,
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": ASSESSMENT_SCHEMA}}}},
)
def add_assessment(
    request: Request, patient_id: str, body: dict[str, Any], user: UserDep, if_match: IfMatch = None
) -> dict[str, Any]:
    """Store one visit (an ``AssessmentIn``), scored on save with its explanation; ``day`` is
    derived from ``date`` and the infusion when not given. If-Match/``version`` optional (409
    when stale). The patient is checked (404/403) before the body (422)."""
    services.check_writable(engine_of(request), user, patient_id)
    try:
        parsed = AssessmentIn.model_validate(body)
    except ValidationError as exc:
        raise InvalidInputError(services._problems_from_validation(exc, data=body)) from exc
    return _save_assessment(request, patient_id, parsed, user, if_match)


def _save_assessment(
    request: Request, patient_id: str, body: AssessmentIn, user: User, if_match: str | None
) -> dict[str, Any]:
    return services.save_assessment(
        engine_of(request),
        user,
        patient_id,
        body.index,
        when=body.date,
        visit=body.visit,
        items=body.items,
        expected_version=_version(if_match, body.version),
        day=body.day,
    )


def _add_record_route(kind: str) -> None:
    def add_record(
        request: Request, patient_id: str, user: UserDep, body: dict[str, Any], if_match: IfMatch = None
    ) -> dict[str, Any]:
        data = {k: v for k, v in body.items() if k != "version"}
        version = _version(if_match, body.get("version"))
        return services.add_record(engine_of(request), user, patient_id, kind, data, version)

    add_record.__name__ = f"add_{kind}"
    add_record.__doc__ = f"Add one record to the patient's {kind}; If-Match/``version`` optional (409 when stale)."
    router.post(f"/patients/{{patient_id}}/{kind}", status_code=201, tags=["patients"], responses=ERRORS)(add_record)


for _kind in ("infusions", "labs", "medications", "adverse_events"):
    _add_record_route(_kind)


@router.patch("/patients/{patient_id}/{kind}/{record_id}", tags=["patients"], responses=ERRORS)
def update_record(
    request: Request,
    patient_id: str,
    kind: str,
    record_id: int,
    user: UserDep,
    body: dict[str, Any],
    if_match: IfMatch = None,
) -> dict[str, Any]:
    """Change fields of one record (``kind`` = infusions, assessments, labs, medications,
    adverse_events); needs the patient's version (If-Match or ``version``; 409 when stale). A
    changed assessment is scored again and its stored scores replaced in the same transaction."""
    changes = {k: v for k, v in body.items() if k != "version"}
    version = _version(if_match, body.get("version"))
    return services.update_record(engine_of(request), user, patient_id, kind, record_id, changes, version)


@router.delete("/patients/{patient_id}/{kind}/{record_id}", status_code=204, tags=["patients"], responses=ERRORS)
def delete_record(
    request: Request, patient_id: str, kind: str, record_id: int, user: UserDep, if_match: IfMatch = None
) -> Response:
    """Delete one record of a patient (``kind`` = infusions, assessments, labs, medications,
    adverse_events); needs If-Match with the patient's version (409 when stale)."""
    services.delete_record(engine_of(request), user, patient_id, kind, record_id, _version(if_match, None))
    return Response(status_code=204)


@router.get("/cohort/summary", tags=["cohort"], responses=ERRORS)
def cohort_summary(request: Request, user: UserDep) -> dict[str, Any]:
    """Patients, in remission (latest judged visit, per disease rule) and drug-free, by site and
    disease. Investigators: their own site; everyone else: every site (counts name no patient)."""
    return services.cohort_summary(engine_of(request), user)


@router.get("/cohort/milestones", tags=["cohort"], responses=ERRORS)
def cohort_milestones(request: Request, user: UserDep) -> dict[str, Any]:
    """Per patient the day each milestone was reached (remission, relapse, drug-free remission,
    treatment stops, B-cell return, death), as the report's efficacy table. Cohort-wide roles
    (admin, monitor, statistician), as the report itself."""
    if user.role not in ("admin", "monitor", "statistician"):
        raise Forbidden(f"role {user.role} cannot read the cohort-wide report tables")
    items = services.cohort_milestones(engine_of(request))
    return {"items": items, "total": len(items)}


_EXPORT_DROP = {"date", "start_date", "stop_date", "onset_date", "resolution_date", "birth_year", "updated_at"}


@router.get("/export/{table}", tags=["cohort"], responses=ERRORS)
def export_table(request: Request, table: str, user: UserDep) -> dict[str, Any]:
    """A pseudonymised export of one record table: calendar dates and birth year removed (days
    relative to infusion kept). Statisticians, monitors and admins; all sites."""
    if user.role not in ("admin", "monitor", "statistician"):
        raise Forbidden(f"role {user.role} cannot export the cohort")
    if table not in ("patients", *services.RECORD_KINDS, "scores"):
        raise services.NotFound(f"no exportable table {table}")
    from remission.store import read_table

    frame = read_table(engine_of(request), table)
    if table == "patients" and not frame.is_empty():
        frame = frame.with_columns(age_at_diagnosis=pl.col("diagnosis_year") - pl.col("birth_year"))
    frame = frame.drop([c for c in frame.columns if c in _EXPORT_DROP or c == "prior_treatments"])
    return {"table": table, "items": frame.to_dicts() if not frame.is_empty() else [], "total": frame.height}
