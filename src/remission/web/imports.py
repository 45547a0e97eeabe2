"""The import page's work: uploaded files → the CLI's import (one transaction) in a background job.

The page uploads the files (size limit ``$REMISSION_MAX_UPLOAD_MB``, default 50), which are saved
in a private temporary folder; a thread then runs exactly what ``remission import redcap|sdtm|fhir``
runs (:mod:`remission.io.sources` builds the batch, :func:`remission.io.importing.write_batch`
writes it in one transaction, with the user as the actor of the import's audit record), and
reports its progress to the job, which the page polls (htmx, every 500 ms). Problems are listed
in the import layer's wording ``file, row/resource, field: value: reason``.

Investigators import patients of their own site only: a staged patient of another site, a record
of a stored patient of another site, or a new site is refused (a problem of the import, so that
nothing is written unless ``on_error`` is ``skip``, which leaves those patients out).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Request
from sqlalchemy import Engine, select

from remission.errors import InvalidInputError, Problem
from remission.store import schema
from remission.web.security import User
from remission.web.services import WebError

if TYPE_CHECKING:
    from remission.io.importing import ImportBatch

MAX_UPLOAD_ENV = "REMISSION_MAX_UPLOAD_MB"
DEFAULT_MAX_UPLOAD_MB = 50.0
SOURCES = ("redcap", "sdtm", "fhir")
#: Upload fields per source: (form field, what, allowed suffixes, several files, required).
FIELDS: dict[str, tuple[tuple[str, str, tuple[str, ...], bool, bool], ...]] = {
    "redcap": (
        ("records", "Records export (CSV, raw values)", (".csv",), False, True),
        ("dictionary", "Data dictionary (CSV)", (".csv",), False, True),
        ("mapping", "Mapping to registry records (YAML)", (".yaml", ".yml"), False, True),
        ("events", "Events (CSV; longitudinal projects)", (".csv",), False, False),
    ),
    "sdtm": (("datasets", "SDTM datasets (.xpt v5/v8 or .csv; DM is needed)", (".xpt", ".csv"), True, True),),
    "fhir": (("resources", "FHIR R4 resources or Bundles (.json)", (".json",), True, True),),
}
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class PayloadTooLarge(WebError):
    status, code = 413, "too_large"


def max_upload_mb() -> float:
    """The upload limit in MB (2**20 bytes), from ``$REMISSION_MAX_UPLOAD_MB`` (default 50)."""
    text = os.environ.get(MAX_UPLOAD_ENV, "").strip()
    try:
        return max(float(text), 0.0) if text else DEFAULT_MAX_UPLOAD_MB
    except ValueError:
        return DEFAULT_MAX_UPLOAD_MB


def max_upload_bytes() -> int:
    """The upload limit in bytes (see :func:`max_upload_mb`)."""
    return int(max_upload_mb() * 1024 * 1024)


def _too_large() -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the upload is larger than the limit of {max_upload_mb():g} MB "
        f"(set {MAX_UPLOAD_ENV} on the server to change it)"
    )


async def limit_upload(request: Request) -> None:
    """Refuse a request body over the limit with 413 before anything parses it.

    The declared ``Content-Length`` is checked first; a body without one (chunked) is read up to
    the limit and kept for the form parser."""
    limit = max_upload_bytes()
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit() or int(declared) > limit:
            raise _too_large()
        return
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large()
        chunks.append(chunk)
    request._body = b"".join(chunks)  # Starlette's cache of the body: form() reads it from here


# ---------------------------------------------------------------------------------------------
# Jobs


@dataclass
class ImportJob:
    """One import running in the background; the page polls it."""

    id: str
    owner: str
    source: str
    files: list[str]
    state: str = "running"  # running, done, failed
    step: str = "reading the source files"
    done: int = 0
    total: int = 0
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    problems: list[str] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    excluded: list[str] = field(default_factory=list)
    not_imported: list[str] = field(default_factory=list)
    message: str = ""

    @property
    def percent(self) -> int:
        return 100 if self.state != "running" else int(100 * self.done / self.total) if self.total else 0


class ImportJobs:
    """The jobs of one application (kept in memory, newest 50)."""

    def __init__(self) -> None:
        self._jobs: dict[str, ImportJob] = {}
        self._lock = threading.Lock()

    def add(self, job: ImportJob) -> None:
        with self._lock:
            self._jobs[job.id] = job
            for old in list(self._jobs)[:-50]:
                if self._jobs[old].state != "running":
                    del self._jobs[old]

    def get(self, job_id: str, user: User) -> ImportJob | None:
        """The job if it exists and belongs to ``user`` (or ``user`` is an admin)."""
        job = self._jobs.get(job_id)
        return job if job is not None and (job.owner == user.username or user.role == "admin") else None


def may_import(user: User) -> bool:
    """Admins (any site) and investigators (own site) import."""
    return user.role == "admin" or (user.role == "investigator" and bool(user.site_id))


def safe_name(filename: str) -> str:
    """A file name safe to write in the job's folder (no directories, plain characters)."""
    name = _SAFE_NAME.sub("_", Path(filename.replace("\\", "/")).name).lstrip(".")
    return name or "upload"


