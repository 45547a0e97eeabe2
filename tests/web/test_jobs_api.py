"""``/api/jobs``: the API only enqueues (202 + the job's id); ``GET /api/jobs/{id}`` shows the state,
progress, result and errors; roles; a report job's files. Each test plays the worker."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from webhelpers import PASSWORDS, bearer

from remission.jobs import Worker
from remission.model import Cohort, Site
from remission.store import save_cohort, schema
from remission.web import create_app
from remission.web.security import add_user

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

EXAMPLE = Path(__file__).resolve().parents[2] / "src" / "remission" / "io" / "examples" / "car_t_trial"


@pytest.fixture
def jobs_app(engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("REMISSION_QUEUE_PATH", str(tmp_path / "queue.sqlite"))
    monkeypatch.setenv("REMISSION_JOBS_SPOOL", str(tmp_path / "spool"))
    monkeypatch.delenv("REMISSION_REDIS_URL", raising=False)
    save_cohort(engine, Cohort(sites=(Site(site_id="ERL", name="Erlangen"),)), actor="test")
    add_user(engine, "admin", PASSWORDS["admin"], "admin")
    add_user(engine, "nurse_a", PASSWORDS["nurse_a"], "investigator", "ERL")
    add_user(engine, "monitor", PASSWORDS["monitor"], "monitor")
    return create_app(engine, secret_key="test-secret")


@pytest.fixture
def api(jobs_app: Any) -> Iterator[TestClient]:
    with TestClient(jobs_app, raise_server_exceptions=False) as c:
        yield c


def work(app: Any) -> int:
    return Worker(app.state.import_jobs.queue, app.state.engine).run(burst=True)


def redcap_files(records: bytes | None = None) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [
        ("records", ("records.csv", records or (EXAMPLE / "records.csv").read_bytes(), "text/csv")),
        ("dictionary", ("dictionary.csv", (EXAMPLE / "dictionary.csv").read_bytes(), "text/csv")),
        ("mapping", ("mapping.yaml", (EXAMPLE / "mapping.yaml").read_bytes(), "application/yaml")),
    ]


def patients(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(schema.patients)).scalar_one())


def test_import_is_enqueued_and_its_state_read_back(api: TestClient, jobs_app: Any, engine: Engine) -> None:
    admin = bearer(api, "admin")
    response = api.post("/api/jobs/import", headers=admin, data={"source": "redcap"}, files=redcap_files())
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["state"] == "queued" and body["url"] == f"/api/jobs/{body['id']}"
    assert patients(engine) == 0  # the API process parsed nothing
    queued = api.get(body["url"], headers=admin).json()
    assert (queued["state"], queued["percent"], queued["attempts"]) == ("queued", 0, 0)
    assert work(jobs_app) == 1
    done = api.get(body["url"], headers=admin).json()
    assert (done["state"], done["percent"], done["errors"]) == ("succeeded", 100, [])
    # records.csv: three enrolment rows (SLE-01, SLE-02, IIM-01).
    assert done["result"]["counts"]["patients"]["inserted"] == 3 and patients(engine) == 3
    assert "params" not in done  # server paths stay on the server


def test_failed_import_lists_the_problems_as_file_row_field_value(
    api: TestClient, jobs_app: Any, engine: Engine
) -> None:
    admin = bearer(api, "admin")
    bad = (EXAMPLE / "records.csv").read_text().replace("SLE-02,,,2,1,2,1988,2010", "SLE-02,,,2,1,2,1988,1950")
    job = api.post(
        "/api/jobs/import", headers=admin, data={"source": "redcap"}, files=redcap_files(bad.encode())
    ).json()
    work(jobs_app)
    failed = api.get(job["url"], headers=admin).json()
    assert failed["state"] == "failed" and patients(engine) == 0
    first = failed["errors"][0]
    assert (first["file"], first["where"], first["column"], first["value"]) == (
        "records.csv",
        "row 2 of enrolment (record SLE-02)",
        "record",
        "",
    )
    assert first["text"].startswith("records.csv, row 2 of enrolment (record SLE-02), record: : ")


def test_bad_uploads_are_refused_before_any_job(api: TestClient, jobs_app: Any) -> None:
    admin = bearer(api, "admin")
    files = [f for f in redcap_files() if f[0] != "mapping"]
    response = api.post("/api/jobs/import", headers=admin, data={"source": "redcap"}, files=files)
    assert response.status_code == 422
    assert response.json()["error"]["problems"][0]["column"] == "mapping"
    assert list(jobs_app.state.import_jobs.queue.jobs()) == []


def test_roles_and_owners(api: TestClient, jobs_app: Any) -> None:
    nurse, monitor, admin = bearer(api, "nurse_a"), bearer(api, "monitor"), bearer(api, "admin")
    mine = api.post("/api/jobs/import", headers=nurse, data={"source": "redcap"}, files=redcap_files()).json()
    assert api.get(mine["url"], headers=nurse).status_code == 200
    assert api.get(mine["url"], headers=admin).status_code == 200
    assert api.get(mine["url"], headers=monitor).status_code == 404  # another user's job is not found
    assert api.get("/api/jobs/no-such-job", headers=admin).status_code == 404
    assert api.post("/api/jobs/import", headers=monitor, data={"source": "redcap"}).status_code == 403
    assert api.post("/api/jobs/rescore", headers=nurse, json={}).status_code == 403
    assert api.post("/api/jobs/report", headers=nurse, json={}).status_code == 403
    unknown = api.post("/api/jobs/rescore", headers=admin, json={"indices": ["sledai"]})
    assert unknown.status_code == 422 and unknown.json()["error"]["problems"][0]["value"] == "sledai"


def test_rescore_and_report_jobs_through_the_api(api: TestClient, jobs_app: Any) -> None:
    admin, monitor = bearer(api, "admin"), bearer(api, "monitor")
    api.post("/api/jobs/import", headers=admin, data={"source": "redcap"}, files=redcap_files())
    rescore = api.post("/api/jobs/rescore", headers=admin, json={"indices": ["sledai2k"]})
    report = api.post("/api/jobs/report", headers=monitor, json={"pdf": False})
    assert (rescore.status_code, report.status_code) == (202, 202)
    assert work(jobs_app) == 3
    scored = api.get(rescore.json()["url"], headers=admin).json()
    # The example project has 3 SLEDAI-2K visits.
    assert scored["result"]["indices"][0]["inserted"] == 3
    built = api.get(report.json()["url"], headers=monitor).json()
    assert built["state"] == "succeeded", built["errors"]
    html = api.get(report.json()["url"] + "/files/report.html", headers=monitor)
    assert html.status_code == 200 and "<html" in html.text
    table = built["result"]["tables"][0]
    assert api.get(report.json()["url"] + f"/files/tables/{table}", headers=monitor).status_code == 200
    for name in ("../../queue.sqlite", "tables/../report.html.bak", "report.pdf"):
        assert api.get(report.json()["url"] + f"/files/{name}", headers=monitor).status_code == 404
