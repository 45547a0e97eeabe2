"""Server-rendered pages (Jinja2 + htmx): login, patient list, timeline, visit entry, dashboard."""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import func, select

from remission.errors import InvalidInputError, Problem, StaleVersionError
from remission.indices import get_index, registry
from remission.store import schema
from remission.store.writes import append_audit
from remission.web import charts, services
from remission.web.deps import (
    COOKIE,
    CSRF_FIELD,
    PRELOGIN_COOKIE,
    close_form,
    current_user,
    engine_of,
    optional_user,
    signer_of,
)
from remission.web.forms import UNTICKED_DEFAULT, fields_of, items_from_form
from remission.web.imports import limit_upload
from remission.web.security import User, authenticate
from remission.web.services import Conflict, Forbidden, NotFound

router = APIRouter(include_in_schema=False)
UserDep = Annotated[User, Depends(current_user)]

templates = Jinja2Templates(
    env=Environment(loader=PackageLoader("remission.web", "templates"), autoescape=select_autoescape(["html"]))
)
templates.env.globals["score_panel"] = services.score_panel


def _render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    user = getattr(request.state, "user", None)
    csrf = signer_of(request).csrf_token(user.session_id) if user else context.pop("csrf", "")
    return templates.TemplateResponse(
        request, name, {"user": user, "csrf": csrf, "csrf_field": CSRF_FIELD, **context}, status_code=status
    )


def render_error(request: Request, status: int, message: str, problems: Sequence[Problem] = ()) -> HTMLResponse:
    return _render(request, "error.html", status, code=status, message=message, problems=problems)


def _safe_next(target: str | None) -> str:
    return target if target and target.startswith("/") and not target.startswith("//") else "/"


# --------------------------------------------------------------------------------------------
# Login and logout
# --------------------------------------------------------------------------------------------


@router.get("/login")
async def login_page(request: Request, next: str = "/") -> Response:
    if await optional_user(request):
        return RedirectResponse(_safe_next(next), status_code=303)
    nonce = secrets.token_hex(16)
    response = _render(request, "login.html", csrf=signer_of(request).csrf_token("pre:" + nonce), next=_safe_next(next))
    response.set_cookie(PRELOGIN_COOKIE, nonce, httponly=True, samesite="lax", secure=request.url.scheme == "https")
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    signer, engine = signer_of(request), engine_of(request)
    nonce = request.cookies.get(PRELOGIN_COOKIE, "")
    if not nonce or not signer.csrf_ok("pre:" + nonce, str(form.get(CSRF_FIELD, ""))):
        raise Forbidden("missing or wrong CSRF token; reload the login page")
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    from remission.web.errors import TooManyRequests
    from remission.web.hardening import check_throttle, record_login

    try:
        check_throttle(request, username)
    except TooManyRequests as err:
        page = _render(
            request,
            "login.html",
            429,
            csrf=signer.csrf_token("pre:" + nonce),
            next=_safe_next(str(form.get("next", "/"))),
            throttled=err.message,
        )
        page.headers["Retry-After"] = str(err.retry_after)
        return page
    user = authenticate(engine, username, password)
    record_login(request, username, user is not None)
    with engine.begin() as connection:
        append_audit(connection, username[:64], "login" if user else "login_failed", "session", "page", {"via": "page"})
    if user is None:
        return _render(
            request,
            "login.html",
            401,
            csrf=signer.csrf_token("pre:" + nonce),
            next=_safe_next(str(form.get("next", "/"))),
            failed=True,
        )
    token, _ = signer.issue(engine, user, "cookie")
    response = RedirectResponse(_safe_next(str(form.get("next", "/"))), status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="lax", secure=request.url.scheme == "https", path="/")
    response.delete_cookie(PRELOGIN_COOKIE)
    return response


