"""The store on SQLite and PostgreSQL: migrations up and down, idempotent and atomic writes."""

from __future__ import annotations

from datetime import date

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, func, inspect, select

from remission.demo.cohort import generate_demo_cohort
from remission.model import Assessment, Cohort, Patient, Site
from remission.store import (
    assessment_table,
    current_revision,
    migrate,
    read_table,
    save_cohort,
    schema,
)
from remission.store.db import downgrade, head_revision, resolve_url


def count(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(schema.metadata.tables[table])).scalar_one())


def test_migrated_schema_matches_the_tables_exactly(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()
    with engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), schema.metadata)
    assert diffs == []


def test_migrations_go_down_and_up_again(engine: Engine) -> None:
    downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate(engine)
    assert {"patients", "assessments", "scores", "audit_log"} <= set(inspect(engine).get_table_names())


def test_saving_the_same_cohort_twice_changes_nothing(engine: Engine) -> None:
    cohort = generate_demo_cohort()
    save_cohort(engine, cohort)
    first = {t: count(engine, t) for t in ("patients", "assessments", "labs", "medications", "adverse_events")}
    save_cohort(engine, cohort)
    second = {t: count(engine, t) for t in first}
    assert first == second
    assert first["patients"] == 15
    assert first["assessments"] == len(cohort.assessments)


def test_a_failing_import_writes_nothing(engine: Engine) -> None:
    site = Site(site_id="S1")
    patient = Patient(patient_id="P1", site_id="S1", disease="SLE", sex="female", birth_year=1990, diagnosis_year=2010)
    orphan = Assessment(patient_id="NOT-THERE", date=date(2024, 1, 1), day=0, items={"rash": 1})
    with pytest.raises(Exception, match=r"(?i)foreign key|violates"):
        save_cohort(engine, Cohort(sites=(site,), patients=(patient,), assessments=(orphan,)))
    assert count(engine, "patients") == 0
    assert count(engine, "sites") == 0


def test_assessment_table_is_long_with_item_columns(engine: Engine) -> None:
    save_cohort(engine, generate_demo_cohort())
    table = assessment_table(engine, disease="SLE")
    assert {"assessment_id", "patient_id", "day", "form", "arthritis", "pga"} <= set(table.columns)
    assert table["patient_id"].str.starts_with("SLE").all()
    assert read_table(engine, "patients").height == 15


def test_url_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REMISSION_DB_URL", raising=False)
    assert resolve_url(None) == "sqlite:///remission.db"
    monkeypatch.setenv("REMISSION_DB_URL", "postgresql://u@h/db")
    assert resolve_url(None) == "postgresql+psycopg://u@h/db"
    assert resolve_url("sqlite:///x.db") == "sqlite:///x.db"
