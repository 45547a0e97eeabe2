"""The real-browser round trip: Playwright driving Debian's Chromium (/usr/bin/chromium, headless),
over the demo cohort: log in → open a patient → enter a SLEDAI-2K visit → see the live score and
its explanation → save → see it on the timeline → log out; and an investigator of one site who
types the URL of another site's patient gets 404.

Skipped where Chromium or the ``playwright`` package is not installed (CI installs both: .ci/run,
requirements.lock). Playwright is launched with ``executable_path`` (its own browser download,
``playwright install``, is never used).

Set ``REMISSION_SCREENSHOTS=<folder>`` to keep the screenshots (docs/web-timeline.png is one).
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from remission.demo.cohort import generate_demo_cohort
from remission.model import Cohort, Patient, Site
from remission.pipeline import score_database
from remission.store import connect, migrate, save_cohort
from remission.web import create_app
from remission.web.security import add_user

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}")
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    engine = connect(f"sqlite:///{tmp_path / 'browser.db'}")
    migrate(engine)
    save_cohort(engine, generate_demo_cohort(), actor="demo")
    score_database(engine)
    # A second site with one patient: the investigator of ERL must not reach it.
    other = Patient(
        patient_id="SLE-HD1", site_id="HD", disease="SLE", sex="female", birth_year=1985, diagnosis_year=2012
    )
    save_cohort(engine, Cohort(sites=(Site(site_id="HD", name="Other site"),), patients=(other,)), actor="test")
    add_user(engine, "nina", "nina-password", "investigator", "ERL")
    port = _free_port()
    config = uvicorn.Config(
        create_app(engine, secret_key="browser-test"), host="127.0.0.1", port=port, log_level="error"
    )
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


@pytest.fixture
def page() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        yield context.new_page()
        context.close()
        browser.close()


def _log_in(page: Any, server: str, target: str) -> None:
    page.goto(server + target)
    assert page.url.startswith(server + "/login")
    page.fill("[name=username]", "nina")
    page.fill("[name=password]", "nina-password")
    page.click(".login form button[type=submit]")
    page.wait_for_url(server + target)


def test_round_trip_in_a_real_browser(server: str, page: Any, tmp_path: Path) -> None:
    expect = sync_api.expect
    shots = Path(os.environ.get("REMISSION_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    _log_in(page, server, "/patients/SLE-01")
    expect(page.locator("svg.lanes")).to_be_visible()
    expect(page.locator("img.curves")).to_be_visible()
    page.screenshot(path=str(shots / "timeline.png"), full_page=True)

    page.click('a.button[href$="/visit/sledai2k"]')
    page.wait_for_url(re.compile(r".*/visit/sledai2k$"))
    expect(page.locator("input[type=checkbox]")).to_have_count(24)
    # Tick two items as a nurse would: each click fires the htmx preview request.
    page.fill("[name=visit]", "browser visit")
    page.check("[name=arthritis]")
    page.check("[name=rash]")
    # Gladman 2002 weights: arthritis 4 + rash 2 = 6, explained item by item.
    expect(page.locator("#score .explain")).to_have_text("arthritis=4; rash=2")
    expect(page.locator("#score .kv b").first).to_have_text("6")
    page.screenshot(path=str(shots / "visit-live-score.png"))

    page.click("#visit-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/patients/SLE-01(#.*)?$"))
    row = page.locator("table.visits tr", has_text="browser visit")
    expect(row).to_contain_text("arthritis=4; rash=2")

    page.click("form.logout button[type=submit]")
    page.wait_for_url(server + "/login")
    page.goto(server + "/patients/SLE-01")
    assert page.url.startswith(server + "/login"), "the session is gone after logout"


def test_investigator_gets_404_for_another_sites_patient(server: str, page: Any) -> None:
    _log_in(page, server, "/")
    sync_api.expect(page.locator("table.grid")).to_contain_text("SLE-01")
    sync_api.expect(page.locator("table.grid")).not_to_contain_text("SLE-HD1")
    response = page.goto(server + "/patients/SLE-HD1")
    assert response is not None and response.status == 404
    missing = page.goto(server + "/patients/NO-SUCH-PATIENT")
    assert missing is not None and missing.status == 404
    visit = page.goto(server + "/patients/SLE-HD1/visit/sledai2k")
    assert visit is not None and visit.status == 404
    api = page.request.get(server + "/api/patients/SLE-HD1")
    assert api.status == 404 and api.json()["error"]["code"] == "not_found"
