"""SQL injection at the store and CLI level: hostile text is data, stored and returned verbatim.

Every free-text field of the model goes through :func:`save_cohort` holding classic injection
strings; afterwards the same text reads back unchanged, every table still exists and holds the
expected rows. Random text (hypothesis) either round-trips verbatim or is refused with
InvalidInputError before anything is written (longer than its column, or NUL, which PostgreSQL
text cannot hold). ``remission score`` passes the same strings through to its output verbatim.
(Web routes: tests/web/test_security.py sends the same strings through every API and page field.)
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import Engine, func, inspect, select
from typer.testing import CliRunner

from remission.cli.main import app
from remission.errors import InvalidInputError
from remission.model import AdverseEvent, Assessment, Cohort, Infusion, LabResult, Medication, Patient, Site
from remission.model.records import PriorTreatment
from remission.store import assessment_table, save_cohort, schema

INJECTIONS = (
    "'; DROP TABLE patients; --",
    "Robert'); DROP TABLE assessments;--",
    '" OR 1=1 --',
    "1; DELETE FROM audit_log",
    "%' OR '%'='",
    "\\'; DROP TABLE sites; --",
    "$$; DROP TABLE labs; $$",
    "' UNION SELECT sql FROM sqlite_master --",
    "x'||(SELECT version())||'",
    "😀 ünïcödé ';--",
)
TABLES = {t.name for t in schema.metadata.sorted_tables}


def cohort_with(text: str, n: int = 0) -> Cohort:
    """One patient whose every free-text field (within its column length) holds ``text``."""
    pid = f"INJ-{n}"
    site = text[:64]
    return Cohort(
        sites=(Site(site_id=site, name=text, country=text[:100]),),
        patients=(
            Patient(
                patient_id=pid,
                site_id=site,
                disease="SLE",
                sex="female",
                birth_year=1990,
                diagnosis_year=2010,
                prior_treatments=(PriorTreatment(drug=text),),
            ),
        ),
        infusions=(Infusion(patient_id=pid, date=date(2024, 1, 1), product=text, cells_per_kg=1e6, conditioning=text),),
        assessments=(
            Assessment(
                patient_id=pid, date=date(2024, 1, 1), day=0, visit=text[:64], form=text[:32], items={"note": text}
            ),
        ),
        labs=(LabResult(patient_id=pid, date=date(2024, 1, 1), day=0, analyte=text[:64], value=1.0, unit=text[:32]),),
        medications=(
            Medication(
                patient_id=pid,
                drug=text[:100],
                dose=1,
                unit=text[:16],
                route=text[:32],
                frequency=text[:32],
                start_date=date(2024, 1, 1),
                start_day=0,
            ),
        ),
        adverse_events=(
            AdverseEvent(
                patient_id=pid,
                term=text[:200],
                category="other",
                grade=1,
                onset_date=date(2024, 1, 1),
                onset_day=0,
                organism=text[:200],
                treatment=text[:200],
            ),
        ),
    )


def stored(engine: Engine, pid: str) -> dict[str, dict[str, Any]]:
    """Each record table's row for ``pid`` (and its site) as stored."""
    out: dict[str, dict[str, Any]] = {}
    with engine.connect() as connection:
        patient = connection.execute(select(schema.patients).where(schema.patients.c.patient_id == pid)).one()
        out["patients"] = dict(patient._mapping)
        site = connection.execute(select(schema.sites).where(schema.sites.c.site_id == patient.site_id)).one()
        out["sites"] = dict(site._mapping)
        for name in ("infusions", "assessments", "labs", "medications", "adverse_events"):
            table = schema.metadata.tables[name]
            out[name] = dict(connection.execute(select(table).where(table.c.patient_id == pid)).one()._mapping)
    return out


