"""A small two-site registry, five users (one per role, two investigators) and a test client."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from remission.store import save_cohort
from remission.web import create_app
from remission.web.security import add_user

with warnings.catch_warnings():
    # Starlette 1.x warns that its TestClient will move to httpx2; httpx is the chosen dependency.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from webhelpers import PASSWORDS, small_cohort

ROLES = {
    "admin": ("admin", None),
    "nurse_a": ("investigator", "A"),
    "nurse_b": ("investigator", "B"),
    "monitor": ("monitor", None),
    "stat": ("statistician", None),
}


@pytest.fixture(autouse=True)
def fast_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 with minimal cost in tests (the default costs ~0.1 s per hash, by design)."""
    from argon2 import PasswordHasher

    from remission.web import security

    monkeypatch.setattr(security, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
def app_engine(engine: Engine) -> Engine:
    save_cohort(engine, small_cohort(), actor="test")
    for name, (role, site) in ROLES.items():
        add_user(engine, name, PASSWORDS[name], role, site)
    return engine


@pytest.fixture
def client(app_engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(app_engine, secret_key="test-secret"), raise_server_exceptions=False) as c:
        yield c
