"""Pages: login with CSRF, site isolation, the live score fragment, saving a visit, the dashboard."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, select
from webhelpers import PASSWORDS, csrf_of, page_login

from remission.store import schema


def test_pages_redirect_to_login_when_logged_out(client: Any) -> None:
    response = client.get("/patients/SLE-A1", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/patients/SLE-A1"


def test_session_cookie_is_httponly_and_samesite_lax(client: Any) -> None:
    token = csrf_of(client.get("/login").text)
    response = client.post(
        "/login",
        data={"username": "nurse_a", "password": PASSWORDS["nurse_a"], "csrf_token": token},
        follow_redirects=False,
    )
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("remission_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie


def test_wrong_password_on_the_login_page_answers_401(client: Any) -> None:
    token = csrf_of(client.get("/login").text)
    response = client.post("/login", data={"username": "nurse_a", "password": "nope-nope", "csrf_token": token})
    assert response.status_code == 401 and "Wrong username or password" in response.text


@pytest.mark.parametrize("token", [None, "forged"], ids=["missing", "wrong"])
def test_login_form_needs_its_csrf_token(client: Any, token: str | None) -> None:
    client.get("/login")
    data = {"username": "nurse_a", "password": PASSWORDS["nurse_a"]} | ({"csrf_token": token} if token else {})
    assert client.post("/login", data=data, follow_redirects=False).status_code == 403


@pytest.mark.parametrize("token", [None, "forged"], ids=["missing", "wrong"])
def test_forms_of_a_cookie_session_need_the_csrf_token(client: Any, token: str | None) -> None:
    page_login(client, "nurse_a")
    data = {"date": "2024-04-10", "rash": "1"} | ({"csrf_token": token} if token else {})
    assert client.post("/patients/SLE-A1/visit/sledai2k", data=data, follow_redirects=False).status_code == 403
    assert client.post("/patients/SLE-A1/visit/sledai2k/preview", data=data).status_code == 403
    assert client.post("/logout", data=data, follow_redirects=False).status_code == 403
    # A cookie is not enough for the JSON API either: it needs the X-CSRF-Token header.
    assert (
        client.post(
            "/api/patients/SLE-A1/assessments", json={"index": "sledai2k", "date": "2024-04-10", "items": {"rash": 1}}
        ).status_code
        == 403
    )


def test_csrf_header_is_accepted_for_htmx_requests(client: Any) -> None:
    csrf = page_login(client, "nurse_a")
    response = client.post(
        "/patients/SLE-A1/visit/sledai2k/preview", data={"rash": "1"}, headers={"X-CSRF-Token": csrf}
    )
    assert response.status_code == 200


def test_investigator_pages_hide_another_site(client: Any) -> None:
    csrf = page_login(client, "nurse_a")
    listing = client.get("/").text
    assert "SLE-A1" in listing and "SLE-B1" not in listing
    assert client.get("/?site=B").text.count("SLE-B1") == 0
    for path in ("/patients/SLE-B1", "/patients/SLE-B1/visit/sledai2k"):
        assert client.get(path).status_code == 404, path
    preview = client.post("/patients/SLE-B1/visit/sledai2k/preview", data={"csrf_token": csrf, "rash": "1"})
    assert preview.status_code == 404
    assert client.get("/dashboard/report.html").status_code == 404
    assert "SLE-B1" not in client.get("/dashboard").text


def test_visit_form_is_generated_from_the_index_columns(client: Any) -> None:
    page_login(client, "nurse_a")
    html = client.get("/patients/SLE-A1/visit/sledai2k").text
    # bool → checkbox; number → input with the spec's range (temperature 25–45 °C in sledai2k.py).
    assert '<input type="checkbox" name="arthritis" value="1">' in html
    assert 'name="temperature_c" step="any" min="25" max="45"' in html
    assert 'hx-post="/patients/SLE-A1/visit/sledai2k/preview"' in html


def test_live_preview_returns_the_score_and_explanation_fragment(client: Any) -> None:
    csrf = page_login(client, "nurse_a")
    response = client.post(
        "/patients/SLE-A1/visit/sledai2k/preview",
        data={"csrf_token": csrf, "arthritis": "1", "rash": "1", "unticked": "absent"},
    )
    assert response.status_code == 200
    assert "<html" not in response.text, "a fragment, not a page"
    # Gladman 2002 weights: arthritis 4 + rash 2 = 6 ("moderate": 6–10, Mikdashi 2015).
    assert "<dt>sledai2k</dt> <dd>6</dd>" in response.text
    assert "arthritis=4; rash=2" in response.text and "moderate" in response.text


def _panel_parts(html: str) -> dict[str, str]:
    """The text of each part of the first score panel: values, explanation, missing."""
    import re

    panel = html[html.index('class="score-panel') :]
    values = re.search(r'<dl class="values">(.*?)</dl>', panel, re.S)
    explain = re.search(r'<p class="explain"><span class="part">Explanation</span>(.*?)</p>', panel, re.S)
    missing = re.search(r'<p class="missing"><span class="part">Missing \(not assessed\)</span>(.*?)</p>', panel, re.S)
    assert values and explain and missing, panel[:600]
    return {"values": values[1], "explain": explain[1].strip(), "missing": missing[1].strip()}


def test_score_panel_keeps_value_explanation_and_missing_apart(client: Any) -> None:
    # Issue 22: the explanation was printed under the sledai2k_missing label.
    csrf = page_login(client, "nurse_a")
    data = {"csrf_token": csrf, "seizure": "1", "psychosis": "1", "unticked": "absent"}
    parts = _panel_parts(client.post("/patients/SLE-A1/visit/sledai2k/preview", data=data).text)
    # Gladman 2002: seizure 8 + psychosis 8 = 16; every other item absent, so none missing.
    assert "<dt>sledai2k</dt> <dd>16</dd>" in parts["values"] and "sledai2k_missing" not in parts["values"]
    assert parts["explain"] == "seizure=8; psychosis=8"
    assert parts["missing"] == "none"


def test_timeline_score_panels_keep_the_parts_apart(client: Any) -> None:
    csrf = page_login(client, "nurse_a")
    visit = {"csrf_token": csrf, "date": "2024-02-09", "visit": "panel", "seizure": "1", "psychosis": "1"}
    assert client.post("/patients/SLE-A1/visit/sledai2k", data=visit, follow_redirects=False).status_code == 303
    html = client.get("/patients/SLE-A1").text
    parts = _panel_parts(html[html.index('data-index="sledai2k"') - 40 :])
    # Unticked = not assessed (the default): no total, the two ticked items explained, the rest missing.
    assert "<dt>sledai2k</dt> <dd>—</dd>" in parts["values"] and "_missing" not in parts["values"]
    assert parts["explain"] == "seizure=8; psychosis=8"
    assert "rash" in parts["missing"].split("; ") and "seizure" not in parts["missing"].split("; ")


def test_unticked_boxes_are_not_assessed_unless_the_form_says_absent(client: Any) -> None:
    csrf = page_login(client, "nurse_a")
    form = client.get("/patients/SLE-A1/visit/sledai2k").text
    assert '<option value="missing" selected>not assessed (missing)</option>' in form
    assert '<option value="absent">absent (0)</option>' in form
    # No choice sent (the CLI's default, --missing empty): unticked items are missing, no total.
    default = _panel_parts(
        client.post("/patients/SLE-A1/visit/sledai2k/preview", data={"csrf_token": csrf, "rash": "1"}).text
    )
    assert "<dt>sledai2k</dt> <dd>—</dd>" in default["values"]
    assert default["explain"] == "rash=2" and "arthritis" in default["missing"].split("; ")
    absent = {"csrf_token": csrf, "rash": "1", "unticked": "absent"}  # as --missing absent: rash alone = 2
    assert (
        "<dt>sledai2k</dt> <dd>2</dd>"
        in _panel_parts(client.post("/patients/SLE-A1/visit/sledai2k/preview", data=absent).text)["values"]
    )


def test_patients_lists_the_patients(client: Any) -> None:
    page_login(client, "nurse_a")
    listing = client.get("/patients", follow_redirects=False)
    assert listing.status_code == 200
    assert '<a href="/patients/SLE-A1">SLE-A1</a>' in listing.text and "SLE-B1" not in listing.text  # own site
    assert '<a href="/patients">Patients</a>' in listing.text  # the menu links to it
    client.cookies.clear()
    page_login(client, "stat")  # statisticians read no patient records: to the dashboard, as "/"
    assert client.get("/patients", follow_redirects=False).headers["location"] == "/dashboard"


def test_live_preview_lists_invalid_values(client: Any) -> None:
    csrf = page_login(client, "nurse_a")
    response = client.post("/patients/SLE-A1/visit/sledai2k/preview", data={"csrf_token": csrf, "temperature_c": "60"})
    assert response.status_code == 200
    assert "column temperature_c: value 60: out of range" in response.text


def test_saving_a_visit_stores_the_assessment_score_and_explanation(client: Any, app_engine: Engine) -> None:
    csrf = page_login(client, "nurse_a")
    response = client.post(
        "/patients/SLE-A1/visit/sledai2k",
        data={
            "csrf_token": csrf,
            "version": "1",
            "date": "2024-02-09",
            "visit": "month 1",
            "unticked": "absent",
            "proteinuria": "1",
            "fever": "1",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"].startswith("/patients/SLE-A1#assessment-")
    with app_engine.connect() as connection:
        row = connection.execute(
            select(
                schema.assessments.c.day,
                schema.assessments.c["items"],
                schema.scores.c["values"],
                schema.scores.c.explain,
            )
            .join(schema.scores)
            .where(schema.assessments.c.visit == "month 1")
        ).one()
        version = connection.execute(
            select(schema.patients.c.version).where(schema.patients.c.patient_id == "SLE-A1")
        ).scalar_one()
    # 2024-01-10 → 2024-02-09 = day 30; proteinuria 4 + fever 1 = 5 (Gladman 2002), "mild" (1–5).
    assert row.day == 30 and row.items["proteinuria"] == 1 and row.items["rash"] == 0
    assert row.values["sledai2k"] == 5 and row.values["sledai2k_category"] == "mild"
    assert row.explain == "proteinuria=4; fever=1"
    assert version == 2
    timeline = client.get("/patients/SLE-A1").text
    assert "proteinuria=4; fever=1" in timeline and "month 1" in timeline


def test_invalid_visit_is_shown_again_with_its_problems_and_nothing_stored(client: Any, app_engine: Engine) -> None:
    csrf = page_login(client, "nurse_a")
    response = client.post(
        "/patients/SLE-A1/visit/sledai2k",
        data={"csrf_token": csrf, "date": "2024-02-09", "visit": "bad", "rash": "1", "platelets_10e9_l": "-3"},
    )
    assert response.status_code == 422
    assert "column platelets_10e9_l: value -3: out of range" in response.text
    assert 'name="rash" value="1" checked' in response.text, "the entered values are kept"
    with app_engine.connect() as connection:
        assert connection.execute(select(schema.assessments).where(schema.assessments.c.visit == "bad")).first() is None


def test_unticked_items_can_be_recorded_as_not_assessed(client: Any, app_engine: Engine) -> None:
    csrf = page_login(client, "nurse_a")
    client.post(
        "/patients/SLE-A1/visit/sledai2k",
        data={"csrf_token": csrf, "date": "2024-02-09", "visit": "partial", "unticked": "missing", "rash": "1"},
    )
    with app_engine.connect() as connection:
        items, values = connection.execute(
            select(schema.assessments.c["items"], schema.scores.c["values"])
            .join(schema.scores)
            .where(schema.assessments.c.visit == "partial")
        ).one()
    assert items == {"rash": 1}
    assert values["sledai2k"] is None, "missing items are never scored as absent"


def test_stale_visit_form_answers_409_and_keeps_the_entry(client: Any) -> None:
    csrf = page_login(client, "nurse_a")
    data = {"csrf_token": csrf, "version": "1", "date": "2024-02-09", "unticked": "absent"}
    assert (
        client.post("/patients/SLE-A1/visit/sledai2k", data=data | {"visit": "v1"}, follow_redirects=False).status_code
        == 303
    )
    stale = client.post("/patients/SLE-A1/visit/sledai2k", data=data | {"visit": "v2", "rash": "1"})
    assert stale.status_code == 409
    assert "changed since version 1" in stale.text and 'name="rash" value="1" checked' in stale.text


def test_timeline_shows_course_curves_and_tables(client: Any) -> None:
    page_login(client, "monitor")
    html = client.get("/patients/SLE-B1").text
    for part in (
        '<svg class="lanes"',
        "prednisone",
        "AE: cytokine release syndrome",
        "data:image/png;base64,",
        "Visits and scores",
        "Laboratory values",
        "car_t_cells_ul",
        "Audit trail",
    ):
        assert part in html, part
    assert "Enter a visit" not in html, "monitors read only"


def test_dashboard_embeds_the_cohort_report_for_monitors(client: Any, app_engine: Engine) -> None:
    from remission.pipeline import score_database

    score_database(app_engine, ["sledai2k"])
    page_login(client, "monitor")
    assert 'src="/dashboard/report.html"' in client.get("/dashboard").text
    report = client.get("/dashboard/report.html")
    assert report.status_code == 200 and "SLEDAI-2K" in report.text
    assert client.get("/dashboard/tables/cohort_characteristics.csv").text.startswith("characteristic,")
    assert client.get("/dashboard/tables/..%2Freport.html").status_code == 404
    assert not (client.app.state.report_dir / "report.pdf").exists(), "the dashboard serves no PDF: none is built"


def test_logout_ends_the_session(client: Any) -> None:
    csrf = page_login(client, "nurse_a")
    assert client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    assert client.get("/", follow_redirects=False).status_code == 303


def test_timeline_names_the_partially_dated_medication_records(client: Any, app_engine: Engine) -> None:
    """SLE-B1's prednisone end collected as "2024-03": stored 31 March = day 81 (infusion 10 January:
    21 + 29 + 31), drug-free from day 111 (30 treatment-free days, the report's rule); read on 1 March
    (day 51), drug-free from day 81."""
    from datetime import date

    with app_engine.begin() as connection:
        connection.execute(
            schema.medications.update()
            .where(schema.medications.c.patient_id == "SLE-B1")
            .values(stop_date=date(2024, 3, 31), stop_day=81, stop_dtc="2024-03", stop_date_flag="D")
        )
    page_login(client, "monitor")
    html = client.get("/patients/SLE-B1").text
    assert 'id="imputation-bounds"' in html
    assert "drug-free from day 111 (30 days after the last dose) as reported" in html
    assert "drug-free from day 81 (30 days after the last dose) with each read" in html
    assert '<td>2024-03</td><td class="num">81 (or 51)</td>' in html
    assert 'id="imputation-bounds"' not in client.get("/patients/SLE-A1").text, "complete dates: no bounds"
