"""The real-browser round trip in headless Chromium (Debian's /usr/bin/chromium), over the demo
cohort: log in → open a patient → enter a SLEDAI-2K visit → see the live score and explanation →
save → see it on the timeline → log out. Skipped where Chromium is not installed.

Set ``REMISSION_SCREENSHOTS=<folder>`` to keep the screenshots (docs/web-timeline.png is one).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from cdp import CHROMIUM, Browser

from remission.demo.cohort import generate_demo_cohort
from remission.pipeline import score_database
from remission.store import connect, migrate, save_cohort
from remission.web import create_app
from remission.web.security import add_user

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no Chromium at /usr/bin/chromium")


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
def browser() -> Iterator[Browser]:
    b = Browser()
    yield b
    b.close()


def test_round_trip_in_a_real_browser(server: str, browser: Browser, tmp_path: Path) -> None:
    shots = Path(os.environ.get("REMISSION_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    browser.goto(server + "/patients/SLE-01")
    assert browser.js("location.pathname") == "/login"
    browser.submit(
        "document.querySelector('[name=username]').value='nina';"
        "document.querySelector('[name=password]').value='nina-password';"
        "document.querySelector('.login form').submit()"
    )
    assert browser.js("location.pathname") == "/patients/SLE-01"
    assert browser.js("document.querySelector('svg.lanes') !== null && document.querySelector('img.curves') !== null")
    browser.screenshot(shots / "timeline.png")

    browser.submit("document.querySelector('a.button[href$=\"/visit/sledai2k\"]').click()")
    assert browser.js("document.querySelectorAll('input[type=checkbox]').length") == 24
    # Tick two items as a nurse would: each click fires the htmx preview request.
    browser.js("document.querySelector('[name=visit]').value='browser visit'")
    browser.js("document.querySelector('[name=arthritis]').click()")
    browser.js("document.querySelector('[name=rash]').click()")
    # Gladman 2002 weights: arthritis 4 + rash 2 = 6, explained item by item.
    explain = browser.wait_js(
        "(document.querySelector('#score .explain')||{}).textContent === 'arthritis=4; rash=2' && "
        "document.querySelector('#score .explain').textContent"
    )
    assert explain == "arthritis=4; rash=2"
    assert browser.js("document.querySelector('#score .kv b').textContent") == "6"
    browser.screenshot(shots / "visit-live-score.png", full_page=False)

    browser.submit("document.querySelector('#visit-form').submit()")
    assert browser.js("location.pathname") == "/patients/SLE-01"
    row = browser.js(
        "[...document.querySelectorAll('table.visits tr')].find(r => r.textContent.includes('browser visit'))"
        ".textContent"
    )
    assert "arthritis=4; rash=2" in row

    browser.submit("document.querySelector('form.logout').submit()")
    assert browser.js("location.pathname") == "/login"
    browser.goto(server + "/patients/SLE-01")
    assert browser.js("location.pathname") == "/login", "the session is gone after logout"
