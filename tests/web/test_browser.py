"""The real-browser round trip: Playwright driving Debian's Chromium (/usr/bin/chromium, headless),
over the demo cohort: log in → open a patient → enter a SLEDAI-2K visit → see the live score
panel (values, explanation and missing inputs, each under its own label) → save → see it on the
timeline → log out; an investigator of one site who types the URL of another site's patient gets
404; a monitor's dashboard shows the cohort report in its iframe (loaded, not blank: the app's CSP
once blocked its own page); the timeline of a patient with a medication of unknown start draws it.

Skipped where Chromium or the ``playwright`` package is not installed (CI installs both: .ci/run,
requirements.lock). Playwright is launched with ``executable_path`` (its own browser download,
``playwright install``, is never used).

Set ``REMISSION_SCREENSHOTS=<folder>`` to keep the screenshots (docs/web-timeline.png is one;
``REMISSION_SCREENSHOTS=docs/img`` renews docs/img/score-panel.png and docs/img/dashboard.png).
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
from remission.model import Cohort, Medication, Patient, Site
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
    # A course whose source gives no start date (issue 17): taken since before any day.
    unknown_start = Medication(patient_id="SLE-02", drug="hydroxychloroquine", dose=200, unit="mg", frequency="daily")
    save_cohort(engine, Cohort(medications=(unknown_start,)), actor="test")
    add_user(engine, "nina", "nina-password", "investigator", "ERL")
    add_user(engine, "mona", "mona-password", "monitor", None)
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


def _shots(tmp_path: Path) -> Path:
    shots = Path(os.environ.get("REMISSION_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    return shots


def _log_in(page: Any, server: str, target: str, user: str = "nina") -> None:
    page.goto(server + target)
    assert page.url.startswith(server + "/login")
    page.fill("[name=username]", user)
    page.fill("[name=password]", f"{user}-password")
    page.click(".login form button[type=submit]")
    page.wait_for_url(server + target, wait_until="domcontentloaded")  # the dashboard frame may take long


def test_round_trip_in_a_real_browser(server: str, page: Any, tmp_path: Path) -> None:
    expect = sync_api.expect
    shots = _shots(tmp_path)
    _log_in(page, server, "/patients/SLE-01")
    expect(page.locator("svg.lanes")).to_be_visible()
    expect(page.locator("img.curves")).to_be_visible()
    page.screenshot(path=str(shots / "timeline.png"), full_page=True)

    page.click('a.button[href$="/visit/sledai2k"]')
    page.wait_for_url(re.compile(r".*/visit/sledai2k$"))
    expect(page.locator("input[type=checkbox]")).to_have_count(24)
    # Unticked boxes are "not assessed" unless the form says absent (as the CLI's --missing).
    expect(page.locator("[name=unticked]")).to_have_value("missing")
    page.fill("[name=visit]", "browser visit")
    page.check("[name=rash]")  # each click fires the htmx preview request
    expect(page.locator("#score .explain")).to_have_text("Explanation rash=2")
    expect(page.locator("#score dl.values dd").first).to_have_text("—")  # missing items: no total
    expect(page.locator("#score .missing")).to_contain_text("arthritis")
    # Tick the rest as a nurse who has assessed every item would: unticked = absent.
    page.select_option("[name=unticked]", "absent")
    page.check("[name=arthritis]")
    # Gladman 2002 weights: arthritis 4 + rash 2 = 6, explained item by item; nothing missing.
    panel = page.locator("#score .score-panel")
    expect(panel.locator(".explain .part")).to_have_text("Explanation")
    expect(panel.locator(".missing .part")).to_have_text("Missing (not assessed)")
    expect(panel.locator(".explain")).to_have_text("Explanation arthritis=4; rash=2")
    expect(panel.locator(".missing")).to_have_text("Missing (not assessed) none")
    labels = panel.locator("dl.values dt").all_text_contents()
    assert labels == ["sledai2k", "clinical_sledai", "sledai2k_category"], labels  # no _missing among values
    expect(panel.locator("dl.values dd").first).to_have_text("6")
    page.locator("aside.live").screenshot(path=str(shots / "score-panel.png"))
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


def test_dashboard_shows_the_cohort_report(server: str, page: Any, tmp_path: Path) -> None:
    expect = sync_api.expect
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Refused" in m.text else None)
    _log_in(page, server, "/dashboard", user="mona")
    frame = page.frame_locator("iframe.report")
    # The report's own content inside the frame, not an empty box.
    expect(frame.locator("h1")).to_be_visible(timeout=120_000)  # the first visit builds the report
    expect(frame.locator("p.banner")).to_contain_text("SYNTHETIC DATA")
    expect(frame.locator("figure img").first).to_be_visible()
    inner = next(f for f in page.frames if f.url.endswith("/dashboard/report.html"))
    assert len(inner.locator("body").inner_text()) > 2000, "the report's text is there"
    assert inner.locator("table").count() > 5
    assert not refused, refused  # no CSP/X-Frame-Options refusal
    page.screenshot(path=str(_shots(tmp_path) / "dashboard.png"))


def test_timeline_draws_a_medication_of_unknown_start(server: str, page: Any) -> None:
    _log_in(page, server, "/patients/SLE-02")
    lanes = page.locator("svg.lanes")
    sync_api.expect(lanes).to_contain_text("hydroxychloroquine")
    sync_api.expect(lanes).to_contain_text("start not known")