# ---------------------------------------------------------------------------------------------
# The import itself


def build_batch(source: str, folder: Path, files: Mapping[str, list[str]], options: Mapping[str, str]) -> ImportBatch:
    """The import layer's batch of the saved uploads, as the CLI builds it."""
    from remission.io.sources import batch_from_fhir, batch_from_redcap, batch_from_sdtm

    on_error = options.get("on_error", "raise")
    if source == "redcap":
        events = files.get("events") or []
        return batch_from_redcap(
            folder / files["records"][0],
            folder / files["dictionary"][0],
            folder / files["mapping"][0],
            folder / events[0] if events else None,
            on_error=on_error,
        )
    if source == "sdtm":
        return batch_from_sdtm(folder, disease=options.get("disease") or "other")
    return batch_from_fhir(folder)


def assign_site(batch: ImportBatch, site_id: str) -> None:
    """Put every patient of a FHIR batch (FHIR names no site) at ``site_id``."""
    from remission.io.sources import FHIR_SITE

    for staged in batch.records:
        if staged.table == "patients":
            staged.data["site_id"] = site_id
    batch.records = [s for s in batch.records if not (s.table == "sites" and s.data.get("site_id") == FHIR_SITE)]
    batch.placeholder_sites.discard(FHIR_SITE)
    batch.add("sites", {"site_id": site_id}, "-", "site")
    batch.placeholder_sites.add(site_id)


def restrict_to_site(engine: Engine, batch: ImportBatch, user: User) -> None:
    """Refuse (as problems of the batch) what an investigator may not import, and leave it out.

    Refused: a patient staged at another site; a patient staged at the own site whose identifier
    belongs to a stored patient of another site; a record of a patient that is neither staged nor
    stored at the own site; a site other than the own one. Each refused patient is one problem;
    its records go with it."""
    if user.role == "admin":
        return
    batch.materialise()  # records staged column-wise are checked here one by one, like the others
    own = user.site_id or ""
    staged_patients = {s.data.get("patient_id"): s for s in batch.records if s.table == "patients"}
    referenced = {str(s.data.get("patient_id")) for s in batch.records if s.data.get("patient_id") is not None}
    with engine.connect() as connection:
        stored: dict[str, str] = {
            pid: site
            for pid, site in connection.execute(
                select(schema.patients.c.patient_id, schema.patients.c.site_id).where(
                    schema.patients.c.patient_id.in_(sorted(referenced))
                )
            ).all()
        }
    refused: set[str] = set()
    for pid in sorted(referenced):
        staged = staged_patients.get(pid)
        if staged is not None and staged.data.get("site_id") != own:
            reason = f"a patient of site {staged.data.get('site_id')}: investigators import their own site ({own}) only"
            batch.problem(staged.file, staged.where, "site_id", staged.data.get("site_id"), reason)
            refused.add(pid)
        elif pid in stored and stored[pid] != own:
            first = staged or next(s for s in batch.records if s.data.get("patient_id") == pid)
            batch.problem(first.file, first.where, "patient_id", pid, f"not a patient of your site ({own})")
            refused.add(pid)
    # Sites of refused patients go with them; any other site is a problem of its own.
    explained = {s.data.get("site_id") for pid, s in staged_patients.items() if pid in refused}
    for staged in batch.records:
        site = staged.data.get("site_id")
        if staged.table == "sites" and site != own and site not in explained:
            batch.problem(staged.file, staged.where, "site_id", site, f"investigators import site {own} only")
    batch.records = [
        s
        for s in batch.records
        if str(s.data.get("patient_id")) not in refused and not (s.table == "sites" and s.data.get("site_id") != own)
    ]
    batch.placeholder_sites = {site for site in batch.placeholder_sites if site == own}


