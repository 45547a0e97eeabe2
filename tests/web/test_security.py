"""Security tests of the web application (issue 11, item 5; docs/reliability.md §5).

Headers on every class of response, login throttling, session fixation, SQL injection through
every path/query/body/form field, path traversal on the routes that serve files, oversized
bodies, no PHI in logs (through a real uvicorn server), StaleVersionError → 409. The schema-driven
fuzzing of every API route (schemathesis) is in ``test_api_fuzz.py``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import Engine, func, inspect, select
from webhelpers import PASSWORDS, bearer, csrf_of, page_login

from remission.errors import StaleVersionError
from remission.store import schema
from remission.web import create_app, services
from remission.web.hardening import CSP, LoginThrottle

# The strings of tests/reliability/test_sql_injection.py (classic injections, one per dialect trick).
INJECTIONS = (
    "'; DROP TABLE patients; --",
    "Robert'); DROP TABLE assessments;--",
    '" OR 1=1 --',
    "1; DELETE FROM audit_log",
    "%' OR '%'='",
    "\\'; DROP TABLE sites; --",
    "$$; DROP TABLE labs; $$",
    "' UNION SELECT sql FROM sqlite_master --",
    "x'||(SELECT version())||'",
    "1) OR (1=1",
)


def assert_error_shape(response: Any, status: int | None = None) -> dict[str, Any]:
    """A 4xx answer in the one JSON error shape; its ``error`` object."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    if status is not None:
        assert response.status_code == status, response.text[:300]
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "problems"}, body
    assert all(set(p) == {"row", "column", "value", "reason"} for p in body["error"]["problems"])
    return dict(body["error"])


def table_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for name, table in schema.metadata.tables.items()
        }


# --------------------------------------------------------------------------------------------
# 1. Security headers


def _headers_ok(response: Any, *, csp: str = CSP) -> None:
    h = response.headers
    assert h["Content-Security-Policy"] == csp
    assert "frame-ancestors 'none'" in h["Content-Security-Policy"]
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["X-Frame-Options"] == "DENY"
    assert h["Referrer-Policy"] == "no-referrer"


# (method, path, logged in?, expected status): one per class of response.
ROUTES = [
    ("GET", "/api/health", False, 200),
    ("GET", "/api/patients", True, 200),
    ("GET", "/api/patients/SLE-A1", True, 200),
    ("GET", "/openapi.json", False, 200),
    ("GET", "/login", False, 200),
    ("GET", "/", True, 200),
    ("GET", "/patients/SLE-A1", True, 200),
    ("GET", "/patients/SLE-A1/visit/sledai2k", True, 200),
    ("GET", "/import", True, 200),
    ("GET", "/static/style.css", False, 200),
    ("GET", "/static/htmx.min.js", False, 200),
    ("GET", "/static/nothing.js", False, 404),
    ("GET", "/api/nothing", False, 404),
    ("GET", "/nothing", True, 404),
    ("GET", "/api/me", False, 401),
    ("GET", "/", False, 303),
    ("DELETE", "/api/health", False, 405),
    ("POST", "/api/patients", True, 422),
    ("POST", "/api/auth/token", False, 422),
    ("GET", "/api/patients/NOPE", True, 404),
]


@pytest.mark.parametrize(
    ("method", "path", "logged_in", "status"), ROUTES, ids=[f"{m} {p} {s}" for m, p, _, s in ROUTES]
)
def test_security_headers_on_every_class_of_response(
    client: Any, method: str, path: str, logged_in: bool, status: int
) -> None:
    if logged_in:
        page_login(client, "admin")
    kwargs: dict[str, Any] = {"follow_redirects": False}
    if method == "POST" and path == "/api/patients":
        kwargs["json"] = {"patient_id": "X"}
        kwargs["headers"] = {"X-CSRF-Token": csrf_of(client.get("/").text)}
    response = client.request(method, path, **kwargs)
    assert response.status_code == status, response.text[:300]
    _headers_ok(response)
    if not path.startswith("/static/"):
        assert response.headers["Cache-Control"] == "no-store"


