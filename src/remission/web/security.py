"""Users, roles, password hashes, signed expiring tokens and CSRF tokens.

Passwords are hashed with Argon2id (argon2-cffi). A token (bearer token of the API, and the value
of the page session cookie) is ``<payload>.<signature>``: the payload is base64url JSON
``{"sid": session id, "exp": unix time}`` and the signature its HMAC-SHA256 under the secret key.
The session id names a row of the ``sessions`` table, so that logging out revokes a token at
once; an expired, revoked, forged or unknown token is refused alike. The CSRF token of a session
is HMAC-SHA256(secret, "csrf:" + session id): it needs no storage and differs per session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, bindparam, select, update

from remission.errors import InvalidInputError, Problem
from remission.store import schema
from remission.store.writes import append_audit

Role = Literal["admin", "investigator", "monitor", "statistician"]
ROLES: tuple[str, ...] = ("admin", "investigator", "monitor", "statistician")
TOKEN_LIFETIME = timedelta(hours=8)
SECRET_ENV = "REMISSION_SECRET_KEY"

_hasher = PasswordHasher()


@dataclass(frozen=True)
class User:
    """An authenticated user; ``site_id`` is the investigator's own site (None for the others)."""

    username: str
    role: str
    site_id: str | None
    session_id: str = ""

    @property
    def all_sites(self) -> bool:
        """Whether the user reads every site (admin, monitor) rather than one."""
        return self.role in ("admin", "monitor")

    def can_read_patients(self) -> bool:
        return self.role in ("admin", "monitor", "investigator")

    def can_read_site(self, site_id: str) -> bool:
        return self.all_sites or (self.role == "investigator" and site_id == self.site_id)

    def can_write_site(self, site_id: str) -> bool:
        return self.role == "admin" or (self.role == "investigator" and site_id == self.site_id)


def hash_password(password: str) -> str:
    """An Argon2id hash of ``password`` (salted; a new hash each call)."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash``."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def add_user(engine: Engine, username: str, password: str, role: str, site_id: str | None = None) -> None:
    """Create a user (``remission user add``); investigators need a site, which must exist."""
    problems = []
    if not username or len(username) > 64 or not username.replace("_", "").replace(".", "").replace("-", "").isalnum():
        problems.append(Problem(None, "username", username, "expected 1-64 letters, digits, '.', '_' or '-'"))
    if role not in ROLES:
        problems.append(Problem(None, "role", role, "expected one of " + ", ".join(ROLES)))
    if len(password) < 8:
        problems.append(Problem(None, "password", "***", "must have at least 8 characters"))
    if role == "investigator" and not site_id:
        problems.append(Problem(None, "site", "", "an investigator needs --site"))
    with engine.begin() as connection:
        if (
            site_id
            and connection.execute(select(schema.sites.c.site_id).where(schema.sites.c.site_id == site_id)).first()
            is None
        ):
            problems.append(Problem(None, "site", site_id, "no such site"))
        if connection.execute(select(schema.users.c.username).where(schema.users.c.username == username)).first():
            problems.append(Problem(None, "username", username, "already exists"))
        if problems:
            raise InvalidInputError(problems)
        connection.execute(
            schema.users.insert().values(
                username=username, password_hash=hash_password(password), role=role, site_id=site_id, active=True
            )
        )
        append_audit(connection, "cli", "create", "user", username, {"role": role, "site_id": site_id})


def authenticate(engine: Engine, username: str, password: str) -> User | None:
    """The user whose name and password match, else None (same answer for unknown names)."""
    if "\x00" in username:  # no user has one (add_user); PostgreSQL cannot even compare it
        verify_password(_DUMMY_HASH, password)
        return None
    with engine.connect() as connection:
        row = connection.execute(
            select(schema.users).where(schema.users.c.username == username, schema.users.c.active.is_(True))
        ).first()
    if row is None:
        verify_password(_DUMMY_HASH, password)  # same work either way: no user enumeration by timing
        return None
    if not verify_password(row.password_hash, password):
        return None
    return User(row.username, row.role, row.site_id)


_DUMMY_HASH = _hasher.hash("not a password of anyone")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


#: The user of a live session (built once: every API request runs it).
_SESSION_USER = (
    select(schema.users.c.username, schema.users.c.role, schema.users.c.site_id)
    .join(schema.sessions, schema.sessions.c.username == schema.users.c.username)
    .where(
        schema.sessions.c.session_id == bindparam("session_id"),
        schema.sessions.c.revoked.is_(False),
        schema.users.c.active.is_(True),
    )
)


@dataclass(frozen=True)
class TokenSigner:
    """Signs and checks tokens and CSRF tokens with one secret key."""

    secret: bytes

    def _sign(self, message: bytes) -> str:
        return _b64(hmac.new(self.secret, message, hashlib.sha256).digest())

    def issue(self, engine: Engine, user: User, kind: str, lifetime: timedelta = TOKEN_LIFETIME) -> tuple[str, User]:
        """Open a session row for ``user`` and return its signed token (and the user with the session)."""
        session_id = secrets.token_hex(16)
        expires = datetime.now(UTC) + lifetime
        with engine.begin() as connection:
            connection.execute(
                schema.sessions.insert().values(
                    session_id=session_id, username=user.username, kind=kind, expires_at=expires, revoked=False
                )
            )
        payload = _b64(json.dumps({"sid": session_id, "exp": int(expires.timestamp())}).encode())
        return f"{payload}.{self._sign(payload.encode())}", User(user.username, user.role, user.site_id, session_id)

    def check(self, engine: Engine, token: str) -> User | None:
        """The user of a valid token; None when it is forged, expired, revoked or unknown."""
        payload, _, signature = token.partition(".")
        if not payload or not hmac.compare_digest(signature, self._sign(payload.encode())):
            return None
        try:
            claims = json.loads(_unb64(payload))
            session_id, expires = str(claims["sid"]), int(claims["exp"])
        except (ValueError, KeyError, TypeError):
            return None
        if expires < datetime.now(UTC).timestamp():
            return None
        with engine.connect() as connection:
            row = connection.execute(_SESSION_USER, {"session_id": session_id}).first()
        return None if row is None else User(row.username, row.role, row.site_id, session_id)

    def revoke(self, engine: Engine, session_id: str) -> None:
        with engine.begin() as connection:
            connection.execute(
                update(schema.sessions).where(schema.sessions.c.session_id == session_id).values(revoked=True)
            )

    def csrf_token(self, session_id: str) -> str:
        """The CSRF token of a session (or of a pre-login nonce)."""
        return self._sign(b"csrf:" + session_id.encode())

    def csrf_ok(self, session_id: str, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(str(given), self.csrf_token(session_id))


def resolve_secret(db_url: str, given: str | bytes | None = None) -> bytes:
    """The signing key: ``given``, else ``$REMISSION_SECRET_KEY``, else a key file created once
    (mode 0600) next to the SQLite database (``<db>.secret``) or, for other databases, in the
    working directory (``remission.secret``)."""
    if given:
        return given.encode() if isinstance(given, str) else given
    env = os.environ.get(SECRET_ENV)
    if env:
        return env.encode()
    if db_url.startswith("sqlite:///") and db_url != "sqlite:///:memory:":
        path = Path(db_url.removeprefix("sqlite:///") + ".secret")
    else:
        path = Path("remission.secret")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip().encode()
