"""The Content-Security-Policy breaks nothing in a real browser: Chromium reports no violation on
the login, timeline, visit (with htmx's live score), import and dashboard pages (the server and
browser fixtures of test_browser.py; skipped where Chromium or playwright is missing)."""

from __future__ import annotations

import re
from typing import Any

from test_browser import _log_in, page, server  # noqa: F401 (fixtures)


def test_no_csp_violation_on_any_page(server: str, page: Any) -> None:  # noqa: F811
    messages: list[str] = []
    page.on("console", lambda message: messages.append(message.text))
    page.on("pageerror", lambda error: messages.append(str(error)))
    _log_in(page, server, "/patients/SLE-01")
    page.click('a.button[href$="/visit/sledai2k"]')
    page.wait_for_url(re.compile(r".*/visit/sledai2k$"))
    page.check("[name=rash]")
    page.wait_for_selector("#score .explain")
    for path in ("/", "/import", "/dashboard", "/nothing"):
        page.goto(server + path)
    page.wait_for_load_state("networkidle")
    violations = [m for m in messages if "Content Security Policy" in m or "Refused to" in m]
    assert not violations, violations