def test_headers_on_500_413_and_429(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    headers = bearer(client, "admin")
    monkeypatch.setattr(services, "list_patients", _boom)
    _headers_ok(client.get("/api/patients", headers=headers))
    monkeypatch.setenv("REMISSION_MAX_UPLOAD_MB", "0.001")
    _headers_ok(client.post("/api/patients", headers=headers, content=b"x" * 5000))
    client.app.state.login_throttle = LoginThrottle(max_failures=1, window_s=60)
    client.post("/api/auth/token", data={"username": "admin", "password": "wrong-one"})
    _headers_ok(client.post("/api/auth/token", data={"username": "admin", "password": "wrong-one"}))


def test_docs_and_report_have_their_documented_policies(client: Any) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "frame-ancestors 'none'" in docs.headers["Content-Security-Policy"]
    assert docs.headers["X-Frame-Options"] == "DENY"
    page_login(client, "admin")
    report = client.get("/dashboard/report.html")
    assert report.status_code == 200
    policy = report.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "style-src 'self' 'unsafe-inline'" in policy
    # The dashboard's iframe shows it (issue 22: it was an empty box): framed by this origin only.
    assert "frame-ancestors 'self'" in policy and "frame-ancestors 'none'" not in policy
    assert report.headers["X-Frame-Options"] == "SAMEORIGIN"
    # Every other page, the dashboard and the report's CSV tables included, still refuses framing.
    for path in ("/dashboard", "/", "/dashboard/tables/cohort_characteristics.csv"):
        other = client.get(path)
        assert "frame-ancestors 'none'" in other.headers["Content-Security-Policy"], path
        assert other.headers["X-Frame-Options"] == "DENY", path


def test_https_responses_ask_for_strict_transport(app_engine: Engine) -> None:
    from fastapi.testclient import TestClient

    with TestClient(create_app(app_engine, secret_key="k"), base_url="https://testserver") as c:
        assert c.get("/api/health").headers["Strict-Transport-Security"] == "max-age=31536000"


INLINE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|\sstyle=|\son[a-z]+=|javascript:", re.IGNORECASE)


def test_pages_use_no_inline_script_or_style(client: Any) -> None:
    """The CSP forbids them; a page that used them would break in the browser, silently."""
    csrf = page_login(client, "admin")
    pages = ["/", "/patients/SLE-A1", "/patients/SLE-A1/visit/sledai2k", "/dashboard", "/import", "/nothing"]
    for path in pages:
        html = client.get(path).text
        assert not INLINE.search(html), (path, INLINE.search(html))
    preview = client.post("/patients/SLE-A1/visit/sledai2k/preview", data={"csrf_token": csrf, "rash": "1"})
    assert preview.status_code == 200 and not INLINE.search(preview.text)
    client.cookies.clear()
    assert not INLINE.search(client.get("/login").text)


# --------------------------------------------------------------------------------------------
# 2. Login throttling


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(client: Any) -> Clock:
    clock = Clock()
    client.app.state.login_throttle = LoginThrottle(max_failures=3, window_s=900, clock=clock)
    return clock


def _token(client: Any, username: str, password: str) -> Any:
    return client.post("/api/auth/token", data={"username": username, "password": password})


def test_api_login_locks_out_a_username_after_n_failures(client: Any, clock: Clock) -> None:
    for _ in range(3):
        assert_error_shape(_token(client, "admin", "wrong-password"), 401)
    locked = _token(client, "admin", PASSWORDS["admin"])  # the right password: refused all the same
    error = assert_error_shape(locked, 429)
    assert error["code"] == "too_many_requests"
    assert locked.headers["Retry-After"] == "900"
    clock.now += 600
    assert _token(client, "admin", PASSWORDS["admin"]).headers["Retry-After"] == "300"
    clock.now += 301  # the oldest failure has left the window
    assert _token(client, "admin", PASSWORDS["admin"]).status_code == 200


def test_api_login_locks_out_a_client_that_tries_many_usernames(client: Any, clock: Clock) -> None:
    for name in ("nobody", "monitor", "stat"):
        assert_error_shape(_token(client, name, "wrong-password"), 401)
    assert_error_shape(_token(client, "nurse_a", PASSWORDS["nurse_a"]), 429)


def test_another_client_is_not_locked_by_the_address_count(app_engine: Engine) -> None:
    from fastapi.testclient import TestClient

    app = create_app(app_engine, secret_key="k")
    app.state.login_throttle = LoginThrottle(max_failures=3, window_s=900)
    with TestClient(app, client=("10.0.0.1", 1)) as attacker, TestClient(app, client=("10.0.0.2", 1)) as nurse:
        for name in ("nobody", "monitor", "stat"):
            attacker.post("/api/auth/token", data={"username": name, "password": "wrong-password"})
        assert attacker.post("/api/auth/token", data={"username": "nurse_a", "password": "x"}).status_code == 429
        ok = nurse.post("/api/auth/token", data={"username": "nurse_a", "password": PASSWORDS["nurse_a"]})
        assert ok.status_code == 200


def test_successful_login_resets_the_username_count(client: Any) -> None:
    # The failures come from other addresses: only the username's count is at stake here.
    client.app.state.login_throttle = throttle = LoginThrottle(max_failures=3, window_s=900)
    throttle.failed("admin", "elsewhere")
    throttle.failed("admin", "elsewhere")
    assert _token(client, "admin", PASSWORDS["admin"]).status_code == 200
    assert throttle.retry_after("admin", "another") is None
    throttle.failed("admin", "another")
    throttle.failed("admin", "another")
    assert throttle.retry_after("admin", "a third") is None  # 2 since the success, not 4


def test_page_login_throttled_shows_a_message(client: Any, clock: Clock) -> None:
    def attempt(password: str) -> Any:
        token = csrf_of(client.get("/login").text)
        return client.post(
            "/login",
            data={"username": "admin", "password": password, "csrf_token": token, "next": "/"},
            follow_redirects=False,
        )

    for _ in range(3):
        assert attempt("wrong-password").status_code == 401
    locked = attempt(PASSWORDS["admin"])
    assert locked.status_code == 429
    assert "too many failed logins; try again in 15 minute(s)" in locked.text
    assert "remission_session" not in locked.cookies
    clock.now += 901
    assert attempt(PASSWORDS["admin"]).status_code == 303


def test_throttle_is_configured_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMISSION_LOGIN_MAX_FAILURES", "7")
    monkeypatch.setenv("REMISSION_LOGIN_WINDOW_S", "60")
    throttle = LoginThrottle.from_env()
    assert (throttle.max_failures, throttle.window_s) == (7, 60.0)
    monkeypatch.setenv("REMISSION_LOGIN_MAX_FAILURES", "many")
    assert LoginThrottle.from_env().max_failures == 5


# --------------------------------------------------------------------------------------------
# 3. Session fixation


def test_a_session_cookie_planted_before_login_is_replaced(client: Any) -> None:
    # The attacker's own valid session, planted in the victim's browser before the victim logs in.
    attacker_token = bearer(client, "nurse_b")["Authorization"].removeprefix("Bearer ")
    client.cookies.set("remission_session", "chosen-by-the-attacker")
    token = csrf_of(client.get("/login").text)
    planted_nonce = client.cookies.get("remission_prelogin")
    client.cookies.set("remission_session", attacker_token)
    response = client.post(
        "/login",
        data={"username": "admin", "password": PASSWORDS["admin"], "csrf_token": token, "next": "/"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    issued = response.cookies.get("remission_session")
    assert issued and issued not in (attacker_token, "chosen-by-the-attacker")
    assert planted_nonce and 'remission_prelogin=""' in response.headers.get("set-cookie", "")
    me = client.get("/api/me", cookies={"remission_session": issued})
    assert me.json()["username"] == "admin"
    # The planted token is still only the attacker's (never upgraded to the victim's account).
    assert client.get("/api/me", headers={"Authorization": "Bearer " + attacker_token}).json()["username"] == "nurse_b"


def test_each_login_issues_a_new_session_and_logout_invalidates_it(client: Any) -> None:
    csrf = page_login(client, "admin")
    first = client.cookies.get("remission_session")
    assert client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    client.cookies.clear()
    replayed = client.get("/api/me", headers={"Cookie": f"remission_session={first}"})
    assert_error_shape(replayed, 401)
    page_login(client, "admin")
    assert client.cookies.get("remission_session") != first


def test_bearer_token_is_invalid_after_logout(client: Any) -> None:
    headers = bearer(client, "admin")
    assert client.post("/api/auth/logout", headers=headers).status_code == 204
    assert_error_shape(client.get("/api/me", headers=headers), 401)


def test_session_cookie_flags(app_engine: Engine) -> None:
    from fastapi.testclient import TestClient

    with TestClient(create_app(app_engine, secret_key="k"), base_url="https://testserver") as c:
        token = csrf_of(c.get("/login").text)
        response = c.post(
            "/login",
            data={"username": "admin", "password": PASSWORDS["admin"], "csrf_token": token, "next": "/"},
            follow_redirects=False,
        )
        cookie = next(v for v in response.headers.get_list("set-cookie") if v.startswith("remission_session="))
        assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie


# --------------------------------------------------------------------------------------------
# 4. SQL injection through every route


def _no_500(response: Any, where: str) -> None:
    assert response.status_code < 500, (where, response.status_code, response.text[:300])
    if response.status_code >= 400 and response.headers.get("content-type", "").startswith("application/json"):
        assert_error_shape(response)


@pytest.mark.parametrize("text", INJECTIONS, ids=range(len(INJECTIONS)))
def test_sql_injection_in_paths_queries_bodies_and_forms(client: Any, app_engine: Engine, text: str) -> None:
    tables_before = set(inspect(app_engine).get_table_names())
    counts_before = table_counts(app_engine)
    api = bearer(client, "admin")
    q = quote(text, safe="")
    gets = [
        f"/api/patients/{q}",
        f"/api/patients/{q}/audit",
        f"/api/export/{q}",
        f"/api/patients?site={q}&disease={q}",
        f"/api/patients/SLE-A1/labs/{q}",
    ]
    for url in gets:
        _no_500(client.get(url, headers=api), url)
    _no_500(client.patch(f"/api/patients/{q}", headers=api | {"If-Match": q}, json={"sex": text}), "patch")
    _no_500(client.delete(f"/api/patients/{q}", headers=api | {"If-Match": "1"}), "delete")
    _no_500(client.delete(f"/api/patients/SLE-A1/{q}/1", headers=api | {"If-Match": "1"}), "delete record")
    _no_500(client.post(f"/api/score/{q}", headers=api, json={"rows": [{"rash": text}]}), "score index")
    _no_500(client.post("/api/score/sledai2k", headers=api, json={"rows": [{"rash": text}]}), "score value")
    # JSON bodies: refused (4xx) where the field is constrained, stored verbatim where it is free text.
    refused = {"patient_id": text, "site_id": "A", "disease": "SLE", "sex": "female"}
    _no_500(client.post("/api/patients", headers=api, json=refused), "patient id")
    _no_500(client.post("/api/patients", headers=api, json=refused | {"patient_id": "P1", "site_id": text}), "site")
    _no_500(client.post("/api/patients", headers=api, json=refused | {"patient_id": "P2", "disease": text}), "disease")
    created = client.post(
        "/api/patients",
        headers=api,
        json={
            "patient_id": "INJ-1",
            "site_id": "A",
            "disease": "SLE",
            "sex": "female",
            "birth_year": 1990,
            "diagnosis_year": 2010,
            "prior_treatments": [{"drug": text}],
        },
    )
    assert created.status_code == 201, created.text

    def fit(table: str, column: str) -> str:
        """The text cut to its column's length (longer text is refused: checked below)."""
        length = getattr(schema.metadata.tables[table].c[column].type, "length", None)
        return text[:length] if length else text

    free_text = {
        "labs": {"date": "2024-02-10", "day": 31, "analyte": fit("labs", "analyte"), "value": 1.0,
                 "unit": fit("labs", "unit")},
        "medications": {"drug": fit("medications", "drug"), "dose": 1, "unit": fit("medications", "unit"),
                        "route": fit("medications", "route"), "frequency": fit("medications", "frequency"),
                        "start_date": "2024-01-01", "start_day": -9},
        "adverse_events": {"term": fit("adverse_events", "term"), "category": "other", "grade": 1,
                           "onset_date": "2024-01-12", "onset_day": 2},
        "infusions": {"date": "2024-01-10", "cells_per_kg": 1e6, "product": fit("infusions", "product"),
                      "conditioning": fit("infusions", "conditioning")},
    }  # fmt: skip
    for kind, body in free_text.items():
        answer = client.post(f"/api/patients/INJ-1/{kind}", headers=api, json=body)
        assert answer.status_code == 201, (kind, answer.text)
    too_long = dict(free_text["medications"], unit="u" * 17, start_day=-8, start_date="2024-01-02")
    error = assert_error_shape(client.post("/api/patients/INJ-1/medications", headers=api, json=too_long), 422)
    assert [(p["column"], p["reason"]) for p in error["problems"]] == [("unit", "longer than 16 characters")]
    visit = client.post(
        "/api/patients/INJ-1/assessments",
        headers=api,
        json={"index": "sledai2k", "date": "2024-02-09", "visit": fit("assessments", "visit"), "items": {"rash": 1}},
    )
    assert visit.status_code == 201, visit.text
    record = client.get("/api/patients/INJ-1", headers=api).json()
    assert record["prior_treatments"][0]["drug"] == text
    for kind, body in free_text.items():
        [stored] = record[kind]
        assert {k: stored[k] for k in body if isinstance(body[k], str) and not k.endswith("date")} == {
            k: v for k, v in body.items() if isinstance(v, str) and not k.endswith("date")
        }, kind
    assert record["assessments"][0]["visit"] == fit("assessments", "visit")
    # Pages: path, query and form fields.
    client.cookies.clear()
    login = client.post(
        "/login",
        data={"username": text, "password": text, "csrf_token": csrf_of(client.get("/login").text)},
        follow_redirects=False,
    )
    assert login.status_code == 401
    csrf = page_login(client, "admin")
    for url in (
        f"/patients/{q}",
        f"/patients/{q}/visit/sledai2k",
        f"/patients/SLE-A1/visit/{q}",
        f"/?site={q}&disease={q}",
        f"/login?next={q}",
        f"/dashboard/tables/{q}",
        f"/import/jobs/{q}",
        f"/import/jobs/{q}/progress",
    ):
        _no_500(client.get(url, follow_redirects=False), url)
    saved = client.post(
        "/patients/INJ-1/visit/sledai2k",
        data={"csrf_token": csrf, "date": "2024-03-01", "visit": text, "rash": text, "version": text},
        follow_redirects=False,
    )
    _no_500(saved, "visit form")
    _no_500(client.post("/import", data={"csrf_token": csrf, "source": text, "site": text}), "import form")
    # Nothing dropped, nothing deleted: the counts grew by exactly what was created.
    assert set(inspect(app_engine).get_table_names()) == tables_before
    counts = table_counts(app_engine)
    assert counts["patients"] == counts_before["patients"] + 1
    for name in ("sites", "users"):
        assert counts[name] == counts_before[name]
    for name in ("labs", "medications", "adverse_events"):
        assert counts[name] == counts_before[name] + 1
    assert counts["audit_log"] > counts_before["audit_log"]


# --------------------------------------------------------------------------------------------
# 5. Path traversal


def raw_get(app: Any, raw_path: bytes, cookie: str = "") -> tuple[int, bytes]:
    """GET a raw (undecoded, unnormalised) path straight through the ASGI app."""
    from urllib.parse import unquote_to_bytes

    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "server": ("testserver", 80),
        "client": ("testclient", 1),
        "root_path": "",
        "path": unquote_to_bytes(raw_path).decode("utf-8", "replace"),
        "raw_path": raw_path,
        "query_string": b"",
        "headers": [(b"host", b"testserver")] + ([(b"cookie", cookie.encode())] if cookie else []),
        "app": app,
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


TRAVERSALS = [
    b"../app.py",
    b"../../web/app.py",
    b"..%2fapp.py",
    b"%2e%2e%2fapp.py",
    b"%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    b"..%5capp.py",
    b"....//app.py",
    b"%252e%252e%252fapp.py",
    b"/etc/passwd",
    b"%2fetc%2fpasswd",
    b"..%00/app.py",
    b"static/../../app.py",
]


@pytest.mark.parametrize("tail", TRAVERSALS, ids=[t.decode() for t in TRAVERSALS])
def test_path_traversal_on_static_and_report_tables(client: Any, tail: bytes) -> None:
    page_login(client, "admin")
    cookie = "remission_session=" + str(client.cookies.get("remission_session"))
    assert client.get("/dashboard/tables/efficacy.csv").status_code in (200, 404)  # the report is built
    for prefix in (b"/static/", b"/dashboard/tables/"):
        for suffix in (b"", b".csv"):
            status, body = raw_get(client.app, prefix + tail + suffix, cookie)
            assert status in (404, 400, 405), (prefix + tail, status)
            assert b"create_app" not in body and b"root:" not in body


def test_report_tables_serve_only_csv_files_of_the_report(client: Any) -> None:
    page_login(client, "admin")
    names = re.findall(r'href="tables/([^"]+\.csv)"', client.get("/dashboard/report.html").text)
    if names:
        assert client.get(f"/dashboard/tables/{names[0]}").status_code == 200
    assert client.get("/dashboard/tables/report.html").status_code == 404
    assert client.get("/dashboard/tables/..%2freport.html").status_code == 404


# --------------------------------------------------------------------------------------------
# 6. Oversized bodies


@pytest.fixture
def small_limit(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("REMISSION_MAX_UPLOAD_MB", "0.01")
    return int(0.01 * 1024 * 1024)


def test_oversized_api_bodies_answer_413(client: Any, small_limit: int) -> None:
    api = bearer(client, "admin")
    big = {"rows": [{"rash": "1", "pad": "x" * small_limit}]}
    error = assert_error_shape(client.post("/api/score/sledai2k", headers=api, json=big), 413)
    assert (
        error["code"] == "too_large" and "0.01 MB" in error["message"] and "REMISSION_MAX_UPLOAD_MB" in error["message"]
    )
    assert_error_shape(client.post("/api/patients", headers=api, content=b"{" * (small_limit + 1)), 413)
    just_below = {"rows": [{"rash": "1"}], "options": {}, "explain": False}
    assert client.post("/api/score/sledai2k", headers=api, json=just_below).status_code == 200


def test_oversized_chunked_body_answers_413(client: Any, small_limit: int) -> None:
    api = bearer(client, "admin")

    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b" " * 1024

    response = client.post("/api/patients", headers=api | {"Content-Type": "application/json"}, content=chunks())
    assert_error_shape(response, 413)

    def small() -> Iterator[bytes]:
        yield b'{"patient_id": "C1", "site_id": "A", "disease": "SLE", "sex": "male", '
        yield b'"birth_year": 1980, "diagnosis_year": 2000}'

    response = client.post("/api/patients", headers=api | {"Content-Type": "application/json"}, content=small())
    assert response.status_code == 201, response.text


def test_oversized_page_form_answers_a_413_page(client: Any, small_limit: int) -> None:
    token = csrf_of(client.get("/login").text)
    response = client.post("/login", data={"username": "x" * small_limit, "password": "p", "csrf_token": token})
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("text/html") and "larger than the limit" in response.text


def test_declared_length_that_is_not_a_number_is_refused(client: Any) -> None:
    from remission.web.hardening import HardeningMiddleware

    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:  # must not be reached
        raise AssertionError("the app was called")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {
        "type": "http", "method": "POST", "path": "/api/patients", "raw_path": b"/api/patients",
        "query_string": b"", "headers": [(b"content-length", b"-1")], "scheme": "http", "server": ("t", 80),
        "root_path": "", "app": client.app,
    }  # fmt: skip
    asyncio.run(HardeningMiddleware(app)(scope, receive, send))
    assert sent[0]["status"] == 413


# --------------------------------------------------------------------------------------------
# 7. No PHI in logs


PHI = "Josephine Quixotefield-Marbury"  # name-like text a user might type into a free-text field


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError(f"failure while reading {PHI}")


@pytest.fixture
def live_server(app_engine: Engine) -> Iterator[str]:
    """The app under a real uvicorn server (its own loggers, access log on), on a free port."""
    import uvicorn

    app = create_app(app_engine, secret_key="k")
    app.state.login_throttle = LoginThrottle(max_failures=2, window_s=900)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, log_level="debug", access_log=True)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not (server.started and server.servers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_no_phi_in_logs(live_server: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every logger at DEBUG (uvicorn's error and access logs, remission.*), SQLAlchemy at its
    default (statement logging is a debugging switch: it logs parameters, so it must stay off
    with real data); writes with the name in every free-text field, refused writes echoing it,
    a failed login with it as username and an internal error whose message holds it."""
    caplog.set_level(logging.WARNING, logger="sqlalchemy")  # first: set_level also sets the handler's level
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "remission", "remission.web"):
        caplog.set_level(logging.DEBUG, logger=name)
    caplog.set_level(logging.DEBUG)
    with httpx.Client(base_url=live_server, timeout=30) as c:
        token = c.post("/api/auth/token", data={"username": "admin", "password": PASSWORDS["admin"]}).json()
        api = {"Authorization": "Bearer " + token["access_token"]}
        patient = {"patient_id": "PHI-1", "site_id": "A", "disease": "SLE", "sex": "female", "birth_year": 1990,
                   "diagnosis_year": 2010, "prior_treatments": [{"drug": PHI}]}  # fmt: skip
        assert c.post("/api/patients", headers=api, json=patient).status_code == 201
        ae = {"term": PHI, "category": "other", "grade": 1, "onset_date": "2024-01-12", "onset_day": 2}
        assert c.post("/api/patients/PHI-1/adverse_events", headers=api, json=ae).status_code == 201
        assert c.post("/api/patients/PHI-1/adverse_events", headers=api, json=ae | {"grade": 9}).status_code == 422
        assert c.post("/api/patients", headers=api, json=patient).status_code == 409
        assert c.post("/api/patients", headers=api, json=patient | {"sex": PHI}).status_code == 422
        assert c.post("/api/patients", headers=api, content=PHI.encode()).status_code in (400, 422)
        version = c.get("/api/patients/PHI-1", headers=api).json()["version"]
        assert c.patch("/api/patients/PHI-1", headers=api, json={"sex": PHI, "version": version}).status_code == 422
        for _ in range(3):
            c.post("/api/auth/token", data={"username": PHI, "password": PHI})
        monkeypatch.setattr(services, "patient_record", _boom)
        failed = c.get("/api/patients/PHI-1", headers=api)
        assert failed.status_code == 500 and PHI not in failed.text
        assert_error_shape_500(failed)
    time.sleep(0.2)  # the access log line of the last request
    messages = [r.getMessage() + (r.exc_text or "") + repr(r.exc_info or "") for r in caplog.records]
    assert any("internal error on GET /api/patients/PHI-1: RuntimeError" in m for m in messages)
    assert any(r.name == "uvicorn.access" for r in caplog.records), "uvicorn's access log was not captured"
    leaked = [m for m in messages if PHI in m or "Quixotefield" in m]
    assert not leaked, leaked
    assert PHI not in caplog.text


def assert_error_shape_500(response: Any) -> None:
    body = response.json()
    assert body["error"]["code"] == "internal_error" and body["error"]["problems"] == []


# --------------------------------------------------------------------------------------------
# 9. StaleVersionError → 409


def _stale(*args: Any, **kwargs: Any) -> Any:
    raise StaleVersionError("SLE-A1", expected=1, current=2)


def test_stale_version_error_from_the_store_answers_409_not_422(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "update_patient", _stale)
    response = client.patch("/api/patients/SLE-A1", headers=bearer(client, "admin"), json={"sex": "male", "version": 1})
    error = assert_error_shape(response, 409)
    assert error["code"] == "conflict"
    [problem] = error["problems"]
    assert (problem["row"], problem["column"], problem["value"]) == (None, "version", "1")
    assert "version 2" in problem["reason"]


def test_stale_version_error_on_the_visit_page_answers_409(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    csrf = page_login(client, "admin")
    monkeypatch.setattr(services, "save_assessment", _stale)
    response = client.post(
        "/patients/SLE-A1/visit/sledai2k",
        data={"csrf_token": csrf, "date": "2024-03-01", "visit": "m2", "version": "1"},
        follow_redirects=False,
    )
    assert response.status_code == 409
    assert "reload it and apply the change again" in response.text


# --------------------------------------------------------------------------------------------
# Regressions found by schemathesis / the injection test on PostgreSQL (500 before the fix)


def test_nul_in_url_query_login_and_bodies_is_refused_not_500(client: Any) -> None:
    api = bearer(client, "admin")
    assert_error_shape(client.get("/api/patients?disease=%00", headers=api), 400)
    assert_error_shape(client.get("/api/patients/SLE%00A1", headers=api), 400)
    assert_error_shape(client.post("/api/auth/token", data={"username": "\x00", "password": "0"}), 401)
    lab = {"date": "2024-02-10", "day": 31, "analyte": "crp\x00", "value": 1.0, "unit": "mg/L"}
    error = assert_error_shape(client.post("/api/patients/SLE-A1/labs", headers=api, json=lab), 422)
    assert [(p["column"], p["reason"]) for p in error["problems"]] == [("analyte", "contains a NUL character")]
    patient = {"patient_id": "N1", "site_id": "A\x00", "disease": "SLE", "sex": "male", "birth_year": 1980,
               "diagnosis_year": 2000}  # fmt: skip
    assert_error_shape(client.post("/api/patients", headers=api, json=patient), 422)
