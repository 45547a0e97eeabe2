"""Defences of the web application that are not about who may do what (that is ``security``):
security headers and the request body limit (one ASGI middleware), and login throttling.

Headers on every response (API, pages, static files, errors):

* ``Content-Security-Policy``: only this origin's scripts and styles, no inline script or style
  (the pages use neither: htmx is a static file, its indicator styles are in ``style.css``),
  images from this origin or ``data:`` (the timeline's PNG), no plugins, no ``<base>``, forms post
  to this origin only, and ``frame-ancestors 'none'``. Two documented exceptions: the API
  documentation (``/docs``, ``/redoc``: FastAPI's Swagger UI / ReDoc load from their CDN with an
  inline bootstrap script; they show no records) and the cohort report (``/dashboard/report.html``,
  a standalone file with an inline stylesheet: inline *styles* allowed, still no script; and
  ``frame-ancestors 'self'`` with ``X-Frame-Options: SAMEORIGIN``, so that the dashboard of this
  origin can show it in its iframe — only this one route may be framed, and only by this origin).
* An exception of a route is answered 500 in the error shape and logged as route, exception type
  and stack frames, without its message (see :class:`HardeningMiddleware`).
* ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``, ``Referrer-Policy: no-referrer``
  (URLs hold patient ids), ``Cross-Origin-Opener-Policy: same-origin``, ``Cache-Control:
  no-store`` on everything but static files (no records in shared caches), and
  ``Strict-Transport-Security`` when served over HTTPS.

Request bodies larger than ``$REMISSION_MAX_UPLOAD_MB`` (default 50 MB; the import page's limit)
are answered 413 in the error shape before any route parses them: a declared ``Content-Length``
is checked at once, a chunked body is read up to the limit.

Login throttling: after ``$REMISSION_LOGIN_MAX_FAILURES`` (default 5) failed logins within
``$REMISSION_LOGIN_WINDOW_S`` seconds (default 900) for one username, or from one client address,
further logins of that username / from that address are refused with 429 and ``Retry-After``
until the oldest failure leaves the window, whether the password is right or not. A successful
login clears the username's failures (not the address's: one valid account must not reset the
count of an address that guesses other accounts). The counts live in the process (one worker:
exact; several ``--workers``: each counts its own, so the effective limit is N per worker).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.requests import Request

log = logging.getLogger("remission.web")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_BASE_CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
_DOCS_CSP = {
    **_BASE_CSP,
    "script-src": "'self' 'unsafe-inline' https://cdn.jsdelivr.net",
    "style-src": "'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com",
    "font-src": "'self' https://fonts.gstatic.com",
    "img-src": "'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly",
    "worker-src": "'self' blob:",
}
_REPORT_CSP = {**_BASE_CSP, "style-src": "'self' 'unsafe-inline'", "frame-ancestors": "'self'"}


def _policy(directives: dict[str, str]) -> str:
    return "; ".join(f"{k} {v}" for k, v in directives.items())


CSP = _policy(_BASE_CSP)
CSP_DOCS = _policy(_DOCS_CSP)
CSP_REPORT = _policy(_REPORT_CSP)
DOCS_PATHS = ("/docs", "/redoc")
#: The one route the dashboard frames (same origin only).
FRAMED_PATHS = ("/dashboard/report.html",)


def csp_for(path: str) -> str:
    """The Content-Security-Policy of a request path (see the module docstring)."""
    if path in DOCS_PATHS or path.startswith("/docs/"):
        return CSP_DOCS
    if path in FRAMED_PATHS:
        return CSP_REPORT
    return CSP


def security_headers(path: str, https: bool) -> list[tuple[bytes, bytes]]:
    """The security headers of a response to ``path``."""
    headers = [
        (b"content-security-policy", csp_for(path).encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"SAMEORIGIN" if path in FRAMED_PATHS else b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"cross-origin-opener-policy", b"same-origin"),
    ]
    if https:
        headers.append((b"strict-transport-security", b"max-age=31536000"))
    return headers


class HardeningMiddleware:
    """Pure ASGI middleware: the body limit on requests, the security headers on responses."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        extra = security_headers(path, scope.get("scheme") == "https")
        static = path.startswith("/static/")

        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in {h for h, _ in extra}]
                headers.extend(extra)
                if not static and not any(k.lower() == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        if "\x00" in path or b"%00" in scope.get("query_string", b"").lower():
            # No route takes a NUL (PostgreSQL text cannot even compare with one): 400 up front.
            from remission.web.errors import answer

            refused = answer(Request(scope, receive), 400, "bad_request", "the URL holds a NUL character (%00)")
            await refused(scope, receive, send_with_headers)
            return
        limited = await self._limited(scope, receive, send_with_headers)
        if limited is None:
            return
        try:
            await self.app(scope, limited, send_with_headers)
        except Exception as exc:
            # Answer 500 here rather than let the exception reach Starlette's outer error
            # middleware, which re-raises it to the server: uvicorn would log its message, and
            # messages can hold record values (a database error lists its parameters). The log
            # gets the route, the type and the stack frames (code, no values) only.
            log.error(
                "internal error on %s %s: %s\n%s",
                scope.get("method", ""),
                path,
                type(exc).__name__,
                "".join(traceback.format_tb(exc.__traceback__)).rstrip(),
            )
            if not started:
                from remission.web.errors import answer

                message = "internal error; the administrators can find it in the log"
                await answer(Request(scope, limited), 500, "internal_error", message)(scope, limited, send_with_headers)

    async def _limited(self, scope: Scope, receive: Receive, send: Send) -> Receive | None:
        """``receive`` for the app, or None when a 413 has been sent instead."""
        from remission.web.imports import max_upload_bytes

        limit = max_upload_bytes()
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.isdigit() or int(declared) > limit:
                await self._too_large(scope, receive, send)
                return None
            return receive
        if b"chunked" not in headers.get(b"transfer-encoding", b"").lower():
            return receive
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > limit:
                await self._too_large(scope, receive, send)
                return None
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        return replay

    @staticmethod
    async def _too_large(scope: Scope, receive: Receive, send: Send) -> None:
        from remission.web.errors import answer
        from remission.web.imports import MAX_UPLOAD_ENV, max_upload_mb

        message = (
            f"the request body is larger than the limit of {max_upload_mb():g} MB "
            f"(set {MAX_UPLOAD_ENV} on the server to change it)"
        )
        request = Request(scope, receive)
        response = answer(request, 413, "too_large", message)
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


# ---------------------------------------------------------------------------------------------
# Login throttling

MAX_FAILURES_ENV = "REMISSION_LOGIN_MAX_FAILURES"
WINDOW_ENV = "REMISSION_LOGIN_WINDOW_S"
DEFAULT_MAX_FAILURES = 5
DEFAULT_WINDOW_S = 900.0
_MAX_KEYS = 100_000


def _env_number(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    try:
        value = float(text) if text else default
    except ValueError:
        return default
    return value if value > 0 else default


class LoginThrottle:
    """Failed logins per username and per client address within a sliding window.

    Examples
    --------
    >>> clock = [0.0]
    >>> t = LoginThrottle(max_failures=2, window_s=60, clock=lambda: clock[0])
    >>> t.failed("ann", "10.0.0.1"); t.failed("ann", "10.0.0.2")
    >>> t.retry_after("ann", "10.0.0.3")
    60
    >>> clock[0] = 61.0
    >>> t.retry_after("ann", "10.0.0.3") is None
    True
    """

    def __init__(
        self,
        max_failures: int = DEFAULT_MAX_FAILURES,
        window_s: float = DEFAULT_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures, self.window_s, self._clock = max_failures, window_s, clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls) -> LoginThrottle:
        """The throttle configured by ``$REMISSION_LOGIN_MAX_FAILURES`` and ``$REMISSION_LOGIN_WINDOW_S``."""
        return cls(int(_env_number(MAX_FAILURES_ENV, DEFAULT_MAX_FAILURES)), _env_number(WINDOW_ENV, DEFAULT_WINDOW_S))

    @staticmethod
    def _keys(username: str, client: str) -> tuple[tuple[str, str], tuple[str, str]]:
        return ("user", username.strip().casefold()[:64]), ("client", client)

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def retry_after(self, username: str, client: str) -> int | None:
        """Seconds until a login of ``username`` from ``client`` is allowed again; None when it is."""
        now = self._clock()
        waits = []
        with self._lock:
            for key in self._keys(username, client):
                times = self._recent(key, now)
                if len(times) >= self.max_failures:
                    waits.append(times[-self.max_failures] + self.window_s - now)
        return max(1, int(max(waits) + 0.999)) if waits else None

    def failed(self, username: str, client: str) -> None:
        """Count one failed login."""
        now = self._clock()
        with self._lock:
            if len(self._failures) >= _MAX_KEYS:  # bound the memory: forget keys with no recent failure
                for key in [k for k, v in self._failures.items() if not self._recent(k, now)]:
                    del self._failures[key]
            for key in self._keys(username, client):
                self._failures[key] = self._recent(key, now)
                self._failures[key].append(now)

    def succeeded(self, username: str) -> None:
        """Clear the failures of ``username`` (a successful login)."""
        with self._lock:
            self._failures.pop(self._keys(username, "")[0], None)


def client_of(request: Request) -> str:
    """The client address of a request (the socket peer; proxies' headers are not trusted)."""
    return request.client.host if request.client else "unknown"


def throttle_of(request: Request) -> LoginThrottle:
    throttle: LoginThrottle = request.app.state.login_throttle
    return throttle


def check_throttle(request: Request, username: str) -> None:
    """Raise :class:`~remission.web.errors.TooManyRequests` when logins of ``username`` from this
    client are locked out (before the password is even checked)."""
    from remission.web.errors import TooManyRequests

    wait = throttle_of(request).retry_after(username, client_of(request))
    if wait is not None:
        log.warning("login refused: too many failed logins (retry after %d s)", wait)
        minutes = max(1, (wait + 59) // 60)
        raise TooManyRequests(f"too many failed logins; try again in {minutes} minute(s)", wait)


def record_login(request: Request, username: str, succeeded: bool) -> None:
    """Count a failed login, or clear the username's failures after a successful one."""
    throttle = throttle_of(request)
    if succeeded:
        throttle.succeeded(username)
    else:
        throttle.failed(username, client_of(request))
