"""A small two-site registry, five users (one per role, two investigators) and a test client."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import Engine

from remission.model import AdverseEvent, Assessment, Cohort, Infusion, LabResult, Medication, Patient, Site
from remission.store import save_cohort
from remission.web import create_app
from remission.web.security import add_user

with warnings.catch_warnings():
    # Starlette 1.x warns that its TestClient will move to httpx2; httpx is the chosen dependency.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from webhelpers import PASSWORDS

ROLES = {
    "admin": ("admin", None),
    "nurse_a": ("investigator", "A"),
    "nurse_b": ("investigator", "B"),
    "monitor": ("monitor", None),
    "stat": ("statistician", None),
}
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
