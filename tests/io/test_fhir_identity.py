"""FHIR identity, partial dates and CAR-T infusions (issue 17 item 7), on a hand-made Bundle and the
real fixtures: medications and AEs keyed ``fhir:<type>/<id>``, partial dates imputed and flagged,
CAR-T infusions from Procedure/MedicationAdministration, unmapped resources counted by type.

Expected values are worked out by hand from the Bundle below (dates: admiral derive_vars_dt rules,
docs/decisions/imputation.md).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from remission.io.importing import write_batch
from remission.io.sources import batch_from_fhir
from remission.store import schema

D = dt.date
KYV = {"text": "KYV-101 (anti-CD19 CAR-T)"}


def patient(pid: str) -> dict[str, Any]:
    return {"fullUrl": f"urn:uuid:{pid}", "resource": {"resourceType": "Patient", "id": pid, "gender": "female"}}


def entry(resource: dict[str, Any], subject: str = "p1") -> dict[str, Any]:
    key = "patient" if resource["resourceType"] == "Immunization" else "subject"
    return {"resource": {**resource, key: {"reference": f"urn:uuid:{subject}"}}}


BUNDLE = {
    "resourceType": "Bundle",
    "type": "collection",
    "entry": [
        patient("p1"),
        patient("p2"),
        # p1: CAR-T on 2024-03-04 (dose 1 x 10^6 cells/kg): an infusion, day 0
        entry(
            {
                "resourceType": "MedicationAdministration",
                "id": "cart1",
                "status": "completed",
                "medicationCodeableConcept": KYV,
                "effectiveDateTime": "2024-03-04T10:00:00+01:00",
                "dosage": {
                    "dose": {"value": 1, "unit": "10*6/kg", "system": "http://unitsofmeasure.org", "code": "10*6/kg"}
                },
            }
        ),
        # prednisone from March 2021 to some day in 2024: start earliest (D), end latest (M)
        entry(
            {
                "resourceType": "MedicationStatement",
                "id": "pred",
                "meta": {"versionId": "3"},
                "status": "completed",
                "medicationCodeableConcept": {"text": "prednisone"},
                "effectivePeriod": {"start": "2021-03", "end": "2024"},
            }
        ),
        # hydroxychloroquine stopped, no end: ended by dateAsserted (2024-02, latest day)
        entry(
            {
                "resourceType": "MedicationStatement",
                "id": "hcq",
                "status": "stopped",
                "medicationCodeableConcept": {"text": "hydroxychloroquine"},
                "effectiveDateTime": "2019",
                "dateAsserted": "2024-02",
            }
        ),
        # an order authored in 2023: start 2023-01-01 (M), no end: ongoing
        entry(
            {
                "resourceType": "MedicationRequest",
                "id": "mmf",
                "status": "active",
                "intent": "order",
                "medicationCodeableConcept": {"text": "mycophenolate mofetil"},
                "authoredOn": "2023",
            }
        ),
        # CRS in the infusion month: onset not before day 0 (2024-03-04), flag D
        entry(
            {
                "resourceType": "AdverseEvent",
                "id": "crs",
                "actuality": "actual",
                "event": {"text": "Cytokine release syndrome"},
                "severity": {"coding": [{"code": "moderate"}]},
                "date": "2024-03",
            }
        ),
        # p2: a CAR-T Procedure without a dose: not an infusion record, but its date is day 0
        entry(
            {
                "resourceType": "Procedure",
                "id": "proc2",
                "status": "completed",
                "code": {"text": "CD19 CAR-T cell infusion"},
                "performedDateTime": "2024-05-10",
            },
            "p2",
        ),
        entry(
            {
                "resourceType": "Procedure",
                "id": "appendix",
                "status": "completed",
                "code": {"text": "Appendectomy"},
                "performedDateTime": "2010-01-01",
            },
            "p2",
        ),
        entry(
            {
                "resourceType": "Immunization",
                "id": "imm",
                "status": "completed",
                "vaccineCode": {"text": "flu"},
                "occurrenceDateTime": "2024-01-01",
            },
            "p2",
        ),
    ],
}


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(BUNDLE), encoding="utf-8")
    return path


def rows(engine: Engine, table: str) -> dict[str, dict]:
    with engine.connect() as c:
        return {str(r.source_key): dict(r._mapping) for r in c.execute(select(schema.metadata.tables[table]))}


def test_partial_medication_dates_are_imputed_and_flagged(engine: Engine, bundle: Path) -> None:
    write_batch(engine, batch_from_fhir(bundle))
    meds = rows(engine, "medications")
    assert set(meds) == {"fhir:MedicationStatement/pred", "fhir:MedicationStatement/hcq", "fhir:MedicationRequest/mmf"}
    pred = meds["fhir:MedicationStatement/pred"]
    assert (pred["start_date"], pred["start_date_flag"], pred["start_dtc"]) == (D(2021, 3, 1), "D", "2021-03")
    assert (pred["stop_date"], pred["stop_date_flag"], pred["stop_dtc"]) == (D(2024, 12, 31), "M", "2024")
    hcq = meds["fhir:MedicationStatement/hcq"]
    assert (hcq["start_date"], hcq["start_date_flag"]) == (D(2019, 1, 1), "M")
    assert (hcq["stop_date"], hcq["stop_date_flag"], hcq["stop_dtc"]) == (D(2024, 2, 29), "D", "2024-02")
    mmf = meds["fhir:MedicationRequest/mmf"]
    assert (mmf["start_date"], mmf["start_date_flag"], mmf["stop_date"]) == (D(2023, 1, 1), "M", None)
    assert pred["start_day"] == (D(2021, 3, 1) - D(2024, 3, 4)).days  # day 0 = the CAR-T administration


def test_car_t_administration_is_the_infusion_and_ae_onset_is_not_before_it(engine: Engine, bundle: Path) -> None:
    write_batch(engine, batch_from_fhir(bundle))
    with engine.connect() as c:
        infusions = [dict(r._mapping) for r in c.execute(select(schema.infusions))]
    assert [(i["patient_id"], i["date"], i["product"], i["cells_per_kg"]) for i in infusions] == [
        ("p1", D(2024, 3, 4), "KYV-101 (anti-CD19 CAR-T)", 1e6)
    ]
    crs = rows(engine, "adverse_events")["fhir:AdverseEvent/crs"]
    assert (crs["onset_date"], crs["onset_date_flag"], crs["onset_day"]) == (D(2024, 3, 4), "D", 0)


def test_every_resource_is_counted_by_type(engine: Engine, bundle: Path) -> None:
    report = write_batch(engine, batch_from_fhir(bundle))
    got = {r["file"]: (r["read"], r["stored"], r["excluded"], r["rejected"]) for r in report.reconciliation()}
    assert got == {
        "Patient": (2, 2, 0, 0),
        "MedicationAdministration": (1, 1, 0, 0),
        "MedicationStatement": (2, 2, 0, 0),
        "MedicationRequest": (1, 1, 0, 0),
        "AdverseEvent": (1, 1, 0, 0),
        "Procedure": (2, 0, 2, 0),  # the CAR-T one has no dose; the appendectomy no record type
        "Immunization": (1, 0, 1, 0),
    }
    assert report.not_imported["Immunization"] == "no registry record type"
    reasons = {w: r for t, f, w, r in report.excluded}
    why = "no dose in cells per kg, which the registry's infusion needs; its date is the patient's day 0"
    assert reasons["Procedure/proc2"].endswith(why)


def test_a_second_import_changes_nothing(engine: Engine, bundle: Path) -> None:
    write_batch(engine, batch_from_fhir(bundle))
    again = write_batch(engine, batch_from_fhir(bundle))
    for table, c in again.counts.items():
        assert c["inserted"] == c["updated"] == 0, table


def test_a_new_version_of_a_resource_updates_its_record(engine: Engine, bundle: Path, tmp_path: Path) -> None:
    write_batch(engine, batch_from_fhir(bundle))
    newer = json.loads(json.dumps(BUNDLE))
    pred = next(e["resource"] for e in newer["entry"] if e["resource"].get("id") == "pred")
    pred["meta"]["versionId"] = "4"
    pred["effectivePeriod"]["end"] = "2024-06-15"
    path = tmp_path / "v4.json"
    path.write_text(json.dumps(newer), encoding="utf-8")
    report = write_batch(engine, batch_from_fhir(path))
    assert report.counts["medications"]["updated"] == 1 and report.counts["medications"]["inserted"] == 0
    med = rows(engine, "medications")["fhir:MedicationStatement/pred"]
    assert (med["stop_date"], med["stop_date_flag"]) == (D(2024, 6, 15), None)


@pytest.mark.parametrize("folder", ["fhir-r4-hl7-examples", "fhir-r4-synthea-smart"])
def test_real_fixtures_keep_fhir_identity(engine: Engine, data: Path, folder: str) -> None:
    write_batch(engine, batch_from_fhir(data / folder))
    keys = [*rows(engine, "medications"), *rows(engine, "adverse_events")]
    assert all(k.startswith("fhir:") for k in keys)
    assert len(keys) == len(set(keys))
