"""REDCap source identity and partial dates (issue 17 items 1-2): every medication and AE keeps its
record/event/instrument/instance, re-imports change nothing, distinct instances are never merged,
partial text dates are imputed and flagged, unreadable dates are errors (strict) or listed (skip).

Fixtures: copies of the example project (src/remission/io/examples/car_t_trial) with cells edited
by hand; expected values worked out by hand from the edited cells.
"""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text

from remission.errors import InvalidInputError
from remission.io.importing import write_batch
from remission.io.sources import batch_from_redcap
from remission.store import schema
from remission.store.db import connect, migrate

EXAMPLE = Path(__file__).resolve().parents[2] / "src" / "remission" / "io" / "examples" / "car_t_trial"
D = dt.date
#: The mapping's ``project:``: the first part of every source key.
PROJECT = "car-t-autoimmune-demo"


def batch(folder: Path = EXAMPLE, on_error: str = "raise"):  # type: ignore[no-untyped-def]
    return batch_from_redcap(
        folder / "records.csv", folder / "dictionary.csv", folder / "mapping.yaml", on_error=on_error
    )


def rows(engine: Engine, table: str) -> dict[str, dict]:
    with engine.connect() as c:
        return {r.source_key: dict(r._mapping) for r in c.execute(select(schema.metadata.tables[table]))}