def run_import(
    engine: Engine,
    job: ImportJob,
    user: User,
    folder: Path,
    files: Mapping[str, list[str]],
    options: Mapping[str, str],
    *,
    on_done: Callable[[], None] | None = None,
) -> None:
    """Build, check and write the batch, updating ``job``; always removes ``folder``."""
    from remission.io.importing import write_batch

    def progress(step: str, done: int, total: int) -> None:
        job.step, job.done, job.total = step, done, total

    try:
        batch = build_batch(job.source, folder, files, options)
        if job.source == "fhir":
            site = options.get("site") or (user.site_id if user.role == "investigator" else "")
            if site:
                assign_site(batch, site)
        restrict_to_site(engine, batch, user)
        job.step = "importing"
        report = write_batch(
            engine,
            batch,
            on_error="skip" if options.get("on_error") == "skip" else "raise",
            progress=progress,
            actor=user.username,
        )
    except InvalidInputError as err:
        job.problems = [str(p) for p in err.problems]
        job.state, job.message = "failed", "nothing was imported: the files have the problems below"
    except Exception as err:  # a job must end; the log gets the exception type only
        import logging

        logging.getLogger("remission.web").error("import job failed: %s", type(err).__name__)
        job.state, job.message = "failed", "the import failed unexpectedly; nothing was imported"
    else:
        job.counts = {t: dict(c) for t, c in report.counts.items() if sum(c.values())}
        job.totals = report.totals()
        job.problems = [str(p) for p in report.skipped]
        job.excluded = [f"{n} {t} row(s): {r}" for (t, r), n in sorted(report.excluded_reasons().items())]
        job.not_imported = [f"{name}: {reason}" for name, reason in sorted(report.not_imported.items())]
        job.state = "done"
        job.message = "imported" + (f", {len(report.skipped)} problem(s) skipped" if report.skipped else "")
    finally:
        job.finished = time.monotonic()
        shutil.rmtree(folder, ignore_errors=True)
        if on_done is not None:
            on_done()


def start_import(
    engine: Engine,
    jobs: ImportJobs,
    user: User,
    source: str,
    uploads: Mapping[str, list[tuple[str, bytes]]],
    options: Mapping[str, str],
) -> ImportJob:
    """Check the uploads, save them in a private folder and start the import thread."""
    if source not in SOURCES:
        raise InvalidInputError([Problem(None, "source", source, "expected redcap, sdtm or fhir")])
    problems: list[Problem] = []
    folder = Path(tempfile.mkdtemp(prefix="remission-import-"))
    saved: dict[str, list[str]] = {}
    for name, what, suffixes, several, required in FIELDS[source]:
        given = [(f, data) for f, data in uploads.get(name, []) if f]
        if required and not given:
            problems.append(Problem(None, name, "", f"missing: {what}"))
        if not several and len(given) > 1:
            problems.append(Problem(None, name, f"{len(given)} files", "expected one file"))
        for filename, data in given:
            clean = safe_name(filename)
            if Path(clean).suffix.lower() not in suffixes:
                problems.append(Problem(None, name, filename, f"expected a {' or '.join(suffixes)} file"))
                continue
            (folder / clean).write_bytes(data)
            saved.setdefault(name, []).append(clean)
    if problems:
        shutil.rmtree(folder, ignore_errors=True)
        raise InvalidInputError(problems)
    job = ImportJob(
        id=secrets.token_urlsafe(12),
        owner=user.username,
        source=source,
        files=[f for names in saved.values() for f in names],
    )
    jobs.add(job)
    thread = threading.Thread(
        target=run_import, args=(engine, job, user, folder, saved, dict(options)), name=f"import-{job.id}", daemon=True
    )
    thread.start()
    return job


def wait_for(job: ImportJob, timeout: float = 60.0) -> ImportJob:
    """Block until ``job`` ends (tests and scripts; the page polls instead)."""
    deadline = time.monotonic() + timeout
    while job.state == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    return job


def job_view(job: ImportJob) -> dict[str, Any]:
    """What the progress fragment shows."""
    elapsed = (job.finished or time.monotonic()) - job.started
    return {"job": job, "elapsed": f"{elapsed:.1f}"}
