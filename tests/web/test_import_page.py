"""Import page: REDCap/SDTM/FHIR uploads are queued as jobs that a worker runs (the CLI's import),
with progress, the error list, the upload limit (413), roles and the investigator's own-site rule.

The web application only enqueues; each test plays the worker (``Worker.run(burst=True)``)."""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from webhelpers import PASSWORDS, page_login

from remission.jobs import Job, Worker
from remission.model import Cohort, Site
from remission.store import save_cohort, schema
from remission.web import create_app
from remission.web.security import add_user
from sharedpaths import DATA, needs

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

EXAMPLE = Path(__file__).resolve().parents[2] / "src" / "remission" / "io" / "examples" / "car_t_trial"


@pytest.fixture
def import_app(engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("REMISSION_QUEUE_PATH", str(tmp_path / "queue.sqlite"))
    monkeypatch.setenv("REMISSION_JOBS_SPOOL", str(tmp_path / "spool"))
    monkeypatch.delenv("REMISSION_REDIS_URL", raising=False)
    # The REDCap example's patients: SLE-01 at ERL, SLE-02 at HEI, IIM-01 at PAR (mapping.yaml recodes).
    save_cohort(engine, Cohort(sites=(Site(site_id="ERL", name="Erlangen"),)), actor="test")
    add_user(engine, "admin", PASSWORDS["admin"], "admin")
    add_user(engine, "nurse_a", PASSWORDS["nurse_a"], "investigator", "ERL")
    add_user(engine, "monitor", PASSWORDS["monitor"], "monitor")
    add_user(engine, "stat", PASSWORDS["stat"], "statistician")
    return create_app(engine, secret_key="test-secret")


@pytest.fixture
def web(import_app: Any) -> Iterator[TestClient]:
    with TestClient(import_app, raise_server_exceptions=False) as c:
        yield c


def redcap_files(records: bytes | None = None) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [
        ("records", ("records.csv", records or (EXAMPLE / "records.csv").read_bytes(), "text/csv")),
        ("dictionary", ("dictionary.csv", (EXAMPLE / "dictionary.csv").read_bytes(), "text/csv")),
        ("mapping", ("mapping.yaml", (EXAMPLE / "mapping.yaml").read_bytes(), "application/yaml")),
    ]


def upload(web: TestClient, app: Any, csrf: str, source: str, files: Any, **fields: str) -> tuple[Any, Job]:
    """Post the form (the web process only enqueues), then run the queue as a worker would."""
    response = web.post(
        "/import", data={"csrf_token": csrf, "source": source, **fields}, files=files, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    job_id = response.headers["location"].rsplit("/", 1)[1]
    queue = app.state.import_jobs.queue
    assert queue.get(job_id).state == "queued"
    Worker(queue, app.state.engine).run(burst=True)
    job = queue.get(job_id)
    assert job is not None
    return response, job


def problems(job: Job) -> list[str]:
    """The CLI's lines: the errors of a failed job, or the problems a skipping import left out."""
    return [e["text"] for e in job.errors or job.result.get("skipped", [])]


def queued(app: Any) -> int:
    return sum(1 for _ in app.state.import_jobs.queue.jobs())


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def test_admin_imports_a_redcap_export_and_sees_the_counts(web: TestClient, import_app: Any, engine: Engine) -> None:
    csrf = page_login(web, "admin")
    form = web.get("/import").text
    assert 'enctype="multipart/form-data"' in form and 'name="mapping"' in form
    response, job = upload(web, import_app, csrf, "redcap", redcap_files())
    assert job.state == "succeeded", problems(job)
    page = web.get(response.headers["location"]).text
    progress = web.get(response.headers["location"] + "/progress").text
    for html in (page, progress):
        assert 'data-state="succeeded"' in html and "every 500ms" not in html
    # records.csv: three enrolment rows (SLE-01, SLE-02, IIM-01).
    assert job.result["counts"]["patients"]["inserted"] == 3 and count(engine, schema.patients) == 3
    assert re.search(r"<td>patients</td><td class=\"num\">3</td>", progress)
    with engine.connect() as connection:
        last = connection.execute(select(schema.audit_log).order_by(schema.audit_log.c.id.desc())).first()
    assert last is not None and (last.actor, last.action, last.entity) == ("admin", "import", "redcap")
    # Importing the same files again changes nothing (idempotent, as the CLI).
    _, again = upload(web, import_app, csrf, "redcap", redcap_files())
    assert again.result["totals"]["inserted"] == 0 and again.result["totals"]["updated"] == 0


def test_problems_are_listed_in_the_import_wording_and_nothing_is_written(
    web: TestClient, import_app: Any, engine: Engine
) -> None:
    csrf = page_login(web, "admin")
    bad = (EXAMPLE / "records.csv").read_text().replace("SLE-02,,,2,1,2,1988,2010", "SLE-02,,,2,1,2,1988,1950")
    response, job = upload(web, import_app, csrf, "redcap", redcap_files(bad.encode()))
    assert job.state == "failed" and count(engine, schema.patients) == 0
    html = web.get(response.headers["location"] + "/progress").text
    # Same wording as `remission import redcap` (tests/cli/test_import_cli.py).
    assert "records.csv, row 2 of enrolment (record SLE-02), record: : " in html
    assert "diagnosis_year 1950 is before birth_year 1988" in html
    _, skipped = upload(web, import_app, csrf, "redcap", redcap_files(bad.encode()), on_error="skip")
    assert skipped.state == "succeeded" and count(engine, schema.patients) == 2 and len(problems(skipped)) >= 1


def test_investigator_imports_only_their_own_sites_patients(web: TestClient, import_app: Any, engine: Engine) -> None:
    csrf = page_login(web, "nurse_a")
    _, strict = upload(web, import_app, csrf, "redcap", redcap_files())
    assert strict.state == "failed" and count(engine, schema.patients) == 0
    assert any(
        p.endswith("site_id: HEI: a patient of site HEI: investigators import their own site (ERL) only")
        for p in problems(strict)
    ), problems(strict)
    assert any("site_id: PAR: a patient of site PAR" in p for p in problems(strict))
    _, skipped = upload(web, import_app, csrf, "redcap", redcap_files(), on_error="skip")
    assert skipped.state == "succeeded", problems(skipped)
    with engine.connect() as connection:
        stored = connection.execute(select(schema.patients.c.patient_id, schema.patients.c.site_id)).all()
        sites = {r.site_id for r in connection.execute(select(schema.sites.c.site_id))}
    assert [tuple(r) for r in stored] == [("SLE-01", "ERL")] and sites == {"ERL"}


def test_investigator_cannot_touch_a_stored_patient_of_another_site(
    web: TestClient, import_app: Any, engine: Engine
) -> None:
    admin_csrf = page_login(web, "admin")
    upload(web, import_app, admin_csrf, "redcap", redcap_files())
    web.cookies.clear()
    csrf = page_login(web, "nurse_a")
    # SLE-02 is stored at HEI; a file that puts it at ERL would move it: refused.
    moved = (EXAMPLE / "records.csv").read_text().replace("SLE-02,,,2,1,2,1988,2010", "SLE-02,,,1,1,2,1988,2010")
    _, job = upload(web, import_app, csrf, "redcap", redcap_files(moved.encode()))
    assert job.state == "failed"
    assert any(p.endswith("patient_id: SLE-02: not a patient of your site (ERL)") for p in problems(job)), problems(job)
    with engine.connect() as connection:
        site = connection.execute(
            select(schema.patients.c.site_id).where(schema.patients.c.patient_id == "SLE-02")
        ).scalar_one()
    assert site == "HEI"


def test_upload_over_the_limit_answers_413(
    web: TestClient, import_app: Any, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    csrf = page_login(web, "admin")
    monkeypatch.setenv("REMISSION_MAX_UPLOAD_MB", "0.01")  # 10 KiB; records.csv alone is larger
    response = web.post("/import", data={"csrf_token": csrf, "source": "redcap"}, files=redcap_files())
    assert response.status_code == 413
    assert "larger than the limit of 0.01 MB" in response.text and "REMISSION_MAX_UPLOAD_MB" in response.text
    assert queued(import_app) == 0 and count(engine, schema.patients) == 0


def test_missing_or_wrong_files_are_refused_before_any_job(web: TestClient, import_app: Any) -> None:
    csrf = page_login(web, "admin")
    files = [f for f in redcap_files() if f[0] != "mapping"] + [
        ("mapping", ("mapping.exe", b"MZ", "application/octet-stream"))
    ]
    response = web.post("/import", data={"csrf_token": csrf, "source": "redcap"}, files=files)
    assert response.status_code == 422
    assert "column mapping: value mapping.exe: expected a .yaml or .yml file" in response.text
    assert queued(import_app) == 0 and not any((Path(os.environ["REMISSION_JOBS_SPOOL"])).glob("*/*"))


@pytest.mark.parametrize("user", ["monitor", "stat"])
def test_read_only_roles_cannot_import(web: TestClient, user: str) -> None:
    csrf = page_login(web, user)
    assert web.get("/import").status_code == 403
    response = web.post("/import", data={"csrf_token": csrf, "source": "redcap"}, files=redcap_files())
    assert response.status_code == 403


def test_upload_without_csrf_token_is_refused(web: TestClient) -> None:
    page_login(web, "admin")
    assert web.post("/import", data={"source": "redcap"}, files=redcap_files()).status_code == 403


def test_running_job_is_polled_and_other_users_cannot_see_it(web: TestClient, import_app: Any) -> None:
    page_login(web, "nurse_a")
    params = {"source": "sdtm", "files": {"datasets": ["dm.xpt"]}}
    job = Job(id="job1", kind="import", owner="nurse_a", params=params, state="running", step="validating", done=3)
    import_app.state.import_jobs.queue.save(replace(job, total=11))
    fragment = web.get("/import/jobs/job1/progress").text
    # 3 of 11 steps = 27 %.
    assert 'hx-trigger="every 500ms"' in fragment and 'value="27"' in fragment and "validating" in fragment
    assert web.get("/api/jobs/job1").json()["percent"] == 27
    web.cookies.clear()
    page_login(web, "monitor")
    assert web.get("/import/jobs/job1/progress").status_code == 404
    assert web.get("/api/jobs/job1").status_code == 404


@needs(DATA)
def test_sdtm_and_fhir_uploads_of_several_files(web: TestClient, import_app: Any, engine: Engine) -> None:
    csrf = page_login(web, "admin")
    folder = DATA / "cdisc-pilot-sdtm-subset-clinutils"
    files = [("datasets", (p.name, p.read_bytes(), "application/octet-stream")) for p in sorted(folder.glob("*.xpt"))]
    _, sdtm = upload(web, import_app, csrf, "sdtm", files)
    assert sdtm.state == "succeeded", problems(sdtm)
    # As the CLI test of the same folder (tests/cli/test_import_cli.py): 7 subjects, 22 character labs excluded.
    assert sdtm.result["counts"]["patients"]["inserted"] == 7
    assert "22 labs row(s): character result (no numeric value)" in sdtm.result["excluded"]
    web.cookies.clear()
    csrf = page_login(web, "nurse_a")
    fhir_files = [
        ("resources", (p.name, p.read_bytes(), "application/json"))
        for p in sorted((DATA / "fhir-r4-synthea-smart").glob("*.json"))
    ]
    _, fhir = upload(web, import_app, csrf, "fhir", fhir_files)
    assert fhir.state == "succeeded", problems(fhir)
    with engine.connect() as connection:
        erl = connection.execute(
            select(func.count()).select_from(schema.patients).where(schema.patients.c.site_id == "ERL")
        ).scalar_one()
    # The CLI stores 3 FHIR patients (at the placeholder site "fhir"); the investigator's go to ERL.
    assert erl == 3
