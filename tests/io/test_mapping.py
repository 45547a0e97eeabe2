"""Mapping layer on the example CAR-T REDCap project.

Expected records are written by hand from records.csv.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from remission.errors import InvalidInputError
from remission.io.mapping import load_mapping, map_records
from remission.io.redcap import load_dictionary, tidy_redcap

EXAMPLE = Path(__file__).resolve().parents[2] / "src" / "remission" / "io" / "examples" / "car_t_trial"


@pytest.fixture(scope="module")
def mapped() -> dict[str, list[dict[str, object]]]:
    dd = load_dictionary(EXAMPLE / "dictionary.csv")
    tables = tidy_redcap(EXAMPLE / "records.csv", dd).tables
    return map_records(tables, load_mapping(EXAMPLE / "mapping.yaml", dd))


@pytest.mark.parametrize(
    ("record_type", "n"),
    [
        ("patient", 3),
        ("infusion", 3),
        ("assessment", 3),
        ("lab", 16),
        ("medication", 3),
        ("adverse_event", 4),
    ],
    ids=["patient", "infusion", "assessment", "lab", "medication", "adverse_event"],
)
def test_example_counts(mapped: dict[str, list[dict[str, object]]], record_type: str, n: int) -> None:
    # records.csv: 3 patients; SLEDAI 2+1; labs 6+5 (no dsDNA) +5 (no C4); meds 3; AEs 4
    assert len(mapped[record_type]) == n


def test_example_records_by_hand(mapped: dict[str, list[dict[str, object]]]) -> None:
    assert mapped["patient"][2] == {
        "patient_id": "IIM-01",
        "site_id": "PAR",
        "disease": "IIM",
        "sex": "female",
        "birth_year": 1975,
        "diagnosis_year": 2019,
    }
    assert mapped["lab"][0] == {
        "patient_id": "SLE-01",
        "date": dt.date(2024, 2, 26),
        "analyte": "c3",
        "value": 0.52,
        "unit": "g/L",
        "lln": 0.9,
        "uln": 1.8,
    }
    sledai = mapped["assessment"][0]["items"]
    assert isinstance(sledai, dict)
    assert sorted(k for k, v in sledai.items() if v == 1) == [
        "arthritis",
        "increased_dna_binding",
        "low_complement",
        "proteinuria",
        "rash",
    ]
    ae = mapped["adverse_event"][1]
    assert (ae["category"], ae["grade"], ae["resolution_date"], ae["serious"]) == (
        "cytopenia",
        3,
        None,
        False,
    )


def test_every_unknown_name_reported_at_once() -> None:
    dd = load_dictionary(EXAMPLE / "dictionary.csv")
    bad = """
records:
  patient:
    instrument: enrolment
    fields:
      patient_id: {field: record_id}
      colour: {field: site}
      disease: {field: diseas}
      sex: {field: sex, recode: {"7": female}}
  lab:
    instrument: laboratory
    fields: {patient_id: {field: record_id}}
  visit: {}
"""
    with pytest.raises(InvalidInputError) as err:
        load_mapping(bad, dd)
    text = str(err.value)
    for expected in (
        "column records.patient.fields: value colour: unknown field of patient",
        "column records.patient.fields.disease: value diseas: not a field of this instrument",
        "column records.patient.fields.sex.recode: value 7: not a choice code of sex",
        "column records.lab.instrument: value laboratory: not an instrument",
        "column records.visit: value visit: unknown record type",
    ):
        assert expected in text


def test_unrecoded_code_at_runtime_names_record() -> None:
    dd = load_dictionary(EXAMPLE / "dictionary.csv")
    m = load_mapping(
        """
records:
  patient:
    instrument: enrolment
    fields:
      patient_id: {field: record_id}
      disease: {field: disease, recode: {"1": SLE}}
""",
        dd,
    )
    tables = tidy_redcap(EXAMPLE / "records.csv", dd).tables
    with pytest.raises(InvalidInputError, match=r"row 3, column enrolment\.disease: value 2: record IIM-01"):
        map_records(tables, m)
