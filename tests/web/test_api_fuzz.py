"""Schema-driven fuzzing of every API route with schemathesis (issue 11, item 1 for the API).

Requests are generated from the app's own OpenAPI document (``/openapi.json``): path and query
parameters, headers (``If-Match``) and bodies that follow the schema and, in the negative phase,
that break it. Every request is sent as the admin (bearer token). The only allowed answers are a
2xx, or a 4xx in the one JSON error shape; never a 5xx, never another error body. Examples per
operation: ``$REMISSION_API_FUZZ_EXAMPLES``, else 8 under the hypothesis profile ``ci`` (``make
test``) and 150 under ``thorough`` (``make fuzz``). Figures: docs/reliability.md §5.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, inspect
from webhelpers import PASSWORDS

from remission.web import create_app
from remission.web.hardening import LoginThrottle

schemathesis = pytest.importorskip("schemathesis")

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


KINDS = ("infusions", "assessments", "labs", "medications", "adverse_events")


def _examples() -> int:
    if os.environ.get("REMISSION_API_FUZZ_EXAMPLES"):
        return int(os.environ["REMISSION_API_FUZZ_EXAMPLES"])
    return 150 if os.environ.get("HYPOTHESIS_PROFILE") == "thorough" else 8


def _check(response: Any, where: str) -> None:
    status = response.status_code
    assert status < 500, (where, status, response.text[:500])
    if status >= 400:
        body = response.json()
        assert set(body) == {"error"}, (where, body)
        assert set(body["error"]) == {"code", "message", "problems"}, (where, body)
        for problem in body["error"]["problems"]:
            assert set(problem) == {"row", "column", "value", "reason"}, (where, problem)


def test_every_api_route_answers_only_2xx_or_4xx_in_the_error_shape(app_engine: Engine) -> None:
    tables = set(inspect(app_engine).get_table_names())
    app = create_app(app_engine, secret_key="fuzz")
    # The fuzzed logins fail by the hundred; throttling is tested in test_security.py.
    app.state.login_throttle = LoginThrottle(max_failures=10**9, window_s=1)
    with TestClient(app) as client:
        token = client.post("/api/auth/token", data={"username": "admin", "password": PASSWORDS["admin"]}).json()
    auth = {"Authorization": "Bearer " + token["access_token"]}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    statuses: Counter[int] = Counter()
    operations = []
    for result in schema.get_all_operations():
        operation = result.ok()
        operations.append(operation.label)

        @settings(
            max_examples=_examples(),
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(), known=st.booleans(), kind=st.sampled_from(KINDS))
        def run(case: Any, known: bool, kind: str) -> None:
            # Half the cases address records that exist, so that writes get past the 404.
            params = case.path_parameters or {}
            if known and "patient_id" in params:
                params["patient_id"] = "SLE-A1"
                if "kind" in params:
                    params["kind"] = kind
            if known and "index" in params:
                params["index"] = "sledai2k"
            # The logout route would revoke the token the other requests use: log out a fresh one.
            headers = dict(auth)
            if case.path == "/api/auth/logout":
                with TestClient(app) as c:
                    fresh = c.post("/api/auth/token", data={"username": "admin", "password": PASSWORDS["admin"]})
                headers = {"Authorization": "Bearer " + fresh.json()["access_token"]}
            response = case.call(headers=headers)
            statuses[response.status_code] += 1
            _check(response, f"{case.method} {case.formatted_path} {case.query} {str(case.body)[:200]}")

        run()
    print(f"API fuzz: {len(operations)} operations, {sum(statuses.values())} requests, statuses {dict(statuses)}")
    assert len(operations) >= 20
    assert sum(statuses.values()) >= len(operations)
    assert set(inspect(app_engine).get_table_names()) == tables