def assert_verbatim(engine: Engine, cohort: Cohort) -> None:
    pid = cohort.patients[0].patient_id
    rows = stored(engine, pid)
    for name in ("sites", "patients", "infusions", "assessments", "labs", "medications", "adverse_events"):
        record = getattr(cohort, name)[0].model_dump(mode="python")
        for field, value in record.items():
            if isinstance(value, str):
                assert rows[name][field] == value, f"{name}.{field} changed"
    assert rows["assessments"]["items"] == cohort.assessments[0].items
    assert rows["patients"]["prior_treatments"][0]["drug"] == cohort.patients[0].prior_treatments[0].drug
    assert set(inspect(engine).get_table_names()) >= TABLES, "a table was dropped"


@pytest.mark.parametrize("text", INJECTIONS, ids=range(len(INJECTIONS)))
def test_injection_strings_in_every_text_field_are_stored_verbatim(store: Engine, text: str) -> None:
    cohort = cohort_with(text)
    save_cohort(store, cohort)
    save_cohort(store, cohort)  # the upsert path too
    assert_verbatim(store, cohort)
    with store.connect() as connection:
        for name in ("patients", "assessments", "labs", "medications", "adverse_events", "infusions"):
            count = connection.execute(select(func.count()).select_from(schema.metadata.tables[name])).scalar_one()
            assert count == 1, name
        assert connection.execute(select(func.count()).select_from(schema.audit_log)).scalar_one() == 2
    items = assessment_table(store)
    assert items["note"].to_list() == [text]


@given(st.text(min_size=1, max_size=80))
@settings(
    max_examples=max(10, settings().max_examples // 2), suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_random_text_is_stored_verbatim_or_refused_before_writing(store: Engine, text: str) -> None:
    try:
        cohort = cohort_with(text, n=abs(hash(text)) % 10**9)
    except ValidationError:
        return  # the model refuses it (e.g. blank after stripping): never reaches the store
    with store.connect() as connection:
        before = connection.execute(select(func.count()).select_from(schema.audit_log)).scalar_one()
    try:
        save_cohort(store, cohort)
    except InvalidInputError as err:
        assert all("NUL" in p.reason or "longer than" in p.reason for p in err.problems), str(err)
        with store.connect() as connection:  # nothing written
            assert connection.execute(select(func.count()).select_from(schema.audit_log)).scalar_one() == before
        return
    assert_verbatim(store, cohort)


def test_nul_and_overlong_text_are_refused_naming_table_column_row(store: Engine) -> None:
    # Found: SQLite kept both; PostgreSQL raised DataError (not InvalidInputError) mid-import.
    cohort = cohort_with("x")
    lab = cohort.labs[0].model_copy(update={"unit": "u" * 40})
    ae = cohort.adverse_events[0].model_copy(update={"organism": "e. coli\x00"})
    with pytest.raises(InvalidInputError) as caught:
        save_cohort(store, cohort.model_copy(update={"labs": (lab,), "adverse_events": (ae,)}))
    assert [str(p) for p in caught.value.problems] == [
        f"row 1, column labs.unit: value {'u' * 40}: longer than 32 characters",
        r"row 1, column adverse_events.organism: value e. coli\x00: contains a NUL character",
    ]
    with store.connect() as connection:
        assert connection.execute(select(func.count()).select_from(schema.patients)).scalar_one() == 0


def test_injection_strings_pass_through_remission_score_verbatim(tmp_path: Path) -> None:
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    pl.DataFrame(
        {
            "patient_id": list(INJECTIONS),
            "day": [0] * len(INJECTIONS),
            "note": list(INJECTIONS),
            "mrss": [10] * len(INJECTIONS),
        }
    ).write_csv(source)
    args = ["score", "criss", "--input", str(source), "--output", str(target), "--allow-missing-columns"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    out = pl.read_csv(target, infer_schema=False)
    assert out["patient_id"].to_list() == list(INJECTIONS)
    assert out["note"].to_list() == list(INJECTIONS)


def test_injection_string_as_index_name_or_option_is_refused_with_the_contract_wording(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("rash\n1\n")
    for args in (
        ["score", INJECTIONS[0], "--input", str(source), "--output", str(tmp_path / "o.csv")],
        ["score", "sri4", "--input", str(source), "--output", str(tmp_path / "o.csv"), "--reduction", INJECTIONS[1]],
    ):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2
        assert result.output.startswith("column ")
