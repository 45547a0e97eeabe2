"""Helpers of the web tests: log in by token or by the login page, read CSRF tokens."""

from __future__ import annotations

import re
from typing import Any

PASSWORDS = {
    "admin": "admin-pass-1",
    "nurse_a": "nurse-a-pass",
    "nurse_b": "nurse-b-pass",
    "monitor": "monitor-pass",
    "stat": "stat-pass-12",
}


def bearer(client: Any, username: str) -> dict[str, str]:
    response = client.post("/api/auth/token", data={"username": username, "password": PASSWORDS[username]})
    assert response.status_code == 200, response.text
    return {"Authorization": "Bearer " + response.json()["access_token"]}


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field in the page"
    return found.group(1)


def page_login(client: Any, username: str) -> str:
    """Log in through the login page; return the session's CSRF token (from the patient list)."""
    token = csrf_of(client.get("/login").text)
    response = client.post(
        "/login",
        data={"username": username, "password": PASSWORDS[username], "csrf_token": token, "next": "/dashboard"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/dashboard").text)