def edited(tmp_path: Path, cells: dict[tuple[str, str, str], str], text_dates: bool = False) -> Path:
    """The example with ``cells[(record, instance of its repeating form, field)] = value``; with
    ``text_dates`` the medication and AE dates are text fields (no date validation), as a project
    that collects partial dates has them."""
    folder = tmp_path / "project"
    shutil.copytree(EXAMPLE, folder)
    with (folder / "records.csv").open(newline="", encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    for (record, instance, name), value in cells.items():
        (row,) = [r for r in table if r["record_id"] == record and r["redcap_repeat_instance"] == instance and r[name]]
        row[name] = value
    with (folder / "records.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(table[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(table)
    if text_dates:
        dictionary = (folder / "dictionary.csv").read_text(encoding="utf-8")
        for name in ("med_start", "med_stop", "ae_onset", "ae_resolution"):
            dictionary = _no_validation(dictionary, name)
        (folder / "dictionary.csv").write_text(dictionary, encoding="utf-8")
    return folder


def _no_validation(dictionary: str, name: str) -> str:
    lines = dictionary.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith(f"{name},"):
            lines[i] = line.replace(",date_ymd,", ",,", 1)
    return "".join(lines)


def test_every_medication_and_ae_has_its_redcap_identity(engine: Engine) -> None:
    write_batch(engine, batch())
    meds, aes = rows(engine, "medications"), rows(engine, "adverse_events")
    # SLE-01 has medications instances 1-2 and adverse_events instances 1-2 (records.csv rows 7-10)
    assert {f"redcap:{PROJECT}/SLE-01//medications/{i}" for i in (1, 2)} <= set(meds)
    assert {f"redcap:{PROJECT}/SLE-01//adverse_events/{i}" for i in (1, 2)} <= set(aes)
    assert all(k.startswith(f"redcap:{PROJECT}/") for k in [*meds, *aes])
    first = meds[f"redcap:{PROJECT}/SLE-01//medications/1"]
    # a complete date_ymd date: kept as collected, nothing imputed
    assert (first["start_date"], first["start_dtc"], first["start_date_flag"]) == (D(2023, 1, 15), "2023-01-15", None)
    assert (first["stop_dtc"], first["stop_date_flag"]) == ("2024-03-01", None)


def test_a_second_import_changes_nothing(engine: Engine) -> None:
    write_batch(engine, batch())
    again = write_batch(engine, batch())
    for table, c in again.counts.items():
        assert c["inserted"] == c["updated"] == 0, table


def test_two_instances_with_the_same_drug_and_start_are_two_records(engine: Engine, tmp_path: Path) -> None:
    # instance 2 of SLE-01 made the same drug, start and dose as instance 1: two courses in the source
    same = {("SLE-01", "2", "med_drug"): "1", ("SLE-01", "2", "med_start"): "2023-01-15"}
    same |= {("SLE-01", "2", "med_stop"): "2024-03-01"}
    report = write_batch(engine, batch(edited(tmp_path, same)))
    meds = rows(engine, "medications")
    assert meds[f"redcap:{PROJECT}/SLE-01//medications/1"]["drug"] == "prednisolone"
    assert meds[f"redcap:{PROJECT}/SLE-01//medications/2"]["drug"] == "prednisolone"
    assert report.counts["medications"]["merged"] == 0


def test_a_changed_value_updates_its_record_and_is_audited(engine: Engine, tmp_path: Path) -> None:
    write_batch(engine, batch())
    report = write_batch(engine, batch(edited(tmp_path, {("SLE-01", "1", "med_dose"): "12.5"})))
    assert report.counts["medications"]["updated"] == 1
    assert report.counts["medications"]["inserted"] == 0
    med = rows(engine, "medications")[f"redcap:{PROJECT}/SLE-01//medications/1"]
    assert med["dose"] == 12.5
    with engine.connect() as c:
        audit = c.execute(
            select(schema.audit_log.c.detail).where(
                schema.audit_log.c.entity == "medications", schema.audit_log.c.entity_id == str(med["id"])
            )
        ).scalar_one()
    assert audit == {"fields": ["dose"]}


@pytest.mark.parametrize(
    ("cell", "value", "table", "key", "expected"),
    [
        # medication start: earliest day of the period (D: day imputed, M: month and day)
        (("SLE-01", "1", "med_start"), "2023-01", "medications", "medications/1", ("start", D(2023, 1, 1), "D")),
        (("SLE-01", "1", "med_start"), "2023", "medications", "medications/1", ("start", D(2023, 1, 1), "M")),
        (("SLE-01", "1", "med_start"), "2023-01-UN", "medications", "medications/1", ("start", D(2023, 1, 1), "D")),
        # medication end: latest day of the period (February 2024 has 29 days)
        (("SLE-01", "1", "med_stop"), "2024-02", "medications", "medications/1", ("stop", D(2024, 2, 29), "D")),
        (("SLE-01", "1", "med_stop"), "2024-UNK-UNK", "medications", "medications/1", ("stop", D(2024, 12, 31), "M")),
        # AE onset in the infusion month (day 0 = 2024-03-04): not before the infusion
        (("SLE-01", "1", "ae_onset"), "2024-03", "adverse_events", "adverse_events/1", ("onset", D(2024, 3, 4), "D")),
        # AE onset in a month without the infusion: its first day
        (("SLE-01", "2", "ae_onset"), "2024-04", "adverse_events", "adverse_events/2", ("onset", D(2024, 4, 1), "D")),
        # AE resolution: the latest day
        (
            ("SLE-01", "1", "ae_resolution"),
            "2024-03",
            "adverse_events",
            "adverse_events/1",
            ("resolution", D(2024, 3, 31), "D"),
        ),
    ],
)
def test_partial_text_dates_are_imputed_and_flagged(
    engine: Engine, tmp_path: Path, cell, value, table, key, expected
) -> None:
    folder = edited(tmp_path, {cell: value}, text_dates=True)
    write_batch(engine, batch(folder))
    record = rows(engine, table)[f"redcap:{PROJECT}/SLE-01//{key}"]
    which, date, flag = expected
    dtc = "start_dtc" if which == "start" else "stop_dtc" if which == "stop" else f"{which}_dtc"
    date_field = {"start": "start_date", "stop": "stop_date"}.get(which, f"{which}_date")
    assert (record[date_field], record[f"{date_field}_flag"]) == (date, flag)
    assert record[dtc] == value.replace("-UNK-UNK", "").replace("-UN", "")  # ISO 8601: unknown parts left off
    again = write_batch(engine, batch(folder))
    assert again.counts[table]["inserted"] == again.counts[table]["updated"] == 0


def test_an_onset_time_is_kept(engine: Engine, tmp_path: Path) -> None:
    folder = edited(tmp_path, {("SLE-01", "1", "ae_onset"): "2024-03-05 14:30"}, text_dates=True)
    write_batch(engine, batch(folder))
    ae = rows(engine, "adverse_events")[f"redcap:{PROJECT}/SLE-01//adverse_events/1"]
    assert (ae["onset_date"], ae["onset_time"], ae["onset_date_flag"]) == (D(2024, 3, 5), "14:30", None)


def test_an_unreadable_date_is_an_error_naming_file_row_field_and_value(engine: Engine, tmp_path: Path) -> None:
    folder = edited(tmp_path, {("SLE-01", "1", "med_start"): "2019-13-45"}, text_dates=True)
    with pytest.raises(InvalidInputError) as err:
        write_batch(engine, batch(folder))
    message = str(err.value)
    assert "records.csv, row 1, medications.med_start: 2019-13-45:" in message
    assert "not a calendar date" in message
    with engine.connect() as c:
        assert c.execute(select(schema.medications.c.id)).first() is None  # nothing written


def test_an_unreadable_date_is_listed_as_excluded_in_skip_mode(engine: Engine, tmp_path: Path) -> None:
    folder = edited(tmp_path, {("SLE-01", "1", "med_start"): "2019-13-45"}, text_dates=True)
    report = write_batch(engine, batch(folder, on_error="skip"), on_error="skip")
    (excluded,) = [e for e in report.excluded if e[0] == "medications"]
    _table, file, where, reason = excluded
    assert (file, where) == ("records.csv:medications", "row 1 of medications")
    assert reason.startswith("medications.med_start: 2019-13-45: record SLE-01:")
    meds = rows(engine, "medications")
    assert f"redcap:{PROJECT}/SLE-01//medications/1" not in meds
    assert f"redcap:{PROJECT}/SLE-01//medications/2" in meds  # the rest is written


def test_a_database_imported_before_identity_adopts_its_rows(tmp_path: Path) -> None:
    """Rows stored with the natural key (before REDCap identity) get their identity on re-import,
    updated and audited, never doubled."""
    engine = connect(f"sqlite:///{tmp_path / 'old.db'}")
    migrate(engine)
    write_batch(engine, batch())
    before = rows(engine, "medications")
    with engine.begin() as c:  # as 0006_source_identity left a REDCap import: natural keys
        for table, (name, when) in {
            "medications": ("drug", "start_date"),
            "adverse_events": ("term", "onset_date"),
        }.items():
            c.execute(
                text(
                    f"UPDATE {table} SET source_key = 'natural:' || patient_id || '|' || {name} || '|' || {when},"
                    " " + ", ".join(f"{col} = NULL" for col in _dtc(table))
                )
            )
    report = write_batch(engine, batch())
    after = rows(engine, "medications")
    assert set(after) == set(before)
    assert {k: v["id"] for k, v in after.items()} == {k: v["id"] for k, v in before.items()}
    assert report.counts["medications"]["updated"] == len(before)
    assert report.counts["medications"]["inserted"] == report.counts["adverse_events"]["inserted"] == 0
    engine.dispose()


def _dtc(table: str) -> tuple[str, ...]:
    return ("start_dtc", "stop_dtc") if table == "medications" else ("onset_dtc", "resolution_dtc")


def test_the_example_project_reconciles_per_instrument(engine: Engine) -> None:
    from tests.io.test_reconciliation import assert_reconciled

    report = write_batch(engine, batch())
    assert_reconciled(report)
    got = {r["file"]: (r["read"], r["stored"], r["excluded"]) for r in report.reconciliation()}
    # records.csv: medications instances SLE-01 x2, IIM-01 x1; adverse_events SLE-01 x2, SLE-02, IIM-01
    assert got["records.csv:medications"] == (3, 3, 0)
    assert got["records.csv:adverse_events"] == (4, 4, 0)
    assert_reconciled(write_batch(engine, batch()))


REPEATING = """
project: redcapr-repeating-instruments
records:
  patient:
    instrument: demographics
    fields:
      patient_id: {field: record_id}
      site_id: {value: REDCAPR}
      disease: {value: other}
      sex: {field: sex, recode: {"0": female, "1": male}}
  infusion:
    instrument: demographics
    fields: {patient_id: {field: record_id}, date: {field: date_enrolled}, cells_per_kg: {value: 1000000}}
  lab:
    instrument: bp
    fields: {patient_id: {field: record_id}, date: {field: date_bp}}
    analytes:
      - {analyte: sbp, field: bp_systolic, unit: mmHg}
      - {analyte: dbp, field: bp_diastolic, unit: mmHg}
"""


def test_a_real_repeating_project_stores_every_instance_and_reconciles(
    engine: Engine, data: Path, tmp_path: Path
) -> None:
    """redcapr/repeating-instruments: record 1 has three bp instances on one day (110/100, 111/101,
    112/102): three instances, six lab values, none merged into another; a re-import changes nothing."""
    from tests.io.test_reconciliation import assert_reconciled

    folder = data / "redcapr" / "repeating-instruments"
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(REPEATING, encoding="utf-8")
    args = (folder / "data.csv", folder / "dictionary.csv", mapping)
    report = write_batch(engine, batch_from_redcap(*args))
    assert_reconciled(report)
    got = {r["file"]: (r["read"], r["stored"], r["excluded"], r["rejected"]) for r in report.reconciliation()}
    assert got == {"data.csv:demographics": (2, 2, 0, 0), "data.csv:bp": (4, 4, 0, 0)}
    labs = rows(engine, "labs")
    day = {k: v["value"] for k, v in labs.items() if v["patient_id"] == "1" and v["analyte"] == "sbp"}
    project = "redcapr-repeating-instruments"
    assert day == {f"redcap:{project}/1//bp/{i}/sbp": 109.0 + i for i in (1, 2, 3)}
    assert report.counts["labs"]["merged"] == 0 and len(labs) == 8
    again = write_batch(engine, batch_from_redcap(*args))
    assert_reconciled(again)
    assert again.counts["labs"]["inserted"] == again.counts["labs"]["updated"] == 0


def test_stored_labs_upgrade_in_place_and_their_reimport_adopts_them(tmp_path: Path) -> None:
    """0009_identity: a lab stored before gets its natural key; the next REDCap import gives it its
    REDCap identity (same id, audited) instead of a second row."""
    from remission.store.db import downgrade

    engine = connect(f"sqlite:///{tmp_path / 'old.db'}")
    migrate(engine)
    write_batch(engine, batch())
    before = rows(engine, "labs")
    downgrade(engine, "0007_unknown_start")
    with engine.connect() as c:
        assert "source_key" not in {col[1] for col in c.execute(text("PRAGMA table_info(labs)"))}
    migrate(engine)
    upgraded = rows(engine, "labs")
    lab = next(v for v in upgraded.values() if v["analyte"] == "crp")
    assert lab["source_key"] == f"natural:{lab['patient_id']}|crp|{lab['date'].isoformat()}"
    report = write_batch(engine, batch())
    after = rows(engine, "labs")
    assert set(after) == set(before) and report.counts["labs"]["inserted"] == 0
    assert report.counts["labs"]["updated"] == len(before)
    assert sorted(v["id"] for v in after.values()) == sorted(v["id"] for v in before.values())
    engine.dispose()
