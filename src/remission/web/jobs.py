"""Jobs in the REST API: enqueue an import, a rescore or a report build; read a job's state.

The web process only checks the request, saves an import's uploads in the job's folder and
enqueues (:mod:`remission.jobs`); ``remission worker`` runs the job. ``GET /api/jobs/{id}``
answers its state (``queued | running | succeeded | failed``), progress, result and errors —
each error as the CLI reports it: file, row (or resource), field, value, reason.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field

from remission.errors import InvalidInputError, Problem
from remission.web.api import ERRORS
from remission.web.deps import close_form, current_user
from remission.web.imports import ImportJobs, limit_upload, may_import, read_import_form, start_import
from remission.web.responses import JSONRoute
from remission.web.security import User
from remission.web.services import Forbidden, NotFound

router = APIRouter(prefix="/api/jobs", route_class=JSONRoute, tags=["jobs"])
UserDep = Annotated[User, Depends(current_user)]
COHORT_ROLES = ("admin", "monitor", "statistician")


class JobError(BaseModel):
    """One problem of a failed job (or one skipped by an import with ``on_error=skip``)."""

    file: str
    where: str
    row: int | None
    column: str
    value: str
    reason: str
    text: str = Field(description="The line the CLI prints for this problem")


class JobOut(BaseModel):
    id: str
    kind: str
    owner: str
    state: str = Field(description="queued, running, succeeded or failed")
    step: str
    done: int
    total: int
    percent: int
    message: str
    result: dict[str, Any] = Field(description="An import: counts per table, totals, reconciliation of source rows")
    errors: list[JobError]
    attempts: int
    created: float
    started: float | None
    finished: float | None


class Enqueued(BaseModel):
    id: str
    kind: str
    state: str
    url: str = Field(description="Where to read the job: GET this URL")


class RescoreIn(BaseModel):
    """What ``remission rescore`` takes: indices (default all), assessments since a date, patients."""

    indices: list[str] | None = None
    since: date | None = None
    patients: list[str] | None = Field(default=None, max_length=100_000)


class ReportIn(BaseModel):
    pdf: bool = False


def jobs_of(request: Request) -> ImportJobs:
    jobs: ImportJobs = request.app.state.import_jobs
    return jobs


def _enqueued(job: Any) -> dict[str, Any]:
    return {"id": job.id, "kind": job.kind, "state": job.state, "url": f"/api/jobs/{job.id}"}


@router.get("/{job_id}", response_model=JobOut, responses=ERRORS)
def get_job(request: Request, job_id: str, user: UserDep) -> dict[str, Any]:
    """A job of this user (any job for an admin): state, progress, result, errors."""
    return jobs_of(request).require(job_id, user).public()


@router.post(
    "/import", status_code=202, response_model=Enqueued, responses=ERRORS, dependencies=[Depends(limit_upload)]
)
async def enqueue_import(request: Request, user: UserDep) -> dict[str, Any]:
    """Upload the files of ``remission import redcap|sdtm|fhir`` (multipart: ``source``, the files as
    the import page names them, ``on_error``, ``disease``, ``site``) and queue the import."""
    if not may_import(user):
        await close_form(request)
        raise Forbidden(f"role {user.role} cannot import")
    try:
        source, uploads, options = await read_import_form(request)
    finally:
        await close_form(request)
    if user.role != "admin":
        options["site"] = user.site_id or ""
    return _enqueued(start_import(None, jobs_of(request), user, source, uploads, options))


@router.post("/rescore", status_code=202, response_model=Enqueued, responses=ERRORS)
def enqueue_rescore(request: Request, body: RescoreIn, user: UserDep) -> dict[str, Any]:
    """Queue ``remission rescore`` (admins: it writes scores of every site)."""
    from remission.indices import registry

    if user.role != "admin":
        raise Forbidden("only an admin rescores the registry")
    known = registry()
    unknown = [name for name in body.indices or () if name not in known]
    if unknown:
        reason = f"unknown index; expected one of {', '.join(sorted(known))}"
        raise InvalidInputError([Problem(None, "indices", name, reason) for name in unknown])
    params = {
        "indices": body.indices,
        "since": body.since.isoformat() if body.since else None,
        "patients": body.patients,
        "actor": user.username,
    }
    return _enqueued(jobs_of(request).queue.enqueue("rescore", params, user.username))


@router.post("/report", status_code=202, response_model=Enqueued, responses=ERRORS)
def enqueue_report(request: Request, user: UserDep, body: ReportIn | None = None) -> dict[str, Any]:
    """Queue a build of the cohort report (cohort-wide roles: it lists every site's patients)."""
    if user.role not in COHORT_ROLES:
        raise Forbidden(f"role {user.role} cannot build the cohort report")
    pdf = bool(body.pdf) if body else False
    return _enqueued(jobs_of(request).queue.enqueue("report", {"pdf": pdf, "actor": user.username}, user.username))


@router.get("/{job_id}/files/{name:path}", responses=ERRORS)
def job_file(request: Request, job_id: str, name: str, user: UserDep) -> Response:
    """A file of a built report: ``report.html``, ``report.pdf`` or ``tables/<name>.csv``."""
    job = jobs_of(request).require(job_id, user, "report")
    folder = job.result.get("folder")
    if job.state != "succeeded" or not folder:
        raise NotFound(f"job {job_id} has no report (yet)")
    root = Path(folder).resolve()
    path = (root / name).resolve()
    allowed = path.name in ("report.html", "report.pdf") and path.parent == root
    allowed = allowed or (path.suffix == ".csv" and path.parent == root / "tables")
    if not allowed or not path.is_file():
        raise NotFound(f"no file {name} in the report of job {job_id}")
    return FileResponse(path, filename=path.name)
