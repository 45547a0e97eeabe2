"""The one JSON error shape of the API, and the handlers that produce it for every failure.

Every API error answers::

    {"error": {"code": "not_found", "message": "no patient X",
               "problems": [{"row": 1, "column": "pga", "value": "4", "reason": "out of range ..."}]}}

``problems`` lists the bad values (empty when the error is not about input). Page routes answer
the same failures as an HTML page instead (and a missing login as a redirect to ``/login``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from remission.errors import InvalidInputError, Problem, StaleVersionError, VersionRequiredError
from remission.web.services import WebError

log = logging.getLogger("remission.web")

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    428: "precondition_required",
    429: "too_many_requests",
    500: "internal_error",
}


class Unauthorized(WebError):
    status, code = 401, "unauthorized"


class TooManyRequests(WebError):
    """Too many failed logins (see :mod:`remission.web.hardening`); ``retry_after`` in seconds."""

    status, code = 429, "too_many_requests"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def error_body(code: str, message: str, problems: Sequence[Problem] = ()) -> dict[str, Any]:
    """The error shape as a dict (see the module docstring)."""
    return {
        "error": {
            "code": code,
            "message": message,
            "problems": [{"row": p.row, "column": p.column, "value": p.value, "reason": p.reason} for p in problems],
        }
    }


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api")


def answer(
    request: Request,
    status: int,
    code: str,
    message: str,
    problems: Sequence[Problem] = (),
    headers: dict[str, str] | None = None,
) -> Response:
    """The error as JSON (API routes) or as an HTML page (pages; 401: a redirect to the login)."""
    headers = dict(headers or {})
    if _is_api(request):
        if status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        return JSONResponse(error_body(code, message, problems), status_code=status, headers=headers)
    if status == 401:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    from remission.web.pages import render_error

    response = render_error(request, status, message, problems)
    response.headers.update(headers)
    return response


_answer = answer


def _validation_problems(exc: RequestValidationError) -> tuple[bool, list[Problem]]:
    """Pydantic errors as problems; ``True`` first when the body was not even parseable JSON."""
    malformed = False
    problems = []
    for e in exc.errors():
        if e.get("type") == "json_invalid":
            malformed = True
            problems.append(Problem(None, "body", "", str(e.get("ctx", {}).get("error", e.get("msg", "invalid JSON")))))
            continue
        loc = [p for p in e.get("loc", ()) if p not in ("body", "query", "path", "header", "form")]
        row = next((int(p) + 1 for p in loc if isinstance(p, int)), None)
        column = ".".join(str(p) for p in loc if not isinstance(p, int)) or str(e.get("loc", ["request"])[0])
        value = e.get("input")
        shown = "" if value is None or isinstance(value, dict | list) else str(value)[:80]
        problems.append(Problem(row, column, shown, str(e.get("msg", "invalid"))))
    return malformed, problems


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers: WebError, InvalidInputError, HTTP errors, validation errors, 500."""

    @app.exception_handler(WebError)
    async def web_error(request: Request, exc: WebError) -> Response:
        retry_after = getattr(exc, "retry_after", None)
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return _answer(request, exc.status, exc.code, exc.message, exc.problems, headers)

    # StaleVersionError is an InvalidInputError; Starlette picks the handler of the nearest class
    # in the exception's MRO, so this one wins over the 422 below: a stale write is a conflict.
    @app.exception_handler(StaleVersionError)
    async def stale_version(request: Request, exc: StaleVersionError) -> Response:
        return _answer(request, 409, "conflict", "the record changed meanwhile; reload it and try again", exc.problems)

    @app.exception_handler(VersionRequiredError)
    async def version_required(request: Request, exc: VersionRequiredError) -> Response:
        message = "this update needs the patient's version (If-Match header or a version field)"
        return _answer(request, 428, "precondition_required", message, exc.problems)

    @app.exception_handler(InvalidInputError)
    async def invalid_input(request: Request, exc: InvalidInputError) -> Response:
        return _answer(request, 422, "invalid_input", "the input has invalid values", exc.problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = _CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        if exc.status_code == 404 and message == "Not Found":
            message = f"no route {request.url.path}"
        if exc.status_code == 405:
            message = f"method {request.method} is not allowed on {request.url.path}"
        return _answer(request, exc.status_code, code, message)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        malformed, problems = _validation_problems(exc)
        if malformed:
            return _answer(request, 400, "bad_request", "the request body is not valid JSON", problems)
        return _answer(request, 422, "invalid_input", "the request has invalid values", problems)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        # Log the exception type and route only: no request body, no record values (no PHI in logs).
        log.error("internal error on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        return _answer(request, 500, "internal_error", "internal error; the administrators can find it in the log")