@router.post("/logout")
async def logout(request: Request, user: UserDep) -> Response:
    signer_of(request).revoke(engine_of(request), user.session_id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


# --------------------------------------------------------------------------------------------
# Patients
# --------------------------------------------------------------------------------------------


@router.get("/patients")
@router.get("/")
async def patient_list(request: Request, user: UserDep, site: str = "", disease: str = "") -> Response:
    if not user.can_read_patients():
        return RedirectResponse("/dashboard", status_code=303)
    patients = services.list_patients(engine_of(request), user, site=site or None, disease=disease or None)
    with engine_of(request).connect() as connection:
        sites = [r.site_id for r in connection.execute(select(schema.sites.c.site_id).order_by(schema.sites.c.site_id))]
    if not user.all_sites:
        sites = [s for s in sites if s == user.site_id]
    return _render(request, "patients.html", patients=patients, sites=sites, site=site, disease=disease)


def _entry_indices(disease: str) -> list[str]:
    """Indices whose visits can be entered for a patient of ``disease`` (by their form)."""
    forms = {"SLE": "sle", "IIM": "iim", "SSc": "ssc"}
    wanted = {forms.get(disease, ""), "toxicity"}
    return [
        name for name, d in registry().items() if d.layout != "per_patient" and (not d.forms or set(d.forms) & wanted)
    ]


@router.get("/patients/{patient_id}")
async def timeline(request: Request, patient_id: str, user: UserDep) -> Response:
    patient = services.patient_record(engine_of(request), user, patient_id)
    analytes = sorted({lab["analyte"] for lab in patient["labs"]})
    lab_days = sorted({lab["day"] for lab in patient["labs"]})
    lab_grid = {(lab["analyte"], lab["day"]): lab for lab in patient["labs"]}
    return _render(
        request,
        "timeline.html",
        patient=patient,
        curves=charts.cell_curves_png(patient),
        lanes=charts.lanes(patient),
        analytes=analytes,
        lab_days=lab_days,
        lab_grid=lab_grid,
        entry_indices=_entry_indices(patient["disease"]),
        can_write=user.can_write_site(patient["site_id"]),
        audit=services.audit_entries(engine_of(request), user, patient_id)[:20],
        bounds=imputation_bounds(patient),
    )


def imputation_bounds(patient: dict[str, Any]) -> dict[str, Any] | None:
    """The patient's drug-free stop day as reported and under the opposite imputation rule, with
    the partially dated medication records responsible (analysis/bounds.py); None when the two
    rules agree (nothing is shown)."""
    from remission.analysis.bounds import drug_free_stop_bounds

    bounds = drug_free_stop_bounds(patient["medications"])
    return bounds if bounds["records"] else None


def _visit_context(request: Request, user: User, patient_id: str, index: str) -> dict[str, Any]:
    with engine_of(request).connect() as connection:
        patient = services.patient_row(connection, user, patient_id)
    if not user.can_write_site(patient["site_id"]):
        raise Forbidden(f"role {user.role} cannot enter visits")
    if index not in _entry_indices(patient["disease"]):
        raise NotFound(f"no visit form {index} for this patient")
    definition = get_index(index)
    return {"patient": patient, "definition": definition, "fields": fields_of(definition)}


@router.get("/patients/{patient_id}/visit/{index}")
async def visit_form(request: Request, patient_id: str, index: str, user: UserDep) -> Response:
    context = _visit_context(request, user, patient_id, index)
    today = date.today().isoformat()
    return _render(request, "visit.html", **context, values={}, unticked=UNTICKED_DEFAULT, today=today)


def _problems_by_code(problems: Sequence[Problem]) -> dict[str, list[str]]:
    by_code: dict[str, list[str]] = {}
    for p in problems:
        by_code.setdefault(p.column, []).append(f"value {p.value}: {p.reason}")
    return by_code


@router.post("/patients/{patient_id}/visit/{index}/preview")
async def visit_preview(request: Request, patient_id: str, index: str, user: UserDep) -> Response:
    """The live score: one row scored with :func:`remission.score`, as an htmx fragment."""
    context = _visit_context(request, user, patient_id, index)
    form = await request.form()
    items = {k: v for k, v in items_from_form(context["definition"], form).items() if v is not None}
    try:
        result = services.score_one(context["definition"], items, patient_id=patient_id, day=0)
    except InvalidInputError as err:
        return _render(request, "_score.html", problems=err.problems, result=None)
    return _render(request, "_score.html", problems=[], result=result)


@router.post("/patients/{patient_id}/visit/{index}")
async def visit_save(request: Request, patient_id: str, index: str, user: UserDep) -> Response:
    context = _visit_context(request, user, patient_id, index)
    form = await request.form()
    items = items_from_form(context["definition"], form)
    values = {k: str(v) for k, v in form.items()}
    problems: list[Problem] = []
    try:
        when = date.fromisoformat(str(form.get("date", "")))
    except ValueError:
        problems.append(Problem(None, "date", str(form.get("date", "")), "expected a date YYYY-MM-DD"))
    version = str(form.get("version", ""))
    if not problems:
        try:
            saved = services.save_assessment(
                engine_of(request),
                user,
                patient_id,
                index,
                when=when,
                visit=str(form.get("visit", "")).strip(),
                items=items,
                expected_version=int(version) if version.isdigit() else None,
            )
        except (Conflict, StaleVersionError) as err:
            # StaleVersionError is an InvalidInputError: caught first, it is a conflict (409).
            conflict = err if isinstance(err, Conflict) else Conflict(err.message, err.problems)
            return _render(
                request,
                "visit.html",
                409,
                **context,
                values=values,
                unticked=values.get("unticked", UNTICKED_DEFAULT),
                today=values.get("date", ""),
                problems=conflict.problems,
                errors={},
                conflict=conflict.message,
            )
        except InvalidInputError as err:
            problems = err.problems
        else:
            return RedirectResponse(f"/patients/{patient_id}#assessment-{saved['id']}", status_code=303)
    return _render(
        request,
        "visit.html",
        422,
        **context,
        values=values,
        unticked=values.get("unticked", UNTICKED_DEFAULT),
        today=values.get("date", ""),
        problems=problems,
        errors=_problems_by_code(problems),
    )


# --------------------------------------------------------------------------------------------
# Cohort dashboard
# --------------------------------------------------------------------------------------------


def _report_dir(request: Request) -> Path:
    """The cohort report built by :func:`remission.report.build.build_report`, rebuilt when the
    audit log has grown (every write appends to it)."""
    from remission.report.build import build_report

    engine = engine_of(request)
    with engine.connect() as connection:
        stamp = connection.execute(select(func.max(schema.audit_log.c.id))).scalar() or 0
    state = request.app.state
    if getattr(state, "report_stamp", None) != stamp:
        folder = Path(tempfile.mkdtemp(prefix="remission-report-"))
        build_report(engine, folder, pdf=False)  # the dashboard serves the HTML and tables, never a PDF
        state.report_dir, state.report_stamp = folder, stamp
    folder_now: Path = state.report_dir
    return folder_now


def _may_see_cohort(user: User) -> bool:
    return user.role in ("admin", "monitor", "statistician")


@router.get("/dashboard")
async def dashboard(request: Request, user: UserDep) -> Response:
    """Cohort counts by site, disease and status; the full report for cohort-wide roles (an
    investigator sees counts of their own site only: the report lists every site's patients)."""
    summary: list[dict[str, Any]] = []
    if user.can_read_patients():
        patients = services.list_patients(engine_of(request), user)
        groups: dict[tuple[str, str], dict[str, Any]] = {}
        for p in patients:
            g = groups.setdefault(
                (p["site_id"], p["disease"]),
                {"site": p["site_id"], "disease": p["disease"], "n": 0, "remission": 0, "drug_free": 0},
            )
            g["n"] += 1
            g["remission"] += bool(p["status"]["remission"])
            g["drug_free"] += bool(p["status"]["drug_free"])
        summary = sorted(groups.values(), key=lambda g: (g["site"], g["disease"]))
    return _render(request, "dashboard.html", summary=summary, report=_may_see_cohort(user))


@router.get("/dashboard/report.html")
async def dashboard_report(request: Request, user: UserDep) -> Response:
    if not _may_see_cohort(user):
        raise NotFound("no cohort report for this role")
    return FileResponse(_report_dir(request) / "report.html", media_type="text/html")


@router.get("/dashboard/tables/{name}")
async def dashboard_table(request: Request, name: str, user: UserDep) -> Response:
    if not _may_see_cohort(user):
        raise NotFound("no cohort report for this role")
    folder = _report_dir(request) / "tables"
    path = folder / name
    if path.suffix != ".csv" or path.resolve().parent != folder.resolve() or not path.exists():
        raise NotFound(f"no table {name}")
    return FileResponse(path, media_type="text/csv", filename=name)


# --------------------------------------------------------------------------------------------
# Import (REDCap, SDTM, FHIR uploads; see remission.web.imports)
# --------------------------------------------------------------------------------------------


def _import_context(request: Request, user: User) -> dict[str, Any]:
    from remission.web.imports import FIELDS, max_upload_mb, may_import

    if not may_import(user):
        raise Forbidden(f"role {user.role} cannot import")
    with engine_of(request).connect() as connection:
        sites = [r.site_id for r in connection.execute(select(schema.sites.c.site_id).order_by(schema.sites.c.site_id))]
    return {"sources": FIELDS, "sites": sites, "max_mb": f"{max_upload_mb():g}"}


@router.get("/import")
async def import_page(request: Request, user: UserDep) -> Response:
    return _render(request, "import.html", **_import_context(request, user), problems=[])


@router.post("/import", dependencies=[Depends(limit_upload)])
async def import_upload(request: Request, user: UserDep) -> Response:
    """Save the uploads and start the import job; the job page polls its progress."""
    from remission.web.imports import read_import_form, start_import

    try:
        context = _import_context(request, user)
        source, uploads, options = await read_import_form(request)
    finally:
        await close_form(request)  # the spooled upload files (parsed once, also for the CSRF check)
    if user.role != "admin":
        options["site"] = user.site_id or ""
    try:
        job = start_import(engine_of(request), request.app.state.import_jobs, user, source, uploads, options)
    except InvalidInputError as err:
        return _render(request, "import.html", 422, **context, problems=err.problems)
    return RedirectResponse(f"/import/jobs/{job.id}", status_code=303)


def _job(request: Request, user: User, job_id: str) -> dict[str, Any]:
    from remission.web.imports import job_view

    job = request.app.state.import_jobs.get(job_id, user)
    if job is None:
        raise NotFound(f"no import job {job_id}")
    return job_view(job)


@router.get("/import/jobs/{job_id}")
async def import_job(request: Request, job_id: str, user: UserDep) -> Response:
    return _render(request, "import_job.html", **_job(request, user, job_id))


@router.get("/import/jobs/{job_id}/progress")
async def import_progress(request: Request, job_id: str, user: UserDep) -> Response:
    """The progress fragment (htmx polls it every 500 ms while the job runs)."""
    return _render(request, "_import_progress.html", **_job(request, user, job_id))
