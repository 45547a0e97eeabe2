"""Helpers of the web tests: the small two-site cohort, log in by token or by the login page, read CSRF tokens."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from remission.model import AdverseEvent, Assessment, Cohort, Infusion, LabResult, Medication, Patient, Site

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


INFUSION = date(2024, 1, 10)


def small_cohort() -> Cohort:
    def patient(pid: str, site: str) -> Patient:
        return Patient(patient_id=pid, site_id=site, disease="SLE", sex="female", birth_year=1990, diagnosis_year=2015)

    records: dict[str, list] = {"infusions": [], "assessments": [], "labs": [], "medications": [], "adverse_events": []}
    for pid in ("SLE-A1", "SLE-B1"):
        records["infusions"].append(Infusion(patient_id=pid, date=INFUSION, cells_per_kg=1e6))
        records["assessments"].append(
            Assessment(
                patient_id=pid,
                date=date(2024, 1, 3),
                day=-7,
                visit="screening",
                form="sle",
                items={"arthritis": 1, "rash": 0},
            )
        )
        records["labs"].append(
            LabResult(
                patient_id=pid, date=date(2024, 1, 19), day=9, analyte="car_t_cells_ul", value=50.0, unit="cells/µL"
            )
        )
        records["medications"].append(
            Medication(
                patient_id=pid,
                drug="prednisone",
                dose=5,
                start_date=date(2023, 1, 1),
                stop_date=date(2024, 3, 1),
                start_day=-374,
                stop_day=51,
            )
        )
        records["adverse_events"].append(
            AdverseEvent(
                patient_id=pid,
                term="cytokine release syndrome",
                category="crs",
                grade=1,
                onset_date=date(2024, 1, 11),
                onset_day=1,
            )
        )
    return Cohort(
        sites=(Site(site_id="A", name="Site A"), Site(site_id="B", name="Site B")),
        patients=(patient("SLE-A1", "A"), patient("SLE-B1", "B")),
        **{k: tuple(v) for k, v in records.items()},
    )
