"""Request dependencies: the engine, the signed-token user, the CSRF check of cookie sessions."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy import Engine

from remission.web.errors import Unauthorized
from remission.web.security import TokenSigner, User
from remission.web.services import Forbidden

COOKIE = "remission_session"
PRELOGIN_COOKIE = "remission_prelogin"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def signer_of(request: Request) -> TokenSigner:
    signer: TokenSigner = request.app.state.signer
    return signer


def _bearer(request: Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def _csrf_given(request: Request) -> str | None:
    given = request.headers.get(CSRF_HEADER)
    if given:
        return given
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


async def close_form(request: Request) -> None:
    """Close the uploaded files of a form parsed for this request (they are spooled to disk)."""
    form = getattr(request, "_form", None)
    if form is not None:
        await form.close()


async def current_user(request: Request) -> User:
    """The user of the bearer token (API) or of the session cookie (pages).

    A request authenticated by the cookie that changes something must also carry the session's
    CSRF token (form field ``csrf_token`` or header ``X-CSRF-Token``): a browser sends the cookie
    to any site's forms, but only our pages know the token. Bearer tokens are never sent by a
    browser on its own, so they need no CSRF token.
    """
    engine, signer = engine_of(request), signer_of(request)
    token = _bearer(request)
    via_cookie = token is None
    if token is None:
        token = request.cookies.get(COOKIE)
    if not token:
        raise Unauthorized("log in first (POST /api/auth/token, or the login page)")
    user = signer.check(engine, token)
    if user is None:
        raise Unauthorized("the token is invalid, expired or revoked; log in again")
    if via_cookie and request.method in UNSAFE and not signer.csrf_ok(user.session_id, await _csrf_given(request)):
        await close_form(request)
        raise Forbidden("missing or wrong CSRF token; reload the page and try again")
    request.state.user = user
    return user


async def optional_user(request: Request) -> User | None:
    """The logged-in user of a page, or None (no error): used by the login page."""
    token = _bearer(request) or request.cookies.get(COOKIE)
    return signer_of(request).check(engine_of(request), token) if token else None
