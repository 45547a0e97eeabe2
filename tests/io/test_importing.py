"""Imports into the store: every real folder goes through, counts match the source files,
re-import is a no-op, a bad row leaves the database unchanged, a changed row is audited.

Expected counts come from the folders' READMEs (rows per file) and from counting the source
files by hand-written polars queries noted next to each number (not from the importer).
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from remission.errors import InvalidInputError
from remission.io.importing import ImportBatch, ImportProblem, write_batch
from remission.io.sources import batch_from_fhir, batch_from_redcap, batch_from_sdtm, parse_item
from remission.store import schema

EXAMPLE = Path(__file__).resolve().parents[2] / "src" / "remission" / "io" / "examples" / "car_t_trial"
TABLES = ("sites", "patients", "infusions", "assessments", "labs", "medications", "adverse_events", "scores")


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as c:
        return {
            t: c.execute(select(func.count()).select_from(schema.metadata.tables[t])).scalar_one()
            for t in (*TABLES, "audit_log")
        }


def redcap_batch(folder: Path = EXAMPLE, on_error: str = "raise") -> ImportBatch:
    return batch_from_redcap(
        folder / "records.csv", folder / "dictionary.csv", folder / "mapping.yaml", on_error=on_error
    )


def copy_example(tmp_path: Path, old: str, new: str) -> Path:
    folder = tmp_path / "project"
    shutil.copytree(EXAMPLE, folder)
    text = (folder / "records.csv").read_text(encoding="utf-8")
    assert text.count(old) == 1
    (folder / "records.csv").write_text(text.replace(old, new), encoding="utf-8")
    return folder


# --------------------------------------------------------------------------------------------
# SDTM


@pytest.mark.parametrize(
    ("folder", "sources", "stored"),
    [
        (
            # README: dm 306, ae 1191, cm 7510, ex 591, sv 3559 rows
            "cdisc-pilot-sdtm",
            {"dm.xpt": 306, "ae.xpt": 1191, "cm.xpt": 7510, "ex.xpt": 591, "sv.xpt": 3559},
            # Every AE is its own record (STUDYID/USUBJID/AE/AESEQ): 1191, 26 with an imputed onset.
            # CM: all 7510 (21 without CMSTDTC kept with an empty start) + 591 EX = 8101; partial starts imputed.
            {"patients": 306, "sites": 17, "adverse_events": 1191, "medications": 8101, "labs": 0, "infusions": 0},
        ),
        (
            "pharmaversesdtm",  # the same pilot as CSV (README): the same registry records
            {"dm.csv": 306, "ae.csv": 1191, "cm.csv": 7510, "ex.csv": 591, "ds.csv": 850},
            {"patients": 306, "sites": 17, "adverse_events": 1191, "medications": 8101, "labs": 0, "infusions": 0},
        ),
        (
            # README: lb 1486, vs 772, qs 91 rows; 7 subjects
            "cdisc-pilot-sdtm-subset-clinutils",
            {"dm.xpt": 7, "lb.xpt": 1486, "vs.xpt": 772, "qs.xpt": 91},
            # labs: 1486 + 772 − 22 character urinalysis results = 2236; QS: 59 (subject, date, visit)
            # AE 58 rows, CM 230 + EX 15 rows: each its own record
            {"patients": 7, "labs": 2236, "assessments": 59, "adverse_events": 58, "medications": 245},
        ),
    ],
    ids=["pilot-xpt-v5", "pharmaverse-csv", "clinutils-xpt-v8"],
)
def test_sdtm_folder_imports_with_source_counts(
    engine: Engine, data: Path, folder: str, sources: dict[str, int], stored: dict[str, int]
) -> None:
    report = write_batch(engine, batch_from_sdtm(data / folder))
    for name, rows in sources.items():
        assert report.source_rows[name] == rows, name
    db = counts(engine)
    for table, n in stored.items():
        assert db[table] == n, table
    # every source row of an imported domain is stored, merged into another, or excluded
    ae_rows = sources.get("ae.xpt", sources.get("ae.csv"))
    if ae_rows:
        excluded = sum(1 for t, *_ in report.excluded if t == "adverse_events")
        assert report.stored("adverse_events") + report.counts["adverse_events"]["merged"] + excluded == ae_rows


def test_sdtm_pilot_patients_are_other_with_screen_failures(engine: Engine, data: Path) -> None:
    write_batch(engine, batch_from_sdtm(data / "cdisc-pilot-sdtm"))
    with engine.connect() as c:
        diseases = set(c.execute(select(schema.patients.c.disease)).scalars())
        sexes = set(c.execute(select(schema.patients.c.sex)).scalars())
        birth = set(c.execute(select(schema.patients.c.birth_year)).scalars())
    assert diseases == {"other"}  # Alzheimer's disease trial (ts.xpt)
    assert sexes == {"female", "male"}
    assert birth == {None}  # the pilot DM has AGE but no BRTHDTC: not guessed


def test_sdtm_day_relative_to_first_exposure(engine: Engine, data: Path) -> None:
    # 01-701-1015: RFXSTDTC 2014-01-02 (no infusion) → its first EX row (2014-01-02) is day 0
    write_batch(engine, batch_from_sdtm(data / "cdisc-pilot-sdtm"))
    m = schema.medications
    with engine.connect() as c:
        rows = c.execute(
            select(m.c.start_date, m.c.start_day, m.c.stop_day).where(
                m.c.patient_id == "01-701-1015", m.c.drug == "PLACEBO"
            )
        ).all()
    assert sorted(rows)[0] == (dt.date(2014, 1, 2), 0, 14)  # EXENDTC 2014-01-16


def test_sdtm_reimport_is_a_no_op(engine: Engine, data: Path) -> None:
    folder = data / "cdisc-pilot-sdtm-subset-clinutils"
    write_batch(engine, batch_from_sdtm(folder))
    before = counts(engine)
    again = write_batch(engine, batch_from_sdtm(folder))
    assert again.totals()["inserted"] == again.totals()["updated"] == 0
    after = counts(engine)
    assert after["audit_log"] == before["audit_log"] + 1  # the import event only
    assert {k: v for k, v in after.items() if k != "audit_log"} == {k: v for k, v in before.items() if k != "audit_log"}


def test_sdtm_unknown_disease_refused(data: Path) -> None:
    with pytest.raises(InvalidInputError, match="column disease: value lupus"):
        batch_from_sdtm(data / "pharmaversesdtm", disease="lupus")


# --------------------------------------------------------------------------------------------
# FHIR


def test_fhir_synthea_counts(engine: Engine, data: Path) -> None:
    # README: 3 bundles, one patient each; observations 119 rows of which 10 are coded (not numeric)
    report = write_batch(engine, batch_from_fhir(data / "fhir-r4-synthea-smart"))
    assert report.source_rows["Patient"] == 3
    db = counts(engine)
    assert (db["patients"], db["labs"], db["medications"]) == (3, 119 - 10, 5)
    assert report.source_rows["Observation"] == 119
    assert report.source_rows["Encounter"] == 18  # listed by resource type and count, not imported
    assert report.not_imported["Encounter"] == "no registry record type"
    with engine.connect() as c:
        assert set(c.execute(select(schema.patients.c.disease)).scalars()) == {"other"}
        assert c.execute(select(func.min(schema.labs.c.day))).scalar_one() == 0  # first record = day 0


def test_fhir_hl7_examples_every_resource_accounted(engine: Engine, data: Path) -> None:
    report = write_batch(engine, batch_from_fhir(data / "fhir-r4-hl7-examples"))
    # 8 Patient resources: 3 distinct ids, 2 repeats (the same id in two files), 3 without id
    excluded_patients = sum(1 for t, *_ in report.excluded if t == "patients")
    assert (report.stored("patients"), report.counts["patients"]["merged"], excluded_patients) == (3, 2, 3)
    # 8 medications refer to patient pat1, which no file holds
    medications = report.source_rows["MedicationStatement"] + report.source_rows["MedicationAdministration"]
    assert sum(1 for t, *_ in report.excluded if t == "medications") == medications == 8
    assert counts(engine)["adverse_events"] == 1  # AdverseEvent-example, severity mild


# --------------------------------------------------------------------------------------------
# REDCap (the example CAR-T project: records.csv)


def test_redcap_example_counts_and_days(engine: Engine) -> None:
    report = write_batch(engine, redcap_batch())
    db = counts(engine)
    # records.csv: 3 patients/infusions, SLEDAI 3 rows, labs 6+5+5, meds 3, AEs 4 (test_mapping)
    assert {t: db[t] for t in ("patients", "infusions", "assessments", "labs", "medications", "adverse_events")} == {
        "patients": 3,
        "infusions": 3,
        "assessments": 3,
        "labs": 16,
        "medications": 3,
        "adverse_events": 4,
    }
    assert report.totals()["updated"] == 0
    a = schema.assessments
    with engine.connect() as c:
        row = c.execute(
            select(a.c.day, a.c.form).where(a.c.patient_id == "SLE-01", a.c.date == dt.date(2024, 2, 26))
        ).one()
    assert tuple(row) == (-7, "sle")  # infusion 2024-03-04, SLEDAI 2024-02-26: 7 days before


def test_reimport_same_file_changes_nothing(engine: Engine) -> None:
    write_batch(engine, redcap_batch())
    before = counts(engine)
    report = write_batch(engine, redcap_batch())
    assert report.totals() == {"inserted": 0, "updated": 0, "unchanged": 35, "merged": 0, "excluded": 0, "skipped": 0}
    after = counts(engine)
    assert after["audit_log"] == before["audit_log"] + 1
    with engine.connect() as c:
        last = c.execute(select(schema.audit_log).order_by(schema.audit_log.c.id.desc()).limit(1)).one()
    assert (last.actor, last.action, last.entity) == ("import", "import", "redcap")


def test_bad_row_leaves_database_unchanged(engine: Engine, tmp_path: Path) -> None:
    write_batch(engine, redcap_batch())
    before = counts(engine)
    folder = copy_example(tmp_path, "SLE-01,,,1,1,1,1996,2015", "SLE-01,,,1,1,1,1800,2015")
    with pytest.raises(InvalidInputError) as err:
        write_batch(engine, redcap_batch(folder))
    assert str(err.value).startswith("records.csv, row 1 of enrolment (record SLE-01), birth_year: 1800: ")
    assert counts(engine) == before


def test_bad_row_skipped_on_request(engine: Engine, tmp_path: Path) -> None:
    folder = copy_example(tmp_path, "SLE-01,,,1,1,1,1996,2015", "SLE-01,,,1,1,1,1800,2015")
    report = write_batch(engine, redcap_batch(folder), on_error="skip")
    db = counts(engine)
    # SLE-01 and its records are skipped: 1 infusion, 2 SLEDAI, 11 labs, 2 meds, 2 AEs
    assert (db["patients"], db["infusions"], db["labs"], db["adverse_events"]) == (2, 2, 5, 2)
    assert all(isinstance(p, ImportProblem) for p in report.skipped)
    assert len(report.skipped) == 1 + 1 + 2 + 11 + 2 + 2


def test_changed_row_is_updated_and_audited_without_values(engine: Engine, tmp_path: Path) -> None:
    write_batch(engine, redcap_batch())
    folder = copy_example(tmp_path, '2024-02-26,"0,52"', '2024-02-26,"0,55"')
    report = write_batch(engine, redcap_batch(folder))
    assert report.counts["labs"]["updated"] == 1
    assert report.totals()["inserted"] == 0
    log = schema.audit_log
    with engine.connect() as c:
        rows = c.execute(select(log).where(log.c.action == "update")).all()
        value = c.execute(
            select(schema.labs.c.value).where(schema.labs.c.analyte == "c3", schema.labs.c.date == dt.date(2024, 2, 26))
        ).scalar_one()
    assert value == 0.55
    assert [(r.actor, r.entity, r.detail) for r in rows] == [("import", "labs", {"fields": ["value"]})]
    assert "0.55" not in str(rows[0].detail) and "0.52" not in str(rows[0].detail)


def test_dependent_record_of_unknown_patient_is_a_problem(engine: Engine) -> None:
    batch = ImportBatch("test")
    batch.add(
        "labs",
        {"patient_id": "NOPE", "date": dt.date(2024, 1, 1), "day": 0, "analyte": "crp", "value": 1.0, "unit": "mg/L"},
        "labs.csv",
        "row 1",
    )
    with pytest.raises(InvalidInputError, match=r"labs.csv, row 1, patient_id: NOPE: unknown patient"):
        write_batch(engine, batch)
    assert counts(engine)["labs"] == 0


def test_patient_without_infusion_or_reference_cannot_get_a_day(engine: Engine) -> None:
    batch = ImportBatch("test")
    batch.add("sites", {"site_id": "S"}, "x", "site")
    batch.add(
        "patients",
        {
            "patient_id": "P",
            "site_id": "S",
            "disease": "SLE",
            "sex": "male",
            "birth_year": None,
            "diagnosis_year": None,
        },
        "p.csv",
        "row 1",
    )
    batch.add(
        "labs",
        {"patient_id": "P", "date": dt.date(2024, 1, 1), "analyte": "crp", "value": 1.0, "unit": "mg/L"},
        "l.csv",
        "row 4",
    )
    with pytest.raises(InvalidInputError, match=r"l.csv, row 4, date: 2024-01-01: patient P has no infusion"):
        write_batch(engine, batch)


@pytest.mark.parametrize(
    ("text", "value"),
    [("3", 3), ("-2", -2), ("0.5", 0.5), ("true", True), ("false", False), ("A", "A"), ("", None), (None, None)],
    ids=["int", "negative", "float", "true", "false", "text", "empty", "null"],
)
def test_parse_item(text: str | None, value: object) -> None:
    assert parse_item(text) == value and type(parse_item(text)) is type(value)
