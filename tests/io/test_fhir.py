"""FHIR R4 reader on the official HL7 examples and the Synthea bundles.

Counts come from the READMEs and from reading the files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from remission.errors import InvalidInputError
from remission.io.fhir import load_fhir, read_fhir_json


def test_every_hl7_example_reads(data: Path) -> None:
    for f in sorted((data / "fhir-r4-hl7-examples").glob("*.json")):
        load_fhir(f)


def test_synthea_bundles_urn_uuid_references(data: Path) -> None:
    t = load_fhir(data / "fhir-r4-synthea-smart")
    patients = t.tables["patients"]
    assert patients.height == 3
    assert "Mejía" in patients["family"].to_list()  # non-ASCII name and file name
    obs = t.tables["observations"]
    # every observation resolves its urn:uuid subject to a Patient of the files
    assert set(obs["patient_id"]) <= set(patients["patient_id"])
    # README: Synthea writes no AdverseEvent; Claim 23 and ExplanationOfBenefit 18 entries
    assert t.tables["adverse_events"].height == 0
    assert t.skipped["Claim"] == 23 and t.skipped["ExplanationOfBenefit"] == 18
    assert (obs["unit_system"].drop_nulls() == "http://unitsofmeasure.org").all()


def test_blood_pressure_components_one_row_each(data: Path) -> None:
    obs = load_fhir(data / "fhir-r4-synthea-smart").tables["observations"]
    bp = obs.filter(obs["code"].is_in(["8480-6", "8462-4"]))  # systolic / diastolic LOINC
    assert bp.height > 0 and set(bp["unit"]) == {"mm[Hg]"}


def test_observation_value_quantity_ucum(data: Path) -> None:
    obs = load_fhir(data / "fhir-r4-hl7-examples" / "Observation-example.json").tables["observations"]
    # Observation-example.json: body weight 185 [lb_av]
    assert obs.select("code", "value", "unit").row(0) == ("29463-7", 185.0, "[lb_av]")


def test_contained_medication_and_entered_in_error_dropped(data: Path) -> None:
    t = load_fhir(data / "fhir-r4-hl7-examples")
    meds = t.tables["medications"]
    assert t.skipped["MedicationStatement (entered-in-error)"] == 1
    # MedicationStatement-example001 refers to contained #med0309 (Tylenol PM)
    row = meds.filter(meds["resource_id"] == "example001").row(0, named=True)
    assert row["display"].startswith("Tylenol PM")
    assert set(meds["resource_type"]) == {"MedicationStatement", "MedicationAdministration"}


def test_r4_adverse_event(data: Path) -> None:
    ae = load_fhir(data / "fhir-r4-hl7-examples" / "AdverseEvent-example.json").tables["adverse_events"]
    row = ae.row(0, named=True)
    assert (row["actuality"], row["seriousness"], row["severity"]) == (
        "actual",
        "Non-serious",
        "mild",
    )


def test_nested_batch_response_bundles(data: Path) -> None:
    # a batch-response: a Patient then 4 nested searchset Bundles (empty in this example)
    t = load_fhir(data / "fhir-r4-hl7-examples" / "Bundle-bundle-response-medsallergies.json")
    assert t.tables["patients"].height == 1


def test_transaction_entries_without_resource(data: Path) -> None:
    t = load_fhir(data / "fhir-r4-hl7-examples" / "Bundle-bundle-transaction.json")
    assert t.skipped["Parameters"] == 1


def test_condition_onset_string_kept_as_text(data: Path) -> None:
    c = load_fhir(data / "fhir-r4-hl7-examples" / "Condition-example2.json").tables["conditions"]
    assert c["onset_date"].to_list() == [None] and c["onset_text"].to_list()[0]


def test_research_subject_links_patient(data: Path) -> None:
    rs = load_fhir(data / "fhir-r4-hl7-examples" / "ResearchSubject-example.json").tables["research_subjects"]
    assert rs.height == 1 and rs["patient_id"].to_list()[0]


def test_mutated_truncated_json(data: Path, tmp_path: Path) -> None:
    text = (data / "fhir-r4-hl7-examples" / "Patient-example.json").read_text()
    p = tmp_path / "p.json"
    p.write_text(text[: len(text) // 2])
    with pytest.raises(InvalidInputError, match="is not valid JSON"):
        load_fhir(p)


def test_mutated_wrong_encoding(tmp_path: Path) -> None:
    p = tmp_path / "p.json"
    p.write_bytes('{"resourceType": "Patient", "name": [{"family": "Mejía"}]}'.encode("latin-1"))
    with pytest.raises(InvalidInputError, match="is not UTF-8"):
        load_fhir(p)


def test_invalid_resource_names_file_and_resource() -> None:
    with pytest.raises(InvalidInputError, match=r"x\.json Patient/p1"):
        read_fhir_json({"resourceType": "Patient", "id": "p1", "gender": 12}, "x.json")


def test_not_a_resource() -> None:
    with pytest.raises(InvalidInputError, match="no resourceType"):
        read_fhir_json(json.loads('{"a": 1}'), "x.json")
