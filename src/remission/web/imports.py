"""The import page's work: uploaded files → a job of the registry's queue, run by ``remission worker``.

The page uploads the files (size limit ``$REMISSION_MAX_UPLOAD_MB``, default 50), which are saved
in the job's folder of the queue's spool; the web process then only enqueues an ``import`` job
(:mod:`remission.jobs`), and a worker runs exactly what ``remission import redcap|sdtm|fhir``
runs, in one transaction, with the user as the actor of the import's audit record
(:mod:`remission.jobs.imports`, which also applies the investigators' own-site rule). The page
polls the job's record (htmx, every 500 ms) for its progress, result or errors, listed in the
import layer's wording ``file, row/resource, field: value: reason``.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Request
from sqlalchemy import Engine

from remission.errors import InvalidInputError, Problem
from remission.jobs.imports import SOURCES
from remission.web.security import User
from remission.web.services import NotFound, WebError

if TYPE_CHECKING:
    from remission.jobs import Job, JobQueue

MAX_UPLOAD_ENV = "REMISSION_MAX_UPLOAD_MB"
DEFAULT_MAX_UPLOAD_MB = 50.0
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


class ImportJobs:
    """The registry's job queue as the web application sees it, opened on first use (an app that
    never imports creates no queue file)."""

    def __init__(self, registry_url: str) -> None:
        self._url = registry_url
        self._queue: JobQueue | None = None
        self._lock = threading.Lock()

    @property
    def queue(self) -> JobQueue:
        with self._lock:
            if self._queue is None:
                from remission.jobs import open_queue

                self._queue = open_queue(self._url)
            return self._queue

    def get(self, job_id: str, user: User, kind: str | None = "import") -> Job | None:
        """The job if it exists (of ``kind``, unless None) and belongs to ``user`` (or ``user`` is an admin)."""
        job = self.queue.get(job_id)
        if job is None or (kind is not None and job.kind != kind):
            return None
        return job if job.owner == user.username or user.role == "admin" else None

    def require(self, job_id: str, user: User, kind: str | None = None) -> Job:
        """:meth:`get`, or 404 (a job of another user is not found either)."""
        job = self.get(job_id, user, kind)
        if job is None:
            raise NotFound(f"no job {job_id}")
        return job


def may_import(user: User) -> bool:
    """Admins (any site) and investigators (own site) import."""
    return user.role == "admin" or (user.role == "investigator" and bool(user.site_id))


def safe_name(filename: str) -> str:
    """A file name safe to write in the job's folder (no directories, plain characters)."""
    name = _SAFE_NAME.sub("_", Path(filename.replace("\\", "/")).name).lstrip(".")
    return name or "upload"


# ---------------------------------------------------------------------------------------------
# Enqueueing


def save_uploads(folder: Path, source: str, uploads: Mapping[str, list[tuple[str, bytes]]]) -> dict[str, list[str]]:
    """Check the uploads against :data:`FIELDS` and write them into ``folder``; the saved names per field."""
    problems: list[Problem] = []
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
            folder.mkdir(parents=True, exist_ok=True)
            (folder / clean).write_bytes(data)
            saved.setdefault(name, []).append(clean)
    if problems:
        raise InvalidInputError(problems)
    return saved


def start_import(
    engine: Engine | None,
    jobs: ImportJobs,
    user: User,
    source: str,
    uploads: Mapping[str, list[tuple[str, bytes]]],
    options: Mapping[str, str],
) -> Job:
    """Check the uploads, save them in the job's folder and enqueue the import (nothing is parsed here)."""
    if source not in SOURCES:
        raise InvalidInputError([Problem(None, "source", source, "expected redcap, sdtm or fhir")])
    queue = jobs.queue
    job_id = queue.new_id()
    folder = queue.folder(job_id)
    try:
        saved = save_uploads(folder, source, uploads)
    except InvalidInputError:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    params = {
        "source": source,
        "files": saved,
        "options": dict(options),
        "user": {"username": user.username, "role": user.role, "site_id": user.site_id},
    }
    return queue.enqueue("import", params, user.username, job_id=job_id)


def job_view(job: Job) -> dict[str, Any]:
    """What the job page and its progress fragment show."""
    result = job.result
    skipped = result.get("skipped", [])
    if job.state == "succeeded":
        message = "imported" + (f", {len(skipped)} problem(s) skipped" if skipped else "")
    elif job.state == "failed":
        message = job.message
    else:
        message = job.step
    started = job.started or job.created
    elapsed = (job.finished or time.time()) - started
    return {
        "job": job,
        "source": job.params.get("source", job.kind),
        "files": [name for names in job.params.get("files", {}).values() for name in names],
        "counts": result.get("counts", {}),
        "excluded": result.get("excluded", []),
        "not_imported": result.get("not_imported", []),
        "problems": [e["text"] for e in (job.errors or skipped)],
        "message": message,
        "polling": job.state in ("queued", "running"),
        "elapsed": f"{max(elapsed, 0.0):.1f}",
    }


Uploads = dict[str, list[tuple[str, bytes]]]


async def read_import_form(request: Request) -> tuple[str, Uploads, dict[str, str]]:
    """The source, the uploaded files per field of :data:`FIELDS` and the options (``on_error``,
    ``disease``, ``site``) of an import form; the caller closes the form (``close_form``)."""
    from starlette.datastructures import UploadFile

    form = await request.form()
    source = str(form.get("source", ""))
    uploads: Uploads = {}
    for name, *_rest in FIELDS.get(source, ()):
        for item in form.getlist(name):
            if isinstance(item, UploadFile) and item.filename:
                uploads.setdefault(name, []).append((item.filename, await item.read()))
    options = {k: str(form.get(k, "")) for k in ("on_error", "disease", "site")}
    return source, uploads, options
